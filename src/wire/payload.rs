//! From a [`Record`] to the MQTT message the control room receives: topic, QoS, retain and a
//! JSON payload with a `schema` field and the message `id` (docs/schemas/*.json).
//!
//! The topic is decided when the record is stored, not when it is published, so the outbox
//! holds exactly what goes on the wire and a config change cannot reroute queued messages.

use serde_json::{Map, Value, json};

use super::topics::{MessageClass, TopicClass, TopicsConfig};
use crate::domain::{
    Alert, AlertKind, BatchContext, DataQualityEvent, DeployEvent, DriftWindow, Prediction,
    PredictionOutput, Record, TimestampMs,
};

/// Schema names, one per payload kind; the files are `docs/schemas/<name with / → _v>.json`.
pub mod schema {
    /// Alert events.
    pub const ALERT: &str = "chocoline.alert/1";
    /// Predictions.
    pub const PREDICTION: &str = "chocoline.prediction/1";
    /// Drift windows.
    pub const DRIFT: &str = "chocoline.drift/1";
    /// Data-quality events.
    pub const DATA_QUALITY: &str = "chocoline.data_quality/1";
    /// Deployment results.
    pub const DEPLOY_RESULT: &str = "chocoline.deploy_result/1";
    /// Replies to lab labels received over MQTT.
    pub const LABEL_RESULT: &str = "chocoline.label_result/1";
    /// Lab labels sent to the agent over MQTT (the request; docs/capture.md).
    pub const LABEL: &str = "chocoline.label/1";
    /// Birth / last-will status.
    pub const STATUS: &str = "chocoline.status/1";
}

/// Everything needed to turn records into messages.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// `[agent] site`.
    pub site: String,
    /// `[agent] line`.
    pub line: String,
    /// `[mqtt] topic_prefix`.
    pub topic_prefix: String,
    /// `[mqtt.topics]`.
    pub topics: TopicsConfig,
    /// `[mqtt] max_message_bytes`: alerts are trimmed to it, other messages over it are
    /// dead-lettered.
    pub max_message_bytes: usize,
}

/// A message before it gets its id and sequence number.
#[derive(Debug, Clone)]
pub struct Draft {
    /// Topic class.
    pub class: MessageClass,
    /// Full topic.
    pub topic: String,
    /// QoS and retain.
    pub delivery: TopicClass,
    /// Payload fields except `id` (added once the sequence is known).
    pub body: Map<String, Value>,
}

impl Envelope {
    /// The status topic `{prefix}/status`.
    pub fn status_topic(&self) -> String {
        format!("{}/status", self.topic_prefix)
    }

    /// The retained health report's topic `{prefix}/health` (docs/fleet.md).
    pub fn health_topic(&self) -> String {
        format!("{}/health", self.topic_prefix)
    }

    /// The deployment command topic `{prefix}/cmd/deploy` (docs/fleet.md).
    pub fn deploy_topic(&self) -> String {
        format!("{}/cmd/deploy", self.topic_prefix)
    }

    /// The deployment result topic `{prefix}/cmd/deploy/result`.
    pub fn deploy_result_topic(&self) -> String {
        format!("{}/cmd/deploy/result", self.topic_prefix)
    }

    /// Build the message for a record.
    pub fn draft(&self, record: &Record) -> Draft {
        let p = &self.topic_prefix;
        let (class, topic, delivery, body) = match record {
            Record::Alert(a) => (
                MessageClass::Alert,
                format!("{p}/alerts/{}", a.kind.as_str()),
                self.topics.alerts,
                alert_body(a),
            ),
            Record::Prediction(pr) => (
                MessageClass::Prediction,
                prediction_topic(p, pr),
                self.topics.predictions,
                self.prediction_body(pr),
            ),
            Record::Drift(d) => (
                MessageClass::Drift,
                format!("{p}/drift"),
                self.topics.drift,
                self.drift_body(d),
            ),
            Record::DataQuality(q) => (
                MessageClass::DataQuality,
                format!("{p}/data_quality"),
                self.topics.data_quality,
                self.data_quality_body(q),
            ),
            Record::Deploy(d) => (
                MessageClass::Deploy,
                self.deploy_result_topic(),
                TopicClass::qos1(),
                self.deploy_body(d),
            ),
            Record::Label(l) => (
                MessageClass::Label,
                self.label_result_topic(),
                TopicClass::qos1(),
                self.label_result_body(l),
            ),
        };
        let body = match body {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        Draft {
            class,
            topic,
            delivery,
            body,
        }
    }

    /// `chocoline.prediction/1`: output, confidence and the input features by name; a shadow
    /// candidate's also `"shadow": true` (absent otherwise).
    fn prediction_body(&self, pr: &Prediction) -> Value {
        let features: Map<String, Value> = pr
            .features
            .names
            .iter()
            .zip(pr.features.values.iter())
            .map(|(n, v)| (n.clone(), finite(*v)))
            .collect();
        let mut body = json!({
            "schema": schema::PREDICTION,
            "site": self.site,
            "line": self.line,
            "model": &*pr.model,
            "model_version": &*pr.model_version,
            "ts": ts(pr.ts),
            "batch": batch(&pr.batch),
            "output": output(&pr.output),
            "confidence": finite(pr.confidence),
            "features": features,
            "decides": pr.decides,
        });
        if pr.shadow
            && let Some(m) = body.as_object_mut()
        {
            m.insert("shadow".into(), Value::Bool(true));
        }
        body
    }

    /// `chocoline.drift/1`: the window and every feature's statistics.
    fn drift_body(&self, d: &DriftWindow) -> Value {
        json!({
            "schema": schema::DRIFT,
            "site": self.site,
            "line": self.line,
            "model": &*d.model,
            "model_version": &*d.model_version,
            "start": ts(d.start),
            "end": ts(d.end),
            "samples": d.samples,
            "drifted_share": finite(d.drifted_share),
            "features": d.features.iter().map(|f| json!({
                "feature": f.feature,
                "psi": finite(f.psi),
                "js": finite(f.js),
                "w1_sigma": finite(f.w1_sigma),
                "thresholds": f.thresholds.iter().map(|t| finite(*t)).collect::<Vec<_>>(),
                "page_hinkley": f.page_hinkley,
                "drifted": f.drifted,
            })).collect::<Vec<_>>(),
        })
    }

    /// `chocoline.deploy_result/1`: one step of a deployment.
    fn deploy_body(&self, d: &DeployEvent) -> Value {
        json!({
            "schema": schema::DEPLOY_RESULT,
            "site": self.site,
            "line": self.line,
            "ts": ts(d.ts),
            "request": d.request,
            "model": d.model,
            "version": d.version,
            "step": d.step.as_str(),
            "error_kind": d.error_kind,
            "message": d.message,
        })
    }

    /// `chocoline.data_quality/1`: the refused vector's flags.
    fn data_quality_body(&self, q: &DataQualityEvent) -> Value {
        json!({
            "schema": schema::DATA_QUALITY,
            "site": self.site,
            "line": self.line,
            "model": &*q.model,
            "ts": ts(q.ts),
            "batch": batch(&q.batch),
            "flags": q.flags,
        })
    }

    /// The retained status payload (`online` birth or `offline` will / goodbye).
    pub fn status_payload(&self, online: bool, client_id: &str, now: TimestampMs) -> Vec<u8> {
        json!({
            "schema": schema::STATUS,
            "state": if online { "online" } else { "offline" },
            "site": self.site,
            "line": self.line,
            "client_id": client_id,
            "ts": ts(now),
            "versions": { "chocoline": env!("CARGO_PKG_VERSION"), "payload_schemas": 1 },
            "clock": crate::clock::process().status(),
        })
        .to_string()
        .into_bytes()
    }
}

/// `chocoline.alert/1`: the event as raised or cleared, with its evidence.
fn alert_body(a: &Alert) -> Value {
    json!({
        "schema": schema::ALERT,
        "alert_id": a.id,
        "kind": a.kind,
        "severity": a.severity,
        "state": a.state,
        "site": a.site,
        "line": a.line,
        "batch": batch(&a.batch),
        "raised_at": ts(a.raised_at),
        "ts": ts(a.ts),
        "message": a.message,
        "evidence": a.evidence,
    })
}

/// `{prefix}/predictions/{model}`, or `{prefix}/shadow/predictions/{model}` for a shadow
/// candidate's prediction (docs/shadow.md).
pub fn prediction_topic(prefix: &str, p: &Prediction) -> String {
    let model = topic_level(&p.model);
    if p.shadow {
        format!("{prefix}/shadow/predictions/{model}")
    } else {
        format!("{prefix}/predictions/{model}")
    }
}

/// The id of the kind of an alert's topic, exposed for tests and inspect.
pub fn alert_topic(prefix: &str, kind: AlertKind) -> String {
    format!("{prefix}/alerts/{}", kind.as_str())
}

/// Timestamps travel as integer milliseconds since the epoch (UTC).
pub(super) fn ts(t: TimestampMs) -> Value {
    Value::from(t.0)
}

/// JSON has no NaN / infinity: they become `null` (the schemas allow it where it can happen).
pub(super) fn finite(v: f64) -> Value {
    if v.is_finite() {
        Value::from(v)
    } else {
        Value::Null
    }
}

fn batch(b: &BatchContext) -> Value {
    json!({ "batch_id": b.batch_id, "product": b.product })
}

fn output(o: &PredictionOutput) -> Value {
    match o {
        PredictionOutput::Class {
            label,
            probabilities,
        } => json!({
            "type": "class",
            "label": label,
            "probabilities": probabilities.iter().map(|(l, p)| (l.clone(), finite(*p))).collect::<Map<_, _>>(),
        }),
        PredictionOutput::Value { value } => json!({ "type": "value", "value": finite(*value) }),
        PredictionOutput::Anomaly {
            score,
            decision,
            is_anomaly,
            contributions,
        } => {
            let mut v = json!({
                "type": "anomaly",
                "score": finite(*score),
                "decision": finite(*decision),
                "is_anomaly": is_anomaly,
            });
            if !contributions.is_empty()
                && let Some(m) = v.as_object_mut()
            {
                let z: Map<String, Value> = contributions
                    .iter()
                    .map(|(c, z)| (c.to_string(), finite(*z)))
                    .collect();
                m.insert("contributions".into(), Value::Object(z));
            }
            v
        }
    }
}

/// A model name becomes one topic level: MQTT wildcards and separators are replaced.
pub(super) fn topic_level(name: &str) -> String {
    name.chars()
        .map(|c| {
            if matches!(c, '/' | '+' | '#') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod shadow_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_cannot_inject_topic_levels_or_wildcards() {
        assert_eq!(topic_level("bloom/v2+#"), "bloom_v2__");
        assert_eq!(topic_level("quality"), "quality");
    }

    #[test]
    fn nan_becomes_null() {
        assert_eq!(finite(f64::NAN), Value::Null);
        assert_eq!(finite(1.5), Value::from(1.5));
    }
}
