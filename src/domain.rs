//! Domain types: the only types that travel between pipeline stages.
//!
//! Every stage reads and writes these and nothing else; no stage reaches into another's
//! internals. The data flows one way:
//!
//! ```text
//! acquire ─Sample─▶ features ─FeatureVector─▶ validate ─FeatureVector─▶ infer ─Prediction─▶
//! monitor ─(Prediction | DriftWindow)─▶ alert ─Record─▶ store ─outbox─▶ publish
//! ```
//!
//! Timestamps are data ([`TimestampMs`]), never read from a clock inside a stage, so that
//! `replay` and time-compressed scenario tests run the same code as the live agent.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Milliseconds since the UNIX epoch (UTC). The source timestamp of a reading, or the
/// simulated time of a replayed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TimestampMs(pub i64);

impl TimestampMs {
    /// The current wall-clock time, read through the process clock ([`crate::clock`]),
    /// which checks for a step at every read. Only the acquire stage, the store and the CLI
    /// call this.
    pub fn now() -> Self {
        crate::clock::process().now()
    }

    /// Seconds since the epoch as a float (for slopes and rates).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl fmt::Display for TimestampMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.0.max(0) as u64);
        write!(f, "{}", humantime::format_rfc3339_millis(t))
    }
}

/// How far a reading can be trusted. Readings are never dropped for being bad: they are
/// kept and flagged, and the validate stage decides what reaches a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    /// Decoded from a fresh, successful read and inside `valid_range`.
    Good,
    /// No fresh value within two poll intervals; `value` is the last known one.
    Stale,
    /// Decoded fine but outside the register's `valid_range`.
    OutOfRange,
    /// The read failed (timeout, transport error, Modbus exception); `value` is NaN.
    CommError,
}

/// One decoded register value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Device name from `[[devices]] name`.
    pub device: Arc<str>,
    /// Signal name from `[[devices.registers]] name` (unique across the config).
    pub name: Arc<str>,
    /// Engineering value: `raw * scale + offset` (booleans as 0.0 / 1.0; NaN on comm error).
    pub value: f64,
    /// Engineering unit from the config, e.g. `"°C"`.
    pub unit: Arc<str>,
    /// The raw 16-bit words (or bits as 0/1) as read, for commissioning output.
    pub raw: Vec<u16>,
    /// When the value was read (or simulated).
    pub ts: TimestampMs,
    /// Trust flag.
    pub quality: Quality,
}

/// All readings of one poll cycle of one device: the unit the acquire stage emits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Device name.
    pub device: Arc<str>,
    /// Start of the poll cycle.
    pub ts: TimestampMs,
    /// One reading per configured register of the device, in config order.
    pub readings: Vec<Reading>,
    /// Poll cycles skipped before this one because the previous cycle overran (0 normally).
    pub missed_cycles: u32,
}

/// Which batch and product a vector, prediction or alert belongs to (from the PLC registers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BatchContext {
    /// Batch id as read from the PLC (stringified integer), if known.
    pub batch_id: Option<String>,
    /// Product / recipe code, if known.
    pub product: Option<String>,
    /// Bean lot, from `[features] lot_signals` (the PLC's lot number, or the intake figures
    /// that identify the lot); absent when none is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
}

/// Whether a feature vector describes a rolling window of samples or a whole closed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureLevel {
    /// Rolling window over recent samples (feeds `bloom` and `anomaly` every poll).
    Sample,
    /// Aggregates of a closed batch (feeds `quality` and `yield` on batch change).
    Batch,
}

/// Why a value or a vector is not fit for a model. Carried as evidence in data-quality events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// NaN or infinite value.
    NotFinite,
    /// Outside the register's `valid_range`.
    OutOfRange,
    /// No change beyond noise for N samples.
    Stuck,
    /// Jump larger than k·MAD from the recent median.
    Spike,
    /// No fresh reading within two poll intervals.
    Stale,
    /// The read failed.
    CommError,
    /// A feature the model needs could not be computed (e.g. empty window).
    Missing,
}

/// A named, ordered set of feature values computed by the feature spec of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureVector {
    /// The model this vector was built for (`quality`, `yield`, `bloom`, `anomaly`…).
    pub model: Arc<str>,
    /// `feature_spec_version` of the spec that produced it.
    pub spec_version: u32,
    /// Sample-window or batch level.
    pub level: FeatureLevel,
    /// Feature names, in the model's input order.
    pub names: Arc<[String]>,
    /// Values, same order as `names`.
    pub values: Vec<f64>,
    /// Time of the newest sample that went into the vector.
    pub ts: TimestampMs,
    /// Batch and product at that time.
    pub batch: BatchContext,
    /// Problems found in the inputs, per signal name (empty when all inputs were good).
    pub flags: BTreeMap<String, Vec<ReasonCode>>,
}

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

/// One step of a model deployment received over MQTT (issue #20), published on
/// `{prefix}/cmd/deploy/result` (schema `chocoline.deploy_result/1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployEvent {
    /// When the step happened.
    pub ts: TimestampMs,
    /// Identifies the request: the first 16 hex digits of the sha256 of the payload received.
    pub request: String,
    /// The model the bundle is for, once its header could be read.
    pub model: Option<String>,
    /// The bundle version, once its header could be read.
    pub version: Option<u64>,
    /// The step.
    pub step: DeployStep,
    /// A machine-readable reason for `refused` and `rolled_back` (e.g. `bad_signature`).
    pub error_kind: Option<String>,
    /// One line for the control room.
    pub message: String,
}

/// The steps a deployment reports, in the order they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployStep {
    /// The bundle arrived; checking starts.
    Received,
    /// Refused (signature, version, golden rows…); the serving model is unchanged.
    Refused,
    /// The same version is already installed (a retained bundle seen again): nothing done.
    AlreadyInstalled,
    /// Installed on disk and switched to; the registry is loading it.
    Installed,
    /// The new version serves (its health window starts).
    Serving,
    /// The new version passed its health window.
    Healthy,
    /// The previous version serves again.
    RolledBack,
}

impl DeployStep {
    /// The name used in payloads and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            DeployStep::Received => "received",
            DeployStep::Refused => "refused",
            DeployStep::AlreadyInstalled => "already_installed",
            DeployStep::Installed => "installed",
            DeployStep::Serving => "serving",
            DeployStep::Healthy => "healthy",
            DeployStep::RolledBack => "rolled_back",
        }
    }
}

/// The reply to one lab label received over MQTT (issue #18), published on
/// `{prefix}/cmd/label/result` (schema `chocoline.label_result/1`, docs/capture.md). Either
/// `stored` (the label is in the journal) or `error` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelResult {
    /// When the command was handled.
    pub ts: TimestampMs,
    /// The request's `request_id`, when it had a valid one.
    pub request_id: Option<String>,
    /// The request's `batch_id`, when it had one (as sent, also when refused).
    pub batch_id: Option<String>,
    /// What was stored, when the label was stored.
    pub stored: Option<StoredLabel>,
    /// Why the label was refused, for machines (`payload`, `invalid`, `unknown_batch`, …).
    pub error_kind: Option<String>,
    /// Why the label was refused, one line naming the key (the CLI's messages).
    pub error: Option<String>,
}

/// The lab's result as it was stored in the label journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredLabel {
    /// `A`, `B` or `reject`.
    pub grade: String,
    /// The defect found.
    pub defect: Defect,
    /// Measured yield in percent; None when not measured.
    pub yield_pct: Option<f64>,
    /// When it was stored, ms since the epoch (the journal line's `at`).
    pub at: TimestampMs,
}

/// What the alert stage hands to the store: everything that is kept and published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    /// A model prediction.
    Prediction(Prediction),
    /// A drift window.
    Drift(DriftWindow),
    /// An alert event.
    Alert(Alert),
    /// A data-quality event.
    DataQuality(DataQualityEvent),
    /// A step of a model deployment (written by the agent's deploy controller, not by the
    /// alert stage).
    Deploy(DeployEvent),
    /// The reply to a lab label received over MQTT (written by the agent's label desk, not by
    /// the alert stage).
    Label(LabelResult),
}
