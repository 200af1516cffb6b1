//! `[mqtt]`: the broker the control room subscribes to.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::settings::units::{ByteSize, Duration};
pub use crate::wire::topics::{DEFAULT_MAX_MESSAGE_BYTES, TopicClass, TopicsConfig};

/// MQTT connection and topic settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host:1883` or `mqtts://host:8883` (TLS). Default "mqtt://127.0.0.1:1883".
    #[serde(default = "default_url")]
    pub url: String,
    /// MQTT client id; unique per broker. Default "chocoline".
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Prefix of every topic: `{topic_prefix}/alerts/{kind}` etc. Default "chocoline".
    #[serde(default = "default_topic_prefix")]
    pub topic_prefix: String,
    /// Username, if the broker wants one. Default: none.
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the password (first line). Must not be world-readable. Default: none.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// PEM CA bundle for `mqtts://`; default: the system roots are not used, so set this.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate for mutual TLS. Default: none.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key for mutual TLS; must not be world-readable. Default: none.
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
    /// MQTT keep-alive. Default "30s".
    #[serde(default = "default_keep_alive")]
    pub keep_alive: Duration,
    /// Unacknowledged QoS 1 messages in flight at once. Default 32, range 1–65535.
    #[serde(default = "default_inflight")]
    pub inflight: u16,
    /// First reconnect delay; doubles on each failure (with jitter). Default "500ms".
    #[serde(default = "default_reconnect_min")]
    pub reconnect_min: Duration,
    /// Longest reconnect delay. Default "30s".
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max: Duration,
    /// On graceful shutdown, how long to wait for outstanding PubAcks before publishing the
    /// retained `offline` status and disconnecting. Unacknowledged messages stay in the outbox
    /// either way. Default "5s".
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout: Duration,
    /// QoS and retain flag per topic class. The `{prefix}/status` topic is always QoS 1 and
    /// retained (birth `online`, last will `offline`).
    /// Largest payload the broker takes, in bytes (mosquitto `message_size_limit`, AWS IoT
    /// 128 KiB). MQTT 3.1.1 has no way for a broker to advertise it, and mosquitto acknowledges
    /// and silently drops a larger message, so it is configured here: an alert is trimmed to fit
    /// (docs/store-publish.md), any other message over it goes to the dead-letter tree.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: ByteSize,
    /// After this many broken connections in a row with the same message the oldest
    /// unacknowledged one, it is dead-lettered (a poison message). From the second attempt on it
    /// is sent alone, so a broker restart cannot condemn a healthy message. At least 2.
    #[serde(default = "default_max_refusals")]
    pub max_refusals: u32,
    /// `[mqtt.topics]`: QoS and retain per topic class.
    #[serde(default)]
    pub topics: TopicsConfig,
}

/// Smallest accepted `max_message_bytes`: an alert trimmed to its required fields fits.
pub const MIN_MAX_MESSAGE_BYTES: usize = 512;

fn default_max_message_bytes() -> ByteSize {
    ByteSize(DEFAULT_MAX_MESSAGE_BYTES as u64)
}

fn default_max_refusals() -> u32 {
    2
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            url: default_url(),
            client_id: default_client_id(),
            topic_prefix: default_topic_prefix(),
            username: None,
            password_file: None,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            keep_alive: default_keep_alive(),
            inflight: default_inflight(),
            reconnect_min: default_reconnect_min(),
            reconnect_max: default_reconnect_max(),
            drain_timeout: default_drain_timeout(),
            max_message_bytes: default_max_message_bytes(),
            max_refusals: default_max_refusals(),
            topics: TopicsConfig::default(),
        }
    }
}

fn default_url() -> String {
    "mqtt://127.0.0.1:1883".into()
}
fn default_client_id() -> String {
    "chocoline".into()
}
fn default_topic_prefix() -> String {
    "chocoline".into()
}
fn default_keep_alive() -> Duration {
    Duration::from_secs(30)
}
fn default_inflight() -> u16 {
    32
}
fn default_reconnect_min() -> Duration {
    Duration::from_millis(500)
}
fn default_reconnect_max() -> Duration {
    Duration::from_secs(30)
}
fn default_drain_timeout() -> Duration {
    Duration::from_secs(5)
}
