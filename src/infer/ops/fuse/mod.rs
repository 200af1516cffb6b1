//! An ONNX-level pre-pass that folds "a `Sum` of per-tree functions of single-tree
//! regressors" — the shape of skl2onnx's generic IsolationForest export — into one
//! `TreeEnsembleRegressor`.
//!
//! skl2onnx exports `IsolationForest` tree by tree: `Gather` (the tree's feature subset) →
//! single-tree `TreeEnsembleRegressor` (returns the leaf's node id) → `Cast` → two
//! `LabelEncoder`s (leaf → depth, leaf → sample count) → about twenty elementwise ops (the
//! average path length `c(n)`) → one input of a final `Sum`. That is ≈ 2,700 tiny ops, and
//! each costs tract a dispatch per run. But every op between a tree and the `Sum` is
//! row-wise, so the tree's contribution to the `Sum` is a function of its leaf alone: it can
//! be tabulated once per leaf, at load time, by running that very subgraph (through tract,
//! with our ops) on the list of leaf outputs. The forest then becomes one
//! `TreeEnsembleRegressor` whose leaf weights are the tabulated contributions, summed (in
//! `f64`, closer to sklearn than the graph's `f32` `Sum`), and the ops after the `Sum` stay.
//!
//! The match is guarded, and anything unexpected leaves the graph untouched (the model still
//! runs, unfused): each `Sum` input must depend on exactly one regressor with one tree, one
//! target, one vote per leaf, no base values or post-transform, fed by a shared tensor `Z`
//! directly or through `Gather(Z, constant indices, axis = 1)`; every other op in between
//! must be in a whitelist of row-wise ops whose constant operands are scalars; nothing in the
//! folded region may be used outside it; and the tabulated outputs must be `[leaves, 1]`
//! floats.

use std::collections::{HashMap, HashSet};

use crate::infer::onnx::pb::tensor_shape_proto::{Dimension, dimension};
use crate::infer::onnx::pb::type_proto::{self, Tensor as TensorType};
use crate::infer::onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use tract_hir::internal::*;

use super::attrs::Attrs;

mod find;

use find::find;

/// What a successful fusion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fused {
    /// Trees folded into the new regressor.
    pub trees: usize,
    /// ONNX nodes removed (the new regressor not counted).
    pub removed_nodes: usize,
}

/// One tree's chain as matched.
struct Chain {
    /// The `Sum` input it computes.
    out: String,
    /// Index of the single-tree regressor.
    regressor: usize,
    /// Column map of its `Gather`, if any.
    columns: Option<Vec<i64>>,
    /// Every node of the chain (gather, regressor and row-wise ops).
    members: HashSet<usize>,
    /// The row-wise part (tabulated).
    rowwise: HashSet<usize>,
}

/// Try the fusion on `model`; `Ok(None)` (graph untouched) when the pattern is not there,
/// `Err` (graph untouched) with the reason when it is there but a guard refused it.
pub fn fuse_tree_sums(
    onnx: &crate::infer::onnx::Onnx,
    model: &mut ModelProto,
) -> Result<Option<Fused>, String> {
    let Some(graph) = model.graph.as_ref() else {
        return Ok(None);
    };
    let Some((sum_ix, chains, source)) = find(graph)? else {
        return Ok(None);
    };
    let tables = tabulate(onnx, model, &chains)?;
    let Some(graph) = model.graph.as_mut() else {
        return Ok(None);
    };
    let fused = build_regressor(graph, sum_ix, &chains, &tables, &source)?;
    let mut remove: HashSet<usize> = chains.iter().flat_map(|c| c.members.clone()).collect();
    remove.insert(sum_ix);
    let removed_nodes = remove.len();
    let old = std::mem::take(&mut graph.node);
    for (ix, node) in old.into_iter().enumerate() {
        if ix == sum_ix {
            graph.node.push(fused.clone());
        } else if !remove.contains(&ix) {
            graph.node.push(node);
        }
    }
    let used: HashSet<&str> = graph
        .node
        .iter()
        .flat_map(|n| n.input.iter().map(String::as_str))
        .collect();
    let keep: Vec<bool> = graph
        .initializer
        .iter()
        .map(|t| used.contains(t.name.as_str()))
        .collect();
    let mut keep = keep.into_iter();
    graph.initializer.retain(|_| keep.next().unwrap_or(true));
    Ok(Some(Fused {
        trees: chains.len(),
        removed_nodes,
    }))
}

/// A tree's leaves in the order of its `target_nodeids`, with their weights.
fn leaves(reg: &NodeProto) -> Result<(Vec<i64>, Vec<f32>), String> {
    let a = Attrs::new(reg);
    let ids = a.ints("target_nodeids").unwrap_or_default();
    let w: Vec<f32> = a
        .reals_n("target_weights", ids.len())?
        .values
        .iter()
        .map(|v| *v as f32)
        .collect();
    Ok((ids, w))
}

/// The row-wise nodes of every chain (each once, in graph order) and the constants they read.
fn rowwise_part(graph: &GraphProto, chains: &[Chain]) -> (Vec<NodeProto>, Vec<TensorProto>) {
    let mut rowwise: Vec<usize> = chains
        .iter()
        .flat_map(|c| c.rowwise.iter().copied())
        .collect();
    rowwise.sort_unstable();
    rowwise.dedup();
    let nodes: Vec<NodeProto> = rowwise
        .iter()
        .filter_map(|ix| graph.node.get(*ix).cloned())
        .collect();
    let used: HashSet<&str> = nodes
        .iter()
        .flat_map(|n| n.input.iter().map(String::as_str))
        .collect();
    let initializer = graph
        .initializer
        .iter()
        .filter(|t| used.contains(t.name.as_str()))
        .cloned()
        .collect();
    (nodes, initializer)
}

/// Run every chain's row-wise part on its tree's leaf outputs: one table per chain, in the
/// order of the tree's `target_nodeids`.
fn tabulate(
    onnx: &crate::infer::onnx::Onnx,
    model: &ModelProto,
    chains: &[Chain],
) -> Result<Vec<Vec<f32>>, String> {
    let graph = model.graph.as_ref().ok_or("no graph")?;
    let (nodes, initializer) = rowwise_part(graph, chains);
    let mut inputs = Vec::with_capacity(chains.len());
    let mut values = TVec::new();
    for c in chains {
        let reg = graph.node.get(c.regressor).ok_or("bad index")?;
        let name = reg.output.first().ok_or("regressor without output")?;
        let (_, w) = leaves(reg)?;
        inputs.push(float_input(name, w.len()));
        let t = Tensor::from_shape(&[w.len(), 1], &w).map_err(|e| e.to_string())?;
        values.push(t.into_tvalue());
    }
    let sub = ModelProto {
        ir_version: model.ir_version,
        opset_import: model.opset_import.clone(),
        graph: Some(GraphProto {
            name: "leaf_tables".into(),
            node: nodes,
            initializer,
            input: inputs,
            output: chains
                .iter()
                .map(|c| ValueInfoProto {
                    name: c.out.clone(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let run = || -> TractResult<TVec<TValue>> {
        let typed = onnx.model_for_proto_model(&sub)?.into_typed()?;
        SimplePlan::new(typed)?.run(values)
    };
    let outs = run().map_err(|e| format!("tabulating the per-tree subgraphs failed: {e}"))?;
    chains
        .iter()
        .zip(outs)
        .map(|(c, v)| {
            let n = graph
                .node
                .get(c.regressor)
                .map(|r| {
                    Attrs::new(r)
                        .ints("target_nodeids")
                        .unwrap_or_default()
                        .len()
                })
                .unwrap_or_default();
            if v.datum_type() != f32::datum_type() || v.shape() != [n, 1] {
                return Err(format!(
                    "{} tabulates to {:?} {:?}, expected f32 [{n}, 1]",
                    c.out,
                    v.datum_type(),
                    v.shape()
                ));
            }
            let view = v.try_as_plain_ram().map_err(|e| e.to_string())?;
            Ok(view.as_slice::<f32>().map_err(|e| e.to_string())?.to_vec())
        })
        .collect()
}

fn float_input(name: &str, rows: usize) -> ValueInfoProto {
    let dim = |v: i64| Dimension {
        value: Some(dimension::Value::DimValue(v)),
        ..Default::default()
    };
    ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(TensorType {
                elem_type: 1,
                shape: Some(TensorShapeProto {
                    dim: vec![dim(rows as i64), dim(1)],
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The merged regressor: tree `t` of the result is chain `t`'s tree with its features mapped
/// through its Gather and its leaf weights replaced by the table.
fn build_regressor(
    graph: &GraphProto,
    sum_ix: usize,
    chains: &[Chain],
    tables: &[Vec<f32>],
    source: &str,
) -> Result<NodeProto, String> {
    let sum = graph.node.get(sum_ix).ok_or("bad index")?;
    let mut ints: HashMap<&str, Vec<i64>> = HashMap::new();
    let mut values: Vec<f32> = Vec::new();
    let mut modes: Vec<Vec<u8>> = Vec::new();
    let mut weights: Vec<f32> = Vec::new();
    for (t, (c, table)) in chains.iter().zip(tables).enumerate() {
        let reg = graph.node.get(c.regressor).ok_or("bad index")?;
        let a = Attrs::new(reg);
        let features = a.ints("nodes_featureids").unwrap_or_default();
        let n = features.len();
        let mapped: Vec<i64> = match &c.columns {
            None => features,
            Some(cols) => features
                .iter()
                .map(|f| {
                    usize::try_from(*f)
                        .ok()
                        .and_then(|f| cols.get(f).copied())
                        .ok_or_else(|| a.err(format!("feature {f} is outside its Gather")))
                })
                .collect::<Result<_, _>>()?,
        };
        ints.entry("nodes_featureids").or_default().extend(mapped);
        ints.entry("nodes_treeids")
            .or_default()
            .extend(std::iter::repeat_n(t as i64, n));
        for key in ["nodes_nodeids", "nodes_truenodeids", "nodes_falsenodeids"] {
            ints.entry(key).or_default().extend(a.ints_n(key, n)?);
        }
        let nan_true = a
            .ints("nodes_missing_value_tracks_true")
            .filter(|v| !v.is_empty());
        ints.entry("nodes_missing_value_tracks_true")
            .or_default()
            .extend(nan_true.unwrap_or_else(|| vec![0; n]));
        values.extend(
            a.reals_n("nodes_values", n)?
                .values
                .iter()
                .map(|v| *v as f32),
        );
        let m = reg
            .attribute
            .iter()
            .find(|x| x.name == "nodes_modes")
            .map(|x| x.strings.clone())
            .unwrap_or_default();
        modes.extend(m);
        let (ids, _) = leaves(reg)?;
        ints.entry("target_ids")
            .or_default()
            .extend(std::iter::repeat_n(0, ids.len()));
        ints.entry("target_treeids")
            .or_default()
            .extend(std::iter::repeat_n(t as i64, ids.len()));
        ints.entry("target_nodeids").or_default().extend(ids);
        weights.extend(table);
    }
    let mut attribute: Vec<AttributeProto> = ints
        .into_iter()
        .map(|(name, v)| attr(name, 7, |a| a.ints = v))
        .collect();
    attribute.push(attr("nodes_values", 6, |a| a.floats = values));
    attribute.push(attr("target_weights", 6, |a| a.floats = weights));
    attribute.push(attr("nodes_modes", 8, |a| a.strings = modes));
    attribute.push(attr("n_targets", 2, |a| a.i = 1));
    attribute.push(attr("aggregate_function", 3, |a| a.s = b"SUM".to_vec()));
    attribute.push(attr("post_transform", 3, |a| a.s = b"NONE".to_vec()));
    Ok(NodeProto {
        input: vec![source.to_owned()],
        output: sum.output.clone(),
        name: format!("{}_fused_forest", sum.name),
        op_type: "TreeEnsembleRegressor".into(),
        domain: "ai.onnx.ml".into(),
        attribute,
        ..Default::default()
    })
}

/// An attribute of ONNX type `ty` (2 INT, 3 STRING, 6 FLOATS, 7 INTS, 8 STRINGS).
fn attr(name: &str, ty: i32, set: impl FnOnce(&mut AttributeProto)) -> AttributeProto {
    let mut a = AttributeProto {
        name: name.to_owned(),
        r#type: ty,
        ..Default::default()
    };
    set(&mut a);
    a
}

#[cfg(test)]
mod tests;
