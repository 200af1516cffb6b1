//! What the alert stage raises: alerts with their kind, severity and state, the defects a
//! batch is inspected for, and data-quality events.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{BatchContext, ReasonCode, TimestampMs};

/// Defect found when a batch is inspected: what the simulator's batches carry and what the
/// lab reports (`batches.csv` `defect`, label `defect`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Defect {
    /// No defect.
    #[default]
    None,
    /// Fat bloom.
    FatBloom,
    /// Sugar bloom.
    SugarBloom,
    /// Gritty mouthfeel (coarse particles).
    Gritty,
    /// Off-flavour (under-fermented / mouldy / acid beans).
    OffFlavour,
}

impl Defect {
    /// CSV and label spelling: `none`, `fat_bloom`, `sugar_bloom`, `gritty`, `off_flavour`.
    pub fn as_str(self) -> &'static str {
        match self {
            Defect::None => "none",
            Defect::FatBloom => "fat_bloom",
            Defect::SugarBloom => "sugar_bloom",
            Defect::Gritty => "gritty",
            Defect::OffFlavour => "off_flavour",
        }
    }
}

/// Kind of alert; each has its own topic `{prefix}/alerts/{kind}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Fat bloom risk: bloom model or working temperature outside the tempering band.
    FatBloomRisk,
    /// Sugar bloom risk: bloom model or moisture / humidity.
    SugarBloomRisk,
    /// Particle size above the product limit.
    Gritty,
    /// A closed batch outside its product spec, or predicted reject.
    OutOfRangeBatch,
    /// The anomaly detector flags the process.
    Anomaly,
    /// Model inputs drifted from the training data.
    Drift,
    /// Model confidence below threshold.
    LowConfidence,
    /// Sensor data not fit for the models.
    DataQuality,
    /// Predicted yield below threshold.
    YieldLow,
    /// The store is full and started dropping data.
    StoreFull,
    /// The store was corrupt, moved aside and started fresh.
    StoreCorrupt,
    /// Messages the broker will not take (over `max_message_bytes`, or refusing the
    /// connection every time) went to the dead-letter tree.
    PublishRejected,
    /// A configured model was refused (at start or on reload) and nothing serves under its
    /// name: its predictions, and the alerts they would raise, are missing until it loads.
    ModelUnavailable,
}

impl AlertKind {
    /// The snake_case name used in topics and config.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::FatBloomRisk => "fat_bloom_risk",
            AlertKind::SugarBloomRisk => "sugar_bloom_risk",
            AlertKind::Gritty => "gritty",
            AlertKind::OutOfRangeBatch => "out_of_range_batch",
            AlertKind::Anomaly => "anomaly",
            AlertKind::Drift => "drift",
            AlertKind::LowConfidence => "low_confidence",
            AlertKind::DataQuality => "data_quality",
            AlertKind::YieldLow => "yield_low",
            AlertKind::StoreFull => "store_full",
            AlertKind::StoreCorrupt => "store_corrupt",
            AlertKind::PublishRejected => "publish_rejected",
            AlertKind::ModelUnavailable => "model_unavailable",
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Alert severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Look at it this shift.
    Warning,
    /// Act now.
    Critical,
}

/// Alert lifecycle state. Every `raised` is eventually followed by a `cleared` with the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The condition started (or its severity changed).
    Raised,
    /// The condition ended (hysteresis passed).
    Cleared,
}

/// An alert event as the control room receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Unique id of the alert occurrence, stable across re-sends; the `cleared` event carries
    /// the id of the `raised` one it ends.
    pub id: String,
    /// Kind.
    pub kind: AlertKind,
    /// Severity.
    pub severity: Severity,
    /// Raised or cleared.
    pub state: AlertState,
    /// `[agent] site`.
    pub site: String,
    /// `[agent] line`.
    pub line: String,
    /// Batch and product.
    pub batch: BatchContext,
    /// When the condition started (data time).
    pub raised_at: TimestampMs,
    /// Time of this event (data time).
    pub ts: TimestampMs,
    /// Human-readable one-line summary.
    pub message: String,
    /// Evidence: feature values, probabilities, thresholds, model versions.
    pub evidence: serde_json::Value,
}

/// A data-quality event: a vector that was not fed to a model, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataQualityEvent {
    /// Model the vector was meant for.
    pub model: Arc<str>,
    /// Time of the vector.
    pub ts: TimestampMs,
    /// Batch and product.
    pub batch: BatchContext,
    /// Problems per signal.
    pub flags: BTreeMap<String, Vec<ReasonCode>>,
}
