//! Random forests against an independent walk over the ONNX ids, and rows narrower than the
//! features a forest reads.

use super::*;

/// A deterministic random plain-LEQ forest (complete trees of random depth, random
/// features/thresholds), the independent reference being a walk over the ONNX ids.
pub(super) fn random_forest(seed: u64, n_trees: i64, k: i64) -> (Vec<NodeSpec>, Vec<VoteSpec>) {
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
            n = find(if x <= n.value as f32 || (n.nan_true && x.is_nan()) {
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
        tracked_walk_matches_reference(&nodes, &votes, k, &want, &rows, width);
    }
    // MIN / MAX keep the general vote.
    let (nodes, votes) = random_forest(3, 5, 2);
    let f = Forest::<f32>::build(&nodes, &votes, 2, Aggregate::Max).unwrap();
    assert_eq!(f.leaf_votes, LeafVotes::Mixed);
}

/// The trees of a vote-shape case with missing values tracked to the true child take the
/// branching walk, whose votes read the shared target list when the leaves vote alike.
fn tracked_walk_matches_reference(
    nodes: &[NodeSpec],
    votes: &[VoteSpec],
    k: usize,
    want: &LeafVotes,
    rows: &[f32],
    width: usize,
) {
    let n_rows = rows.len() / width;
    let tracked: Vec<NodeSpec> = nodes
        .iter()
        .map(|n| NodeSpec {
            nan_true: n.mode.is_some(),
            ..n.clone()
        })
        .collect();
    let g = Forest::<f32>::build(&tracked, votes, k, Aggregate::Sum).unwrap();
    assert!(!g.plain_leq);
    assert_eq!(&g.leaf_votes, want, "{want:?} k={k}, tracked");
    let expect_targets = match want {
        LeafVotes::Mixed => votes.len(),
        LeafVotes::Dense => k,
        LeafVotes::Same(t) => t.len(),
    };
    assert_eq!(
        g.targets.len(),
        expect_targets,
        "{want:?} k={k}: targets kept"
    );
    let (mut s2, mut h2) = (vec![0.0; n_rows * k], vec![false; n_rows * k]);
    let acc = Acc {
        scores: &mut s2,
        has: &mut h2,
    };
    g.accumulate(rows, width, acc);
    for (r, row) in rows.chunks(width).enumerate() {
        let (want_s, want_h) = reference_has(&tracked, votes, k, row);
        let at = r * k..r * k + k;
        assert_eq!(
            (&s2[at.clone()], &h2[at]),
            (&want_s[..], &want_h[..]),
            "tracked batch row {r}, {want:?}"
        );
    }
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
