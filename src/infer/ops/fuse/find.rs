//! Finding the pattern [`super::fuse_tree_sums`] folds: the `Sum` fed by single-tree
//! regressors, one chain per input (optional column `Gather`, the regressor, row-wise ops),
//! and the guards that refuse a graph where folding would change what it computes.

use std::collections::{HashMap, HashSet};

use crate::infer::onnx::pb::{GraphProto, NodeProto, TensorProto};

use super::super::attrs::Attrs;
use super::Chain;

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

/// The `Sum`'s index, one chain per `Sum` input, and the value every tree reads.
pub(super) type Found = (usize, Vec<Chain>, String);

/// What a tree reads: the value Z, and the column map and index of its `Gather`, if any.
type TreeInput = (String, Option<Vec<i64>>, Option<usize>);

/// The graph with the indexes the matcher needs.
struct Graph<'a> {
    graph: &'a GraphProto,
    /// Value name → index of the node producing it.
    producer: HashMap<&'a str, usize>,
    /// Constant tensors by name.
    initializers: HashMap<&'a str, &'a TensorProto>,
}

/// Locate the `Sum` and match one chain per input.
pub(super) fn find(graph: &GraphProto) -> Result<Option<Found>, String> {
    let g = Graph::new(graph);
    let Some(sum_ix) = g.tree_sum() else {
        return Ok(None);
    };
    let sum = graph.node.get(sum_ix).ok_or("Sum vanished")?;
    let mut chains = Vec::with_capacity(sum.input.len());
    let mut source: Option<String> = None;
    let mut seen_outs = HashSet::new();
    for out in &sum.input {
        if !seen_outs.insert(out.as_str()) {
            return Err(format!("Sum input {out} appears twice"));
        }
        let (chain, z) = g.chain(out)?;
        match &source {
            None => source = Some(z),
            Some(s) if *s == z => {}
            Some(s) => return Err(format!("trees read different inputs ({s}, {z})")),
        }
        chains.push(chain);
    }
    g.check_sealed(&chains, sum_ix)?;
    check_disjoint(graph, &chains)?;
    let source = source.ok_or("no trees")?;
    Ok(Some((sum_ix, chains, source)))
}

fn is_regressor(n: &NodeProto) -> bool {
    n.op_type == "TreeEnsembleRegressor"
}

impl<'a> Graph<'a> {
    fn new(graph: &'a GraphProto) -> Self {
        Graph {
            graph,
            producer: graph
                .node
                .iter()
                .enumerate()
                .flat_map(|(ix, n)| n.output.iter().map(move |o| (o.as_str(), ix)))
                .collect(),
            initializers: graph
                .initializer
                .iter()
                .map(|t| (t.name.as_str(), t))
                .collect(),
        }
    }

    fn node(&self, ix: usize) -> Result<&'a NodeProto, String> {
        self.graph
            .node
            .get(ix)
            .ok_or_else(|| "bad index".to_string())
    }

    /// The Sum whose inputs are all fed by regressors (the one the pattern is about).
    fn tree_sum(&self) -> Option<usize> {
        self.graph.node.iter().position(|n| {
            n.op_type == "Sum"
                && n.input.len() >= 2
                && n.input.iter().all(|i| {
                    self.ancestors(i)
                        .iter()
                        .any(|&a| self.graph.node.get(a).is_some_and(is_regressor))
                })
        })
    }

    /// The chain that computes `Sum` input `out`, and the value its tree reads.
    fn chain(&self, out: &str) -> Result<(Chain, String), String> {
        let members = self.ancestors(out);
        let regs: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&a| self.graph.node.get(a).is_some_and(is_regressor))
            .collect();
        let [regressor] = regs.as_slice() else {
            return Err(format!(
                "Sum input {out} depends on {} regressors",
                regs.len()
            ));
        };
        let reg = self.node(*regressor)?;
        check_single_tree(reg)?;
        let (z, columns, gather) = self.tree_input(reg)?;
        // What computes the trees' shared input (e.g. a StandardScaler exported as Sub/Div
        // with per-column constants) is not part of any chain: it stays and feeds the fused op.
        let upstream = self.ancestors(&z);
        let mut rowwise: HashSet<usize> = members.difference(&upstream).copied().collect();
        rowwise.remove(regressor);
        if let Some(g) = gather {
            rowwise.remove(&g);
        }
        let reg_out = reg.output.first().ok_or("regressor without output")?;
        self.check_rowwise(&rowwise, reg_out)?;
        let mut all = rowwise.clone();
        all.insert(*regressor);
        all.extend(gather);
        let chain = Chain {
            out: out.to_string(),
            regressor: *regressor,
            columns,
            members: all,
            rowwise,
        };
        Ok((chain, z))
    }

    /// What a regressor reads: Z directly, or Gather(Z, constant columns, axis=1). Returns Z,
    /// the column map and the Gather's index.
    fn tree_input(&self, reg: &NodeProto) -> Result<TreeInput, String> {
        let reg_in = reg.input.first().ok_or("regressor without input")?;
        let Some(&g) = self.producer.get(reg_in.as_str()) else {
            return Ok((reg_in.clone(), None, None));
        };
        let gn = self.node(g)?;
        if gn.op_type != "Gather" {
            return Ok((reg_in.clone(), None, None));
        }
        let axis = Attrs::new(gn).int("axis").unwrap_or(0);
        let (Some(z), Some(ix), 1) = (gn.input.first(), gn.input.get(1), axis) else {
            return Err(format!("Gather {} is not a column selection", gn.name));
        };
        let t = self
            .initializers
            .get(ix.as_str())
            .ok_or_else(|| format!("Gather {} indices are not constant", gn.name))?;
        let cols = int64s(t)?;
        if cols.iter().any(|c| *c < 0) {
            return Err(format!("Gather {} has negative indices", gn.name));
        }
        Ok((z.clone(), Some(cols), Some(g)))
    }

    /// Every op of the row-wise part is a known row-wise op reading only the chain, the tree's
    /// output or scalar constants.
    fn check_rowwise(&self, rowwise: &HashSet<usize>, reg_out: &str) -> Result<(), String> {
        for &ix in rowwise {
            let n = self.node(ix)?;
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
            for i in n.input.iter().filter(|i| !i.is_empty() && *i != reg_out) {
                self.check_operand(n, i, rowwise)?;
            }
        }
        Ok(())
    }

    /// One operand of a row-wise op: from inside the chain, or a scalar constant (a
    /// `Reshape`'s shape may be longer).
    fn check_operand(
        &self,
        n: &NodeProto,
        i: &str,
        rowwise: &HashSet<usize>,
    ) -> Result<(), String> {
        match self.producer.get(i) {
            Some(p) if rowwise.contains(p) => Ok(()),
            Some(_) => Err(format!("{} {} reads {i} from outside", n.op_type, n.name)),
            None => {
                let t = self
                    .initializers
                    .get(i)
                    .ok_or_else(|| format!("{} {} reads graph input {i}", n.op_type, n.name))?;
                let elems: i64 = t.dims.iter().product();
                if elems != 1 && n.op_type != "Reshape" {
                    return Err(format!(
                        "{} {} has a non-scalar constant {i}",
                        n.op_type, n.name
                    ));
                }
                Ok(())
            }
        }
    }

    /// Nothing folded may be read outside the folded region or be a graph output. A shared
    /// Constant node or Gather is fine as long as all its readers are folded.
    fn check_sealed(&self, chains: &[Chain], sum_ix: usize) -> Result<(), String> {
        let folded: HashSet<usize> = chains
            .iter()
            .flat_map(|c| c.members.iter().copied())
            .chain([sum_ix])
            .collect();
        for (ix, n) in self.graph.node.iter().enumerate() {
            if folded.contains(&ix) {
                continue;
            }
            for i in &n.input {
                if self
                    .producer
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
        let outputs: HashSet<&str> = self.graph.output.iter().map(|o| o.name.as_str()).collect();
        for &ix in folded.iter().filter(|&&ix| ix != sum_ix) {
            if let Some(n) = self.graph.node.get(ix)
                && n.output.iter().any(|o| outputs.contains(o.as_str()))
            {
                return Err(format!("{} {} is a graph output", n.op_type, n.name));
            }
        }
        Ok(())
    }

    /// Every node the value `name` depends on (transitively), by index.
    fn ancestors(&self, name: &str) -> HashSet<usize> {
        ancestors(self.graph, &self.producer, name)
    }
}

/// A node shared by two chains (other than constants) would make the table ambiguous.
fn check_disjoint(graph: &GraphProto, chains: &[Chain]) -> Result<(), String> {
    let mut owner: HashMap<usize, usize> = HashMap::new();
    for (c, chain) in chains.iter().enumerate() {
        for &ix in &chain.members {
            let constant = graph.node.get(ix).is_some_and(|n| n.op_type == "Constant");
            if owner.insert(ix, c).is_some_and(|prev| prev != c) && !constant {
                return Err("two trees share an op".into());
            }
        }
    }
    Ok(())
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
