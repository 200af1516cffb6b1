//! `ai.onnx.ml.TreeEnsembleClassifier` (v1–v3) as one tract op with two outputs: the label
//! (`int64` or `string`) and the `[N, n_classes]` float scores.
//!
//! Labels, base values, the post-transform and onnxruntime's binary rules are all applied
//! inside the op (see [`super::post`]), so the optimised graph is a single node per ensemble.

use std::sync::Arc;

use crate::infer::onnx::ParsingContext;
use crate::infer::onnx::pb::NodeProto;
use tract_hir::internal::*;

use super::attrs::Attrs;
use super::forest::Aggregate;
use super::post::{ClassifierRules, PostTransform};
use super::tree::{AnyForest, batch_dim, parse_base_values, parse_forest, run_forest, zeros};

/// Class labels.
#[derive(Debug, Clone, PartialEq)]
pub enum Labels {
    /// `classlabels_int64s`.
    Int(Vec<i64>),
    /// `classlabels_strings`.
    Str(Vec<String>),
}

impl Labels {
    fn len(&self) -> usize {
        match self {
            Labels::Int(v) => v.len(),
            Labels::Str(v) => v.len(),
        }
    }
    fn datum_type(&self) -> DatumType {
        match self {
            Labels::Int(_) => i64::datum_type(),
            Labels::Str(_) => String::datum_type(),
        }
    }
}

/// Everything the classifier needs at run time (shared, immutable).
#[derive(Debug)]
pub struct ClassifierData {
    /// The ensemble.
    pub forest: AnyForest,
    /// Output rules.
    pub rules: ClassifierRules,
    /// Class labels.
    pub labels: Labels,
}

/// The op: both the inference-time expansion and the typed op it wires to.
#[derive(Debug, Clone)]
pub struct TreeClassifier(pub Arc<ClassifierData>);

eq_by_shared_data!(TreeClassifier);

/// Parse a `TreeEnsembleClassifier` node.
pub fn parse(node: &NodeProto) -> Result<ClassifierData, String> {
    let a = Attrs::new(node);
    let labels = match (
        a.ints("classlabels_int64s"),
        a.strings("classlabels_strings")?,
    ) {
        (Some(v), None) if !v.is_empty() => Labels::Int(v),
        (None, Some(v)) if !v.is_empty() => Labels::Str(v),
        (Some(i), Some(s)) if !i.is_empty() && !s.is_empty() => {
            return Err(a.err("both classlabels_int64s and classlabels_strings are set"));
        }
        (Some(v), _) if !v.is_empty() => Labels::Int(v),
        (_, Some(v)) if !v.is_empty() => Labels::Str(v),
        _ => return Err(a.err("no class labels (classlabels_int64s / classlabels_strings)")),
    };
    let n_classes = labels.len();
    let post = PostTransform::parse(&a.string("post_transform")?.unwrap_or_else(|| "NONE".into()))
        .map_err(|e| a.err(e))?;
    let base_values = parse_base_values(node)?;
    if !base_values.is_empty() && base_values.len() != n_classes && base_values.len() != 1 {
        return Err(a.err(format!(
            "base_values has {} entries for {n_classes} classes",
            base_values.len()
        )));
    }
    let forest = parse_forest(node, "class", n_classes, Aggregate::Sum)?;
    let (targets, all_positive) = forest.vote_summary();
    let rules = ClassifierRules {
        n_classes,
        base_values,
        post,
        binary_case: n_classes == 2 && targets.len() == 1,
        weights_all_positive: all_positive,
    };
    Ok(ClassifierData {
        forest,
        rules,
        labels,
    })
}

/// The builder registered into tract's ONNX op register.
pub fn build(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let data = parse(node).map_err(TractError::msg)?;
    Ok((expand(TreeClassifier(Arc::new(data))), vec![]))
}

impl Expansion for TreeClassifier {
    expansion_wires_itself!("ChocoTreeEnsembleClassifier");

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(2)
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 2)?;
        s.equals(&inputs[0].rank, 2)?;
        s.equals(&outputs[0].datum_type, self.0.labels.datum_type())?;
        s.equals(&outputs[1].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].rank, 1)?;
        s.equals(&outputs[1].rank, 2)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[1].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[1].shape[1], self.0.rules.n_classes.to_dim())?;
        Ok(())
    }
}

impl Op for TreeClassifier {
    fn name(&self) -> StaticName {
        "ChocoTreeEnsembleClassifier".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} trees, {} nodes, {} classes, {:?}",
            self.0.forest.n_trees(),
            self.0.forest.n_nodes(),
            self.0.rules.n_classes,
            self.0.rules.post
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for TreeClassifier {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let d = &*self.0;
        let k = d.rules.n_classes;
        let rows = match input.shape() {
            [r, _] => *r,
            _ => 1,
        };
        let mut scores = zeros::<f32>(&[rows, k])?;
        let mut label_ix: Vec<usize> = vec![0; rows];
        {
            let mut view = scores.try_as_plain_ram_mut()?;
            let out = view.as_slice_mut::<f32>()?;
            let mut rows_out = out.chunks_exact_mut(k);
            let mut labels = label_ix.iter_mut();
            run_forest(&d.forest, k, &input, |_, s, h| {
                if let (Some(o), Some(l)) = (rows_out.next(), labels.next()) {
                    *l = d.rules.finalize(s, h, o);
                }
            })?;
        }
        let labels = match &d.labels {
            Labels::Int(v) => {
                let mut t = zeros::<i64>(&[rows])?;
                {
                    let mut view = t.try_as_plain_ram_mut()?;
                    for (o, ix) in view.as_slice_mut::<i64>()?.iter_mut().zip(&label_ix) {
                        *o = v.get(*ix).copied().unwrap_or_default();
                    }
                }
                t
            }
            Labels::Str(v) => {
                let strings: Vec<String> = label_ix
                    .iter()
                    .map(|ix| v.get(*ix).cloned().unwrap_or_default())
                    .collect();
                tract_ndarray::Array1::from_vec(strings).into_tensor()
            }
        };
        Ok(tvec!(labels.into_tvalue(), scores.into_tvalue()))
    }
}

impl TypedOp for TreeClassifier {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = batch_dim(inputs)?;
        Ok(tvec!(
            self.0.labels.datum_type().fact([n.clone()]),
            f32::fact([n, self.0.rules.n_classes.to_dim()])
        ))
    }

    as_op!();
}
