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

/// Load-time maps keyed by ONNX ids. Building the layout hashes every node several times,
/// and SipHash made that a visible part of model load time; the keys are small integers from
/// the model file, so a multiply-rotate hash is enough (a hostile file can at worst slow its
/// own loading down).
type Map<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

/// A multiply-rotate hasher for integer ids (see [`Map`]).
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64);
    }
}
use std::fmt::Debug;

/// Per-tree grouping of node and vote indices, keyed by tree id. Exporters list a tree's
/// nodes (and votes) consecutively, so the last tree looked up is checked before the map.
#[derive(Default)]
struct TreeGroups {
    ids: Vec<i64>,
    nodes: Vec<Vec<u32>>,
    votes: Vec<Vec<u32>>,
    pos: Map<i64, usize>,
    last: Option<(i64, usize)>,
}

impl TreeGroups {
    /// Position of tree `id`; `create` adds an unknown tree, otherwise it is `None`.
    fn position(&mut self, id: i64, create: bool) -> Option<usize> {
        if let Some((last, pos)) = self.last
            && last == id
        {
            return Some(pos);
        }
        let pos = match self.pos.get(&id) {
            Some(&p) => p,
            None if create => {
                let p = self.ids.len();
                self.ids.push(id);
                self.nodes.push(Vec::new());
                self.votes.push(Vec::new());
                self.pos.insert(id, p);
                p
            }
            None => return None,
        };
        self.last = Some((id, pos));
        Some(pos)
    }
}

/// Buffers reused from tree to tree while laying out an ensemble.
#[derive(Default)]
struct TreeScratch {
    referenced: Vec<bool>,
    placed: Vec<bool>,
    vote_start: Vec<u32>,
    vote_fill: Vec<u32>,
    vote_slot: Vec<u32>,
    vote_sorted: Vec<u32>,
    stack: Vec<(u32, Option<usize>, u32)>,
}

/// A tree's ONNX node ids → member slots `0..n`: a direct table when the ids are dense (every
/// exporter numbers a tree's nodes `0..n`), a hash map when they are not.
enum IdIndex {
    Dense { min: i64, slots: Vec<u32> },
    Sparse(Map<i64, u32>),
}

impl IdIndex {
    const EMPTY: u32 = u32::MAX;

    /// Index the ids (in slot order); `Ok(Err(id))` names a duplicate id.
    fn new<E>(
        ids: impl Iterator<Item = Result<i64, E>> + Clone,
    ) -> Result<Result<IdIndex, i64>, E> {
        let (mut min, mut max, mut len) = (i64::MAX, i64::MIN, 0usize);
        for id in ids.clone() {
            let id = id?;
            min = min.min(id);
            max = max.max(id);
            len += 1;
        }
        let span = u64::try_from(i128::from(max) - i128::from(min)).unwrap_or(u64::MAX);
        if len > 0 && span < 2 * len as u64 + 64 {
            let mut slots = vec![IdIndex::EMPTY; span as usize + 1];
            for (slot, id) in ids.enumerate() {
                let id = id?;
                let cell = usize::try_from(id - min)
                    .ok()
                    .and_then(|c| slots.get_mut(c));
                match cell {
                    Some(c) if *c == IdIndex::EMPTY => *c = slot as u32,
                    _ => return Ok(Err(id)),
                }
            }
            return Ok(Ok(IdIndex::Dense { min, slots }));
        }
        let mut map = Map::with_capacity_and_hasher(len, Default::default());
        for (slot, id) in ids.enumerate() {
            let id = id?;
            if map.insert(id, slot as u32).is_some() {
                return Ok(Err(id));
            }
        }
        Ok(Ok(IdIndex::Sparse(map)))
    }

    /// Slot of node `id`.
    fn get(&self, id: i64) -> Option<usize> {
        let slot = match self {
            IdIndex::Dense { min, slots } => {
                let c = usize::try_from(id.checked_sub(*min)?).ok()?;
                *slots.get(c)?
            }
            IdIndex::Sparse(map) => *map.get(&id)?,
        };
        (slot != IdIndex::EMPTY).then_some(slot as usize)
    }
}

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
}

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
/// through `vote_start`.
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
    /// are laid out in node order, so the offsets are monotone.
    vote_start: Vec<u32>,
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

/// One tree being laid out: its member node indices and the file's node and vote tables.
struct TreeSpec<'a> {
    tree: i64,
    members: &'a [u32],
    nodes: &'a [NodeSpec],
    votes: &'a [VoteSpec],
}

impl TreeSpec<'_> {
    /// The node spec at file index `ix`.
    fn spec(&self, ix: u32) -> Result<&NodeSpec, String> {
        self.nodes
            .get(ix as usize)
            .ok_or_else(|| "node index out of range".to_string())
    }

    /// The slot of the root: the one node no branch points to.
    fn root(&self, index: &IdIndex, s: &mut TreeScratch) -> Result<usize, String> {
        let tree = self.tree;
        s.referenced.clear();
        s.referenced.resize(self.members.len(), false);
        for &ix in self.members {
            let n = self.spec(ix)?;
            if n.mode.is_some() {
                for child in [n.true_id, n.false_id] {
                    if let Some(r) = index.get(child).and_then(|c| s.referenced.get_mut(c)) {
                        *r = true;
                    }
                }
            }
        }
        let mut roots = s.referenced.iter().enumerate().filter(|(_, r)| !**r);
        match (roots.next(), roots.count()) {
            (Some((slot, _)), 0) => Ok(slot),
            (None, _) => Err(format!(
                "tree {tree}: no root (every node is someone's child)"
            )),
            (Some(_), more) => Err(format!("tree {tree}: {} roots, expected 1", more + 1)),
        }
    }

    /// The tree's votes, bucketed by node slot into `s.vote_sorted` with `s.vote_start` as
    /// the bucket starts (a stable counting sort: a leaf keeps its votes in file order).
    fn bucket_votes(
        &self,
        index: &IdIndex,
        tree_votes: &[u32],
        s: &mut TreeScratch,
    ) -> Result<(), String> {
        let len = self.members.len();
        s.vote_start.clear();
        s.vote_start.resize(len + 1, 0);
        s.vote_slot.clear();
        for &v in tree_votes {
            let vote = self
                .votes
                .get(v as usize)
                .ok_or("vote index out of range")?;
            let slot = index.get(vote.node).ok_or_else(|| {
                format!(
                    "tree {}: a leaf vote refers to node id {}, which is not a leaf of the tree",
                    self.tree, vote.node
                )
            })?;
            s.vote_slot.push(slot as u32);
            if let Some(c) = s.vote_start.get_mut(slot + 1) {
                *c += 1;
            }
        }
        for i in 1..s.vote_start.len() {
            let prev = s.vote_start.get(i - 1).copied().unwrap_or_default();
            if let Some(c) = s.vote_start.get_mut(i) {
                *c += prev;
            }
        }
        s.vote_fill.clear();
        s.vote_fill
            .extend_from_slice(s.vote_start.get(..len).unwrap_or(&[]));
        s.vote_sorted.clear();
        s.vote_sorted.resize(tree_votes.len(), 0);
        for (&v, &slot) in tree_votes.iter().zip(&s.vote_slot) {
            if let Some(fill) = s.vote_fill.get_mut(slot as usize) {
                if let Some(dst) = s.vote_sorted.get_mut(*fill as usize) {
                    *dst = v;
                }
                *fill += 1;
            }
        }
        Ok(())
    }
}

impl<T: Threshold> Forest<T> {
    /// Build and validate the layout. `n_targets` bounds the vote targets.
    ///
    /// Load time matters here (the committed models hold ≈ 50,000 nodes): nodes and votes are
    /// grouped per tree in one pass, and each tree's node ids go through an [`IdIndex`] — a
    /// direct table for the dense `0..n` ids every exporter writes — so the walk below does no
    /// hashing and no allocation per node.
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
        if nodes.len() > u32::MAX as usize / Node::<T>::BYTES || votes.len() > u32::MAX as usize / 2
        {
            return Err("ensemble too large".into());
        }
        // Nodes and votes per tree, trees in ascending id order.
        let mut trees = TreeGroups::default();
        for (ix, n) in nodes.iter().enumerate() {
            let pos = trees.position(n.tree, true).unwrap_or_default();
            if let Some(m) = trees.nodes.get_mut(pos) {
                m.push(ix as u32);
            }
        }
        let mut unplaced = 0usize;
        for (ix, v) in votes.iter().enumerate() {
            if usize::try_from(v.target).is_ok_and(|t| t < n_targets) {
                match trees.position(v.tree, false) {
                    Some(pos) => {
                        if let Some(m) = trees.votes.get_mut(pos) {
                            m.push(ix as u32);
                        }
                    }
                    None => unplaced += 1,
                }
            } else {
                return Err(format!(
                    "vote of tree {} node {} has target/class id {} outside 0..{n_targets}",
                    v.tree, v.node, v.target
                ));
            }
        }
        let mut order: Vec<usize> = (0..trees.ids.len()).collect();
        order.sort_by_key(|&p| trees.ids.get(p).copied().unwrap_or_default());

        let mut out = Forest {
            nodes: Vec::with_capacity(nodes.len()),
            roots: Vec::with_capacity(order.len()),
            depths: Vec::with_capacity(order.len()),
            vote_start: Vec::with_capacity(nodes.len() + 1),
            targets: Vec::with_capacity(votes.len()),
            weights: Vec::with_capacity(votes.len()),
            n_targets,
            n_features: 0,
            aggregate,
            plain_leq: true,
            leaf_votes: LeafVotes::Mixed,
        };
        let mut scratch = TreeScratch::default();
        for p in order {
            let (Some(&tree), Some(members), Some(tree_votes)) =
                (trees.ids.get(p), trees.nodes.get(p), trees.votes.get(p))
            else {
                continue;
            };
            out.lay_out_tree(tree, members, nodes, tree_votes, votes, &mut scratch)?;
        }
        out.vote_start.push(out.weights.len() as u32);
        if unplaced > 0 {
            return Err(format!(
                "{unplaced} leaf votes refer to nodes that are not leaves of any tree"
            ));
        }
        out.leaf_votes = out.find_leaf_votes();
        Ok(out)
    }

    /// The [`LeafVotes`] shape of a built forest.
    fn find_leaf_votes(&self) -> LeafVotes {
        if !matches!(self.aggregate, Aggregate::Sum | Aggregate::Average) {
            return LeafVotes::Mixed;
        }
        let mut shape: Option<&[u32]> = None;
        for (i, n) in self.nodes.iter().enumerate() {
            if n.meta & LEAF == 0 {
                continue;
            }
            let span = self.vote_start.get(i).zip(self.vote_start.get(i + 1));
            let Some(t) = span.and_then(|(&a, &b)| self.targets.get(a as usize..b as usize)) else {
                return LeafVotes::Mixed;
            };
            match shape {
                None => shape = Some(t),
                Some(p) if p == t => {}
                Some(_) => return LeafVotes::Mixed,
            }
        }
        match shape {
            Some(p) if p.iter().copied().eq(0..self.n_targets as u32) => LeafVotes::Dense,
            Some(p) => LeafVotes::Same(p.into()),
            None => LeafVotes::Mixed,
        }
    }

    /// Append one tree in pre-order (true child first).
    fn lay_out_tree(
        &mut self,
        tree: i64,
        members: &[u32],
        nodes: &[NodeSpec],
        tree_votes: &[u32],
        votes: &[VoteSpec],
        s: &mut TreeScratch,
    ) -> Result<(), String> {
        let t = TreeSpec {
            tree,
            members,
            nodes,
            votes,
        };
        let index = IdIndex::new(members.iter().map(|&ix| t.spec(ix).map(|n| n.id)))?
            .map_err(|id| format!("tree {tree}: node id {id} appears twice"))?;
        let root_slot = t.root(&index, s)?;
        t.bucket_votes(&index, tree_votes, s)?;
        let len = members.len();
        let base = self.nodes.len();
        s.placed.clear();
        s.placed.resize(len, false);
        let mut n_placed = 0usize;
        // (member slot, slot of the parent whose `next` must point here or None, depth)
        s.stack.clear();
        s.stack.push((root_slot as u32, None, 0));
        let mut max_depth = 0u32;
        while let Some((slot, patch, depth)) = s.stack.pop() {
            let slot = slot as usize;
            max_depth = max_depth.max(depth);
            let spec = t.spec(members.get(slot).copied().ok_or("slot out of range")?)?;
            match s.placed.get_mut(slot) {
                Some(p) if !*p => *p = true,
                _ => {
                    return Err(format!(
                        "tree {tree}: node id {} is reached twice (the tree has a cycle or a shared child)",
                        spec.id
                    ));
                }
            }
            n_placed += 1;
            let me = self.nodes.len();
            if let Some(at) = patch
                && let Some(parent) = self.nodes.get_mut(at)
            {
                parent.next = (me * Node::<T>::BYTES) as u32;
            }
            self.vote_start.push(self.weights.len() as u32);
            let (v0, v1) = (
                s.vote_start.get(slot).copied().unwrap_or_default() as usize,
                s.vote_start.get(slot + 1).copied().unwrap_or_default() as usize,
            );
            match spec.mode {
                Some(mode) => {
                    if v1 > v0 {
                        return Err(format!(
                            "tree {tree} node {}: votes on a branch node",
                            spec.id
                        ));
                    }
                    self.push_branch(tree, spec, mode)?;
                    let child = |c: i64| {
                        index
                            .get(c)
                            .ok_or_else(|| format!("tree {tree}: child node id {c} does not exist"))
                    };
                    let (tc, fc) = (child(spec.true_id)?, child(spec.false_id)?);
                    // False child is laid out after the whole true subtree: push it first.
                    s.stack.push((fc as u32, Some(me), depth + 1));
                    s.stack.push((tc as u32, None, depth + 1));
                }
                None => self.push_leaf(&t, spec, s.vote_sorted.get(v0..v1).unwrap_or(&[]))?,
            }
        }
        if n_placed != len {
            return Err(format!(
                "tree {tree}: {} node(s) are not reachable from the root",
                len - n_placed
            ));
        }
        self.roots.push(base as u32);
        self.depths.push(max_depth);
        Ok(())
    }

    /// A branch node: threshold in the file's precision, feature, mode and NaN direction.
    fn push_branch(&mut self, tree: i64, spec: &NodeSpec, mode: Mode) -> Result<(), String> {
        let feature = u32::try_from(spec.feature)
            .ok()
            .filter(|f| *f <= LOW_MASK)
            .ok_or_else(|| {
                format!(
                    "tree {tree} node {}: bad feature id {}",
                    spec.id, spec.feature
                )
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
        Ok(())
    }

    /// A leaf: its votes appended to the flat vote arrays (in file order), and a node whose
    /// `next` points at itself.
    fn push_leaf(
        &mut self,
        t: &TreeSpec<'_>,
        spec: &NodeSpec,
        leaf_votes: &[u32],
    ) -> Result<(), String> {
        if leaf_votes.len() > LOW_MASK as usize {
            return Err(format!("tree {} leaf {}: too many votes", t.tree, spec.id));
        }
        for &v in leaf_votes {
            let vote = t.votes.get(v as usize).ok_or("vote index out of range")?;
            // The target was range-checked when the votes were grouped.
            self.targets.push(vote.target as u32);
            self.weights.push(vote.weight);
        }
        let me = self.nodes.len();
        self.nodes.push(Node {
            threshold: T::nan(),
            meta: LEAF,
            next: (me * Node::<T>::BYTES) as u32,
        });
        Ok(())
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
                _ => n.next as usize / Node::<T>::BYTES,
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
            i = if go_true {
                i + 1
            } else {
                n.next as usize / Node::<T>::BYTES
            };
        }
    }

    /// Add the votes of leaf `leaf` to one row's accumulators.
    #[inline(always)]
    fn vote(&self, leaf: usize, scores: &mut [f64], has: &mut [bool]) {
        // `leaf` is `usize::MAX` when a general walk met a missing feature: no votes.
        let end = leaf.checked_add(1).and_then(|i| self.vote_start.get(i));
        let (Some(&start), Some(&end)) = (self.vote_start.get(leaf), end) else {
            return;
        };
        let (start, end) = (start as usize, end as usize);
        let (Some(targets), Some(weights)) =
            (self.targets.get(start..end), self.weights.get(start..end))
        else {
            return;
        };
        let pairs = targets.iter().zip(weights);
        if let Aggregate::Sum | Aggregate::Average = self.aggregate {
            for (&t, &w) in pairs {
                let t = t as usize;
                if let (Some(s), Some(h)) = (scores.get_mut(t), has.get_mut(t)) {
                    *s += w;
                    *h = true;
                }
            }
            return;
        }
        for (&t, &w) in pairs {
            let t = t as usize;
            if let (Some(s), Some(h)) = (scores.get_mut(t), has.get_mut(t)) {
                let replace = !*h
                    || match self.aggregate {
                        Aggregate::Min => w < *s,
                        _ => w > *s,
                    };
                if replace {
                    *s = w;
                }
                *h = true;
            }
        }
    }

    /// Add the votes of leaf `leaf` to one row's scores when every leaf votes alike (see
    /// [`LeafVotes`]; the caller sets the `has` flags, see [`Forest::mark_voted`]).
    #[inline(always)]
    fn vote_alike(&self, leaf: usize, scores: &mut [f64]) {
        let Some(&start) = self.vote_start.get(leaf) else {
            return;
        };
        let start = start as usize;
        match &self.leaf_votes {
            LeafVotes::Dense => {
                let Some(w) = self.weights.get(start..start + scores.len()) else {
                    return;
                };
                for (s, &w) in scores.iter_mut().zip(w) {
                    *s += w;
                }
            }
            LeafVotes::Same(targets) => {
                let Some(w) = self.weights.get(start..start + targets.len()) else {
                    return;
                };
                for (&t, &w) in targets.iter().zip(w) {
                    if let Some(s) = scores.get_mut(t as usize) {
                        *s += w;
                    }
                }
            }
            LeafVotes::Mixed => {}
        }
    }

    /// [`Forest::vote_alike`] for a block of rows of a [`LeafVotes::Dense`] forest with `K`
    /// targets: `scores` holds the block's rows, `K` each. With `K` known the per-leaf loop
    /// unrolls into `K` adds.
    #[inline(always)]
    fn vote_dense<const K: usize>(&self, leaves: &[u32; ROW_LANES], scores: &mut [f64]) {
        for (&leaf, row) in leaves.iter().zip(scores.chunks_exact_mut(K)) {
            let Some(&start) = self.vote_start.get(leaf as usize) else {
                continue;
            };
            let start = start as usize;
            let w = self
                .weights
                .get(start..start + K)
                .and_then(|w| <&[f64; K]>::try_from(w).ok());
            let (Some(w), Ok(row)) = (w, <&mut [f64; K]>::try_from(row)) else {
                continue;
            };
            for (s, w) in row.iter_mut().zip(w) {
                *s += w;
            }
        }
    }

    /// Set the `has` flags of the rows in `has` (`n_targets` per row) that [`Forest::vote_alike`]
    /// left to the caller: every target the leaves vote on.
    fn mark_voted(&self, has: &mut [bool]) {
        let k = self.n_targets;
        match &self.leaf_votes {
            LeafVotes::Dense => has.fill(true),
            LeafVotes::Same(targets) => {
                for row in has.chunks_exact_mut(k) {
                    for &t in targets.iter() {
                        if let Some(h) = row.get_mut(t as usize) {
                            *h = true;
                        }
                    }
                }
            }
            LeafVotes::Mixed => {}
        }
    }

    /// Accumulate the votes of every tree for `rows` (row-major, `width` values per row,
    /// `width >= n_features()` checked by the caller) into `acc` (`rows * n_targets`, zeroed
    /// and `false` on entry).
    ///
    /// Ensembles of plain `BRANCH_LEQ` trees (every skl2onnx export of sklearn's trees) take a
    /// branch-free path: several independent walks advance one level per step with a
    /// conditional move instead of a jump, so a mispredicted branch per level (the cost of a
    /// naive walk: sklearn splits are coin flips to the predictor) is replaced by
    /// memory-level parallelism. A single row walks [`TREE_LANES`] trees at once; a batch is
    /// tree-major — for each tree, blocks of [`ROW_LANES`] rows walk it together while its
    /// nodes stay in L1; the rows are first copied feature-major (see [`walk_block`]). A walk
    /// takes as many steps as its tree is deep; leaves loop onto themselves so shorter paths
    /// simply wait. When every leaf votes alike (see [`LeafVotes`]) a block's votes are plain
    /// adds. Other modes use the branching walk.
    pub fn accumulate(&self, input: &[T], width: usize, acc: Acc<'_>) {
        if width == 0 || self.n_targets == 0 {
            return;
        }
        let k = self.n_targets;
        let n_rows = input.len() / width;
        if !self.plain_leq || width < self.n_features {
            self.accumulate_general(input, width, acc);
            return;
        }
        if n_rows < ROW_LANES {
            let outs = acc
                .scores
                .chunks_exact_mut(k)
                .zip(acc.has.chunks_exact_mut(k));
            for (row, (s, h)) in input.chunks_exact(width).zip(outs) {
                self.one_row(row, s, h);
            }
            return;
        }
        let full = n_rows - n_rows % ROW_LANES;
        let nodes = self.nodes.as_slice();
        let columns = feature_major(input.get(..full * width).unwrap_or(&[]), width);
        for (&root, &depth) in self.roots.iter().zip(&self.depths) {
            let blocks = columns.chunks_exact(width * ROW_LANES);
            let outs = acc
                .scores
                .chunks_exact_mut(k * ROW_LANES)
                .zip(acc.has.chunks_exact_mut(k * ROW_LANES));
            for (block, (s, h)) in blocks.zip(outs) {
                let mut idx = [root; ROW_LANES];
                walk_block(
                    self.plain_leq,
                    nodes,
                    &mut idx,
                    block,
                    self.n_features,
                    depth,
                );
                match (&self.leaf_votes, k) {
                    (LeafVotes::Dense, 1) => self.vote_dense::<1>(&idx, s),
                    (LeafVotes::Dense, 2) => self.vote_dense::<2>(&idx, s),
                    (LeafVotes::Dense, 3) => self.vote_dense::<3>(&idx, s),
                    _ => {
                        let rows = s.chunks_exact_mut(k).zip(h.chunks_exact_mut(k));
                        for (&leaf, (s, h)) in idx.iter().zip(rows) {
                            self.vote_row(leaf as usize, s, h);
                        }
                    }
                }
            }
        }
        self.mark_voted(acc.has.get_mut(..full * k).unwrap_or(&mut []));
        // The last rows (fewer than a block) walk row by row.
        let rest = input.get(full * width..).unwrap_or(&[]);
        let outs = acc
            .scores
            .get_mut(full * k..)
            .unwrap_or(&mut [])
            .chunks_exact_mut(k)
            .zip(
                acc.has
                    .get_mut(full * k..)
                    .unwrap_or(&mut [])
                    .chunks_exact_mut(k),
            );
        for (row, (s, h)) in rest.chunks_exact(width).zip(outs) {
            self.one_row(row, s, h);
        }
    }

    /// One row of a plain-`BRANCH_LEQ` ensemble, [`TREE_LANES`] trees at a time.
    fn one_row(&self, row: &[T], s: &mut [f64], h: &mut [bool]) {
        let nodes = self.nodes.as_slice();
        let offsets = [0usize; TREE_LANES];
        let roots = self.roots.chunks_exact(TREE_LANES);
        let depths = self.depths.chunks_exact(TREE_LANES);
        let (rest_roots, rest_depths) = (roots.remainder(), depths.remainder());
        for (roots, depths) in roots.zip(depths) {
            let mut idx = [0u32; TREE_LANES];
            idx.copy_from_slice(roots);
            let depth = depths.iter().copied().max().unwrap_or(0);
            walk_lanes(nodes, &mut idx, row, &offsets, self.n_features, depth);
            for &leaf in &idx {
                self.vote_row(leaf as usize, s, h);
            }
        }
        for (&root, _) in rest_roots.iter().zip(rest_depths) {
            let leaf = self.leaf_leq(root, row);
            self.vote_row(leaf, s, h);
        }
        self.mark_voted(h);
    }

    /// One leaf's votes for one row of a plain walk: [`Forest::vote_alike`] when the leaves
    /// vote alike (the caller then calls [`Forest::mark_voted`]), else [`Forest::vote`].
    #[inline(always)]
    fn vote_row(&self, leaf: usize, s: &mut [f64], h: &mut [bool]) {
        if matches!(self.leaf_votes, LeafVotes::Mixed) {
            self.vote(leaf, s, h);
        } else {
            self.vote_alike(leaf, s);
        }
    }

    /// Any modes: the branching walk, tree-major when there are several rows.
    fn accumulate_general(&self, input: &[T], width: usize, acc: Acc<'_>) {
        let k = self.n_targets;
        for &root in &self.roots {
            let outs = acc
                .scores
                .chunks_exact_mut(k)
                .zip(acc.has.chunks_exact_mut(k));
            for (row, (s, h)) in input.chunks_exact(width).zip(outs) {
                let leaf = self.leaf_general(root, row);
                self.vote(leaf, s, h);
            }
        }
    }
}

/// Trees walked together for one row.
pub const TREE_LANES: usize = 8;
/// Rows walked together through one tree in a batch.
pub const ROW_LANES: usize = 16;

/// Blocks of [`ROW_LANES`] rows, each feature-major: value `f` of row `l` of a block is at
/// `f * ROW_LANES + l` in it. `rows` holds whole blocks of `width`-wide rows.
fn feature_major<T: Threshold>(rows: &[T], width: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(rows.len());
    for block in rows.chunks_exact(width * ROW_LANES) {
        for f in 0..width {
            out.extend(block.iter().skip(f).step_by(width));
        }
    }
    out
}

/// [`walk_lanes`] for a batch: [`ROW_LANES`] rows of a feature-major block (see
/// [`feature_major`]) through one tree of a *plain* forest (every branch `BRANCH_LEQ` without
/// missing-value tracking: `plain` is `Forest::plain_leq`, and nothing is walked without it).
///
/// The block layout puts value `x` of lane `l` at `feature * ROW_LANES + l`: the lane part is a
/// constant displacement once the lane loop is unrolled, so no per-lane row offset has to live
/// in a register (16 of them did not fit next to the 16 node positions, and every step reloaded
/// them). In a plain forest a branch's `meta` is its feature id alone and a leaf's is `LEAF`
/// (bit 31), so `meta << 4` is `feature * ROW_LANES` for a branch and 0 for a leaf — one
/// shift instead of a mask and an add.
#[inline(always)]
fn walk_block<T: Threshold>(
    plain: bool,
    nodes: &[Node<T>],
    idx: &mut [u32; ROW_LANES],
    block: &[T],
    n_features: usize,
    steps: u32,
) {
    const SHIFT: u32 = ROW_LANES.trailing_zeros();
    const _: () = assert!(ROW_LANES == 1 << SHIFT && (LEAF << SHIFT) == 0);
    if !plain || block.len() < ROW_LANES * n_features.max(1) {
        return;
    }
    let x_at = |meta: u32, lane: usize| (meta << SHIFT) as usize + lane;
    walk(nodes, idx, block, x_at, steps);
}

/// Advance every lane by `steps` levels of a plain-`BRANCH_LEQ` layout, branch-free: lane `l`
/// walks from node `idx[l]` on the row starting at `data[offsets[l]]`; `x <= t` selects
/// `i + 1` (true child) or `next` (false child, or the leaf itself — a leaf's NaN threshold
/// makes the comparison false and its `next` is itself). NaN inputs compare false and go to
/// the false child, like the branching walk. `n_features` is the forest's; lanes whose row or
/// start node is out of range are not walked (callers never pass such lanes).
#[inline(always)]
fn walk_lanes<T: Threshold, const L: usize>(
    nodes: &[Node<T>],
    idx: &mut [u32; L],
    data: &[T],
    offsets: &[usize; L],
    n_features: usize,
    steps: u32,
) {
    // Every feature index read below is < max(n_features, 1): a branch's feature is
    // < n_features by construction, a leaf's feature bits are 0.
    let row_ok = |o: &usize| o.saturating_add(n_features.max(1)) <= data.len();
    if !offsets.iter().all(row_ok) {
        return;
    }
    let x_at = |meta: u32, lane: usize| {
        // `lane < L` (the lane loop of `walk`).
        offsets.get(lane).copied().unwrap_or_default() + (meta & LOW_MASK) as usize
    };
    walk(nodes, idx, data, x_at, steps);
}

/// The branch-free walk shared by [`walk_lanes`] and [`walk_block`]: lane `l` reads its value
/// at `data[x_at(meta, l)]`, which the caller guarantees is in bounds for every node `meta`
/// of the forest and `l < L`. Start nodes out of range: nothing is walked.
///
/// The state is a byte offset per lane (see [`Node`]): one register per lane, no multiply per
/// step, and the node's fields are plain displacements from it.
#[inline(always)]
fn walk<T: Threshold, const L: usize>(
    nodes: &[Node<T>],
    idx: &mut [u32; L],
    data: &[T],
    x_at: impl Fn(u32, usize) -> usize,
    steps: u32,
) {
    if idx.iter().any(|&i| i as usize >= nodes.len()) {
        return;
    }
    let step = Node::<T>::BYTES;
    let base = nodes.as_ptr().cast::<u8>();
    let mut at: [usize; L] = std::array::from_fn(|l| idx[l] as usize * step);
    for _ in 0..steps {
        for (l, at) in at.iter_mut().enumerate() {
            // SAFETY: `*at` is the byte offset of a node in `nodes`: checked above for the
            // start nodes, and every step goes to `next` (a branch's false child or a leaf
            // itself, both in bounds — `Forest::build` only ever stores the offsets of nodes it
            // has laid out) or to the node after a branch, its true child. A leaf never takes
            // that step: its NaN threshold makes the comparison false. Offsets are multiples of
            // the node size from an aligned base, so the read is aligned.
            let n = unsafe { &*base.add(*at).cast::<Node<T>>() };
            // SAFETY: `x_at` keeps every read in bounds (the caller's guarantee, checked by it).
            let x = unsafe { *data.get_unchecked(x_at(n.meta, l)) };
            // Without the hint the compiler turned this into a conditional jump (`ucomiss;
            // jb`), which a batch of different rows mispredicts half the time: 91 % of the
            // batch-1000 profile sat on it, 3× the per-row cost of a (repeated) single row.
            *at = std::hint::select_unpredictable(x <= n.threshold, *at + step, n.next as usize);
        }
    }
    for (i, at) in idx.iter_mut().zip(at) {
        *i = (at / step) as u32;
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

    /// Node ids far apart (the hash-map index instead of the direct table) lay out and walk
    /// the same; duplicate ids and votes on a branch are refused on both index kinds.
    #[test]
    fn sparse_ids_and_id_errors() {
        for scale in [1i64, 1_000_003] {
            let nodes = vec![
                branch(0, 0, 0, Mode::Leq, 0.0, scale, 2 * scale),
                leaf(0, scale),
                leaf(0, 2 * scale),
            ];
            let votes = vec![vote(0, scale, 0, 1.0), vote(0, 2 * scale, 1, 5.0)];
            let f = Forest::<f32>::build(&nodes, &votes, 2, Aggregate::Sum).unwrap();
            assert_eq!(eval(&f, &[-1.0]), vec![1.0, 0.0], "scale {scale}");
            assert_eq!(eval(&f, &[1.0]), vec![0.0, 5.0], "scale {scale}");
            let mut dup = nodes.clone();
            dup.push(leaf(0, scale));
            let err = Forest::<f32>::build(&dup, &votes, 2, Aggregate::Sum).unwrap_err();
            assert!(err.contains("appears twice"), "{err}");
            let on_branch = vec![vote(0, 0, 0, 1.0)];
            let err = Forest::<f32>::build(&nodes, &on_branch, 2, Aggregate::Sum).unwrap_err();
            assert!(err.contains("branch"), "{err}");
            // A vote for a tree that does not exist.
            let stray = vec![vote(4, scale, 0, 1.0)];
            assert!(Forest::<f32>::build(&nodes, &stray, 2, Aggregate::Sum).is_err());
        }
    }

    /// Malformed tree shapes are refused with the tree named: two roots, no root (a cycle
    /// through the root), a node reached twice, a node no path reaches.
    #[test]
    fn malformed_tree_shapes_are_refused() {
        let votes = |ids: &[i64]| ids.iter().map(|&i| vote(0, i, 0, 1.0)).collect::<Vec<_>>();
        let build = |nodes: &[NodeSpec], v: &[VoteSpec]| {
            Forest::<f32>::build(nodes, v, 1, Aggregate::Sum).unwrap_err()
        };
        // Two roots: leaf 3 belongs to no branch.
        let two_roots = vec![
            branch(0, 0, 0, Mode::Leq, 0.0, 1, 2),
            leaf(0, 1),
            leaf(0, 2),
            leaf(0, 3),
        ];
        let err = build(&two_roots, &votes(&[1, 2, 3]));
        assert!(err.contains("2 roots, expected 1"), "{err}");
        // No root: the two branches point at each other.
        let no_root = vec![
            branch(0, 0, 0, Mode::Leq, 0.0, 1, 2),
            branch(0, 1, 0, Mode::Leq, 0.0, 0, 2),
            leaf(0, 2),
        ];
        let err = build(&no_root, &votes(&[2]));
        assert!(err.contains("no root"), "{err}");
        // A shared child: leaf 2 is both children of the root.
        let shared = vec![
            branch(0, 0, 0, Mode::Leq, 0.0, 2, 2),
            leaf(0, 1),
            leaf(0, 2),
        ];
        let err = build(&shared, &votes(&[1, 2]));
        assert!(
            err.contains("reached twice") || err.contains("roots"),
            "{err}"
        );
        assert!(err.starts_with("tree 0"), "{err}");
    }

    /// Rows narrower than the features the forest reads take the checked walk: no read past
    /// a row, no vote from a missing feature.
    #[test]
    fn narrow_rows_are_not_walked_unchecked() {
        let (nodes, votes) = random_forest(3, 9, 2);
        let f = Forest::<f32>::build(&nodes, &votes, 2, Aggregate::Sum).unwrap();
        assert_eq!(f.n_features(), 5);
        let rows = vec![0.25f32; 3 * 40];
        let mut s = vec![0.0; 40 * 2];
        let mut h = vec![false; 40 * 2];
        f.accumulate(
            &rows,
            3,
            Acc {
                scores: &mut s,
                has: &mut h,
            },
        );
        assert!(s.iter().all(|x| x.is_finite()));
    }

    /// A deterministic random plain-LEQ forest (complete trees of random depth, random
    /// features/thresholds), the independent reference being a walk over the ONNX ids.
    fn random_forest(seed: u64, n_trees: i64, k: i64) -> (Vec<NodeSpec>, Vec<VoteSpec>) {
        random_forest_voting(seed, n_trees, k, Shape::Dense)
    }

    /// Which targets the leaves of [`random_forest_voting`] vote on.
    #[derive(Debug, Clone, Copy)]
    enum Shape {
        /// Every target, in order.
        Dense,
        /// The last target, then the first, at every leaf.
        Same,
        /// A random non-empty subset per leaf, sometimes with a target twice.
        Mixed,
    }

    fn random_forest_voting(
        seed: u64,
        n_trees: i64,
        k: i64,
        shape: Shape,
    ) -> (Vec<NodeSpec>, Vec<VoteSpec>) {
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        let (mut nodes, mut votes) = (vec![], vec![]);
        for t in 0..n_trees {
            // Unbalanced: each branch stops with probability 1/4 below depth 1.
            let mut ids = 0i64;
            let mut stack = vec![(0i64, 0u32)];
            while let Some((id, depth)) = stack.pop() {
                if depth >= 1 && (depth >= 9 || next() % 4 == 0) {
                    nodes.push(leaf(t, id));
                    let targets: Vec<i64> = match shape {
                        Shape::Dense => (0..k).collect(),
                        Shape::Same if k > 1 => vec![k - 1, 0],
                        Shape::Same => vec![0],
                        Shape::Mixed => {
                            let mut t: Vec<i64> = (0..k).filter(|_| next() % 2 == 0).collect();
                            t.push(i64::from(next()) % k);
                            t
                        }
                    };
                    for c in targets {
                        votes.push(vote(t, id, c, f64::from(next() % 1000) / 7.0));
                    }
                } else {
                    let (a, b) = (ids + 1, ids + 2);
                    ids += 2;
                    let thr = f64::from(next() % 2000) / 1000.0 - 1.0;
                    nodes.push(branch(t, id, i64::from(next() % 5), Mode::Leq, thr, a, b));
                    stack.push((a, depth + 1));
                    stack.push((b, depth + 1));
                }
            }
        }
        (nodes, votes)
    }

    fn reference(nodes: &[NodeSpec], votes: &[VoteSpec], k: usize, row: &[f32]) -> Vec<f64> {
        reference_has(nodes, votes, k, row).0
    }

    /// Scores and `has` flags of `row`, walking the ONNX ids directly.
    fn reference_has(
        nodes: &[NodeSpec],
        votes: &[VoteSpec],
        k: usize,
        row: &[f32],
    ) -> (Vec<f64>, Vec<bool>) {
        let mut out = vec![0.0; k];
        let mut has = vec![false; k];
        let trees: std::collections::BTreeSet<i64> = nodes.iter().map(|n| n.tree).collect();
        for t in trees {
            let find = |id: i64| nodes.iter().find(|n| n.tree == t && n.id == id).unwrap();
            let mut n = find(0);
            while n.mode.is_some() {
                let x = row[n.feature as usize];
                n = find(if x <= n.value as f32 {
                    n.true_id
                } else {
                    n.false_id
                });
            }
            for v in votes.iter().filter(|v| v.tree == t && v.node == n.id) {
                out[v.target as usize] += v.weight;
                has[v.target as usize] = true;
            }
        }
        (out, has)
    }

    /// Every shape of leaf votes ([`LeafVotes`]) and target count, batch (full blocks and a
    /// remainder) and row by row: scores bit for bit and `has` flags as the reference walk.
    #[test]
    fn every_vote_shape_matches_reference() {
        for (shape, k, want) in [
            (Shape::Dense, 1, LeafVotes::Dense),
            (Shape::Dense, 2, LeafVotes::Dense),
            (Shape::Dense, 3, LeafVotes::Dense),
            (Shape::Dense, 5, LeafVotes::Dense),
            (Shape::Same, 1, LeafVotes::Dense),
            (Shape::Same, 2, LeafVotes::Same([1, 0].into())),
            (Shape::Same, 4, LeafVotes::Same([3, 0].into())),
            (Shape::Mixed, 3, LeafVotes::Mixed),
        ] {
            let (nodes, votes) = random_forest_voting(k as u64, 13, k, shape);
            let f = Forest::<f32>::build(&nodes, &votes, k as usize, Aggregate::Sum).unwrap();
            assert_eq!(f.leaf_votes, want, "{shape:?} k={k}");
            let (width, n_rows) = (5, 3 * ROW_LANES + 7);
            let rows: Vec<f32> = (0..n_rows * width)
                .map(|i| {
                    if i % 29 == 3 {
                        f32::NAN
                    } else {
                        ((i * 7919) % 2003) as f32 / 1000.0 - 1.0
                    }
                })
                .collect();
            let k = k as usize;
            let (mut s, mut h) = (vec![0.0; n_rows * k], vec![false; n_rows * k]);
            let acc = Acc {
                scores: &mut s,
                has: &mut h,
            };
            f.accumulate(&rows, width, acc);
            for (r, row) in rows.chunks(width).enumerate() {
                let (want_s, want_h) = reference_has(&nodes, &votes, k, row);
                let (mut s1, mut h1) = (vec![0.0; k], vec![false; k]);
                let acc = Acc {
                    scores: &mut s1,
                    has: &mut h1,
                };
                f.accumulate(row, width, acc);
                let at = r * k..r * k + k;
                assert_eq!(
                    (&s[at.clone()], &h[at]),
                    (&want_s[..], &want_h[..]),
                    "batch row {r}, {shape:?}"
                );
                assert_eq!((s1, h1), (want_s, want_h), "single row {r}, {shape:?}");
            }
        }
        // MIN / MAX keep the general vote.
        let (nodes, votes) = random_forest(3, 5, 2);
        let f = Forest::<f32>::build(&nodes, &votes, 2, Aggregate::Max).unwrap();
        assert_eq!(f.leaf_votes, LeafVotes::Mixed);
    }

    /// The branch-free lane walks (one row: trees in lanes; a batch: rows in lanes, with a
    /// remainder) agree with a plain walk over the ONNX ids, NaN inputs included.
    #[test]
    fn lane_walks_match_reference() {
        let (nodes, votes) = random_forest(7, 21, 3);
        let f = Forest::<f32>::build(&nodes, &votes, 3, Aggregate::Sum).unwrap();
        assert!(f.plain_leq);
        let width = 5;
        let n_rows = 2 * ROW_LANES + 5;
        let mut state = 99u64;
        let rows: Vec<f32> = (0..n_rows * width)
            .map(|i| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                if i % 23 == 0 {
                    f32::NAN
                } else {
                    ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.2 - 1.1
                }
            })
            .collect();
        let mut s = vec![0.0; n_rows * 3];
        let mut h = vec![false; n_rows * 3];
        f.accumulate(
            &rows,
            width,
            Acc {
                scores: &mut s,
                has: &mut h,
            },
        );
        for (r, row) in rows.chunks(width).enumerate() {
            let want = reference(&nodes, &votes, 3, row);
            assert_eq!(eval(&f, row), want, "single row {r}");
            for (got, want) in s[r * 3..r * 3 + 3].iter().zip(&want) {
                assert!((got - want).abs() < 1e-9, "batch row {r}: {got} vs {want}");
            }
        }
    }
}
