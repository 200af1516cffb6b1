//! What the line looks like now, in memory: each model's newest prediction and each model's
//! newest drift window, noted as records are appended. The Sparkplug edge node reads it once a
//! second for its model and drift metrics (docs/sparkplug.md), so nothing is read back from
//! sled and no stage has to feed the edge node itself.
//!
//! Noted before the records are written, whatever happens to them after (a full disk drops
//! predictions from history, but they were still the newest the agent computed).

use std::collections::BTreeMap;

use crate::domain::{PredictionOutput, Record, TimestampMs};

/// A model's newest prediction, reduced to what a SCADA tag can show.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelNow {
    /// Model version that computed it.
    pub version: String,
    /// Classifier: the predicted label; anomaly detector: `anomaly` or `normal`; regressor:
    /// none.
    pub label: Option<String>,
    /// Regressor: its value; anomaly detector: `decision_function` (negative = anomaly);
    /// classifier: none.
    pub value: Option<f64>,
    /// The prediction's confidence (0–1).
    pub confidence: f64,
    /// Whether this model's output may raise alerts.
    pub decides: bool,
    /// Time of the feature vector.
    pub ts: TimestampMs,
}

/// A model's newest drift window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriftNow {
    /// Share of the model's features that drifted (0–1).
    pub drifted_share: f64,
    /// Any feature drifted.
    pub drifted: bool,
    /// Window end.
    pub ts: TimestampMs,
}

/// Newest prediction and drift window per model name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latest {
    /// By model name.
    pub models: BTreeMap<String, ModelNow>,
    /// By model name.
    pub drift: BTreeMap<String, DriftNow>,
}

impl Latest {
    /// Note `records`: a prediction or drift window newer than (or as new as) the one held
    /// replaces it; anything else is ignored, and so is a shadow candidate's prediction (the
    /// model's tags show what serves).
    pub fn note(&mut self, records: &[Record]) {
        for r in records {
            match r {
                Record::Prediction(p) if p.shadow => {}
                Record::Prediction(p) => {
                    let (label, value) = match &p.output {
                        PredictionOutput::Class { label, .. } => (Some(label.clone()), None),
                        PredictionOutput::Value { value } => (None, Some(*value)),
                        PredictionOutput::Anomaly {
                            decision,
                            is_anomaly,
                            ..
                        } => {
                            let l = if *is_anomaly { "anomaly" } else { "normal" };
                            (Some(l.to_owned()), Some(*decision))
                        }
                    };
                    let now = ModelNow {
                        version: p.model_version.to_string(),
                        label,
                        value,
                        confidence: p.confidence,
                        decides: p.decides,
                        ts: p.ts,
                    };
                    keep_newer(&mut self.models, &p.model, now, |m| m.ts);
                }
                Record::Drift(d) => {
                    let now = DriftNow {
                        drifted_share: d.drifted_share,
                        drifted: d.features.iter().any(|f| f.drifted),
                        ts: d.end,
                    };
                    keep_newer(&mut self.drift, &d.model, now, |d| d.ts);
                }
                _ => {}
            }
        }
    }
}

fn keep_newer<T>(map: &mut BTreeMap<String, T>, key: &str, v: T, ts: impl Fn(&T) -> TimestampMs) {
    match map.get_mut(key) {
        Some(held) if ts(held) > ts(&v) => {}
        Some(held) => *held = v,
        None => {
            map.insert(key.to_owned(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BatchContext, FeatureLevel, FeatureVector, Prediction};

    fn bloom(version: &str, ts: i64, shadow: bool) -> Record {
        Record::Prediction(Prediction {
            model: "bloom".into(),
            model_version: version.into(),
            ts: TimestampMs(ts),
            batch: BatchContext::default(),
            output: PredictionOutput::Value { value: 1.0 },
            confidence: 0.5,
            features: FeatureVector {
                model: "bloom".into(),
                spec_version: 1,
                level: FeatureLevel::Sample,
                names: Vec::new().into(),
                values: Vec::new(),
                ts: TimestampMs(ts),
                batch: BatchContext::default(),
                flags: Default::default(),
            },
            decides: !shadow,
            shadow,
        })
    }

    #[test]
    fn a_shadow_prediction_never_becomes_the_models_tag() {
        let mut l = Latest::default();
        l.note(&[bloom("2.0.0", 1, false), bloom("2.1.0", 2, true)]);
        assert_eq!(l.models["bloom"].version, "2.0.0");
        assert_eq!(l.models["bloom"].ts, TimestampMs(1));
    }
}
