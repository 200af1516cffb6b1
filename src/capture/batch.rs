//! Which batch is running, from the samples: a change of the batch-id register closes the
//! batch that was running and yields its `batch` line (docs/capture.md).
//!
//! The product and lot registers may sit on another device than the batch id: their newest
//! good values are kept from whichever samples carry them, and the closing batch takes the
//! values seen while it ran.

use crate::domain::Sample;

use super::line::BatchLine;

/// The registers that name a batch (from `[features]`, resolved to register names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRegisters {
    /// `[features] batch_id_signal`.
    pub batch_id: String,
    /// `[features] product_signal`.
    pub product: String,
    /// `[features] lot_signals`.
    pub lot: Vec<String>,
}

/// The batch running, as far as the samples tell.
#[derive(Debug, Clone)]
pub struct BatchTracker {
    regs: BatchRegisters,
    open: Option<Open>,
    product: Option<String>,
    lot: Vec<Option<String>>,
}

#[derive(Debug, Clone)]
struct Open {
    batch_id: String,
    start_ms: i64,
    samples: u64,
}

/// An integral value as an integer string ("1001"), else its decimal form.
pub fn id_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl BatchTracker {
    /// A tracker of the batches named by `regs`.
    pub fn new(regs: BatchRegisters) -> Self {
        let lot = vec![None; regs.lot.len()];
        BatchTracker {
            regs,
            open: None,
            product: None,
            lot,
        }
    }

    /// Take a sample in; the batch it closed, if any. A value that is not finite (a failed
    /// read) neither opens nor closes a batch, as in the feature engine.
    pub fn on_sample(&mut self, s: &Sample) -> Option<BatchLine> {
        let mut id = None;
        for r in s.readings.iter() {
            if !r.value.is_finite() {
                continue;
            }
            let name = r.name.as_ref();
            if name == self.regs.batch_id {
                id = Some(id_text(r.value));
            }
            if name == self.regs.product {
                self.product = Some(id_text(r.value));
            }
            if let Some(i) = self.regs.lot.iter().position(|l| l == name) {
                self.lot[i] = Some(id_text(r.value));
            }
        }
        let id = id?;
        let ts = s.ts.0;
        match &mut self.open {
            Some(open) if open.batch_id == id => {
                open.samples += 1;
                None
            }
            _ => {
                let closed = self.open.take().map(|o| self.line(o, ts));
                self.open = Some(Open {
                    batch_id: id,
                    start_ms: ts,
                    samples: 1,
                });
                closed
            }
        }
    }

    fn line(&self, o: Open, end_ms: i64) -> BatchLine {
        let lot = (!self.lot.is_empty() && self.lot.iter().all(Option::is_some)).then(|| {
            let parts: Vec<&str> = self.lot.iter().flatten().map(String::as_str).collect();
            parts.join("/")
        });
        BatchLine {
            ts: end_ms,
            batch_id: o.batch_id,
            product: self.product.clone(),
            lot,
            start_ms: o.start_ms,
            end_ms,
            samples: o.samples,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::{Quality, Reading, TimestampMs};

    fn sample(ts: i64, values: &[(&str, f64, Quality)]) -> Sample {
        let readings = (values.iter())
            .map(|(n, v, q)| Reading {
                device: Arc::from("plc"),
                name: Arc::from(*n),
                value: *v,
                unit: Arc::from(""),
                raw: vec![],
                ts: TimestampMs(ts),
                quality: *q,
            })
            .collect();
        Sample {
            device: Arc::from("plc"),
            ts: TimestampMs(ts),
            readings,
            missed_cycles: 0,
        }
    }

    #[test]
    fn a_change_of_batch_id_closes_the_running_batch() {
        let mut t = BatchTracker::new(BatchRegisters {
            batch_id: "batch_id".into(),
            product: "recipe".into(),
            lot: vec!["lot".into()],
        });
        let g = Quality::Good;
        assert_eq!(
            t.on_sample(&sample(
                1000,
                &[("batch_id", 1001.0, g), ("recipe", 3.0, g)]
            )),
            None
        );
        assert_eq!(
            t.on_sample(&sample(2000, &[("batch_id", 1001.0, g), ("lot", 77.0, g)])),
            None
        );
        // A bad read of the id changes nothing.
        let bad = sample(2500, &[("batch_id", f64::NAN, Quality::CommError)]);
        assert_eq!(t.on_sample(&bad), None);
        let closed = t
            .on_sample(&sample(3000, &[("batch_id", 1002.0, g)]))
            .unwrap();
        assert_eq!(
            closed,
            BatchLine {
                ts: 3000,
                batch_id: "1001".into(),
                product: Some("3".into()),
                lot: Some("77".into()),
                start_ms: 1000,
                end_ms: 3000,
                samples: 2,
            }
        );
        let next = t
            .on_sample(&sample(4000, &[("batch_id", 1003.0, g)]))
            .unwrap();
        assert_eq!(
            (next.batch_id.as_str(), next.start_ms, next.samples),
            ("1002", 3000, 1)
        );
    }

    #[test]
    fn ids_are_integer_strings_when_integral() {
        assert_eq!(id_text(1001.0), "1001");
        assert_eq!(id_text(-3.0), "-3");
        assert_eq!(id_text(2.5), "2.5");
    }
}
