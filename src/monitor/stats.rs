//! Drift statistics from bin counts: PSI, Jensen–Shannon distance (base 2) and the
//! Wasserstein-1 distance on bin centres. All take the reference counts and the current
//! window's counts over the same frozen bins, so memory per feature is one counter per bin.
//!
//! **Empty bins.** PSI has `ln(q/p)`, undefined when a bin is empty on one side. Empty
//! proportions are replaced by [`PSI_EPSILON`] (without renormalising) — the usual
//! credit-scoring practice; it bounds a bin's contribution instead of making it infinite.
//! Jensen–Shannon needs no epsilon: its mixture `m = (p + q)/2` is positive wherever `p` or
//! `q` is, and `0 · log 0 = 0`. W1 needs none either.
//!
//! **Convention.** `js` is the Jensen–Shannon *distance* — the square root of the divergence
//! with base-2 logarithms — in [0, 1], as `domain::FeatureDrift` documents and as scipy's
//! `jensenshannon(p, q, base=2)` returns; the 0.1 default of docs/domain.md applies to it.

/// Proportion substituted for an empty bin in PSI.
pub const PSI_EPSILON: f64 = 1e-4;

fn proportions(counts: &[u64]) -> Vec<f64> {
    let n: u64 = counts.iter().sum();
    if n == 0 {
        return vec![0.0; counts.len()];
    }
    counts.iter().map(|c| *c as f64 / n as f64).collect()
}

/// Population stability index `Σ (q − p) ln(q / p)` of `current` against `reference`.
/// 0 for identical distributions; NaN when either side has no counts.
pub fn psi(reference: &[u64], current: &[u64]) -> f64 {
    if reference.iter().sum::<u64>() == 0 || current.iter().sum::<u64>() == 0 {
        return f64::NAN;
    }
    let p = proportions(reference);
    let q = proportions(current);
    p.iter()
        .zip(&q)
        .map(|(p, q)| {
            let (p, q) = (p.max(PSI_EPSILON), q.max(PSI_EPSILON));
            (q - p) * (q / p).ln()
        })
        .sum()
}

/// Jensen–Shannon distance, base 2, in [0, 1]. NaN when either side has no counts.
pub fn js_distance(reference: &[u64], current: &[u64]) -> f64 {
    if reference.iter().sum::<u64>() == 0 || current.iter().sum::<u64>() == 0 {
        return f64::NAN;
    }
    let p = proportions(reference);
    let q = proportions(current);
    let kl_to_m = |a: f64, b: f64| {
        let m = (a + b) / 2.0;
        if a > 0.0 { a * (a / m).log2() } else { 0.0 }
    };
    let div: f64 = p
        .iter()
        .zip(&q)
        .map(|(a, b)| 0.5 * kl_to_m(*a, *b) + 0.5 * kl_to_m(*b, *a))
        .sum();
    div.max(0.0).sqrt()
}

/// Bin centres for W1 (docs/manifest.md): `e_0` for underflow, the midpoints of the `k`
/// regular bins, `e_k` for overflow. `edges` has `k + 1` entries.
pub fn bin_centres(edges: &[f64]) -> Vec<f64> {
    let mut c = Vec::with_capacity(edges.len() + 1);
    if let (Some(first), Some(last)) = (edges.first(), edges.last()) {
        c.push(*first);
        c.extend(edges.windows(2).map(|w| (w[0] + w[1]) / 2.0));
        c.push(*last);
    }
    c
}

/// Wasserstein-1 distance between the two binned distributions placed at `centres`
/// (`Σ |P_i − Q_i| · (c_{i+1} − c_i)` over the cumulative proportions). NaN when either side
/// has no counts.
pub fn w1(reference: &[u64], current: &[u64], centres: &[f64]) -> f64 {
    if reference.iter().sum::<u64>() == 0 || current.iter().sum::<u64>() == 0 {
        return f64::NAN;
    }
    let p = proportions(reference);
    let q = proportions(current);
    let (mut cp, mut cq, mut total) = (0.0, 0.0, 0.0);
    for i in 0..p.len().min(q.len()).min(centres.len()).saturating_sub(1) {
        cp += p[i];
        cq += q[i];
        total += (cp - cq).abs() * (centres[i + 1] - centres[i]);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};

    #[test]
    fn psi_by_hand() {
        // p = (¼, ¼, ½), q = (½, ¼, ¼): ¼·ln 2 + 0 + (−¼)·ln ½ = ½ ln 2.
        let v = psi(&[1, 1, 2], &[2, 1, 1]);
        assert!((v - 0.5 * 2f64.ln()).abs() < 1e-12, "{v}");
    }

    #[test]
    fn psi_empty_bin_uses_epsilon() {
        // p = (1, 0), q = (½, ½): (½−1)·ln(½) + (½−ε)·ln(½/ε).
        let e = PSI_EPSILON;
        let want = -0.5 * 0.5f64.ln() + (0.5 - e) * (0.5 / e).ln();
        assert!((psi(&[4, 0], &[1, 1]) - want).abs() < 1e-12);
    }

    #[test]
    fn js_by_hand() {
        // Disjoint supports: divergence 1 bit, distance 1.
        assert!((js_distance(&[5, 0], &[0, 3]) - 1.0).abs() < 1e-12);
        // p = (½, ½), q = (1, 0): m = (¾, ¼).
        // KL(p‖m) = ½ log2(2/3) + ½ log2 2; KL(q‖m) = log2(4/3).
        let div = 0.5 * (0.5 * (2.0f64 / 3.0).log2() + 0.5) + 0.5 * (4.0f64 / 3.0).log2();
        assert!((js_distance(&[1, 1], &[1, 0]) - div.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn w1_by_hand() {
        // edges 0,1,2 → centres 0, .5, 1.5, 2. All mass at .5 vs all at 1.5: W1 = 1.
        let c = bin_centres(&[0.0, 1.0, 2.0]);
        assert_eq!(c, vec![0.0, 0.5, 1.5, 2.0]);
        assert!((w1(&[0, 7, 0, 0], &[0, 0, 3, 0], &c) - 1.0).abs() < 1e-12);
        // Half the mass moves from the underflow (0) to the overflow (2): W1 = ½ · 2 = 1.
        assert!((w1(&[2, 0, 0, 0], &[1, 0, 0, 1], &c) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn properties_identical_zero_and_permutation_invariant() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..200 {
            let k = rng.random_range(2..14);
            let a: Vec<u64> = (0..k).map(|_| rng.random_range(0..50)).collect();
            let b: Vec<u64> = (0..k).map(|_| rng.random_range(0..50)).collect();
            if a.iter().sum::<u64>() == 0 || b.iter().sum::<u64>() == 0 {
                continue;
            }
            // Same distribution at a different sample size → exactly 0.
            let a3: Vec<u64> = a.iter().map(|x| x * 3).collect();
            assert!(psi(&a, &a3).abs() < 1e-12);
            assert!(js_distance(&a, &a3) < 1e-6);
            let c: Vec<f64> = (0..k).map(|i| i as f64).collect();
            assert!(w1(&a, &a3, &c).abs() < 1e-12);
            // Permuting bins (both sides alike) leaves PSI and JS unchanged.
            let mut idx: Vec<usize> = (0..k).collect();
            idx.shuffle(&mut rng);
            let pa: Vec<u64> = idx.iter().map(|i| a[*i]).collect();
            let pb: Vec<u64> = idx.iter().map(|i| b[*i]).collect();
            assert!((psi(&a, &b) - psi(&pa, &pb)).abs() < 1e-9);
            assert!((js_distance(&a, &b) - js_distance(&pa, &pb)).abs() < 1e-9);
            // Non-negative, JS bounded, symmetric.
            assert!(psi(&a, &b) >= 0.0);
            let j = js_distance(&a, &b);
            assert!((0.0..=1.0 + 1e-12).contains(&j));
            assert!((j - js_distance(&b, &a)).abs() < 1e-12);
        }
    }

    #[test]
    fn empty_sides_are_nan() {
        assert!(psi(&[0, 0], &[1, 1]).is_nan());
        assert!(js_distance(&[1, 1], &[0, 0]).is_nan());
    }
}
