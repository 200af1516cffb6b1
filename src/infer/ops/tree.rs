//! Parsing the shared `nodes_*` / vote attributes of both tree-ensemble ops into a [`Forest`],
//! and running it on a tract tensor.

use std::cell::RefCell;

use crate::infer::onnx::pb::NodeProto;
use tract_hir::internal::*;

use super::attrs::Attrs;
use super::forest::{Acc, Aggregate, Forest, Mode, NodeSpec, VoteSpec};

/// A forest with `f32` thresholds (`nodes_values`) or `f64` ones (`nodes_values_as_tensor`).
#[derive(Debug, Clone)]
pub enum AnyForest {
    /// Thresholds compared in f32, like onnxruntime for float models.
    F32(Forest<f32>),
    /// Thresholds compared in f64.
    F64(Forest<f64>),
}

impl AnyForest {
    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        match self {
            AnyForest::F32(f) => f.n_trees(),
            AnyForest::F64(f) => f.n_trees(),
        }
    }
    /// Minimum input width.
    pub fn n_features(&self) -> usize {
        match self {
            AnyForest::F32(f) => f.n_features(),
            AnyForest::F64(f) => f.n_features(),
        }
    }
    /// Number of nodes.
    pub fn n_nodes(&self) -> usize {
        match self {
            AnyForest::F32(f) => f.n_nodes(),
            AnyForest::F64(f) => f.n_nodes(),
        }
    }
    /// Distinct vote targets and whether all weights are ≥ 0.
    pub fn vote_summary(&self) -> (Vec<u32>, bool) {
        match self {
            AnyForest::F32(f) => f.vote_summary(),
            AnyForest::F64(f) => f.vote_summary(),
        }
    }
}

/// Parse the ensemble of a `TreeEnsembleClassifier` (`prefix = "class"`) or
/// `TreeEnsembleRegressor` (`prefix = "target"`).
pub fn parse_forest(
    node: &NodeProto,
    prefix: &str,
    n_targets: usize,
    aggregate: Aggregate,
) -> Result<AnyForest, String> {
    let a = Attrs::new(node);
    let feature_ids = a
        .ints_ref("nodes_featureids")
        .ok_or_else(|| a.err("missing attribute nodes_featureids"))?;
    let n = feature_ids.len();
    if n == 0 {
        return Err(a.err("the ensemble has no nodes"));
    }
    let tree_ids = a.ints_ref_n("nodes_treeids", n)?;
    let node_ids = a.ints_ref_n("nodes_nodeids", n)?;
    let true_ids = a.ints_ref_n("nodes_truenodeids", n)?;
    let false_ids = a.ints_ref_n("nodes_falsenodeids", n)?;
    let values = a.reals_n("nodes_values", n)?;
    let modes = a
        .bytes_ref("nodes_modes")
        .ok_or_else(|| a.err("missing attribute nodes_modes"))?;
    a.check_len("nodes_modes", modes.len(), n)?;
    let nan_true = match a.ints_ref("nodes_missing_value_tracks_true") {
        Some(v) if !v.is_empty() => {
            a.check_len("nodes_missing_value_tracks_true", v.len(), n)?;
            v
        }
        _ => &[],
    };
    let mut nodes = Vec::with_capacity(n);
    for (i, mode) in modes.iter().enumerate() {
        let mode = Mode::parse_bytes(mode).map_err(|e| a.err(e))?;
        let at = |v: &[i64]| v.get(i).copied().unwrap_or_default();
        nodes.push(NodeSpec {
            tree: at(tree_ids),
            id: at(node_ids),
            feature: at(feature_ids),
            mode,
            value: values.values.get(i).copied().unwrap_or_default(),
            true_id: at(true_ids),
            false_id: at(false_ids),
            nan_true: at(nan_true) != 0,
        });
    }

    let ids_name = format!("{prefix}_ids");
    let target_ids = a
        .ints_ref(&ids_name)
        .ok_or_else(|| a.err(format!("missing attribute {ids_name}")))?;
    let m = target_ids.len();
    let vote_trees = a.ints_ref_n(&format!("{prefix}_treeids"), m)?;
    let vote_nodes = a.ints_ref_n(&format!("{prefix}_nodeids"), m)?;
    let weights = a.reals_n(&format!("{prefix}_weights"), m)?;
    let votes: Vec<VoteSpec> = (0..m)
        .map(|i| VoteSpec {
            tree: vote_trees.get(i).copied().unwrap_or_default(),
            node: vote_nodes.get(i).copied().unwrap_or_default(),
            target: target_ids.get(i).copied().unwrap_or_default(),
            weight: weights.values.get(i).copied().unwrap_or_default(),
        })
        .collect();

    if values.double {
        Forest::<f64>::build(&nodes, &votes, n_targets, aggregate)
            .map(AnyForest::F64)
            .map_err(|e| a.err(e))
    } else {
        Forest::<f32>::build(&nodes, &votes, n_targets, aggregate)
            .map(AnyForest::F32)
            .map_err(|e| a.err(e))
    }
}

/// Optional `base_values` / `base_values_as_tensor`.
pub fn parse_base_values(node: &NodeProto) -> Result<Vec<f64>, String> {
    Ok(Attrs::new(node)
        .reals("base_values")?
        .map(|r| r.values)
        .unwrap_or_default())
}

thread_local! {
    /// Per-thread accumulators, grown on demand and reused: the hot path allocates nothing
    /// but its output tensors once the buffers have reached the batch size.
    static SCRATCH: RefCell<(Vec<f64>, Vec<bool>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Run `forest` on a `[N, F]` tensor (any numeric type; cast to the threshold type), then call
/// `finish(row, scores, has)` for every row with that row's accumulated votes.
pub fn run_forest(
    forest: &AnyForest,
    n_targets: usize,
    input: &Tensor,
    mut finish: impl FnMut(usize, &mut [f64], &mut [bool]),
) -> TractResult<usize> {
    let shape = input.shape();
    let (rows, width) = match shape {
        [r, w] => (*r, *w),
        [w] => (1, *w),
        _ => bail!("tree ensemble input must be [N, features], got shape {shape:?}"),
    };
    if width < forest.n_features() {
        bail!(
            "tree ensemble uses feature index {} but the input has {width} columns",
            forest.n_features().saturating_sub(1)
        );
    }
    SCRATCH.with(|cell| -> TractResult<()> {
        let mut guard = cell
            .try_borrow_mut()
            .map_err(|_| format_err!("scratch re-entered"))?;
        let (scores, has) = &mut *guard;
        let len = rows * n_targets;
        scores.clear();
        scores.resize(len, 0.0);
        has.clear();
        has.resize(len, false);
        let acc = Acc {
            scores: &mut scores[..],
            has: &mut has[..],
        };
        match forest {
            AnyForest::F32(f) => {
                let x = input.cast_to::<f32>()?;
                let view = x.try_as_plain_ram()?;
                f.accumulate(view.as_slice::<f32>()?, width, acc);
            }
            AnyForest::F64(f) => {
                let x = input.cast_to::<f64>()?;
                let view = x.try_as_plain_ram()?;
                f.accumulate(view.as_slice::<f64>()?, width, acc);
            }
        }
        if n_targets > 0 {
            for (row, (s, h)) in scores
                .chunks_exact_mut(n_targets)
                .zip(has.chunks_exact_mut(n_targets))
                .enumerate()
            {
                finish(row, s, h);
            }
        }
        Ok(())
    })?;
    Ok(rows)
}

/// The batch dimension of the single `[N, F]` input of a tree op.
pub fn batch_dim(inputs: &[&TypedFact]) -> TractResult<TDim> {
    inputs
        .first()
        .and_then(|f| f.shape.iter().next().cloned())
        .ok_or_else(|| format_err!("tree ensemble input must be [N, features]"))
}

/// A zeroed output tensor aligned to its element type only.
///
/// `Tensor::zero` aligns to tract's SIMD vector size, which makes every allocation a
/// `posix_memalign`; glibc serves those through a path that first consolidates its fast bins.
/// In the single-row profile of the committed bloom classifier that allocation was 10 % of the
/// run (`perf record --call-graph=dwarf` on `cargo bench --bench infer -- model_bloom/single_row`).
/// tract's ops take element-aligned tensors (every tensor built from an ndarray `Vec` is one),
/// and the parity tests run these outputs through the committed models' downstream ops.
pub fn zeros<T: Datum + tract_num_traits::Zero>(shape: &[usize]) -> TractResult<Tensor> {
    Tensor::zero_aligned::<T>(shape, std::mem::align_of::<T>())
}
