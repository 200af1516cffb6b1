//! `[fleet]`: which signed model bundles this agent accepts, and how a deployed version must
//! behave in its first minutes to stay.

use serde::{Deserialize, Serialize};

use crate::settings::units::Duration;

/// Trust and health settings for model bundles (docs/fleet.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// Ed25519 public keys (64 hex characters, optionally prefixed `ed25519:`) whose bundles
    /// are accepted. Default: none — every bundle is refused.
    #[serde(default)]
    pub trusted_keys: Vec<String>,
    /// Accept a bundle whose version is lower than the installed one. Default false.
    #[serde(default)]
    pub allow_downgrade: bool,
    /// A deploy topic shared by a group of lines, listened to beside `{prefix}/cmd/deploy`
    /// (e.g. "chocoline/fleet/dark-lines/cmd/deploy"): one publish reaches every line of the
    /// group; each still reports on its own `{prefix}/cmd/deploy/result`. Default: none.
    #[serde(default)]
    pub group_deploy_topic: Option<String>,
    /// How long a version deployed over MQTT is watched after it starts serving; a regression
    /// in that time rolls it back by itself. "0s" turns the watch off. Default "10m".
    #[serde(default = "default_health_window")]
    pub health_window: Duration,
    /// Regression: more than this share of the vectors sent to the new version could not be
    /// scored (inference errors, features it does not accept). Default 0.05.
    #[serde(default = "default_max_error_share")]
    pub health_max_error_share: f64,
    /// Regression: the new version's mean confidence is this much below its predecessor's
    /// (over the predecessor's whole run). Default 0.2.
    #[serde(default = "default_max_confidence_drop")]
    pub health_max_confidence_drop: f64,
    /// Judge only once the new version has seen this many vectors. Default 3.
    #[serde(default = "default_min_predictions")]
    pub health_min_predictions: u64,
    /// How often the retained `{prefix}/health` report is refreshed (outbox, devices, models,
    /// drift, uptime, clock). "0s" turns it off. Default "60s".
    #[serde(default = "default_health_report")]
    pub health_report: Duration,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            trusted_keys: Vec::new(),
            allow_downgrade: false,
            group_deploy_topic: None,
            health_window: default_health_window(),
            health_max_error_share: default_max_error_share(),
            health_max_confidence_drop: default_max_confidence_drop(),
            health_min_predictions: default_min_predictions(),
            health_report: default_health_report(),
        }
    }
}

fn default_health_window() -> Duration {
    Duration::from_secs(600)
}
fn default_max_error_share() -> f64 {
    0.05
}
fn default_max_confidence_drop() -> f64 {
    0.2
}
fn default_health_report() -> Duration {
    Duration::from_secs(60)
}
fn default_min_predictions() -> u64 {
    3
}
