//! `[mqtt]`: the broker the control room subscribes to.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::units::Duration;

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
    #[serde(default)]
    pub topics: TopicsConfig,
}

/// QoS / retain per topic class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicsConfig {
    /// `{prefix}/alerts/{kind}`. Default qos 1, not retained.
    #[serde(default = "TopicClass::qos1")]
    pub alerts: TopicClass,
    /// `{prefix}/predictions/{model}`. Default qos 1, not retained.
    #[serde(default = "TopicClass::qos1")]
    pub predictions: TopicClass,
    /// `{prefix}/drift`. Default qos 1, not retained.
    #[serde(default = "TopicClass::qos1")]
    pub drift: TopicClass,
    /// `{prefix}/data_quality`. Default qos 1, not retained.
    #[serde(default = "TopicClass::qos1")]
    pub data_quality: TopicClass,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            alerts: TopicClass::qos1(),
            predictions: TopicClass::qos1(),
            drift: TopicClass::qos1(),
            data_quality: TopicClass::qos1(),
        }
    }
}

/// Delivery settings of one topic class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicClass {
    /// 0 (at most once) or 1 (at least once, outbox-backed). Default 1.
    pub qos: u8,
    /// Broker keeps the last message for new subscribers. Default false.
    #[serde(default)]
    pub retain: bool,
}

impl TopicClass {
    fn qos1() -> Self {
        TopicClass {
            qos: 1,
            retain: false,
        }
    }
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
