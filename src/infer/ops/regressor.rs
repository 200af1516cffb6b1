//! `ai.onnx.ml.TreeEnsembleRegressor` (v1–v3) as one tract op: `[N, n_targets]` floats.
//!
//! Stock tract-onnx cannot load this op at all, which rules out every regressor and the
//! IsolationForest export (one regressor per tree there, returning leaf indices).

use std::sync::Arc;

use crate::infer::onnx::ParsingContext;
use crate::infer::onnx::pb::NodeProto;
use tract_hir::internal::*;

use super::attrs::Attrs;
use super::forest::Aggregate;
use super::post::{PostTransform, RegressorRules};
use super::tree::{AnyForest, batch_dim, parse_base_values, parse_forest, run_forest, zeros};

/// Everything the regressor needs at run time.
#[derive(Debug)]
pub struct RegressorData {
    /// The ensemble.
    pub forest: AnyForest,
    /// Output rules.
    pub rules: RegressorRules,
}

/// The op: expansion and typed op.
#[derive(Debug, Clone)]
pub struct TreeRegressor(pub Arc<RegressorData>);

eq_by_shared_data!(TreeRegressor);

/// Parse a `TreeEnsembleRegressor` node.
pub fn parse(node: &NodeProto) -> Result<RegressorData, String> {
    let a = Attrs::new(node);
    let n_targets = a.int("n_targets").unwrap_or(1);
    let n_targets = usize::try_from(n_targets)
        .ok()
        .filter(|n| *n >= 1 && *n < (1 << 20))
        .ok_or_else(|| a.err(format!("n_targets = {n_targets} is not a positive count")))?;
    let post = PostTransform::parse(&a.string("post_transform")?.unwrap_or_else(|| "NONE".into()))
        .map_err(|e| a.err(e))?;
    let aggregate = Aggregate::parse(
        &a.string("aggregate_function")?
            .unwrap_or_else(|| "SUM".into()),
    )
    .map_err(|e| a.err(e))?;
    let base_values = parse_base_values(node)?;
    let forest = parse_forest(node, "target", n_targets, aggregate)?;
    let rules = RegressorRules {
        n_targets,
        base_values,
        post,
        aggregate,
        n_trees: forest.n_trees(),
    };
    Ok(RegressorData { forest, rules })
}

/// The builder registered into tract's ONNX op register.
pub fn build(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let data = parse(node).map_err(TractError::msg)?;
    Ok((expand(TreeRegressor(Arc::new(data))), vec![]))
}

impl Expansion for TreeRegressor {
    expansion_wires_itself!("ChocoTreeEnsembleRegressor");

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].rank, 2)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[0].shape[1], self.0.rules.n_targets.to_dim())?;
        Ok(())
    }
}

impl Op for TreeRegressor {
    fn name(&self) -> StaticName {
        "ChocoTreeEnsembleRegressor".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} trees, {} nodes, {} targets, {:?}, {:?}",
            self.0.forest.n_trees(),
            self.0.forest.n_nodes(),
            self.0.rules.n_targets,
            self.0.rules.aggregate,
            self.0.rules.post
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for TreeRegressor {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let d = &*self.0;
        let k = d.rules.n_targets;
        let rows = match input.shape() {
            [r, _] => *r,
            _ => 1,
        };
        let mut out = zeros::<f32>(&[rows, k])?;
        {
            let mut view = out.try_as_plain_ram_mut()?;
            let slice = view.as_slice_mut::<f32>()?;
            let mut rows_out = slice.chunks_exact_mut(k);
            run_forest(&d.forest, k, &input, |_, s, h| {
                if let Some(o) = rows_out.next() {
                    d.rules.finalize(s, h, o);
                }
            })?;
        }
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for TreeRegressor {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = batch_dim(inputs)?;
        Ok(tvec!(f32::fact([n, self.0.rules.n_targets.to_dim()])))
    }

    as_op!();
}
