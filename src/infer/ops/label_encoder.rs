//! `ai.onnx.ml.LabelEncoder` (v1 and v2 attribute forms): maps int64 / string / float keys
//! to int64 / string / float values, with a default for unknown keys.
//!
//! skl2onnx's IsolationForest export uses it twice per tree (leaf index → sample count and
//! → path length), so small dense integer keys get a direct-indexed table.

use std::collections::HashMap;
use std::sync::Arc;

use crate::infer::onnx::ParsingContext;
use crate::infer::onnx::pb::NodeProto;
use tract_hir::internal::*;

use super::attrs::Attrs;

/// Lookup keys.
#[derive(Debug)]
enum Keys {
    /// Integer keys; `dense` is `(min, slot per key - min)` when the range is small.
    Int {
        map: HashMap<i64, usize>,
        dense: Option<(i64, Vec<u32>)>,
    },
    Str(HashMap<String, usize>),
    /// Float keys by bit pattern (−0 folded into +0).
    Float(HashMap<u32, usize>),
}

/// Mapped values with their default.
#[derive(Debug)]
enum Values {
    Int(Vec<i64>, i64),
    Str(Vec<String>, String),
    Float(Vec<f32>, f32),
}

impl Values {
    fn datum_type(&self) -> DatumType {
        match self {
            Values::Int(..) => i64::datum_type(),
            Values::Str(..) => String::datum_type(),
            Values::Float(..) => f32::datum_type(),
        }
    }
}

/// Parsed encoder.
#[derive(Debug)]
pub struct EncoderData {
    keys: Keys,
    values: Values,
}

/// The op.
#[derive(Debug, Clone)]
pub struct LabelEncoder(Arc<EncoderData>);

eq_by_shared_data!(LabelEncoder);

fn float_key(f: f32) -> u32 {
    if f == 0.0 { 0 } else { f.to_bits() }
}

/// Parse a `LabelEncoder` node.
pub fn parse(node: &NodeProto) -> Result<EncoderData, String> {
    let a = Attrs::new(node);
    // v1: classes_strings, mapping string <-> int64 by position.
    if let Some(classes) = a.strings("classes_strings")? {
        let default_int = a.int("default_int64").unwrap_or(-1);
        let default_str = a
            .string("default_string")?
            .unwrap_or_else(|| "_Unused".into());
        // Direction is decided by the input type at typing time; v1 support is string → int.
        let map = classes
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i))
            .collect();
        let _ = default_str;
        return Ok(EncoderData {
            keys: Keys::Str(map),
            values: Values::Int((0..classes.len() as i64).collect(), default_int),
        });
    }
    let (keys, n) = if let Some(k) = a.ints("keys_int64s") {
        let n = k.len();
        let mut map = HashMap::with_capacity(n);
        for (i, key) in k.iter().enumerate() {
            map.entry(*key).or_insert(i);
        }
        let dense = match (k.iter().min(), k.iter().max()) {
            (Some(&lo), Some(&hi)) if hi.checked_sub(lo).is_some_and(|r| r < 4 * n as i64 + 64) => {
                let mut table = vec![u32::MAX; (hi - lo + 1) as usize];
                for (key, &i) in &map {
                    if let Some(slot) = table.get_mut((key - lo) as usize) {
                        *slot = i as u32;
                    }
                }
                Some((lo, table))
            }
            _ => None,
        };
        (Keys::Int { map, dense }, n)
    } else if let Some(k) = a.strings("keys_strings")? {
        let n = k.len();
        let mut map = HashMap::with_capacity(n);
        for (i, key) in k.into_iter().enumerate() {
            map.entry(key).or_insert(i);
        }
        (Keys::Str(map), n)
    } else if let Some(k) = a.reals("keys_floats")? {
        let n = k.values.len();
        let mut map = HashMap::with_capacity(n);
        for (i, key) in k.values.iter().enumerate() {
            map.entry(float_key(*key as f32)).or_insert(i);
        }
        (Keys::Float(map), n)
    } else {
        return Err(a.err("no keys (keys_int64s / keys_strings / keys_floats)"));
    };
    let values = if let Some(v) = a.ints("values_int64s") {
        a.check_len("values_int64s", v.len(), n)?;
        Values::Int(v, a.int("default_int64").unwrap_or(-1))
    } else if let Some(v) = a.strings("values_strings")? {
        a.check_len("values_strings", v.len(), n)?;
        Values::Str(
            v,
            a.string("default_string")?
                .unwrap_or_else(|| "_Unused".into()),
        )
    } else if let Some(v) = a.reals("values_floats")? {
        a.check_len("values_floats", v.values.len(), n)?;
        let default = node
            .attribute
            .iter()
            .find(|x| x.name == "default_float")
            .map(|x| x.f)
            .unwrap_or(-0.0);
        Values::Float(v.values.iter().map(|x| *x as f32).collect(), default)
    } else {
        return Err(a.err("no values (values_int64s / values_strings / values_floats)"));
    };
    Ok(EncoderData { keys, values })
}

/// The builder registered into tract's ONNX op register.
pub fn build(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let data = parse(node).map_err(TractError::msg)?;
    Ok((expand(LabelEncoder(Arc::new(data))), vec![]))
}

impl EncoderData {
    /// Slot of each input element (`None` = default).
    fn slots(&self, input: &Tensor) -> TractResult<Vec<Option<usize>>> {
        Ok(match &self.keys {
            Keys::Int { map, dense } => {
                let x = input.cast_to::<i64>()?;
                let view = x.try_as_plain_ram()?;
                let xs = view.as_slice::<i64>()?;
                match dense {
                    Some((lo, table)) => xs
                        .iter()
                        .map(|k| {
                            k.checked_sub(*lo)
                                .and_then(|o| usize::try_from(o).ok())
                                .and_then(|o| table.get(o))
                                .filter(|s| **s != u32::MAX)
                                .map(|s| *s as usize)
                        })
                        .collect(),
                    None => xs.iter().map(|k| map.get(k).copied()).collect(),
                }
            }
            Keys::Str(map) => {
                let x = input.cast_to::<String>()?;
                let view = x.try_as_plain_ram()?;
                view.as_slice::<String>()?
                    .iter()
                    .map(|k| map.get(k).copied())
                    .collect()
            }
            Keys::Float(map) => {
                let x = input.cast_to::<f32>()?;
                let view = x.try_as_plain_ram()?;
                view.as_slice::<f32>()?
                    .iter()
                    .map(|k| map.get(&float_key(*k)).copied())
                    .collect()
            }
        })
    }
}

impl Expansion for LabelEncoder {
    expansion_wires_itself!("ChocoLabelEncoder");

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, self.0.values.datum_type())?;
        s.equals(&outputs[0].shape, &inputs[0].shape)?;
        Ok(())
    }
}

impl Op for LabelEncoder {
    fn name(&self) -> StaticName {
        "ChocoLabelEncoder".into()
    }

    op_as_typed_op!();
}

impl EvalOp for LabelEncoder {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let slots = self.0.slots(&input)?;
        let shape = input.shape().to_vec();
        let out = match &self.0.values {
            Values::Int(v, d) => {
                let data: Vec<i64> = slots
                    .iter()
                    .map(|s| s.and_then(|i| v.get(i)).copied().unwrap_or(*d))
                    .collect();
                Tensor::from_shape(&shape, &data)?
            }
            Values::Float(v, d) => {
                let data: Vec<f32> = slots
                    .iter()
                    .map(|s| s.and_then(|i| v.get(i)).copied().unwrap_or(*d))
                    .collect();
                Tensor::from_shape(&shape, &data)?
            }
            Values::Str(v, d) => {
                let data: Vec<String> = slots
                    .iter()
                    .map(|s| s.and_then(|i| v.get(i)).unwrap_or(d).clone())
                    .collect();
                tract_ndarray::ArrayD::from_shape_vec(shape, data)?.into_tensor()
            }
        };
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for LabelEncoder {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let input = inputs
            .first()
            .ok_or_else(|| format_err!("LabelEncoder needs an input"))?;
        Ok(tvec!(self.0.values.datum_type().fact(input.shape.clone())))
    }

    as_op!();
}
