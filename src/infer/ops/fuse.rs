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

use tract_onnx::pb::tensor_shape_proto::{Dimension, dimension};
use tract_onnx::pb::type_proto::{self, Tensor as TensorType};
use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use tract_onnx::tract_hir::internal::*;

use super::attrs::Attrs;

/// Ops that act on each row independently (with scalar constants), so a subgraph made of
/// them can be tabulated on a batch of leaf outputs.
const ROW_WISE: &[&str] = &[
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Max",
    "Min",
    "Log",
    "Exp",
    "Neg",
    "Abs",
    "Sqrt",
    "Pow",
    "Floor",
    "Ceil",
    "Cast",
    "Greater",
    "Less",
    "Equal",
    "GreaterOrEqual",
    "LessOrEqual",
    "Not",
    "And",
    "Or",
    "Where",
    "Identity",
    "Reshape",
    "LabelEncoder",
];

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
    onnx: &tract_onnx::Onnx,
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

type Found = (usize, Vec<Chain>, String);

/// Locate the `Sum` and match one chain per input.
fn find(graph: &GraphProto) -> Result<Option<Found>, String> {
    let producer: HashMap<&str, usize> = graph
        .node
        .iter()
        .enumerate()
        .flat_map(|(ix, n)| n.output.iter().map(move |o| (o.as_str(), ix)))
        .collect();
    let is_regressor = |n: &NodeProto| n.op_type == "TreeEnsembleRegressor";
    // The Sum whose inputs are fed by regressors (the one the pattern is about).
    let Some(sum_ix) = graph.node.iter().position(|n| {
        n.op_type == "Sum"
            && n.input.len() >= 2
            && n.input.iter().all(|i| {
                ancestors(graph, &producer, i)
                    .iter()
                    .any(|&a| graph.node.get(a).is_some_and(is_regressor))
            })
    }) else {
        return Ok(None);
    };
    let sum = graph.node.get(sum_ix).ok_or("Sum vanished")?;
    let initializers: HashMap<&str, &TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let mut chains = Vec::with_capacity(sum.input.len());
    let mut source: Option<String> = None;
    let mut seen_outs = HashSet::new();
    for out in &sum.input {
        if !seen_outs.insert(out.as_str()) {
            return Err(format!("Sum input {out} appears twice"));
        }
        let members = ancestors(graph, &producer, out);
        let regs: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&a| graph.node.get(a).is_some_and(is_regressor))
            .collect();
        let [regressor] = regs.as_slice() else {
            return Err(format!(
                "Sum input {out} depends on {} regressors",
                regs.len()
            ));
        };
        let reg = graph.node.get(*regressor).ok_or("bad index")?;
        check_single_tree(reg)?;
        let reg_in = reg.input.first().ok_or("regressor without input")?;
        // Z directly, or Gather(Z, constant columns, axis=1).
        let (z, columns, gather) = match producer.get(reg_in.as_str()) {
            Some(&g) if graph.node.get(g).is_some_and(|n| n.op_type == "Gather") => {
                let gn = graph.node.get(g).ok_or("bad index")?;
                let axis = Attrs::new(gn).int("axis").unwrap_or(0);
                let (Some(z), Some(ix), 1) = (gn.input.first(), gn.input.get(1), axis) else {
                    return Err(format!("Gather {} is not a column selection", gn.name));
                };
                let t = initializers
                    .get(ix.as_str())
                    .ok_or_else(|| format!("Gather {} indices are not constant", gn.name))?;
                let cols = int64s(t)?;
                if cols.iter().any(|c| *c < 0) {
                    return Err(format!("Gather {} has negative indices", gn.name));
                }
                (z.clone(), Some(cols), Some(g))
            }
            _ => (reg_in.clone(), None, None),
        };
        // What computes the trees' shared input (e.g. a StandardScaler exported as Sub/Div
        // with per-column constants) is not part of any chain: it stays and feeds the fused op.
        let upstream = ancestors(graph, &producer, &z);
        match &source {
            None => source = Some(z),
            Some(s) if *s == z => {}
            Some(s) => return Err(format!("trees read different inputs ({s}, {z})")),
        }
        let mut rowwise: HashSet<usize> = members.difference(&upstream).copied().collect();
        rowwise.remove(regressor);
        if let Some(g) = gather {
            rowwise.remove(&g);
        }
        let reg_out = reg.output.first().ok_or("regressor without output")?;
        for &ix in &rowwise {
            let n = graph.node.get(ix).ok_or("bad index")?;
            if n.op_type == "Constant" && n.input.is_empty() {
                continue;
            }
            if (!n.domain.is_empty() && n.domain != "ai.onnx.ml")
                || !ROW_WISE.contains(&n.op_type.as_str())
            {
                return Err(format!(
                    "{} {} is not a known row-wise op",
                    n.op_type, n.name
                ));
            }
            for i in &n.input {
                if i.is_empty() || i == reg_out {
                    continue;
                }
                match producer.get(i.as_str()) {
                    Some(p) if rowwise.contains(p) => {}
                    Some(_) => {
                        return Err(format!("{} {} reads {i} from outside", n.op_type, n.name));
                    }
                    None => {
                        let t = initializers.get(i.as_str()).ok_or_else(|| {
                            format!("{} {} reads graph input {i}", n.op_type, n.name)
                        })?;
                        let elems: i64 = t.dims.iter().product();
                        if elems != 1 && n.op_type != "Reshape" {
                            return Err(format!(
                                "{} {} has a non-scalar constant {i}",
                                n.op_type, n.name
                            ));
                        }
                    }
                }
            }
        }
        let mut all = rowwise.clone();
        all.insert(*regressor);
        if let Some(g) = gather {
            all.insert(g);
        }
        chains.push(Chain {
            out: out.clone(),
            regressor: *regressor,
            columns,
            members: all,
            rowwise,
        });
    }
    // Nothing folded may be read outside the folded region or be a graph output. A shared
    // Constant node or Gather is fine as long as all its readers are folded.
    let folded: HashSet<usize> = chains
        .iter()
        .flat_map(|c| c.members.iter().copied())
        .chain([sum_ix])
        .collect();
    let outputs: HashSet<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    for (ix, n) in graph.node.iter().enumerate() {
        if folded.contains(&ix) {
            continue;
        }
        for i in &n.input {
            if producer
                .get(i.as_str())
                .is_some_and(|p| folded.contains(p) && *p != sum_ix)
            {
                return Err(format!(
                    "{} {} reads {i} from inside the forest",
                    n.op_type, n.name
                ));
            }
        }
    }
    for &ix in &folded {
        if ix == sum_ix {
            continue;
        }
        if let Some(n) = graph.node.get(ix)
            && n.output.iter().any(|o| outputs.contains(o.as_str()))
        {
            return Err(format!("{} {} is a graph output", n.op_type, n.name));
        }
    }
    // A node shared by two chains (other than constants) would make the table ambiguous.
    let mut owner: HashMap<usize, usize> = HashMap::new();
    for (c, chain) in chains.iter().enumerate() {
        for &ix in &chain.members {
            let constant = graph.node.get(ix).is_some_and(|n| n.op_type == "Constant");
            if owner.insert(ix, c).is_some_and(|prev| prev != c) && !constant {
                return Err("two trees share an op".into());
            }
        }
    }
    let source = source.ok_or("no trees")?;
    Ok(Some((sum_ix, chains, source)))
}

/// Every node the value `name` depends on (transitively), by index.
fn ancestors(graph: &GraphProto, producer: &HashMap<&str, usize>, name: &str) -> HashSet<usize> {
    let mut seen = HashSet::new();
    let mut stack = vec![name];
    while let Some(v) = stack.pop() {
        if let Some(&p) = producer.get(v)
            && seen.insert(p)
            && let Some(n) = graph.node.get(p)
        {
            stack.extend(n.input.iter().map(String::as_str));
        }
    }
    seen
}

/// One tree, one target, one vote per leaf, no base values, no post-transform, f32
/// thresholds: then the regressor's output for a row is exactly the weight of its leaf.
fn check_single_tree(n: &NodeProto) -> Result<(), String> {
    let a = Attrs::new(n);
    let bad = |why: &str| Err(a.err(format!("not foldable: {why}")));
    if a.int("n_targets").unwrap_or(1) != 1 {
        return bad("n_targets != 1");
    }
    if a.string("post_transform")?.is_some_and(|p| p != "NONE") {
        return bad("post_transform");
    }
    if a.reals("base_values")?
        .is_some_and(|b| b.values.iter().any(|v| *v != 0.0))
    {
        return bad("base_values");
    }
    if a.reals("nodes_values")?.is_none_or(|r| r.double)
        || a.reals("target_weights")?.is_none_or(|r| r.double)
    {
        return bad("double-precision attributes");
    }
    let trees = a.ints("nodes_treeids").unwrap_or_default();
    if trees.windows(2).any(|w| w.first() != w.get(1)) {
        return bad("more than one tree");
    }
    let modes = a.strings("nodes_modes")?.unwrap_or_default();
    let leaves: Vec<i64> = modes
        .iter()
        .zip(a.ints("nodes_nodeids").unwrap_or_default())
        .filter(|(m, _)| m.as_str() == "LEAF")
        .map(|(_, id)| id)
        .collect();
    let mut voted = a.ints("target_nodeids").unwrap_or_default();
    let mut sorted = leaves.clone();
    sorted.sort_unstable();
    voted.sort_unstable();
    if sorted != voted
        || a.ints("target_ids")
            .unwrap_or_default()
            .iter()
            .any(|t| *t != 0)
    {
        return bad("leaves do not carry exactly one vote each");
    }
    Ok(())
}

fn int64s(t: &TensorProto) -> Result<Vec<i64>, String> {
    const INT64: i32 = 7;
    if t.data_type != INT64 {
        return Err(format!("{} is not int64", t.name));
    }
    if !t.int64_data.is_empty() {
        return Ok(t.int64_data.clone());
    }
    if !t.raw_data.len().is_multiple_of(8) {
        return Err(format!("{}: truncated raw data", t.name));
    }
    Ok(t.raw_data
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            i64::from_le_bytes(b)
        })
        .collect())
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

/// Run every chain's row-wise part on its tree's leaf outputs: one table per chain, in the
/// order of the tree's `target_nodeids`.
fn tabulate(
    onnx: &tract_onnx::Onnx,
    model: &ModelProto,
    chains: &[Chain],
) -> Result<Vec<Vec<f32>>, String> {
    let graph = model.graph.as_ref().ok_or("no graph")?;
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
    let initializer: Vec<TensorProto> = {
        let used: HashSet<&str> = nodes
            .iter()
            .flat_map(|n| n.input.iter().map(String::as_str))
            .collect();
        graph
            .initializer
            .iter()
            .filter(|t| used.contains(t.name.as_str()))
            .cloned()
            .collect()
    };
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
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture(name: &str) -> ModelProto {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/onnx")
            .join(name);
        let bytes = std::fs::read(path).unwrap();
        super::super::onnx()
            .proto_model_for_read(&mut &*bytes)
            .unwrap()
    }

    fn run(proto: &ModelProto, rows: &[f32], width: usize) -> Vec<Vec<f32>> {
        let onnx = super::super::onnx();
        let mut m = onnx.model_for_proto_model(proto).unwrap();
        let n = rows.len() / width;
        m.set_input_fact(0, f32::fact([n, width]).into()).unwrap();
        let plan = SimplePlan::new(m.into_typed().unwrap().into_optimized().unwrap()).unwrap();
        let input = Tensor::from_shape(&[n, width], rows).unwrap();
        plan.run(tvec!(input.into_tvalue()))
            .unwrap()
            .iter()
            .map(|v| {
                let v = v.cast_to::<f32>().unwrap();
                v.try_as_plain_ram()
                    .unwrap()
                    .as_slice::<f32>()
                    .unwrap()
                    .to_vec()
            })
            .collect()
    }

    fn rows(width: usize) -> Vec<f32> {
        (0..200 * width)
            .map(|i| ((i * 7919 % 1000) as f32 / 250.0) - 2.0)
            .collect()
    }

    /// The stock IsolationForest exports (bare and behind a scaler) fold into one regressor and
    /// give the unfused graph's labels and scores.
    #[test]
    fn folds_isolation_forest_exports() {
        for name in ["iforest.onnx", "iforest_scaled.onnx"] {
            let original = fixture(name);
            let mut fused = original.clone();
            let onnx = super::super::onnx();
            let report = fuse_tree_sums(&onnx, &mut fused).unwrap().unwrap();
            assert_eq!(report.trees, 5, "{name}");
            let g = fused.graph.as_ref().unwrap();
            let regs = g
                .node
                .iter()
                .filter(|n| n.op_type == "TreeEnsembleRegressor")
                .count();
            assert_eq!(regs, 1, "{name}");
            assert!(g.node.len() < 20, "{name}: {} nodes left", g.node.len());
            let width = match g.input[0].r#type.as_ref().and_then(|t| t.value.as_ref()) {
                Some(type_proto::Value::TensorType(t)) => {
                    match t.shape.as_ref().unwrap().dim[1].value {
                        Some(dimension::Value::DimValue(w)) => w as usize,
                        _ => panic!("width"),
                    }
                }
                None => panic!("type"),
            };
            let x = rows(width);
            let (a, b) = (run(&original, &x, width), run(&fused, &x, width));
            assert_eq!(a.len(), b.len());
            for (oa, ob) in a.iter().zip(&b) {
                for (va, vb) in oa.iter().zip(ob) {
                    assert!((va - vb).abs() <= 1e-6, "{name}: {va} vs {vb}");
                }
            }
        }
    }

    /// A folded value that is also a graph output refuses the fusion and leaves the graph as
    /// it was.
    #[test]
    fn refuses_when_a_tree_output_escapes() {
        let mut proto = fixture("iforest.onnx");
        let g = proto.graph.as_mut().unwrap();
        let reg_out = g
            .node
            .iter()
            .find(|n| n.op_type == "TreeEnsembleRegressor")
            .unwrap()
            .output[0]
            .clone();
        g.output.push(ValueInfoProto {
            name: reg_out,
            ..Default::default()
        });
        let before = proto.clone();
        let onnx = super::super::onnx();
        let err = fuse_tree_sums(&onnx, &mut proto).unwrap_err();
        assert!(err.contains("graph output"), "{err}");
        assert_eq!(proto, before);
    }

    /// A graph without the pattern is not touched.
    #[test]
    fn ignores_other_graphs() {
        let mut proto = fixture("gb_reg_1t.onnx");
        let before = proto.clone();
        assert_eq!(fuse_tree_sums(&super::super::onnx(), &mut proto), Ok(None));
        assert_eq!(proto, before);
    }
}
