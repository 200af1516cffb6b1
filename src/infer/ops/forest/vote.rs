//! Adding the votes of the leaves a walk reached to the rows' accumulators.

use super::{Aggregate, Forest, LeafVotes, ROW_LANES, Threshold};

impl<T: Threshold> Forest<T> {
    /// Add the votes of leaf `leaf` to one row's accumulators.
    #[inline(always)]
    pub(super) fn vote(&self, leaf: usize, scores: &mut [f64], has: &mut [bool]) {
        // `leaf` is `usize::MAX` when a general walk met a missing feature: no votes.
        let (targets, start, end) = match self.leaf_votes {
            LeafVotes::Mixed => {
                let end = leaf.checked_add(1).and_then(|i| self.vote_start.get(i));
                let (Some(&start), Some(&end)) = (self.vote_start.get(leaf), end) else {
                    return;
                };
                let (start, end) = (start as usize, end as usize);
                (self.targets.get(start..end), start, end)
            }
            // Leaves that vote alike share one list of targets (`Forest::share_leaf_targets`)
            // and carry their first vote in their threshold (`Forest::mark_leaves`).
            _ => {
                let Some(start) = self.first_vote(leaf) else {
                    return;
                };
                let end = start + self.targets.len();
                (Some(self.targets.as_slice()), start, end)
            }
        };
        let (Some(targets), Some(weights)) = (targets, self.weights.get(start..end)) else {
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

    /// The index of the first vote of leaf `leaf` of a forest whose leaves vote alike: its
    /// threshold's NaN payload (see [`Forest::mark_leaves`]).
    #[inline(always)]
    fn first_vote(&self, leaf: usize) -> Option<usize> {
        self.nodes.get(leaf).map(|n| n.threshold.first_vote())
    }

    /// Add the votes of leaf `leaf` to one row's scores when every leaf votes alike (see
    /// [`LeafVotes`]; the caller sets the `has` flags, see [`Forest::mark_voted`]).
    #[inline(always)]
    pub(super) fn vote_alike(&self, leaf: usize, scores: &mut [f64]) {
        let Some(start) = self.first_vote(leaf) else {
            return;
        };
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
    pub(super) fn vote_dense<const K: usize>(&self, leaves: &[u32; ROW_LANES], scores: &mut [f64]) {
        for (&leaf, row) in leaves.iter().zip(scores.chunks_exact_mut(K)) {
            let Some(start) = self.first_vote(leaf as usize) else {
                continue;
            };
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
    pub(super) fn mark_voted(&self, has: &mut [bool]) {
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

    /// One leaf's votes for one row of a plain walk: [`Forest::vote_alike`] when the leaves
    /// vote alike (the caller then calls [`Forest::mark_voted`]), else [`Forest::vote`].
    #[inline(always)]
    pub(super) fn vote_row(&self, leaf: usize, s: &mut [f64], h: &mut [bool]) {
        if matches!(self.leaf_votes, LeafVotes::Mixed) {
            self.vote(leaf, s, h);
        } else {
            self.vote_alike(leaf, s);
        }
    }
}
