//! The window folds behind [`Transform::apply`](super::transform::Transform::apply), written
//! for speed on long windows.
//!
//! A bloom vector reads ten windows of 300–600 samples every second, and in a replay profile
//! those walks were the largest single cost (28 % of the time). A plain `fold` over a
//! window is one chain of dependent floating-point adds: each add waits for the one before
//! (about four cycles), however wide the CPU. Here every fold keeps four independent
//! accumulators, one per element position modulo four, and adds them at the end, so four
//! adds are in flight at once. At most two sums are carried per pass (eight accumulators),
//! so that they stay in registers.
//!
//! The folds take windows of finite values only: [`Transform::apply`] copies out the finite
//! values of a window that holds a gap (rare) and hands over the window itself otherwise.
//!
//! The results differ from a sequential sum only in the last bits (the order of additions
//! changes); numpy's pairwise sums in the training pipeline differ from both in the same
//! way, and the golden-feature test allows 1e-6.
//!
//! [`Transform::apply`]: super::transform::Transform::apply

/// Accumulators kept side by side.
const LANES: usize = 4;

/// The two sums `Σ f(t, x)` over the window, in four lanes.
#[inline(always)]
fn sum2(w: &[(f64, f64)], f: impl Fn(f64, f64) -> (f64, f64)) -> (f64, f64) {
    let mut a = [0.0; LANES];
    let mut b = [0.0; LANES];
    let chunks = w.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for ((ak, bk), &(t, x)) in a.iter_mut().zip(b.iter_mut()).zip(c) {
            let (u, v) = f(t, x);
            *ak += u;
            *bk += v;
        }
    }
    for &(t, x) in rest {
        let (u, v) = f(t, x);
        a[0] += u;
        b[0] += v;
    }
    (a.iter().sum(), b.iter().sum())
}

/// Mean (NaN for an empty window).
pub fn mean(w: &[(f64, f64)]) -> f64 {
    sum2(w, |_, x| (x, 0.0)).0 / w.len() as f64
}

/// Population standard deviation: two passes, as the spec defines it.
pub fn std(w: &[(f64, f64)]) -> f64 {
    let m = mean(w);
    (sum2(w, |_, x| ((x - m) * (x - m), 0.0)).0 / w.len() as f64).sqrt()
}

/// OLS slope of x against `t − t_first`, in one pass: the sums of `u = t − t₀`,
/// `v = x − x₀`, `u²` and `u·v` (two lanes of four), then the co-moments
/// `Σuv − ΣuΣv/n` and `Σu² − (Σu)²/n`. Taking out the first time and value keeps
/// epoch-sized timestamps and a signal's level from cancelling the co-moments' digits
/// (the transform test holds it to 1e-9 against the two-pass definition).
pub fn slope(w: &[(f64, f64)]) -> f64 {
    let Some(&(t0, x0)) = w.first() else {
        return f64::NAN;
    };
    if w.len() < 2 {
        return 0.0;
    }
    let mut acc = [[0.0; 4]; 2];
    let chunks = w.chunks_exact(2);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &(t, x)) in acc.iter_mut().zip(c) {
            add_moments(a, t - t0, x - x0);
        }
    }
    for &(t, x) in rest {
        add_moments(&mut acc[0], t - t0, x - x0);
    }
    let n = w.len() as f64;
    let [su, sv, suu, suv] = [0, 1, 2, 3].map(|k| acc[0][k] + acc[1][k]);
    let sxx = suu - su * su / n;
    let sxy = suv - su * sv / n;
    if sxx <= 0.0 { 0.0 } else { sxy / sxx }
}

#[inline(always)]
fn add_moments(a: &mut [f64; 4], u: f64, v: f64) {
    a[0] += u;
    a[1] += v;
    a[2] += u * u;
    a[3] += u * v;
}

/// The largest (`max = true`) or smallest value (NaN for an empty window).
pub fn extreme(w: &[(f64, f64)], max: bool) -> f64 {
    if w.is_empty() {
        return f64::NAN;
    }
    let sign = if max { 1.0 } else { -1.0 };
    let mut lanes = [f64::NEG_INFINITY; LANES];
    let chunks = w.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for (lane, &(_, x)) in lanes.iter_mut().zip(c) {
            *lane = lane.max(sign * x);
        }
    }
    for &(_, x) in rest {
        lanes[0] = lanes[0].max(sign * x);
    }
    sign * lanes.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// EWMA seeded with the first value: `s ← α·x + (1 − α)·s` (NaN for an empty window).
///
/// The recurrence is linear, so the values after the seed are cut into four blocks, each
/// block's recurrence runs from zero alongside the others, and the blocks are chained at
/// the end: `m` updates applied to `s` give `(1 − α)^m · s + s_block`.
pub fn ewma(w: &[(f64, f64)], alpha: f64) -> f64 {
    let Some((&(_, seed), rest)) = w.split_first() else {
        return f64::NAN;
    };
    let r = 1.0 - alpha;
    let q = rest.len() / LANES;
    let (a, tail) = rest.split_at(q);
    let (b, tail) = tail.split_at(q);
    let (c, tail) = tail.split_at(q);
    let (d, tail) = tail.split_at(q);
    let mut s = [0.0; LANES];
    for (((pa, pb), pc), pd) in a.iter().zip(b).zip(c).zip(d) {
        for (sk, x) in s.iter_mut().zip([pa.1, pb.1, pc.1, pd.1]) {
            *sk = alpha * x + r * *sk;
        }
    }
    let block = r.powi(i32::try_from(q).unwrap_or(i32::MAX));
    let mut acc = s.iter().fold(seed, |acc, sk| acc * block + sk);
    for &(_, x) in tail {
        acc = alpha * x + r * acc;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_of_negative_windows() {
        let w = [
            (0.0, -3.0),
            (2.0, -1.0),
            (3.0, -7.0),
            (4.0, -2.0),
            (5.0, -5.0),
        ];
        assert_eq!(extreme(&w, true), -1.0);
        assert_eq!(extreme(&w, false), -7.0);
        assert!(extreme(&[], true).is_nan());
    }

    #[test]
    fn ewma_blocks_chain_like_one_recurrence() {
        // 1 seed + 9 values: blocks of 2, and a tail of 1. The seed (5) is not 0, so a
        // block chain that dropped it would show.
        let w: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, (i * i + 5) as f64)).collect();
        let want = w.iter().skip(1).fold(w[0].1, |s, p| 0.3 * p.1 + 0.7 * s);
        assert!((ewma(&w, 0.3) - want).abs() < 1e-12);
    }
}
