//! What the infer and monitor stages emit: predictions and drift windows.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{BatchContext, FeatureVector, TimestampMs};

/// What a model produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PredictionOutput {
    /// A classifier: predicted label and the probability of every class, in the model's
    /// class order.
    Class {
        /// Predicted label.
        label: String,
        /// `(label, probability)` for every class.
        probabilities: Vec<(String, f64)>,
    },
    /// A regressor's value (e.g. yield %).
    Value {
        /// Predicted value.
        value: f64,
    },
    /// An anomaly detector: sklearn's `score_samples` (lower = more anomalous) and the
    /// decision at the manifest's threshold.
    Anomaly {
        /// `score_samples` value.
        score: f64,
        /// `decision_function` value (negative = anomaly).
        decision: f64,
        /// `decision < 0`.
        is_anomaly: bool,
        /// Per-signal contributions `(input name, z)` when the model reports them (the SPC
        /// detector's robust z-scores), in the model's input order; empty otherwise.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        contributions: Vec<(Arc<str>, f64)>,
    },
}

/// One model's answer to one feature vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Model name.
    pub model: Arc<str>,
    /// Model semver from its manifest.
    pub model_version: Arc<str>,
    /// Timestamp of the feature vector.
    pub ts: TimestampMs,
    /// Batch and product.
    pub batch: BatchContext,
    /// The output.
    pub output: PredictionOutput,
    /// Max class probability for classifiers; for regressors and anomaly detectors a margin
    /// in [0, 1] defined by the infer stage.
    pub confidence: f64,
    /// The inputs, for evidence and drift monitoring.
    pub features: FeatureVector,
    /// Whether this model's output may raise alerts (manifest `decision.decides`): `false`
    /// for a model that did not beat its transparent rule, whose output is evidence only.
    #[serde(default = "decides_default")]
    pub decides: bool,
    /// Made by a shadow candidate (`[models.<name>] candidate`, docs/shadow.md), not by the
    /// serving model: stored, captured and published on `{prefix}/shadow/predictions/{model}`,
    /// never alerted on, never counted for drift. Always with `decides = false`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub shadow: bool,
}

fn decides_default() -> bool {
    true
}

/// For `skip_serializing_if`: a `false` flag is left out, so that records without it keep
/// their old shape.
pub fn is_false(b: &bool) -> bool {
    !*b
}

/// Drift verdict for one feature over one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    /// Feature name.
    pub feature: String,
    /// Population stability index on the frozen reference bins.
    pub psi: f64,
    /// Jensen–Shannon distance (base 2) on the same bins.
    pub js: f64,
    /// Wasserstein-1 distance on bin centres divided by the reference σ.
    pub w1_sigma: f64,
    /// Thresholds applied (psi, js, w1_sigma).
    pub thresholds: [f64; 3],
    /// Page–Hinkley alarm on the feature mean fired in this window.
    pub page_hinkley: bool,
    /// Any statistic over its threshold.
    pub drifted: bool,
}

/// Drift report for one model's inputs over one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftWindow {
    /// Model whose reference was used.
    pub model: Arc<str>,
    /// Model version.
    pub model_version: Arc<str>,
    /// Window start and end (data time).
    pub start: TimestampMs,
    /// Window end.
    pub end: TimestampMs,
    /// Vectors counted in the window.
    pub samples: u64,
    /// Per-feature verdicts.
    pub features: Vec<FeatureDrift>,
    /// Share of drifted features, 0–1.
    pub drifted_share: f64,
}
