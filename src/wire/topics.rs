//! Topic classes: which kind of message goes where, with which QoS and retain flag, and the
//! size limit a message must fit. `[mqtt.topics]` deserialises into [`TopicsConfig`].

use serde::{Deserialize, Serialize};

/// Default `[mqtt] max_message_bytes`: 128 KiB, the smallest limit among common brokers
/// (AWS IoT Core).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 128 * 1024;

/// Which topic class a message belongs to; decides what the store drops first when full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageClass {
    /// `{prefix}/alerts/{kind}` — dropped last, and only with a critical `store_full` alert.
    Alert,
    /// `{prefix}/predictions/{model}`.
    Prediction,
    /// `{prefix}/drift`.
    Drift,
    /// `{prefix}/data_quality`.
    DataQuality,
    /// `{prefix}/cmd/deploy/result` — kept like alerts: a deployment's outcome must arrive.
    Deploy,
    /// `{prefix}/cmd/label/result` — kept like alerts: the lab must learn what was stored.
    Label,
}

impl MessageClass {
    /// The class byte stored with each outbox entry.
    pub fn to_byte(self) -> u8 {
        match self {
            MessageClass::Alert => 1,
            MessageClass::Prediction => 2,
            MessageClass::Drift => 3,
            MessageClass::DataQuality => 4,
            MessageClass::Deploy => 5,
            MessageClass::Label => 6,
        }
    }

    /// The class of a stored class byte.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(MessageClass::Alert),
            2 => Some(MessageClass::Prediction),
            3 => Some(MessageClass::Drift),
            4 => Some(MessageClass::DataQuality),
            5 => Some(MessageClass::Deploy),
            6 => Some(MessageClass::Label),
            _ => None,
        }
    }

    /// Class of an encoded entry without decoding the rest (used when choosing what to drop).
    pub fn of_encoded(bytes: &[u8]) -> Option<Self> {
        bytes.get(1).copied().and_then(Self::from_byte)
    }

    /// The name used in snapshots and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageClass::Alert => "alert",
            MessageClass::Prediction => "prediction",
            MessageClass::Drift => "drift",
            MessageClass::DataQuality => "data_quality",
            MessageClass::Deploy => "deploy",
            MessageClass::Label => "label",
        }
    }
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
    /// `{prefix}/signals/{name}`: raw register values, QoS 0, never in the outbox. Off by
    /// default.
    #[serde(default)]
    pub signals: super::signals::SignalsConfig,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            alerts: TopicClass::qos1(),
            predictions: TopicClass::qos1(),
            drift: TopicClass::qos1(),
            data_quality: TopicClass::qos1(),
            signals: super::signals::SignalsConfig::default(),
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
    /// QoS 1, not retained: the default of every class.
    pub fn qos1() -> Self {
        TopicClass {
            qos: 1,
            retain: false,
        }
    }
}
