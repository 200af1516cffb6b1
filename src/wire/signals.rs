//! Raw process values on the wire: `[mqtt.topics.signals]`, the topic
//! `{prefix}/signals/{name}` and its JSON payload (`chocoline.signal/1`,
//! docs/schemas/chocoline.signal_v1.json).
//!
//! Signals are QoS 0 and never enter the outbox: a historian wants the latest values, the
//! control room must get every alert, and a disk budget shared between the two would make one
//! pay for the other. Which readings are sent (deadband, report by exception) is decided by
//! `crate::signals`; this module only says what a sent one looks like.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::{Quality, Reading};
use crate::settings::units::Duration;

/// Schema name of a signal payload.
pub const SCHEMA: &str = "chocoline.signal/1";

/// `[mqtt.topics.signals]`: raw register values published as they are read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalsConfig {
    /// Publish `{prefix}/signals/{name}`. Default false.
    #[serde(default)]
    pub enabled: bool,
    /// Retained, so that a new subscriber sees each signal's last value at once. Default false.
    #[serde(default)]
    pub retain: bool,
    /// Report by exception: a reading is sent only when its quality changed or its value moved
    /// by more than the deadband since the last one sent. false: every reading is sent.
    /// Default true.
    #[serde(default = "yes")]
    pub report_by_exception: bool,
    /// Absolute deadband in engineering units, for every signal without its own. Default 0
    /// (any change is sent).
    #[serde(default)]
    pub deadband: f64,
    /// Deadband per register name, e.g. `{ temperature = 0.1, ph = 0.01 }`. Default none.
    #[serde(default)]
    pub deadbands: BTreeMap<String, f64>,
    /// With report by exception, a signal unchanged this long is sent again anyway, so a
    /// subscriber can tell "steady" from "gone". "0s": never. Default "60s".
    #[serde(default = "default_max_silence")]
    pub max_silence: Duration,
    /// Register names to publish; empty: every register. Default empty.
    #[serde(default)]
    pub include: Vec<String>,
    /// Signals held in memory while the broker is unreachable; when it is full the oldest
    /// is dropped (and counted). Default 1000.
    #[serde(default = "default_queue")]
    pub queue: usize,
}

fn yes() -> bool {
    true
}

fn default_max_silence() -> Duration {
    Duration::from_secs(60)
}

fn default_queue() -> usize {
    1000
}

impl Default for SignalsConfig {
    fn default() -> Self {
        SignalsConfig {
            enabled: false,
            retain: false,
            report_by_exception: true,
            deadband: 0.0,
            deadbands: BTreeMap::new(),
            max_silence: default_max_silence(),
            include: Vec::new(),
            queue: default_queue(),
        }
    }
}

impl SignalsConfig {
    /// The deadband of register `name`.
    pub fn deadband_of(&self, name: &str) -> f64 {
        self.deadbands.get(name).copied().unwrap_or(self.deadband)
    }

    /// Whether register `name` is published at all.
    pub fn includes(&self, name: &str) -> bool {
        self.enabled && (self.include.is_empty() || self.include.iter().any(|n| n == name))
    }
}

/// A signal ready to publish: topic and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalMessage {
    /// `{prefix}/signals/{name}`.
    pub topic: String,
    /// `chocoline.signal/1` JSON.
    pub payload: Vec<u8>,
}

/// `{prefix}/signals/{name}` for the register `name`.
pub fn topic(prefix: &str, name: &str) -> String {
    format!("{prefix}/signals/{}", super::payload::topic_level(name))
}

/// The message for one reading: `{schema, device, name, ts, value, unit, quality}`; a value
/// that is not finite (a failed read) is `null`.
pub fn message(prefix: &str, r: &Reading) -> SignalMessage {
    let value = if r.value.is_finite() {
        json!(r.value)
    } else {
        serde_json::Value::Null
    };
    let body = json!({
        "schema": SCHEMA,
        "device": &*r.device,
        "name": &*r.name,
        "ts": r.ts.0,
        "value": value,
        "unit": &*r.unit,
        "quality": quality(r.quality),
    });
    SignalMessage {
        topic: topic(prefix, &r.name),
        payload: body.to_string().into_bytes(),
    }
}

/// The quality word of the payload (the same words as `Reading` serialises to).
pub fn quality(q: Quality) -> &'static str {
    match q {
        Quality::Good => "good",
        Quality::Stale => "stale",
        Quality::OutOfRange => "out_of_range",
        Quality::CommError => "comm_error",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::TimestampMs;

    fn reading(value: f64, quality: Quality) -> Reading {
        Reading {
            device: Arc::from("conche"),
            name: Arc::from("temperature"),
            value,
            unit: Arc::from("°C"),
            raw: vec![4512],
            ts: TimestampMs(1_700_000_000_123),
            quality,
        }
    }

    #[test]
    fn a_reading_becomes_topic_and_payload() {
        let m = message("plant/line3", &reading(45.12, Quality::Good));
        assert_eq!(m.topic, "plant/line3/signals/temperature");
        let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(
            v,
            json!({"schema": "chocoline.signal/1", "device": "conche", "name": "temperature",
                   "ts": 1_700_000_000_123_i64, "value": 45.12, "unit": "°C", "quality": "good"})
        );
    }

    #[test]
    fn a_failed_read_is_null_with_its_quality() {
        let m = message("p", &reading(f64::NAN, Quality::CommError));
        let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(v["value"], serde_json::Value::Null);
        assert_eq!(v["quality"], "comm_error");
    }

    #[test]
    fn quality_words_match_the_readings_serde_names() {
        for q in [
            Quality::Good,
            Quality::Stale,
            Quality::OutOfRange,
            Quality::CommError,
        ] {
            assert_eq!(serde_json::to_value(q).unwrap(), json!(quality(q)));
        }
    }

    #[test]
    fn include_and_deadbands() {
        let mut c = SignalsConfig::default();
        assert!(!c.includes("ph"), "off by default");
        c.enabled = true;
        assert!(c.includes("ph"));
        c.include = vec!["temperature".into()];
        assert!(!c.includes("ph") && c.includes("temperature"));
        c.deadband = 0.5;
        c.deadbands.insert("ph".into(), 0.01);
        assert_eq!(
            (c.deadband_of("ph"), c.deadband_of("moisture")),
            (0.01, 0.5)
        );
    }
}
