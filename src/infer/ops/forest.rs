//! The compact tree-ensemble layout shared by the classifier and the regressor ops.
//!
//! ONNX describes an ensemble as parallel attribute arrays (`nodes_treeids`, `nodes_nodeids`,
//! `nodes_truenodeids`, …) plus a separate table of leaf votes. Walking that directly means a
//! hash or search per node and a scan of the vote table per leaf — what makes the stock tract op
//! take milliseconds per row. Here every tree is re-laid out once, at load time, in depth-first
//! pre-order with the *true* child first, so:
//!
//! - a node is 12 bytes (`f32` threshold) — five per cache line — and the true child is always
//!   the next node, so only the false child's index is stored;
//! - a leaf stores the range of its votes in flat `targets` / `weights` arrays, laid out in the
//!   same order as the leaves, so reaching a leaf's votes is one indexed load;
//! - construction visits every node exactly once from the tree's root, so the layout is acyclic
//!   and every child index points forward and in bounds: a walk always terminates.
//!
//! Thresholds keep the precision of the file (`f32` for `nodes_values`, `f64` for
//! `nodes_values_as_tensor`) and the input is compared in that type, like onnxruntime.
//! Votes are accumulated in `f64`.

use std::collections::HashMap;
use std::fmt::Debug;

/// Comparison of a branch node: go to the true child when `x <op> threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `x <= t`
    Leq = 0,
    /// `x < t`
    Lt = 1,
    /// `x >= t`
    Gte = 2,
    /// `x > t`
    Gt = 3,
    /// `x == t`
    Eq = 4,
    /// `x != t`
    Neq = 5,
}

impl Mode {
    /// Parse an ONNX `nodes_modes` entry; `Ok(None)` is a `LEAF`.
    pub fn parse(s: &str) -> Result<Option<Mode>, String> {
        Ok(Some(match s {
            "BRANCH_LEQ" => Mode::Leq,
            "BRANCH_LT" => Mode::Lt,
            "BRANCH_GTE" => Mode::Gte,
            "BRANCH_GT" => Mode::Gt,
            "BRANCH_EQ" => Mode::Eq,
            "BRANCH_NEQ" => Mode::Neq,
            "LEAF" => return Ok(None),
            other => return Err(format!("unknown node mode {other:?}")),
        }))
    }

    fn from_bits(bits: u32) -> Mode {
        match bits {
            0 => Mode::Leq,
            1 => Mode::Lt,
            2 => Mode::Gte,
            3 => Mode::Gt,
            4 => Mode::Eq,
            _ => Mode::Neq,
        }
    }
}

/// How the votes of the trees are combined per target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Sum of the votes.
    Sum,
    /// Sum divided by the number of trees.
    Average,
    /// Smallest vote.
    Min,
    /// Largest vote.
    Max,
}

impl Aggregate {
    /// Parse `aggregate_function`.
    pub fn parse(s: &str) -> Result<Aggregate, String> {
        match s {
            "SUM" => Ok(Aggregate::Sum),
            "AVERAGE" => Ok(Aggregate::Average),
            "MIN" => Ok(Aggregate::Min),
            "MAX" => Ok(Aggregate::Max),
            other => Err(format!("unknown aggregate_function {other:?}")),
        }
    }
}

/// A threshold type: `f32` or `f64`.
pub trait Threshold: Copy + PartialOrd + PartialEq + Debug + Send + Sync + 'static {
    /// Convert from the parsed value (exact for the type the file used).
    fn from_f64(v: f64) -> Self;
    /// NaN test.
    fn is_nan(self) -> bool;
}

impl Threshold for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
}

impl Threshold for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
}

/// One node as parsed from the ONNX attributes (any order).
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// `nodes_treeids`.
    pub tree: i64,
    /// `nodes_nodeids`.
    pub id: i64,
    /// `nodes_featureids`.
    pub feature: i64,
    /// `nodes_modes` (`None` = leaf).
    pub mode: Option<Mode>,
    /// `nodes_values` (widened to f64; narrowed back to the threshold type).
    pub value: f64,
    /// `nodes_truenodeids`.
    pub true_id: i64,
    /// `nodes_falsenodeids`.
    pub false_id: i64,
    /// `nodes_missing_value_tracks_true`.
    pub nan_true: bool,
}

/// One leaf vote as parsed (`class_*` or `target_*`).
#[derive(Debug, Clone, Copy)]
pub struct VoteSpec {
    /// Tree id.
    pub tree: i64,
    /// Node id of the leaf.
    pub node: i64,
    /// Class or target index.
    pub target: i64,
    /// Weight.
    pub weight: f64,
}

const LEAF: u32 = 1 << 31;
const NAN_TRUE: u32 = 1 << 28;
const MODE_SHIFT: u32 = 24;
const LOW_MASK: u32 = (1 << 24) - 1;

/// A node of the compact layout. Branch: `meta` = feature | mode << 24 | NAN_TRUE?, `next` =
/// index of the false child (the true child is the next node). Leaf: `meta` = LEAF | vote
/// count, `next` = index of the first vote.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Node<T> {
    threshold: T,
    meta: u32,
    next: u32,
}

/// A validated, re-laid-out tree ensemble.
#[derive(Debug, Clone)]
pub struct Forest<T> {
    nodes: Vec<Node<T>>,
    roots: Vec<u32>,
    targets: Vec<u32>,
    weights: Vec<f64>,
    n_targets: usize,
    n_features: usize,
    aggregate: Aggregate,
    /// Every branch is `BRANCH_LEQ` without missing-value tracking: the fast walk applies.
    plain_leq: bool,
}

/// Per-row accumulator state, in the caller's (reused) buffers.
pub struct Acc<'a> {
    /// `rows * n_targets` scores.
    pub scores: &'a mut [f64],
    /// Whether a target received at least one vote (onnxruntime's `has_score`).
    pub has: &'a mut [bool],
}

impl<T: Threshold> Forest<T> {
    /// Build and validate the layout. `n_targets` bounds the vote targets.
    pub fn build(
        nodes: &[NodeSpec],
        votes: &[VoteSpec],
        n_targets: usize,
        aggregate: Aggregate,
    ) -> Result<Forest<T>, String> {
        if nodes.is_empty() {
            return Err("the ensemble has no nodes".into());
        }
        if n_targets == 0 {
            return Err("the ensemble has no targets/classes".into());
        }
        // Group node indices per tree, trees in ascending id order.
        let mut by_tree: Vec<(i64, Vec<usize>)> = Vec::new();
        {
            let mut tree_pos: HashMap<i64, usize> = HashMap::new();
            for (ix, n) in nodes.iter().enumerate() {
                let pos = *tree_pos.entry(n.tree).or_insert_with(|| {
                    by_tree.push((n.tree, Vec::new()));
                    by_tree.len() - 1
                });
                if let Some((_, v)) = by_tree.get_mut(pos) {
                    v.push(ix);
                }
            }
        }
        by_tree.sort_by_key(|(t, _)| *t);

        let mut vote_map: HashMap<(i64, i64), Vec<(u32, f64)>> = HashMap::new();
        for v in votes {
            let target = usize::try_from(v.target)
                .ok()
                .filter(|t| *t < n_targets)
                .ok_or_else(|| {
                    format!(
                        "vote of tree {} node {} has target/class id {} outside 0..{n_targets}",
                        v.tree, v.node, v.target
                    )
                })?;
            vote_map
                .entry((v.tree, v.node))
                .or_default()
                .push((target as u32, v.weight));
        }

        let mut out = Forest {
            nodes: Vec::with_capacity(nodes.len()),
            roots: Vec::with_capacity(by_tree.len()),
            targets: Vec::with_capacity(votes.len()),
            weights: Vec::with_capacity(votes.len()),
            n_targets,
            n_features: 0,
            aggregate,
            plain_leq: true,
        };
        let mut used_votes = 0usize;
        for (tree, members) in &by_tree {
            used_votes += out.lay_out_tree(*tree, members, nodes, &vote_map)?;
        }
        if used_votes != votes.len() {
            return Err(format!(
                "{} leaf votes refer to nodes that are not leaves of any tree",
                votes.len() - used_votes
            ));
        }
        Ok(out)
    }

    /// Append one tree in pre-order (true child first); returns the number of votes used.
    fn lay_out_tree(
        &mut self,
        tree: i64,
        members: &[usize],
        nodes: &[NodeSpec],
        votes: &HashMap<(i64, i64), Vec<(u32, f64)>>,
    ) -> Result<usize, String> {
        let mut by_id: HashMap<i64, usize> = HashMap::with_capacity(members.len());
        for &ix in members {
            let id = nodes.get(ix).map(|n| n.id).unwrap_or_default();
            if by_id.insert(id, ix).is_some() {
                return Err(format!("tree {tree}: node id {id} appears twice"));
            }
        }
        // The root is the node no branch points to.
        let mut referenced: std::collections::HashSet<i64> = Default::default();
        for &ix in members {
            if let Some(n) = nodes.get(ix)
                && n.mode.is_some()
            {
                referenced.insert(n.true_id);
                referenced.insert(n.false_id);
            }
        }
        let roots: Vec<i64> = members
            .iter()
            .filter_map(|&ix| nodes.get(ix).map(|n| n.id))
            .filter(|id| !referenced.contains(id))
            .collect();
        let root = match roots.as_slice() {
            [r] => *r,
            [] => {
                return Err(format!(
                    "tree {tree}: no root (every node is someone's child)"
                ));
            }
            more => return Err(format!("tree {tree}: {} roots, expected 1", more.len())),
        };

        let base = self.nodes.len();
        // (onnx id, slot of the parent whose `next` must point here, or None)
        let mut stack: Vec<(i64, Option<usize>)> = vec![(root, None)];
        let mut placed: HashMap<i64, usize> = HashMap::with_capacity(members.len());
        let mut used = 0usize;
        while let Some((id, patch)) = stack.pop() {
            let &ix = by_id
                .get(&id)
                .ok_or_else(|| format!("tree {tree}: child node id {id} does not exist"))?;
            let spec = nodes.get(ix).ok_or("node index out of range")?;
            let me = self.nodes.len();
            if placed.insert(id, me).is_some() {
                return Err(format!(
                    "tree {tree}: node id {id} is reached twice (the tree has a cycle or a shared child)"
                ));
            }
            if me > u32::MAX as usize / 2 {
                return Err("ensemble too large".into());
            }
            if let Some(slot) = patch
                && let Some(parent) = self.nodes.get_mut(slot)
            {
                parent.next = me as u32;
            }
            match spec.mode {
                Some(mode) => {
                    let feature = u32::try_from(spec.feature)
                        .ok()
                        .filter(|f| *f <= LOW_MASK)
                        .ok_or_else(|| {
                            format!("tree {tree} node {id}: bad feature id {}", spec.feature)
                        })?;
                    self.n_features = self.n_features.max(feature as usize + 1);
                    if mode != Mode::Leq || spec.nan_true {
                        self.plain_leq = false;
                    }
                    let mut meta = feature | ((mode as u32) << MODE_SHIFT);
                    if spec.nan_true {
                        meta |= NAN_TRUE;
                    }
                    self.nodes.push(Node {
                        threshold: T::from_f64(spec.value),
                        meta,
                        next: 0,
                    });
                    // False child is laid out after the whole true subtree: push it first.
                    stack.push((spec.false_id, Some(me)));
                    stack.push((spec.true_id, None));
                }
                None => {
                    let start = self.weights.len();
                    let list = votes.get(&(tree, id)).map(Vec::as_slice).unwrap_or(&[]);
                    if list.len() > LOW_MASK as usize {
                        return Err(format!("tree {tree} leaf {id}: too many votes"));
                    }
                    for &(t, w) in list {
                        self.targets.push(t);
                        self.weights.push(w);
                    }
                    used += list.len();
                    self.nodes.push(Node {
                        threshold: T::from_f64(0.0),
                        meta: LEAF | list.len() as u32,
                        next: start as u32,
                    });
                }
            }
        }
        if placed.len() != members.len() {
            return Err(format!(
                "tree {tree}: {} node(s) are not reachable from the root",
                members.len() - placed.len()
            ));
        }
        // Votes attached to branch nodes are an error (they would be silently ignored).
        for &ix in members {
            if let Some(n) = nodes.get(ix)
                && n.mode.is_some()
                && votes.contains_key(&(tree, n.id))
            {
                return Err(format!("tree {tree} node {}: votes on a branch node", n.id));
            }
        }
        self.roots.push(base as u32);
        Ok(used)
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    /// Number of targets (regressor) or classes (classifier).
    pub fn n_targets(&self) -> usize {
        self.n_targets
    }

    /// Smallest input width that covers every feature id used.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of nodes.
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// The aggregate function.
    pub fn aggregate(&self) -> Aggregate {
        self.aggregate
    }

    /// Distinct vote targets and whether every weight is ≥ 0 (onnxruntime's binary
    /// classifier rules need both).
    pub fn vote_summary(&self) -> (Vec<u32>, bool) {
        let mut seen: Vec<u32> = self.targets.clone();
        seen.sort_unstable();
        seen.dedup();
        (seen, self.weights.iter().all(|w| *w >= 0.0))
    }

    /// Index of the leaf reached by `row` from `root`; `plain_leq` walk.
    #[inline(always)]
    fn leaf_leq(&self, root: u32, row: &[T]) -> usize {
        let mut i = root as usize;
        let nodes = self.nodes.as_slice();
        loop {
            let Some(n) = nodes.get(i) else { return i };
            if n.meta & LEAF != 0 {
                return i;
            }
            let x = row.get((n.meta & LOW_MASK) as usize).copied();
            i = match x {
                Some(x) if x <= n.threshold => i + 1,
                _ => n.next as usize,
            };
        }
    }

    /// Index of the leaf reached by `row` from `root`; any mode, missing-value tracking.
    #[inline(always)]
    fn leaf_general(&self, root: u32, row: &[T]) -> usize {
        let mut i = root as usize;
        let nodes = self.nodes.as_slice();
        loop {
            let Some(n) = nodes.get(i) else { return i };
            if n.meta & LEAF != 0 {
                return i;
            }
            let Some(&x) = row.get((n.meta & LOW_MASK) as usize) else {
                return usize::MAX;
            };
            let t = n.threshold;
            let hit = match Mode::from_bits((n.meta >> MODE_SHIFT) & 7) {
                Mode::Leq => x <= t,
                Mode::Lt => x < t,
                Mode::Gte => x >= t,
                Mode::Gt => x > t,
                Mode::Eq => x == t,
                Mode::Neq => x != t,
            };
            let go_true = hit || (n.meta & NAN_TRUE != 0 && x.is_nan());
            i = if go_true { i + 1 } else { n.next as usize };
        }
    }

    /// Add the votes of leaf `leaf` to one row's accumulators.
    #[inline(always)]
    fn vote(&self, leaf: usize, scores: &mut [f64], has: &mut [bool]) {
        let Some(n) = self.nodes.get(leaf) else {
            return;
        };
        let start = n.next as usize;
        let end = start + (n.meta & LOW_MASK) as usize;
        let (Some(targets), Some(weights)) =
            (self.targets.get(start..end), self.weights.get(start..end))
        else {
            return;
        };
        for (&t, &w) in targets.iter().zip(weights) {
            let t = t as usize;
            if let (Some(s), Some(h)) = (scores.get_mut(t), has.get_mut(t)) {
                *s = match self.aggregate {
                    Aggregate::Sum | Aggregate::Average => *s + w,
                    Aggregate::Min => {
                        if !*h || w < *s {
                            w
                        } else {
                            *s
                        }
                    }
                    Aggregate::Max => {
                        if !*h || w > *s {
                            w
                        } else {
                            *s
                        }
                    }
                };
                *h = true;
            }
        }
    }

    /// Accumulate the votes of every tree for `rows` (row-major, `width` values per row,
    /// `width >= n_features()` checked by the caller) into `acc` (`rows * n_targets`, zeroed
    /// and `false` on entry). Trees are the outer loop when there are several rows, so one
    /// tree's nodes stay in L1 while every row walks it.
    pub fn accumulate(&self, input: &[T], width: usize, acc: Acc<'_>) {
        if width == 0 {
            return;
        }
        let k = self.n_targets;
        let rows = input.chunks_exact(width);
        let outs = acc
            .scores
            .chunks_exact_mut(k)
            .zip(acc.has.chunks_exact_mut(k));
        if input.len() / width <= 1 {
            for (row, (s, h)) in rows.zip(outs) {
                for &root in &self.roots {
                    let leaf = if self.plain_leq {
                        self.leaf_leq(root, row)
                    } else {
                        self.leaf_general(root, row)
                    };
                    self.vote(leaf, s, h);
                }
            }
            return;
        }
        for &root in &self.roots {
            let outs = acc
                .scores
                .chunks_exact_mut(k)
                .zip(acc.has.chunks_exact_mut(k));
            for (row, (s, h)) in input.chunks_exact(width).zip(outs) {
                let leaf = if self.plain_leq {
                    self.leaf_leq(root, row)
                } else {
                    self.leaf_general(root, row)
                };
                self.vote(leaf, s, h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branch(tree: i64, id: i64, f: i64, mode: Mode, v: f64, t: i64, e: i64) -> NodeSpec {
        NodeSpec {
            tree,
            id,
            feature: f,
            mode: Some(mode),
            value: v,
            true_id: t,
            false_id: e,
            nan_true: false,
        }
    }
    fn leaf(tree: i64, id: i64) -> NodeSpec {
        NodeSpec {
            tree,
            id,
            feature: 0,
            mode: None,
            value: 0.0,
            true_id: 0,
            false_id: 0,
            nan_true: false,
        }
    }
    fn vote(tree: i64, node: i64, target: i64, weight: f64) -> VoteSpec {
        VoteSpec {
            tree,
            node,
            target,
            weight,
        }
    }

    fn eval(f: &Forest<f32>, row: &[f32]) -> Vec<f64> {
        let mut s = vec![0.0; f.n_targets()];
        let mut h = vec![false; f.n_targets()];
        f.accumulate(
            row,
            row.len(),
            Acc {
                scores: &mut s,
                has: &mut h,
            },
        );
        s
    }

    /// Nodes listed out of order, ids not contiguous, false child before true child: the
    /// layout must still follow the ONNX links.
    #[test]
    fn follows_links_not_listing_order() {
        let nodes = vec![
            leaf(0, 7),
            branch(0, 3, 1, Mode::Leq, 2.0, 9, 7),
            leaf(0, 9),
        ];
        let votes = vec![vote(0, 9, 0, 10.0), vote(0, 7, 0, 20.0)];
        let f = Forest::<f32>::build(&nodes, &votes, 1, Aggregate::Sum).unwrap();
        assert_eq!(eval(&f, &[0.0, 2.0]), vec![10.0]); // 2 <= 2 → true child 9
        assert_eq!(eval(&f, &[0.0, 2.5]), vec![20.0]);
        assert_eq!(f.n_features(), 2);
    }

    #[test]
    fn every_mode_and_missing_tracking() {
        let cases = [
            (Mode::Leq, 1.0, [true, true, false]),
            (Mode::Lt, 1.0, [true, false, false]),
            (Mode::Gte, 1.0, [false, true, true]),
            (Mode::Gt, 1.0, [false, false, true]),
            (Mode::Eq, 1.0, [false, true, false]),
            (Mode::Neq, 1.0, [true, false, true]),
        ];
        for (mode, t, expect) in cases {
            for nan_true in [false, true] {
                let mut b = branch(0, 0, 0, mode, t, 1, 2);
                b.nan_true = nan_true;
                let nodes = vec![b, leaf(0, 1), leaf(0, 2)];
                let votes = vec![vote(0, 1, 0, 1.0), vote(0, 2, 0, 2.0)];
                let f = Forest::<f32>::build(&nodes, &votes, 1, Aggregate::Sum).unwrap();
                for (x, e) in [0.5f32, 1.0, 1.5].iter().zip(expect) {
                    assert_eq!(
                        eval(&f, &[*x]),
                        vec![if e { 1.0 } else { 2.0 }],
                        "{mode:?} {x}"
                    );
                }
                // NaN: IEEE comparison is false except for NEQ; missing tracking forces true.
                let nan_goes_true = nan_true || mode == Mode::Neq;
                assert_eq!(
                    eval(&f, &[f32::NAN]),
                    vec![if nan_goes_true { 1.0 } else { 2.0 }],
                    "{mode:?} NaN nan_true={nan_true}"
                );
            }
        }
    }

    #[test]
    fn aggregates() {
        // Two stumps voting 1/3 and 5/7 on targets 0 and 1.
        let mut nodes = vec![];
        let mut votes = vec![];
        for (t, (a, b)) in [(1.0, 3.0), (5.0, 7.0)].into_iter().enumerate() {
            let t = t as i64;
            nodes.push(branch(t, 0, 0, Mode::Leq, 0.0, 1, 2));
            nodes.push(leaf(t, 1));
            nodes.push(leaf(t, 2));
            votes.push(vote(t, 1, 0, a));
            votes.push(vote(t, 2, 1, b));
        }
        let go = |agg, x: f32| {
            let f = Forest::<f32>::build(&nodes, &votes, 2, agg).unwrap();
            eval(&f, &[x])
        };
        assert_eq!(go(Aggregate::Sum, -1.0), vec![6.0, 0.0]);
        assert_eq!(go(Aggregate::Sum, 1.0), vec![0.0, 10.0]);
        assert_eq!(go(Aggregate::Min, -1.0), vec![1.0, 0.0]);
        assert_eq!(go(Aggregate::Max, 1.0), vec![0.0, 7.0]);
    }

    #[test]
    fn batch_equals_single_rows() {
        let nodes = vec![
            branch(0, 0, 0, Mode::Leq, 0.0, 1, 2),
            leaf(0, 1),
            branch(0, 2, 1, Mode::Gt, 1.0, 3, 4),
            leaf(0, 3),
            leaf(0, 4),
            branch(1, 0, 1, Mode::Lt, 0.5, 1, 2),
            leaf(1, 1),
            leaf(1, 2),
        ];
        let votes = vec![
            vote(0, 1, 0, 1.0),
            vote(0, 3, 0, 2.0),
            vote(0, 4, 0, 4.0),
            vote(1, 1, 0, 8.0),
            vote(1, 2, 0, 16.0),
        ];
        let f = Forest::<f32>::build(&nodes, &votes, 1, Aggregate::Sum).unwrap();
        let rows: Vec<f32> = vec![-1.0, 0.0, 1.0, 2.0, 1.0, 0.7, 0.0, 0.3];
        let mut s = vec![0.0; 4];
        let mut h = vec![false; 4];
        f.accumulate(
            &rows,
            2,
            Acc {
                scores: &mut s,
                has: &mut h,
            },
        );
        let single: Vec<f64> = rows.chunks(2).map(|r| eval(&f, r)[0]).collect();
        assert_eq!(s, single);
        assert_eq!(single, vec![9.0, 18.0, 20.0, 9.0]);
    }

    #[test]
    fn rejects_broken_trees() {
        // Cycle: 0 -> 1 -> 0.
        let nodes = vec![
            branch(0, 0, 0, Mode::Leq, 0.0, 1, 2),
            branch(0, 1, 0, Mode::Leq, 0.0, 0, 2),
            leaf(0, 2),
        ];
        assert!(Forest::<f32>::build(&nodes, &[], 1, Aggregate::Sum).is_err());
        // Dangling child.
        let nodes = vec![branch(0, 0, 0, Mode::Leq, 0.0, 1, 5), leaf(0, 1)];
        assert!(Forest::<f32>::build(&nodes, &[], 1, Aggregate::Sum).is_err());
        // Vote on a class out of range.
        let nodes = vec![leaf(0, 0)];
        let err =
            Forest::<f32>::build(&nodes, &[vote(0, 0, 3, 1.0)], 2, Aggregate::Sum).unwrap_err();
        assert!(err.contains("outside"), "{err}");
        // Vote on a missing node.
        assert!(Forest::<f32>::build(&nodes, &[vote(0, 9, 0, 1.0)], 2, Aggregate::Sum).is_err());
        // Negative feature id.
        let nodes = vec![
            branch(0, 0, -1, Mode::Leq, 0.0, 1, 2),
            leaf(0, 1),
            leaf(0, 2),
        ];
        assert!(Forest::<f32>::build(&nodes, &[], 1, Aggregate::Sum).is_err());
    }
}
