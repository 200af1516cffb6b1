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
//!
//! One file per stage's output, all re-exported here (`crate::domain::Sample`, …): `reading`
//! (acquire), `features` (features, validate), `prediction` (infer, monitor), `alert`
//! (alert), `command` (the replies to deployments and labels); [`Record`], what the store
//! keeps and publishes, is below.

mod alert;
mod command;
mod features;
mod prediction;
mod reading;

pub use alert::*;
pub use command::*;
pub use features::*;
pub use prediction::*;
pub use reading::*;

use std::fmt;

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
