//! Configuration: the root `Config` composes each stage's section.
//!
//! Loading is layered — built-in defaults, then the TOML file, then environment variables
//! `CHOCOLINE__SECTION__KEY` — and then validated as a whole. Every struct denies unknown
//! keys: a typo must be an error, never a silently ignored setting.
//!
//! Each stage owns the struct of its section (`acquire::config`, `store::config`, …); this
//! module owns the root, the small sections that belong to no stage (`[agent]`, `[log]`,
//! `[metrics]`), loading, and validation.
//!
//! The path from text to something the pipeline can start from (ripgrep's "parse, then
//! resolve"): [`load`] reads the file, checks it strictly on its own ([`structure`]), merges the
//! environment over it (the same strict deserializer), resolves relative paths against the file's
//! directory and runs every semantic check ([`validate`]); only then does it hand out a
//! [`Plan`]. Errors ([`ConfigErrors`]) name file, line (or environment variable), dotted key
//! and what would be valid. `check-config` and `run` go through exactly this path.

pub mod error;
mod layers;
pub mod load;
mod locate;
pub mod plan;
#[cfg(test)]
mod sample_tests;
pub mod structure;
#[cfg(test)]
pub(crate) mod testing;
mod text;
mod validate;

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

pub use crate::acquire::config::{
    ByteOrder, DataType, DeviceConfig, Parity, RegisterConfig, RegisterKind,
};
pub use crate::alert::config::{AlertsConfig, Chocolate, ProductConfig, RuleConfig};
pub use crate::features::config::FeaturesConfig;
pub use crate::fleet::config::FleetConfig;
pub use crate::infer::config::{ModelsConfig, OptimizeAt};
pub use crate::logging::{LogConfig, LogFormat};
pub use crate::monitor::config::DriftConfig;
pub use crate::publish::config::{MqttConfig, TopicClass, TopicsConfig};
pub use crate::settings::controller::{self, Controller};
pub use crate::settings::keypath::{self, KeyPath};
pub use crate::settings::units::{self, ByteSize, Duration};
pub use crate::store::config::StoreConfig;
pub use error::{ConfigError, ConfigErrors, Location};
pub use load::{Env, load, load_str, load_with_env};
pub use plan::Plan;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where this agent runs.
    #[serde(default)]
    pub agent: AgentConfig,
    /// Modbus devices to poll.
    #[serde(default)]
    pub devices: Vec<DeviceConfig>,
    /// Product specifications (tempering bands, moisture, pH, particle size).
    #[serde(default)]
    pub products: Vec<ProductConfig>,
    /// Feature stage.
    #[serde(default)]
    pub features: FeaturesConfig,
    /// Model registry.
    #[serde(default)]
    pub models: ModelsConfig,
    /// Which signed model bundles are accepted.
    #[serde(default)]
    pub fleet: FleetConfig,
    /// Drift monitor.
    #[serde(default)]
    pub drift: DriftConfig,
    /// Alert rules.
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// On-disk store.
    #[serde(default)]
    pub store: StoreConfig,
    /// MQTT broker.
    #[serde(default)]
    pub mqtt: MqttConfig,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// Prometheus metrics and health endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Sparkplug B edge node.
    #[serde(default)]
    pub sparkplug: crate::sparkplug::config::SparkplugConfig,
    /// The line's own data kept for retraining.
    #[serde(default)]
    pub capture: crate::capture::config::CaptureConfig,
}

/// `[agent]`: identity of the line this agent watches; it appears in every alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Site (factory) name. Default "site".
    #[serde(default = "default_site")]
    pub site: String,
    /// Line name. Default "line".
    #[serde(default = "default_line")]
    pub line: String,
    /// Product code assumed until the PLC reports one; must be one of `[[products]] code`
    /// when products are configured. Default: none.
    #[serde(default)]
    pub product: Option<String>,
    /// At start, wait up to this long for the wall clock to be NTP-synchronised, then start
    /// anyway (records then carry `clock_synced: false` until it is). Default `"0s"`: do not
    /// wait. Read at start only.
    #[serde(default)]
    pub wait_for_time_sync: Duration,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            site: default_site(),
            line: default_line(),
            product: None,
            wait_for_time_sync: Duration::default(),
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` and `/healthz`. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Listen address. Default "127.0.0.1:9898".
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            listen: default_listen(),
        }
    }
}

fn default_site() -> String {
    "site".into()
}
fn default_line() -> String {
    "line".into()
}
fn default_true() -> bool {
    true
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9898))
}
