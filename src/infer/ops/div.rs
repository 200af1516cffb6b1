//! ONNX `Div` with IEEE division for floats.
//!
//! tract's declutter rewrites a float division by a constant into a multiplication by its
//! reciprocal. `x * (1/s)` can differ from `x / s` by one ulp, and a StandardScaler exported as
//! `Sub` + `Div` feeds tree thresholds: one ulp flips a split when a value sits on it (the
//! parity matrix found such rows). ONNX and onnxruntime divide; so does this op, and tract
//! has no rewrite for it. Integer division is delegated to tract's own `Div`.

use crate::infer::onnx::ParsingContext;
use crate::infer::onnx::pb::NodeProto;
use tract_hir::internal::*;
use tract_hir::tract_core::ops::binary::BinMiniOp;
use tract_hir::tract_core::ops::math::Div;

/// True division for f32 / f64, tract's `Div` otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactDiv;

/// The builder registered for `Div`.
pub fn build(
    _ctx: &ParsingContext,
    _node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    Ok((ExactDiv.into_hir(), vec![]))
}

fn div_into<T>(c: &mut Tensor, a: &Tensor, b: &Tensor) -> TractResult<()>
where
    T: Datum + Copy + std::ops::Div<Output = T>,
{
    let shape = c.shape().to_vec();
    let a = a.to_plain_array_view::<T>()?;
    let b = b.to_plain_array_view::<T>()?;
    let a = a
        .broadcast(&*shape)
        .ok_or_else(|| format_err!("Div: cannot broadcast {:?} to {shape:?}", a.shape()))?;
    let b = b
        .broadcast(&*shape)
        .ok_or_else(|| format_err!("Div: cannot broadcast {:?} to {shape:?}", b.shape()))?;
    let mut c = c.to_plain_array_view_mut::<T>()?;
    tract_ndarray::Zip::from(&mut c)
        .and(&a)
        .and(&b)
        .for_each(|c, a, b| *c = *a / *b);
    Ok(())
}

impl BinMiniOp for ExactDiv {
    fn name(&self) -> &'static str {
        "ExactDiv"
    }

    fn operating_datum_type(&self, a: DatumType, b: DatumType) -> TractResult<DatumType> {
        Div.operating_datum_type(a, b)
    }

    fn result_datum_type(&self, a: DatumType, b: DatumType) -> TractResult<DatumType> {
        Div.result_datum_type(a, b)
    }

    fn eval_in_a(&self, a: &mut Tensor, b: &Tensor) -> TractResult<()> {
        let dt = a.datum_type();
        if dt == f32::datum_type() || dt == f64::datum_type() {
            let src = a.clone();
            self.eval_out_of_place(a, &src, b)
        } else {
            Div.eval_in_a(a, b)
        }
    }

    fn eval_out_of_place(&self, c: &mut Tensor, a: &Tensor, b: &Tensor) -> TractResult<()> {
        let dt = c.datum_type();
        if dt == f32::datum_type() {
            div_into::<f32>(c, &*a.cast_to::<f32>()?, &*b.cast_to::<f32>()?)
        } else if dt == f64::datum_type() {
            div_into::<f64>(c, &*a.cast_to::<f64>()?, &*b.cast_to::<f64>()?)
        } else {
            Div.eval_out_of_place(c, a, b)
        }
    }

    fn is_commutative(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Through tract's optimiser, `x / s` with a constant `s` must stay a true division on
    /// values where multiplying by the reciprocal rounds differently.
    #[test]
    fn optimised_graph_still_divides() {
        let s = 0.7f32;
        let xs: Vec<f32> = (1..20_000)
            .map(|i| i as f32 * 0.013)
            .filter(|x| x * (1.0 / s) != x / s)
            .take(64)
            .collect();
        assert_eq!(
            xs.len(),
            64,
            "test needs values where the two roundings differ"
        );
        let mut model = InferenceModel::default();
        let src = model.add_source("x", f32::fact([xs.len()]).into()).unwrap();
        let k = model.add_const("s", tensor1(&[s])).unwrap();
        let y = model
            .wire_node("div", ExactDiv.into_hir(), &[src, k])
            .unwrap();
        model.select_output_outlets(&y).unwrap();
        let plan = SimplePlan::new(model.into_optimized().unwrap()).unwrap();
        let out = plan.run(tvec!(tensor1(&xs).into_tvalue())).unwrap();
        let got = out[0].to_plain_array_view::<f32>().unwrap();
        for (g, x) in got.iter().zip(&xs) {
            assert_eq!(*g, x / s, "x = {x}");
        }
    }
}
