//! Hand-built trees: links, modes, aggregates and refusals (random forests in `random`).

use super::*;

mod random;

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
    let err = Forest::<f32>::build(&nodes, &[vote(0, 0, 3, 1.0)], 2, Aggregate::Sum).unwrap_err();
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

/// A leaf's threshold carries its first vote in a NaN payload: every comparison with it is
/// false (the branch-free walk stays on the leaf), the index reads back, and an index the
/// payload cannot hold is refused (the forest then keeps `vote_start`).
#[test]
fn leaf_marks_are_nans_that_carry_the_first_vote() {
    for v in [0, 1, 3, 40_895, F32_PAYLOAD as usize] {
        let m = f32::leaf_mark(v).unwrap();
        // Unordered against everything: every `<=` of the walks is false.
        let unordered = [0.0, f32::NEG_INFINITY, f32::INFINITY, f32::MAX];
        assert!(m.is_nan() && unordered.iter().all(|x| m.partial_cmp(x).is_none()));
        assert_eq!(m.first_vote(), v);
    }
    assert_eq!(f32::leaf_mark(F32_PAYLOAD as usize + 1), None);
    let widest = usize::try_from(F64_PAYLOAD).unwrap_or(usize::MAX);
    for v in [0, 7, u32::MAX as usize, widest] {
        let m = f64::leaf_mark(v).unwrap();
        let unordered = [0.0, f64::NEG_INFINITY, f64::INFINITY, f64::MAX];
        assert!(m.is_nan() && unordered.iter().all(|x| m.partial_cmp(x).is_none()));
        assert_eq!(m.first_vote(), v);
    }
    if let Ok(v) = usize::try_from(F64_PAYLOAD + 1) {
        assert_eq!(f64::leaf_mark(v), None);
    }
    // A built forest whose leaves vote alike: `vote_start` is gone, each leaf's mark is the
    // index of its votes (the leaves in layout order own consecutive runs of `n_targets`).
    let (nodes, votes) = random::random_forest(5, 4, 3);
    let f = Forest::<f32>::build(&nodes, &votes, 3, Aggregate::Sum).unwrap();
    assert_eq!(f.leaf_votes, LeafVotes::Dense);
    assert!(f.vote_start.is_empty());
    let marks: Vec<usize> = (f.nodes.iter())
        .filter(|n| n.meta & LEAF != 0)
        .map(|n| n.threshold.first_vote())
        .collect();
    assert_eq!(marks, (0..marks.len()).map(|l| 3 * l).collect::<Vec<_>>());
    assert_eq!(f.weights.len(), 3 * marks.len());
}
