//! Replies to the commands the agent takes over MQTT: model deployments (issue #20) and lab
//! labels (issue #18).

use serde::{Deserialize, Serialize};

use super::{Defect, TimestampMs};

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
