//! `[drift]`: how model inputs are compared with the training data.

use serde::{Deserialize, Serialize};

use crate::settings::units::Duration;

/// Drift-monitor settings. Thresholds default to the ones calibrated in each model's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftConfig {
    /// Monitor drift at all. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Length of one drift window (data time). Default "15m": a window reports when it
    /// closes, so its length bounds how soon a change is seen.
    #[serde(default = "default_window")]
    pub window: Duration,
    /// Close a window early after this many vectors. Default: none (time only).
    #[serde(default)]
    pub window_samples: Option<u64>,
    /// A window is judged only once it holds at least this many vectors: when `window` has
    /// elapsed with fewer, it goes on until it has them. Batch-level models get one vector
    /// per batch (2–4 h), so their windows become this many batches. Default 20, the shape
    /// the manifests' thresholds were calibrated on (manifest `reference.calibration`).
    #[serde(default = "default_min_samples")]
    pub min_window_samples: u64,
    /// Sample-level vectors this soon after a batch change are not counted: the line is
    /// settling (new product's temperature, new lot's pH, the conche's moisture still high),
    /// which the frozen reference does not describe well. Default "30m", the value the
    /// manifests were calibrated with (`reference.calibration.batch_settle_ms`).
    #[serde(default = "default_settle")]
    pub batch_settle: Duration,
    /// Override the manifest's PSI threshold. Convention: < 0.1 stable, > 0.25 major.
    #[serde(default)]
    pub psi_threshold: Option<f64>,
    /// Override the manifest's Jensen–Shannon threshold.
    #[serde(default)]
    pub js_threshold: Option<f64>,
    /// Override the manifest's Wasserstein/σ threshold.
    #[serde(default)]
    pub w1_threshold: Option<f64>,
    /// Page–Hinkley tolerated change δ of the anomaly score and the model confidence.
    /// Default 0.005.
    #[serde(default = "default_ph_delta")]
    pub page_hinkley_delta: f64,
    /// Page–Hinkley tolerated change δ of each model input, in standard deviations of the
    /// input's training reference (the detector sees the input standardised). Default 1.0:
    /// at 0.005 the flag was set in 60 % of the feature windows of a normal day (the pH
    /// features in 65 of 73) — 60-s and 300-s means at one vector per second wander by
    /// more than that all day — while at 1.0 the pH features are flagged in 1 of 73 windows
    /// of a normal day and 17 of 72 of a day with four 2-hour pH ramps (tuning seeds 9003,
    /// 9001). Reported per feature (`page_hinkley`); it does not make a feature drifted.
    #[serde(default = "default_ph_feature_delta")]
    pub page_hinkley_feature_delta: f64,
    /// Page–Hinkley alarm threshold λ. Default 50.
    #[serde(default = "default_ph_lambda")]
    pub page_hinkley_lambda: f64,
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig {
            enabled: true,
            window: default_window(),
            window_samples: None,
            min_window_samples: default_min_samples(),
            batch_settle: default_settle(),
            psi_threshold: None,
            js_threshold: None,
            w1_threshold: None,
            page_hinkley_delta: default_ph_delta(),
            page_hinkley_feature_delta: default_ph_feature_delta(),
            page_hinkley_lambda: default_ph_lambda(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_window() -> Duration {
    Duration::from_secs(900)
}
fn default_settle() -> Duration {
    Duration::from_secs(1800)
}
fn default_min_samples() -> u64 {
    20
}
fn default_ph_delta() -> f64 {
    0.005
}
fn default_ph_feature_delta() -> f64 {
    1.0
}
fn default_ph_lambda() -> f64 {
    50.0
}
