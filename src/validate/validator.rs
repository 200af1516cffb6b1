//! The decision on one feature vector: accepted for the model, or refused as a
//! [`DataQualityEvent`]. Counts both, per reason code.

use std::collections::BTreeMap;

use crate::domain::{DataQualityEvent, FeatureVector, ReasonCode};

/// Outcome of validating one vector.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Fit for the model.
    Accept(FeatureVector),
    /// Not fit: never fed to a model.
    Refuse(DataQualityEvent),
}

/// Counters of the validate stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidateStats {
    /// Vectors passed to the models.
    pub accepted: u64,
    /// Vectors refused.
    pub refused: u64,
    /// Refused vectors per reason code (a vector counts once per code it carries).
    pub by_reason: BTreeMap<ReasonCode, u64>,
}

/// Stateless rules, counted.
#[derive(Debug, Default)]
pub struct Validator {
    stats: ValidateStats,
}

impl Validator {
    /// A validator with zero counters.
    pub fn new() -> Self {
        Validator::default()
    }

    /// Counters so far.
    pub fn stats(&self) -> &ValidateStats {
        &self.stats
    }

    /// Decide on one vector. Refused when any input signal carries a flag, or any feature
    /// value is not finite (keyed by the feature name: `not_finite` for ±inf, `missing` for
    /// NaN, which the transforms return when a window has no finite value).
    pub fn check(&mut self, v: FeatureVector) -> Verdict {
        let mut flags = v.flags.clone();
        for (name, x) in v.names.iter().zip(&v.values) {
            if !x.is_finite() {
                let code = if x.is_nan() {
                    ReasonCode::Missing
                } else {
                    ReasonCode::NotFinite
                };
                let e = flags.entry(name.clone()).or_default();
                if !e.contains(&code) {
                    e.push(code);
                }
            }
        }
        if v.values.len() != v.names.len() {
            flags
                .entry("<vector>".into())
                .or_default()
                .push(ReasonCode::Missing);
        }
        if flags.is_empty() {
            self.stats.accepted += 1;
            return Verdict::Accept(v);
        }
        self.stats.refused += 1;
        // Off unless TRACE is enabled for this target; the budget bench uses it to tell why
        // a clear waited (which signal kept the vectors refused).
        tracing::trace!(model = %v.model, ts = %v.ts, flags = ?flags, "vector refused");
        let mut codes: Vec<ReasonCode> = flags.values().flatten().copied().collect();
        codes.sort();
        codes.dedup();
        for c in codes {
            *self.stats.by_reason.entry(c).or_default() += 1;
        }
        Verdict::Refuse(DataQualityEvent {
            model: v.model,
            ts: v.ts,
            batch: v.batch,
            flags,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BatchContext, FeatureLevel, TimestampMs};

    fn vector(values: Vec<f64>, flags: &[(&str, ReasonCode)]) -> FeatureVector {
        let mut f: BTreeMap<String, Vec<ReasonCode>> = BTreeMap::new();
        for (s, r) in flags {
            f.entry(s.to_string()).or_default().push(*r);
        }
        FeatureVector {
            model: "bloom".into(),
            spec_version: 1,
            level: FeatureLevel::Sample,
            names: vec!["a".to_string(), "b".to_string()].into(),
            values,
            ts: TimestampMs(5),
            batch: BatchContext::default(),
            flags: f,
        }
    }

    #[test]
    fn clean_vector_passes() {
        let mut val = Validator::new();
        assert!(matches!(
            val.check(vector(vec![1.0, 2.0], &[])),
            Verdict::Accept(_)
        ));
        assert_eq!(val.stats().accepted, 1);
    }

    #[test]
    fn flags_and_non_finite_values_refuse() {
        let mut val = Validator::new();
        let Verdict::Refuse(e) = val.check(vector(vec![1.0, f64::NAN], &[])) else {
            panic!("NaN accepted")
        };
        assert_eq!(e.flags["b"], vec![ReasonCode::Missing]);
        let Verdict::Refuse(e) = val.check(vector(vec![f64::INFINITY, 1.0], &[])) else {
            panic!("inf accepted")
        };
        assert_eq!(e.flags["a"], vec![ReasonCode::NotFinite]);
        for code in [
            ReasonCode::Stuck,
            ReasonCode::Spike,
            ReasonCode::Stale,
            ReasonCode::CommError,
            ReasonCode::OutOfRange,
        ] {
            let Verdict::Refuse(e) = val.check(vector(vec![1.0, 2.0], &[("temperature", code)]))
            else {
                panic!("{code:?} accepted")
            };
            assert_eq!(e.flags["temperature"], vec![code]);
            assert_eq!(e.model.as_ref(), "bloom");
            assert_eq!(e.ts, TimestampMs(5));
        }
        assert_eq!(val.stats().refused, 7);
        assert_eq!(val.stats().by_reason[&ReasonCode::Spike], 1);
        assert!(matches!(
            val.check(vector(vec![1.0], &[])),
            Verdict::Refuse(_)
        ));
    }
}

#[cfg(test)]
mod stage_tests {
    use std::collections::BTreeMap;

    use tokio::sync::mpsc;

    use crate::domain::{BatchContext, FeatureLevel, FeatureVector, Record, TimestampMs};

    #[tokio::test]
    async fn stage_splits_accepted_and_refused() {
        let (tx, rx) = mpsc::channel(8);
        let (ok_tx, mut ok_rx) = mpsc::channel(8);
        let (dq_tx, mut dq_rx) = mpsc::channel(8);
        let hb = crate::health::Liveness::new().register("validate", crate::flow::STALL, None);
        let task = tokio::spawn(crate::validate::stage::run(rx, ok_tx, dq_tx, hb));
        for (i, x) in [1.0, f64::NAN, 2.0].into_iter().enumerate() {
            tx.send(FeatureVector {
                model: "bloom".into(),
                spec_version: 1,
                level: FeatureLevel::Sample,
                names: vec!["a".to_string()].into(),
                values: vec![x],
                ts: TimestampMs(i as i64),
                batch: BatchContext::default(),
                flags: BTreeMap::new(),
            })
            .await
            .unwrap();
        }
        drop(tx);
        let stats = task.await.unwrap();
        assert_eq!((stats.accepted, stats.refused), (2, 1));
        assert_eq!(ok_rx.recv().await.unwrap().values, vec![1.0]);
        assert_eq!(ok_rx.recv().await.unwrap().values, vec![2.0]);
        assert!(
            matches!(dq_rx.recv().await, Some(Record::DataQuality(e)) if e.ts == TimestampMs(1))
        );
    }
}
