//! Per-reading checks of one signal: comm error, non-finite, out of `valid_range` (from the
//! reading's quality), stale, stuck and spike. They keep a fixed amount of state per signal
//! (a counter and a short window for the median / MAD).

use std::collections::VecDeque;

use crate::domain::{Quality, Reading, ReasonCode};

use super::reasons::ReasonSet;

/// Spike verdicts in a row, on the same side, that are taken as a level shift instead.
pub const LEVEL_SHIFT_RUN: u32 = 3;

/// Settings of the per-signal checks (from `[features]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckParams {
    /// Consecutive readings within `stuck_tolerance` of their predecessor that make a sensor
    /// stuck (0 disables).
    pub stuck_samples: u32,
    /// Largest change still counted as "no change", in engineering units.
    pub stuck_tolerance: f64,
    /// Spike threshold factor k: flagged when |x − median| > k · 1.4826 · MAD.
    pub spike_k: f64,
    /// Floor of the spike threshold as a fraction of |median|, so that a quiet quantised
    /// signal (MAD = 0) does not call every step of one LSB a spike.
    pub spike_min_rel: f64,
    /// Readings in the median / MAD window (0 disables the spike check).
    pub spike_window: usize,
}

/// State of the checks of one signal.
#[derive(Debug, Clone)]
pub struct SignalChecker {
    params: CheckParams,
    /// Static signals (batch id, recipe, lot properties) are constant by nature: no stuck or
    /// spike check.
    is_static: bool,
    last: Option<f64>,
    unchanged: u32,
    /// Consecutive spike verdicts on the same side of the median.
    spike_run: u32,
    spike_side: bool,
    recent: VecDeque<f64>,
    /// The values of `recent`, kept sorted (by `f64::total_cmp`): the median is read, not
    /// selected, at every reading. A selection over a copy of the window was the largest cost
    /// of the checks in a replay profile; an insert and a removal move at most a window of
    /// values.
    sorted: Vec<f64>,
    scratch: Vec<f64>,
}

impl SignalChecker {
    /// A checker for one signal.
    pub fn new(params: CheckParams, is_static: bool) -> Self {
        SignalChecker {
            params,
            is_static,
            last: None,
            unchanged: 0,
            spike_run: 0,
            spike_side: false,
            recent: VecDeque::with_capacity(params.spike_window),
            sorted: Vec::with_capacity(params.spike_window),
            scratch: Vec::with_capacity(params.spike_window),
        }
    }

    /// Check one reading and update the state.
    pub fn check(&mut self, r: &Reading) -> ReasonSet {
        let mut s = ReasonSet::EMPTY;
        match r.quality {
            Quality::CommError => return s.with(ReasonCode::CommError),
            Quality::Stale => s.insert(ReasonCode::Stale),
            Quality::OutOfRange => s.insert(ReasonCode::OutOfRange),
            Quality::Good => {}
        }
        let x = r.value;
        if !x.is_finite() {
            return s.with(ReasonCode::NotFinite);
        }
        if self.is_static {
            return s;
        }
        // A stale reading repeats the last known value: it says nothing about stuck or spike.
        if r.quality == Quality::Stale {
            return s;
        }
        if let Some(prev) = self.last {
            if (x - prev).abs() <= self.params.stuck_tolerance {
                self.unchanged = self.unchanged.saturating_add(1);
            } else {
                self.unchanged = 0;
            }
        }
        self.last = Some(x);
        let n = self.params.stuck_samples;
        if n > 0 && self.unchanged.saturating_add(1) >= n {
            s.insert(ReasonCode::Stuck);
        }
        // An out-of-range reading is already refused; it must not become the spike baseline.
        // Fed into the median window, a few readings at a fault value (75 °C against a valid
        // range of 10–60) made the first good readings after the fault look like spikes, so a
        // data-quality alert cleared only after the level-shift reset, 3 polls later (the
        // budget bench's "clear p99 106 ms" at 50 ms polls).
        if r.quality == Quality::OutOfRange {
            return s;
        }
        match self.spike_side(x) {
            Some(side) if self.spike_run > 0 && side == self.spike_side => self.spike_run += 1,
            Some(side) => {
                self.spike_run = 1;
                self.spike_side = side;
            }
            None => self.spike_run = 0,
        }
        if self.spike_run >= LEVEL_SHIFT_RUN {
            // Several "spikes" in a row on one side are a level shift (new batch, new bean
            // lot, a set-point change), not a spike: restart the median window from here
            // instead of flagging until the median catches up half a window later.
            self.spike_run = 0;
            self.recent.clear();
            self.sorted.clear();
        } else if self.spike_run > 0 {
            s.insert(ReasonCode::Spike);
        }
        if self.params.spike_window > 0 {
            self.remember(x);
        }
        s
    }

    /// Add `x` to the spike window (and its sorted copy), evicting the oldest when full.
    fn remember(&mut self, x: f64) {
        if self.recent.len() == self.params.spike_window
            && let Some(old) = self.recent.pop_front()
        {
            let at = self.sorted.partition_point(|v| v.total_cmp(&old).is_lt());
            if at < self.sorted.len() {
                self.sorted.remove(at);
            }
        }
        self.recent.push_back(x);
        let at = self.sorted.partition_point(|v| v.total_cmp(&x).is_lt());
        self.sorted.insert(at, x);
    }

    /// `Some(above median?)` when `x` is a spike against the window.
    fn spike_side(&mut self, x: f64) -> Option<bool> {
        let w = self.params.spike_window;
        // Judge only against a full window: a half-empty one has no reliable spread.
        if w == 0 || self.recent.len() < w {
            return None;
        }
        let med = sorted_median(&self.sorted);
        let floor = self.params.spike_min_rel * med.abs();
        if (x - med).abs() <= floor {
            // The limit is at least `floor`: not a spike, and the MAD (a selection over the
            // window's deviations) is not needed. Most readings end here.
            return None;
        }
        self.scratch.clear();
        self.scratch
            .extend(self.sorted.iter().map(|v| (v - med).abs()));
        let mad = median(&mut self.scratch);
        let limit = (self.params.spike_k * 1.4826 * mad).max(floor);
        ((x - med).abs() > limit).then_some(x > med)
    }
}

/// Median of a sorted slice (NaN when empty).
fn sorted_median(v: &[f64]) -> f64 {
    let mid = v.len() / 2;
    match (v.get(mid), mid.checked_sub(1).and_then(|i| v.get(i))) {
        (Some(&m), _) if v.len() % 2 == 1 => m,
        (Some(&m), Some(&below)) => (below + m) / 2.0,
        _ => f64::NAN,
    }
}

/// Median of a non-empty slice (reorders it).
fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let mid = n / 2;
    let (lower, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let m = *m;
    if n % 2 == 1 {
        m
    } else {
        let below = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (below + m) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TimestampMs;

    fn params() -> CheckParams {
        CheckParams {
            stuck_samples: 5,
            stuck_tolerance: 0.0,
            spike_k: 6.0,
            spike_min_rel: 0.0,
            spike_window: 9,
        }
    }

    fn reading(x: f64, q: Quality) -> Reading {
        Reading {
            device: "d".into(),
            name: "temperature".into(),
            value: x,
            unit: "°C".into(),
            raw: vec![],
            ts: TimestampMs(0),
            quality: q,
        }
    }

    #[test]
    fn the_sorted_window_is_the_recent_window_sorted() {
        use rand::{Rng, SeedableRng, rngs::StdRng};
        let mut rng = StdRng::seed_from_u64(3);
        let mut c = SignalChecker::new(params(), false);
        for i in 0..2000 {
            // Noise with repeated values, spikes and level shifts (which clear the window).
            let x = match i % 97 {
                0..=2 => 80.0,
                _ if i % 13 == 0 => 30.0,
                _ => 30.0 + (rng.random_range(0..20) as f64) * 0.05,
            };
            c.check(&reading(x, Quality::Good));
            let mut expect: Vec<f64> = c.recent.iter().copied().collect();
            expect.sort_by(f64::total_cmp);
            assert_eq!(c.sorted, expect, "reading {i}");
            if !expect.is_empty() {
                assert_eq!(sorted_median(&c.sorted), median(&mut expect));
            }
        }
        assert!(sorted_median(&[]).is_nan());
        assert_eq!(sorted_median(&[1.0, 2.0, 4.0, 9.0]), 3.0);
    }

    #[test]
    fn median_odd_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn quality_codes_pass_through() {
        let mut c = SignalChecker::new(params(), false);
        assert!(
            c.check(&reading(f64::NAN, Quality::CommError))
                .contains(ReasonCode::CommError)
        );
        assert!(
            c.check(&reading(99.0, Quality::OutOfRange))
                .contains(ReasonCode::OutOfRange)
        );
        assert!(
            c.check(&reading(1.0, Quality::Stale))
                .contains(ReasonCode::Stale)
        );
        assert!(
            c.check(&reading(f64::INFINITY, Quality::Good))
                .contains(ReasonCode::NotFinite)
        );
        assert!(c.check(&reading(1.0, Quality::Good)).is_empty());
    }

    #[test]
    fn stuck_after_n_identical_readings_and_recovers() {
        let mut c = SignalChecker::new(params(), false);
        // Alternating values never look stuck.
        for i in 0..20 {
            assert!(
                !c.check(&reading(30.0 + (i % 2) as f64 * 0.1, Quality::Good))
                    .contains(ReasonCode::Stuck)
            );
        }
        // The 5th identical reading in a row is flagged, not the 4th.
        let flags: Vec<bool> = (0..6)
            .map(|_| {
                c.check(&reading(31.0, Quality::Good))
                    .contains(ReasonCode::Stuck)
            })
            .collect();
        assert_eq!(flags, vec![false, false, false, false, true, true]);
        assert!(
            !c.check(&reading(31.2, Quality::Good))
                .contains(ReasonCode::Stuck)
        );
        // Static signals are never stuck.
        let mut s = SignalChecker::new(params(), true);
        for _ in 0..50 {
            assert!(s.check(&reading(7.0, Quality::Good)).is_empty());
        }
    }

    #[test]
    fn good_readings_after_out_of_range_ones_are_not_spikes() {
        let mut c = SignalChecker::new(
            CheckParams {
                stuck_samples: 0,
                spike_min_rel: 0.05,
                ..params()
            },
            false,
        );
        // A flat signal (MAD 0: the limit is spike_min_rel × median), then a fault value
        // outside the valid range for longer than half the window, then the signal is back.
        for _ in 0..9 {
            assert!(c.check(&reading(31.0, Quality::Good)).is_empty());
        }
        for _ in 0..6 {
            let f = c.check(&reading(75.0, Quality::OutOfRange));
            assert!(f.contains(ReasonCode::OutOfRange));
            assert!(!f.contains(ReasonCode::Spike));
        }
        for _ in 0..3 {
            assert!(c.check(&reading(31.0, Quality::Good)).is_empty());
        }
        // The spike check still works on good readings.
        assert!(
            c.check(&reading(45.0, Quality::Good))
                .contains(ReasonCode::Spike)
        );
    }

    #[test]
    fn spike_is_k_mad_from_median() {
        let mut c = SignalChecker::new(params(), false);
        // Window 30.0 ±0.1 pattern: median 30.0, MAD 0.1 → limit 6·1.4826·0.1 ≈ 0.89.
        for x in [29.9, 30.0, 30.1, 29.9, 30.0, 30.1, 29.9, 30.0, 30.1] {
            assert!(
                !c.check(&reading(x, Quality::Good))
                    .contains(ReasonCode::Spike)
            );
        }
        assert!(
            !c.check(&reading(30.8, Quality::Good))
                .contains(ReasonCode::Spike)
        );
        assert!(
            c.check(&reading(31.2, Quality::Good))
                .contains(ReasonCode::Spike)
        );
        assert!(
            c.check(&reading(28.5, Quality::Good))
                .contains(ReasonCode::Spike)
        );
    }
}
