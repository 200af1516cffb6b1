//! The label desk: a lab label received over MQTT on `{prefix}/cmd/label` (docs/capture.md,
//! "Labels over MQTT"), checked like `chocoline label` checks one — the same keys, values and
//! messages, and a batch the capture must know — then appended to the journal under its lock
//! and fsynced, and answered with a [`LabelResult`]: stored, or refused with nothing stored.
//!
//! The request is a JSON object (`chocoline.label/1`, docs/schemas/chocoline.label_v1.json):
//! `batch_id` and `grade` required; `defect`, `yield_pct`, `request_id` and `schema`
//! optional; any other key refused.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::journal::{self, LabelsError};
use super::known::KnownBatches;
use super::label::{Label, LabelError, LabelSource, MAX_BATCH_ID};
use crate::domain::{LabelResult, StoredLabel, TimestampMs};
use crate::wire::{Inbound, schema};

/// Largest payload taken, in bytes: a label is a few hundred.
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// Longest `request_id`, in characters.
pub const MAX_REQUEST_ID: usize = 128;
/// Longest error text in a reply, in bytes (a refused value is quoted in it).
const MAX_ERROR: usize = 1024;

/// Why a label received over MQTT was not stored. Each message starts with the key it is about.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The payload is over [`MAX_PAYLOAD`].
    #[error("payload: {0} bytes, more than the {MAX_PAYLOAD} a label may have")]
    TooLarge(usize),
    /// A retained message: it would be stored again on every connection.
    #[error(
        "retained: labels are not taken from retained messages (one would be stored again on every connection); clear it with an empty retained message and publish the label unretained"
    )]
    Retained,
    /// Not JSON, not an object, a key missing, unknown or of the wrong type.
    #[error("payload: {0}")]
    Payload(String),
    /// `schema` is not `chocoline.label/1`.
    #[error("schema: {0:?} is not {label}", label = schema::LABEL)]
    Schema(String),
    /// `request_id` is longer than [`MAX_REQUEST_ID`].
    #[error("request_id: {0} characters, more than {MAX_REQUEST_ID}")]
    RequestId(usize),
    /// A value is not valid (the CLI's messages).
    #[error(transparent)]
    Invalid(#[from] LabelError),
    /// The capture does not know the batch, or the capture or the journal could not be read
    /// or written.
    #[error(transparent)]
    Labels(#[from] LabelsError),
    /// The desk's queue was full: the label was dropped before it was looked at.
    #[error("busy: labels were already waiting; this one was dropped: publish it again")]
    Busy,
}

impl Refusal {
    /// The reply's `error_kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::TooLarge(_) => "too_large",
            Refusal::Retained => "retained",
            Refusal::Payload(_) | Refusal::Schema(_) | Refusal::RequestId(_) => "payload",
            Refusal::Invalid(_) | Refusal::Labels(LabelsError::Invalid { .. }) => "invalid",
            Refusal::Labels(LabelsError::UnknownBatches { .. }) => "unknown_batch",
            Refusal::Labels(LabelsError::Capture(_)) => "capture",
            Refusal::Labels(LabelsError::Io { .. }) => "io",
            Refusal::Busy => "busy",
        }
    }

    /// Whether the agent failed (capture or journal unreadable or unwritable), rather than the
    /// request being wrong.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Refusal::Labels(LabelsError::Capture(_) | LabelsError::Io { .. })
        )
    }
}

/// The request as sent (`chocoline.label/1`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a label object")]
struct Wire {
    batch_id: String,
    grade: String,
    #[serde(default)]
    defect: Option<String>,
    #[serde(default)]
    yield_pct: Option<f64>,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    schema: Option<String>,
}

/// A request that passed every check of its own (the batch is checked against the capture
/// when it is stored).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// To echo in the reply.
    pub request_id: Option<String>,
    /// The label to store (source `mqtt`, stored at `at`).
    pub label: Label,
}

/// Parse and check one command's payload; the label gets `at` and the source `mqtt`.
pub fn parse(cmd: &Inbound, at: TimestampMs) -> Result<Request, Refusal> {
    if cmd.over_cap() || cmd.size > MAX_PAYLOAD {
        return Err(Refusal::TooLarge(cmd.size));
    }
    if cmd.retained {
        return Err(Refusal::Retained);
    }
    must_be_an_object(&cmd.payload)?;
    let w: Wire =
        serde_json::from_slice(&cmd.payload).map_err(|e| Refusal::Payload(e.to_string()))?;
    if let Some(s) = w.schema.filter(|s| s != schema::LABEL) {
        return Err(Refusal::Schema(s));
    }
    if let Some(n) = (w.request_id.as_ref()).map(|r| r.chars().count())
        && n > MAX_REQUEST_ID
    {
        return Err(Refusal::RequestId(n));
    }
    let mut label = Label::parse(
        &w.batch_id,
        &w.grade,
        w.defect.as_deref(),
        None,
        LabelSource::Mqtt,
        at.0,
    )?;
    label.yield_pct = w.yield_pct;
    label.validate()?;
    Ok(Request {
        request_id: w.request_id,
        label,
    })
}

/// Refuse a payload that is not a JSON object before it is read as one (serde would also
/// take a JSON array of the values in order).
fn must_be_an_object(payload: &[u8]) -> Result<(), Refusal> {
    if payload.trim_ascii_start().starts_with(b"{") {
        return Ok(());
    }
    Err(Refusal::Payload(
        match serde_json::from_slice::<serde_json::Value>(payload) {
            Ok(v) => format!("a JSON {}, not an object", json_type(&v)),
            Err(e) => format!("not JSON: {e}"),
        },
    ))
}

/// The JSON type of `v`, in words.
fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// `request_id` and `batch_id` of a payload, as far as they can be read, for the reply to a
/// refused one: a `request_id` only when it is valid, a `batch_id` only when it is a string
/// short enough to be one.
pub fn echo(cmd: &Inbound) -> (Option<String>, Option<String>) {
    if cmd.over_cap() {
        return (None, None);
    }
    let Ok(serde_json::Value::Object(m)) = serde_json::from_slice(&cmd.payload) else {
        return (None, None);
    };
    let text = |key: &str, max: usize| {
        m.get(key)
            .and_then(serde_json::Value::as_str)
            .filter(|s| s.chars().count() <= max)
            .map(str::to_string)
    };
    (
        text("request_id", MAX_REQUEST_ID),
        text("batch_id", MAX_BATCH_ID),
    )
}

/// The reply to a command that was refused.
pub fn refused(cmd: &Inbound, why: &Refusal, at: TimestampMs) -> LabelResult {
    let (request_id, batch_id) = echo(cmd);
    LabelResult {
        ts: at,
        request_id,
        batch_id,
        stored: None,
        error_kind: Some(why.kind().to_string()),
        error: Some(shorten(why.to_string())),
    }
}

/// The reply to a command the desk had no room for (`busy`).
pub fn busy(cmd: &Inbound, at: TimestampMs) -> LabelResult {
    refused(cmd, &Refusal::Busy, at)
}

/// `text` cut to [`MAX_ERROR`] bytes (on a character boundary, marked with `…`).
fn shorten(mut text: String) -> String {
    if text.len() > MAX_ERROR {
        let mut end = MAX_ERROR;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// The desk of one data directory: what the capture knows, and the journal.
#[derive(Debug)]
pub struct Desk {
    data_dir: PathBuf,
    known: KnownBatches,
}

impl Desk {
    /// The desk of `data_dir` (`[store] data_dir`: `capture/` and `labels/` in it).
    pub fn new(data_dir: &Path) -> Desk {
        Desk {
            data_dir: data_dir.to_path_buf(),
            known: KnownBatches::new(data_dir),
        }
    }

    /// Handle one command: parse it, check its batch against the capture, append it to the
    /// journal (fsynced before this returns) and build the reply; None for an empty payload
    /// (a retained command being cleared), which is not answered. Blocking: file I/O.
    pub fn handle(&mut self, cmd: &Inbound, at: TimestampMs) -> Option<LabelResult> {
        if cmd.size == 0 {
            return None;
        }
        let outcome = parse(cmd, at).and_then(|req| {
            let stored = self.store(&req.label)?;
            Ok((req, stored))
        });
        Some(match outcome {
            Ok((req, stored)) => LabelResult {
                ts: at,
                request_id: req.request_id,
                batch_id: Some(req.label.batch_id),
                stored: Some(stored),
                error_kind: None,
                error: None,
            },
            Err(why) => refused(cmd, &why, at),
        })
    }

    /// Check the label's batch and append the label.
    fn store(&mut self, label: &Label) -> Result<StoredLabel, Refusal> {
        self.known.check(&label.batch_id)?;
        journal::append(&self.data_dir, std::slice::from_ref(label))?;
        Ok(StoredLabel {
            grade: label.grade.as_str().to_string(),
            defect: label.defect,
            yield_pct: label.yield_pct,
            at: TimestampMs(label.at),
        })
    }
}

#[cfg(test)]
mod tests;
