//! The walks: from each tree's root to the leaf a row reaches, branching (any mode) or
//! branch-free over several lanes (plain `BRANCH_LEQ` forests).

use super::{
    Acc, Forest, LEAF, LOW_MASK, LeafVotes, MODE_SHIFT, Mode, NAN_TRUE, Node, ROW_LANES,
    TREE_LANES, Threshold,
};

impl<T: Threshold> Forest<T> {
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
            // that step: its NaN threshold (whatever the payload, see
            // `Threshold::leaf_mark`) makes the comparison false. Offsets are multiples of
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
