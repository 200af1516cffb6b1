//! Lab labels on the wire (docs/capture.md, "Labels over MQTT"): the command topic
//! `{prefix}/cmd/label` the agent subscribes to, and the reply on `{prefix}/cmd/label/result`
//! with its JSON payload (`chocoline.label_result/1`, docs/schemas/chocoline.label_result_v1.json).

use serde_json::{Value, json};

use super::payload::{Envelope, finite, schema, ts};
use crate::domain::LabelResult;

impl Envelope {
    /// The lab label command topic `{prefix}/cmd/label`.
    pub fn label_topic(&self) -> String {
        format!("{}/cmd/label", self.topic_prefix)
    }

    /// The lab label result topic `{prefix}/cmd/label/result`.
    pub fn label_result_topic(&self) -> String {
        format!("{}/cmd/label/result", self.topic_prefix)
    }

    /// `chocoline.label_result/1`: a lab label received over MQTT, stored or refused.
    pub(super) fn label_result_body(&self, l: &LabelResult) -> Value {
        json!({
            "schema": schema::LABEL_RESULT,
            "site": self.site,
            "line": self.line,
            "ts": ts(l.ts),
            "request_id": l.request_id,
            "batch_id": l.batch_id,
            "ok": l.stored.is_some(),
            "label": l.stored.as_ref().map(|s| json!({
                "grade": s.grade,
                "defect": s.defect.as_str(),
                "yield_pct": s.yield_pct.map(finite),
                "at": ts(s.at),
            })),
            "error_kind": l.error_kind,
            "error": l.error,
        })
    }
}
