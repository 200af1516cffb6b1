//! `ai.onnx.ml.Scaler`: `y = (x - offset) * scale`, per column or with one shared value.
//!
//! skl2onnx normally emits `Sub` + `Div` for a StandardScaler (`options={StandardScaler:
//! {"div": "div"}}`), but older exports and other converters use `Scaler`.

use std::sync::Arc;

use crate::infer::onnx::ParsingContext;
use crate::infer::onnx::pb::NodeProto;
use tract_hir::internal::*;

use super::attrs::Attrs;

/// The op (offset, scale).
#[derive(Debug, Clone)]
pub struct Scaler(Arc<(Vec<f32>, Vec<f32>)>);

eq_by_shared_data!(Scaler);

/// The builder registered into tract's ONNX op register.
pub fn build(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let a = Attrs::new(node);
    let read = |name: &str| -> TractResult<Vec<f32>> {
        Ok(a.reals(name)
            .map_err(TractError::msg)?
            .map(|r| r.values.iter().map(|v| *v as f32).collect())
            .unwrap_or_default())
    };
    let offset = read("offset")?;
    let scale = read("scale")?;
    Ok((expand(Scaler(Arc::new((offset, scale)))), vec![]))
}

fn pick(v: &[f32], col: usize, default: f32) -> f32 {
    match v {
        [] => default,
        [one] => *one,
        many => many.get(col).copied().unwrap_or(default),
    }
}

impl Expansion for Scaler {
    expansion_wires_itself!("ChocoScaler");

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].shape, &inputs[0].shape)?;
        Ok(())
    }
}

impl Op for Scaler {
    fn name(&self) -> StaticName {
        "ChocoScaler".into()
    }

    op_as_typed_op!();
}

impl EvalOp for Scaler {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let width = input.shape().last().copied().unwrap_or(1).max(1);
        let (offset, scale) = &*self.0;
        for v in [offset, scale] {
            if v.len() > 1 && v.len() != width {
                bail!("Scaler has {} coefficients for {width} columns", v.len());
            }
        }
        // An f32 input the plan hands over unshared is scaled in place; otherwise a copy.
        let mut out = if input.datum_type() == f32::datum_type() {
            input.into_tensor()
        } else {
            input.cast_to::<f32>()?.into_owned()
        };
        {
            let mut view = out.try_as_plain_ram_mut()?;
            for row in view.as_slice_mut::<f32>()?.chunks_mut(width) {
                for (c, x) in row.iter_mut().enumerate() {
                    *x = (*x - pick(offset, c, 0.0)) * pick(scale, c, 1.0);
                }
            }
        }
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for Scaler {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let input = inputs
            .first()
            .ok_or_else(|| format_err!("Scaler needs an input"))?;
        Ok(tvec!(f32::fact(input.shape.clone())))
    }

    as_op!();
}
