//! The version-1 transforms of docs/feature-spec.md, in one place.
//!
//! Two evaluators implement the same definitions: [`Transform::apply`] over a window of
//! `(t, x)` pairs (sample-level windows held in a ring buffer) and [`Accumulator`], a
//! constant-memory streaming form for batch-level features, whose batch can last hours.
//! A test checks that they agree. Non-finite values are skipped by both; an empty set of
//! finite values gives NaN, which validation then refuses.

use super::fold;

/// One transform of feature-spec version 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transform {
    /// Newest finite value.
    Last,
    /// Arithmetic mean.
    Mean,
    /// Population standard deviation (ddof = 0).
    Std,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
    /// OLS slope against time, units per second.
    Slope,
    /// Exponentially weighted moving average seeded with the first value.
    Ewma {
        /// Weight of the newest value, in (0, 1].
        alpha: f64,
    },
    /// Newest minus oldest finite value.
    Delta,
}

impl Transform {
    /// The transform's name in a manifest.
    pub fn name(self) -> &'static str {
        match self {
            Transform::Last => "last",
            Transform::Mean => "mean",
            Transform::Std => "std",
            Transform::Min => "min",
            Transform::Max => "max",
            Transform::Slope => "slope",
            Transform::Ewma { .. } => "ewma",
            Transform::Delta => "delta",
        }
    }

    /// Evaluate over a window of `(t seconds, x)` pairs, oldest first. Non-finite values are
    /// skipped with their times: a window holding any is copied without them first (rare:
    /// a gap or a refused reading), so the folds of [`super::fold`] only see finite values.
    pub fn apply(self, window: &[(f64, f64)]) -> f64 {
        if window.iter().all(|(_, x)| x.is_finite()) {
            self.apply_finite(window)
        } else {
            let finite: Vec<(f64, f64)> = window
                .iter()
                .copied()
                .filter(|(_, x)| x.is_finite())
                .collect();
            self.apply_finite(&finite)
        }
    }

    /// [`Transform::apply`] for a window known to hold finite values only (the caller checked;
    /// a non-finite value would be summed, not skipped).
    pub fn apply_finite(self, w: &[(f64, f64)]) -> f64 {
        let (Some(&(_, first)), Some(&(_, last))) = (w.first(), w.last()) else {
            return f64::NAN;
        };
        match self {
            Transform::Last => last,
            Transform::Mean => fold::mean(w),
            Transform::Std => fold::std(w),
            Transform::Min => fold::extreme(w, false),
            Transform::Max => fold::extreme(w, true),
            Transform::Slope => fold::slope(w),
            Transform::Ewma { alpha } => fold::ewma(w, alpha),
            Transform::Delta => last - first,
        }
    }
}

/// Streaming evaluator of one transform over an unbounded sequence (a whole batch) in
/// constant memory: Welford updates for mean / variance / co-moment, running min / max /
/// EWMA, first and last values.
#[derive(Debug, Clone)]
pub struct Accumulator {
    transform: Transform,
    n: u64,
    t0: f64,
    first: f64,
    last: f64,
    mean_x: f64,
    m2_x: f64,
    mean_t: f64,
    m2_t: f64,
    c_tx: f64,
    min: f64,
    max: f64,
    ewma: f64,
}

impl Accumulator {
    /// An empty accumulator for `transform`.
    pub fn new(transform: Transform) -> Self {
        Accumulator {
            transform,
            n: 0,
            t0: 0.0,
            first: f64::NAN,
            last: f64::NAN,
            mean_x: 0.0,
            m2_x: 0.0,
            mean_t: 0.0,
            m2_t: 0.0,
            c_tx: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            ewma: f64::NAN,
        }
    }

    /// Forget everything (a new batch starts).
    pub fn reset(&mut self) {
        *self = Accumulator::new(self.transform);
    }

    /// Add one sample (`t` in seconds); non-finite `x` is skipped.
    pub fn push(&mut self, t: f64, x: f64) {
        if !x.is_finite() {
            return;
        }
        if self.n == 0 {
            self.t0 = t;
            self.first = x;
            self.ewma = x;
        } else if let Transform::Ewma { alpha } = self.transform {
            self.ewma = alpha * x + (1.0 - alpha) * self.ewma;
        }
        self.n += 1;
        self.last = x;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        let n = self.n as f64;
        let dt = (t - self.t0) - self.mean_t;
        self.mean_t += dt / n;
        let dx = x - self.mean_x;
        self.mean_x += dx / n;
        // Co-moment update uses the old time deviation and the new mean of x (Welford).
        self.c_tx += dt * (x - self.mean_x);
        self.m2_t += dt * ((t - self.t0) - self.mean_t);
        self.m2_x += dx * (x - self.mean_x);
    }

    /// Finite values seen.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// The transform's value over everything pushed since the last reset.
    pub fn value(&self) -> f64 {
        if self.n == 0 {
            return f64::NAN;
        }
        match self.transform {
            Transform::Last => self.last,
            Transform::Mean => self.mean_x,
            Transform::Std => (self.m2_x / self.n as f64).max(0.0).sqrt(),
            Transform::Min => self.min,
            Transform::Max => self.max,
            Transform::Slope => {
                if self.n < 2 || self.m2_t <= 0.0 {
                    0.0
                } else {
                    self.c_tx / self.m2_t
                }
            }
            Transform::Ewma { .. } => self.ewma,
            Transform::Delta => self.last - self.first,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn w(t: &[f64], x: &[f64]) -> Vec<(f64, f64)> {
        t.iter().copied().zip(x.iter().copied()).collect()
    }

    const ALL: [Transform; 8] = [
        Transform::Last,
        Transform::Mean,
        Transform::Std,
        Transform::Min,
        Transform::Max,
        Transform::Slope,
        Transform::Ewma { alpha: 0.5 },
        Transform::Delta,
    ];

    #[test]
    fn hand_computed_window() {
        // x = 1, 2, 4, 9 at t = 0, 1, 2, 3: mean 4, deviations -3 -2 0 5 → var 38/4.
        let (t, x) = ([0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 4.0, 9.0]);
        assert_eq!(Transform::Last.apply(&w(&t, &x)), 9.0);
        assert_eq!(Transform::Mean.apply(&w(&t, &x)), 4.0);
        assert!((Transform::Std.apply(&w(&t, &x)) - (9.5f64).sqrt()).abs() < 1e-12);
        assert_eq!(Transform::Min.apply(&w(&t, &x)), 1.0);
        assert_eq!(Transform::Max.apply(&w(&t, &x)), 9.0);
        // t̄ = 1.5, Σ(t-t̄)(x-x̄) = (-1.5)(-3)+(-0.5)(-2)+(0.5)(0)+(1.5)(5) = 13, Σ(t-t̄)² = 5.
        assert!((Transform::Slope.apply(&w(&t, &x)) - 2.6).abs() < 1e-12);
        // ewma α=0.5: 1 → 1.5 → 2.75 → 5.875.
        assert_eq!(Transform::Ewma { alpha: 0.5 }.apply(&w(&t, &x)), 5.875);
        assert_eq!(Transform::Delta.apply(&w(&t, &x)), 8.0);
    }

    #[test]
    fn nan_and_inf_are_skipped_including_for_slope_times() {
        // The NaN at t=1 is dropped with its time: slope over (0,1),(2,3),(4,5) is 1.
        let t = [0.0, 1.0, 2.0, 3.0, 4.0];
        let x = [1.0, f64::NAN, 3.0, f64::INFINITY, 5.0];
        assert_eq!(Transform::Mean.apply(&w(&t, &x)), 3.0);
        assert!((Transform::Slope.apply(&w(&t, &x)) - 1.0).abs() < 1e-12);
        assert_eq!(Transform::Delta.apply(&w(&t, &x)), 4.0);
        assert_eq!(Transform::Last.apply(&w(&t, &x)), 5.0);
        assert_eq!(Transform::Ewma { alpha: 1.0 }.apply(&w(&t, &x)), 5.0);
    }

    #[test]
    fn empty_and_single_and_equal_times() {
        let nan = [f64::NAN, f64::NEG_INFINITY];
        for tr in ALL {
            assert!(tr.apply(&w(&[0.0, 1.0], &nan)).is_nan(), "{}", tr.name());
            assert!(tr.apply(&w(&[], &[])).is_nan(), "{}", tr.name());
        }
        assert_eq!(Transform::Std.apply(&w(&[5.0], &[7.0])), 0.0);
        assert_eq!(Transform::Slope.apply(&w(&[5.0], &[7.0])), 0.0);
        assert_eq!(Transform::Delta.apply(&w(&[5.0], &[7.0])), 0.0);
        assert_eq!(
            Transform::Slope.apply(&w(&[3.0, 3.0, 3.0], &[1.0, 5.0, 2.0])),
            0.0
        );
        assert_eq!(
            Transform::Std.apply(&w(&[0.0, 1.0, 2.0], &[4.0, 4.0, 4.0])),
            0.0
        );
    }

    #[test]
    fn epoch_timestamps_keep_slope_precision() {
        // 1.8e9 s epoch times: slope of x = 0.001·(t - t0) must come out as 0.001.
        let t: Vec<f64> = (0..100).map(|i| 1.8e9 + i as f64 * 0.5).collect();
        let x: Vec<f64> = (0..100).map(|i| 20.0 + 0.001 * i as f64 * 0.5).collect();
        assert!((Transform::Slope.apply(&w(&t, &x)) - 0.001).abs() < 1e-9);
    }

    #[test]
    fn accumulator_agrees_with_window_evaluation() {
        let mut rng = StdRng::seed_from_u64(7);
        for case in 0..300 {
            let n = rng.random_range(0..40);
            let mut t = Vec::new();
            let mut x = Vec::new();
            let mut now = 1.7e9;
            for _ in 0..n {
                // Repeated timestamps and NaNs on purpose.
                if rng.random_bool(0.8) {
                    now += rng.random_range(0.0..2.0);
                }
                t.push(now);
                x.push(if rng.random_bool(0.1) {
                    f64::NAN
                } else {
                    rng.random_range(-50.0..50.0)
                });
            }
            for tr in ALL {
                let mut acc = Accumulator::new(tr);
                for (ti, xi) in t.iter().zip(&x) {
                    acc.push(*ti, *xi);
                }
                let (a, b) = (tr.apply(&w(&t, &x)), acc.value());
                assert!(
                    (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * (1.0 + a.abs()),
                    "case {case} {}: window {a} vs streaming {b}",
                    tr.name()
                );
            }
        }
    }

    /// The textbook definitions, one sequential pass each: what the four-lane folds must
    /// reproduce.
    fn reference(tr: Transform, w: &[(f64, f64)]) -> f64 {
        let f: Vec<(f64, f64)> = w.iter().copied().filter(|p| p.1.is_finite()).collect();
        let n = f.len() as f64;
        let (Some(&(t0, first)), Some(&(_, last))) = (f.first(), f.last()) else {
            return f64::NAN;
        };
        let m = f.iter().map(|p| p.1).sum::<f64>() / n;
        match tr {
            Transform::Last => last,
            Transform::Mean => m,
            Transform::Std => (f.iter().map(|p| (p.1 - m).powi(2)).sum::<f64>() / n).sqrt(),
            Transform::Min => f.iter().map(|p| p.1).fold(f64::INFINITY, f64::min),
            Transform::Max => f.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max),
            Transform::Slope => {
                let mt = f.iter().map(|p| p.0 - t0).sum::<f64>() / n;
                let sxx: f64 = f.iter().map(|p| (p.0 - t0 - mt).powi(2)).sum();
                let sxy: f64 = f.iter().map(|p| (p.0 - t0 - mt) * (p.1 - m)).sum();
                if sxx == 0.0 { 0.0 } else { sxy / sxx }
            }
            Transform::Ewma { alpha } => f
                .iter()
                .skip(1)
                .fold(first, |s, p| alpha * p.1 + (1.0 - alpha) * s),
            Transform::Delta => last - first,
        }
    }

    #[test]
    fn long_windows_match_the_sequential_definitions() {
        let mut rng = StdRng::seed_from_u64(11);
        for case in 0..200 {
            let n = rng.random_range(0..700);
            let nan_rate = [0.0, 0.02, 0.5][case % 3];
            let level = rng.random_range(-40.0..40.0);
            let w: Vec<(f64, f64)> = (0..n)
                .map(|i| {
                    let x = if rng.random_bool(nan_rate) {
                        f64::NAN
                    } else {
                        level + rng.random_range(-1.0..1.0) + 0.001 * i as f64
                    };
                    (1.8e9 + i as f64, x)
                })
                .collect();
            for tr in ALL.into_iter().chain([Transform::Ewma { alpha: 0.01 }]) {
                let (a, b) = (tr.apply(&w), reference(tr, &w));
                assert!(
                    (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * (1.0 + b.abs()),
                    "case {case} n {n} {}: four lanes {a} vs sequential {b}",
                    tr.name()
                );
            }
        }
    }
}
