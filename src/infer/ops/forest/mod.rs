//! The compact tree-ensemble layout shared by the classifier and the regressor ops.
//!
//! ONNX describes an ensemble as parallel attribute arrays (`nodes_treeids`, `nodes_nodeids`,
//! `nodes_truenodeids`, …) plus a separate table of leaf votes. Walking that directly means a
//! hash or search per node and a scan of the vote table per leaf — what makes the stock tract op
//! take milliseconds per row. Here every tree is re-laid out once, at load time, in depth-first
//! pre-order with the *true* child first, so:
//!
//! - a node is 12 bytes (`f32` threshold) — five per cache line — and the true child is always
//!   the next node, so only the false child's position is stored (as a byte offset, which is
//!   what the walks step through);
//! - a leaf stores the range of its votes in flat `targets` / `weights` arrays, laid out in the
//!   same order as the leaves, so reaching a leaf's votes is one indexed load;
//! - construction visits every node exactly once from the tree's root, so the layout is acyclic
//!   and every child index points forward and in bounds: a walk always terminates.
//!
//! Thresholds keep the precision of the file (`f32` for `nodes_values`, `f64` for
//! `nodes_values_as_tensor`) and the input is compared in that type, like onnxruntime.
//! Votes are accumulated in `f64`.

mod build;
mod ids;
mod vote;
mod walk;

#[cfg(test)]
mod tests;

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
        Mode::parse_bytes(s.as_bytes())
    }

    /// Same from the attribute's raw bytes.
    pub fn parse_bytes(s: &[u8]) -> Result<Option<Mode>, String> {
        Ok(Some(match s {
            b"BRANCH_LEQ" => Mode::Leq,
            b"BRANCH_LT" => Mode::Lt,
            b"BRANCH_GTE" => Mode::Gte,
            b"BRANCH_GT" => Mode::Gt,
            b"BRANCH_EQ" => Mode::Eq,
            b"BRANCH_NEQ" => Mode::Neq,
            b"LEAF" => return Ok(None),
            other => {
                return Err(format!(
                    "unknown node mode {:?}",
                    String::from_utf8_lossy(other)
                ));
            }
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
    /// A NaN of this type (a leaf's threshold: every comparison with it is false).
    fn nan() -> Self;
    /// A NaN whose payload carries `first_vote`, the index of a leaf's first vote (see
    /// [`Forest`]'s `vote_start`); `None` when the index does not fit the payload (22 bits
    /// for `f32`, 51 for `f64`). Still a NaN: every comparison with it is false.
    fn leaf_mark(first_vote: usize) -> Option<Self>;
    /// The index a [`Threshold::leaf_mark`] carries.
    fn first_vote(self) -> usize;
}

/// A quiet NaN's bits and the payload bits below them.
const F32_QNAN: u32 = 0x7fc0_0000;
const F32_PAYLOAD: u32 = (1 << 22) - 1;
const F64_QNAN: u64 = 0x7ff8_0000_0000_0000;
const F64_PAYLOAD: u64 = (1 << 51) - 1;

impl Threshold for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn nan() -> Self {
        f32::NAN
    }
    fn leaf_mark(first_vote: usize) -> Option<Self> {
        let v = u32::try_from(first_vote)
            .ok()
            .filter(|v| *v <= F32_PAYLOAD)?;
        Some(f32::from_bits(F32_QNAN | v))
    }
    fn first_vote(self) -> usize {
        (self.to_bits() & F32_PAYLOAD) as usize
    }
}

impl Threshold for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn nan() -> Self {
        f64::NAN
    }
    fn leaf_mark(first_vote: usize) -> Option<Self> {
        let v = u64::try_from(first_vote)
            .ok()
            .filter(|v| *v <= F64_PAYLOAD)?;
        Some(f64::from_bits(F64_QNAN | v))
    }
    fn first_vote(self) -> usize {
        usize::try_from(self.to_bits() & F64_PAYLOAD).unwrap_or(usize::MAX)
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
/// where the false child is (the true child is the next node). Leaf: `meta` = LEAF (feature
/// bits 0), `threshold` = NaN and `next` = where it is itself, so a branch-free `x <= t ? i + 1
/// : next` step stays on a leaf once reached (see [`Forest::accumulate`]); its votes are found
/// through `vote_start`, or, when the leaves vote alike, from its threshold: a NaN whose
/// payload is the index of its first vote ([`Threshold::leaf_mark`]).
///
/// `next` is a *byte* offset from the first node (`index * Node::BYTES`): the branch-free
/// walks keep byte offsets as their state, so a step reads a node at `base + offset` with no
/// multiply by the 12-byte node size.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Node<T> {
    threshold: T,
    meta: u32,
    next: u32,
}

impl<T> Node<T> {
    /// Size of a node, the unit of `next`.
    const BYTES: usize = std::mem::size_of::<Node<T>>();
}

/// A validated, re-laid-out tree ensemble.
#[derive(Debug, Clone)]
pub struct Forest<T> {
    nodes: Vec<Node<T>>,
    roots: Vec<u32>,
    /// Per tree: the number of branches on its longest root-to-leaf path.
    depths: Vec<u32>,
    /// Votes of node `i` are `vote_start[i]..vote_start[i + 1]` (empty for branches): leaves
    /// are laid out in node order, so the offsets are monotone. Only kept for
    /// [`LeafVotes::Mixed`]: when the leaves vote alike, each leaf's NaN threshold carries its
    /// first vote and the count is the shared list's (4 bytes per node less: 0.27 MB for the
    /// committed models).
    vote_start: Vec<u32>,
    /// The target of each vote, in vote order; when the leaves vote alike ([`LeafVotes`]
    /// `Dense` or `Same`), only the list they share.
    targets: Vec<u32>,
    weights: Vec<f64>,
    n_targets: usize,
    n_features: usize,
    aggregate: Aggregate,
    /// Every branch is `BRANCH_LEQ` without missing-value tracking: the fast walk applies.
    plain_leq: bool,
    /// How the leaves vote; lets a sum skip the per-vote target lookup (see [`LeafVotes`]).
    leaf_votes: LeafVotes,
}

/// The shape of the leaf votes, found once at build time.
///
/// Every skl2onnx export of a sklearn forest gives every leaf the same targets in the same
/// order (a multiclass forest votes on every class, a regressor on its one target). A summed
/// forest of that shape needs neither the target of each vote nor the `has` flags: each row
/// reaches exactly one leaf per tree on the plain walk, so every one of those targets gets a
/// vote, and the flags can be set once at the end. On the anchor forest (3 classes) the general
/// vote was about 0.4 µs of a 1.3 µs batch row; this path takes about 0.2 µs.
#[derive(Debug, Clone, PartialEq)]
enum LeafVotes {
    /// No common shape, or a MIN / MAX aggregate: the general [`Forest::vote`].
    Mixed,
    /// Every leaf votes on targets `0..n_targets`, in order.
    Dense,
    /// Every leaf votes on these targets, in this order.
    Same(Box<[u32]>),
}

/// Per-row accumulator state, in the caller's (reused) buffers.
pub struct Acc<'a> {
    /// `rows * n_targets` scores.
    pub scores: &'a mut [f64],
    /// Whether a target received at least one vote (onnxruntime's `has_score`).
    pub has: &'a mut [bool],
}

/// What a built forest is: its size and its aggregate.
impl<T: Threshold> Forest<T> {
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
        let mut hit = vec![false; self.n_targets];
        for &t in &self.targets {
            if let Some(h) = hit.get_mut(t as usize) {
                *h = true;
            }
        }
        let seen = (0..self.n_targets as u32)
            .filter(|&t| hit.get(t as usize).copied().unwrap_or(false))
            .collect();
        (seen, self.weights.iter().all(|w| *w >= 0.0))
    }
}

/// Trees walked together for one row.
pub const TREE_LANES: usize = 8;
/// Rows walked together through one tree in a batch.
pub const ROW_LANES: usize = 16;
