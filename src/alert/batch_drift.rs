//! Per-batch drift of a process signal: an EWMA of the signal against the batch's own
//! baseline.
//!
//! Why per batch: the pH of the mass is a property of the bean lot — it steps at every lot
//! change and differs by ±0.2 between healthy lots — so a comparison with the training data
//! either misses a slow shift inside the healthy spread or alarms on healthy lots. Within one
//! batch the pH holds still (it wanders by about ±0.03), so a shift of a tenth of a unit
//! against the first minutes of the same batch is a change of the process, seen long before
//! it leaves the healthy range.
//!
//! Per vector: the signal's window mean `v`. The first [`SETTLE`] evaluations of a batch are
//! skipped (the window still holds the previous batch), the next [`BASELINE`] are averaged
//! into the baseline, and from then on `|ewma(v) − baseline|` is the value the `drift` rule
//! judges (scope: the signal name).

/// Evaluations (about one per second) skipped after a batch change.
pub const SETTLE: u32 = 120;
/// Evaluations averaged into the batch's baseline.
pub const BASELINE: u32 = 600;
/// EWMA weight of a new value (a time constant of about a minute at one vector per second).
pub const ALPHA: f64 = 1.0 / 60.0;
/// Raise at this deviation from the batch baseline (pH units): about four times the healthy
/// wander within a batch. `[alerts.drift]` `enabled` and `severity` apply; these thresholds
/// are fixed (docs/alerts.md).
pub const RAISE: f64 = 0.12;
/// Clear below this deviation.
pub const CLEAR: f64 = 0.05;
/// Evaluations in a row over (under) the threshold to raise (clear).
pub const CONSECUTIVE: u32 = 30;

/// The tracker of one signal.
#[derive(Debug, Clone, Default)]
pub struct BatchDrift {
    batch: Option<String>,
    seen: u32,
    sum: f64,
    baseline: Option<f64>,
    ewma: f64,
}

impl BatchDrift {
    /// Push the value of one evaluation in batch `batch`; the absolute deviation of the EWMA
    /// from the batch's baseline once the baseline is set, else `None`. Non-finite values
    /// are ignored.
    pub fn push(&mut self, batch: &str, v: f64) -> Option<f64> {
        if self.batch.as_deref() != Some(batch) {
            *self = BatchDrift {
                batch: Some(batch.to_string()),
                ..BatchDrift::default()
            };
        }
        if !v.is_finite() {
            return None;
        }
        self.seen = self.seen.saturating_add(1);
        if self.seen <= SETTLE {
            return None;
        }
        match self.baseline {
            None => {
                self.sum += v;
                if self.seen == SETTLE + BASELINE {
                    let b = self.sum / f64::from(BASELINE);
                    self.baseline = Some(b);
                    self.ewma = b;
                }
                None
            }
            Some(b) => {
                self.ewma = ALPHA * v + (1.0 - ALPHA) * self.ewma;
                Some((self.ewma - b).abs())
            }
        }
    }

    /// The baseline of the current batch, once set.
    pub fn baseline(&self) -> Option<f64> {
        self.baseline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settles_sets_a_baseline_then_follows_a_shift() {
        let mut d = BatchDrift::default();
        for _ in 0..SETTLE + BASELINE - 1 {
            assert_eq!(d.push("b1", 5.5), None);
        }
        assert_eq!(d.push("b1", 5.5), None);
        assert_eq!(d.baseline(), Some(5.5));
        assert_eq!(d.push("b1", 5.5), Some(0.0));
        // A step of +0.25: the EWMA gets 63 % of the way in a minute.
        let mut last = 0.0;
        for _ in 0..60 {
            last = d.push("b1", 5.75).unwrap();
        }
        assert!(
            (last - 0.25 * (1.0 - (1.0 - ALPHA).powi(60))).abs() < 1e-9,
            "{last}"
        );
        // NaN is ignored and a new batch starts over.
        assert_eq!(d.push("b1", f64::NAN), None);
        assert_eq!(d.push("b2", 5.5), None);
        assert_eq!(d.baseline(), None);
    }
}
