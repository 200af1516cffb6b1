//! Dead letters: messages the broker will not take, kept aside instead of blocking the outbox
//! or vanishing.
//!
//! Two ways in:
//! - **too large**: a non-alert message whose payload exceeds `[mqtt] max_message_bytes`
//!   (mosquitto acknowledges such a message and drops it, so it would count as delivered).
//!   Checked when the record is stored, and again by the publisher (the limit may have been
//!   lowered since). Alerts are trimmed instead (`fit.rs`), never dead-lettered for size;
//! - **refused**: the publisher saw the connection break `[mqtt] max_refusals` times in a row
//!   with this message the oldest unacknowledged one (a broker with `max_packet_size` that
//!   disconnects on it). Without this one message would block the outbox for good.
//!
//! Each dead letter is counted (`dead_letters`, persisted; `chocoline_outbox_dead_letters_total`),
//! logged, kept in the `dead_letters` tree (the newest [`DEAD_LETTER_MAX`], payload cut to
//! [`HEAD_BYTES`]) for `inspect`, and raises a `publish_rejected` warning; the warning clears
//! after [`QUIET_MS`] without a new dead letter.

use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::db::{Store, cost};
use super::error::StoreError;
use super::keys;
use super::message::OutboxMessage;
use crate::domain::{Alert, AlertKind, AlertState, Severity, TimestampMs};

/// Dead letters kept for `inspect` (older ones are only counted).
pub const DEAD_LETTER_MAX: usize = 256;
/// Payload bytes kept per dead letter.
pub const HEAD_BYTES: usize = 2048;
/// A `publish_rejected` warning clears after this long without a new dead letter (10 min).
pub const QUIET_MS: i64 = 10 * 60 * 1000;

/// Why a message was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Payload over `max_message_bytes`.
    TooLarge {
        /// Payload bytes.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The connection broke this many times in a row with it the oldest unacknowledged.
    Refused {
        /// Broken connections.
        times: u32,
    },
}

impl Rejection {
    fn describe(&self) -> (&'static str, String) {
        match self {
            Rejection::TooLarge { bytes, max } => (
                "too_large",
                format!("payload {bytes} bytes over [mqtt] max_message_bytes = {max}"),
            ),
            Rejection::Refused { times } => (
                "refused",
                format!("the broker closed the connection {times} times in a row on it"),
            ),
        }
    }
}

/// One dead letter as `inspect` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Outbox sequence.
    pub seq: u64,
    /// Message id.
    pub id: String,
    /// Topic.
    pub topic: String,
    /// Topic class.
    pub class: String,
    /// Payload bytes.
    pub bytes: usize,
    /// `too_large` or `refused`.
    pub reason: String,
    /// The reason in words.
    pub detail: String,
    /// When it was dead-lettered (ms since the epoch).
    pub at_ms: i64,
    /// The payload's first [`HEAD_BYTES`] bytes (lossy UTF-8).
    pub payload_head: String,
}

impl DeadLetter {
    /// Describe `m` (sequence `seq`) dead-lettered for `why` at `now`.
    pub fn new(seq: u64, m: &OutboxMessage, why: Rejection, now: TimestampMs) -> Self {
        let (reason, detail) = why.describe();
        let head = m.payload.get(..HEAD_BYTES).unwrap_or(&m.payload);
        DeadLetter {
            seq,
            id: m.id.clone(),
            topic: m.topic.clone(),
            class: m.class.as_str().into(),
            bytes: m.payload.len(),
            reason: reason.into(),
            detail,
            at_ms: now.0,
            payload_head: String::from_utf8_lossy(head).into_owned(),
        }
    }

    /// Evidence for the `publish_rejected` alert.
    pub fn evidence(&self) -> Value {
        json!({"id": self.id, "topic": self.topic, "class": self.class, "bytes": self.bytes,
               "reason": self.reason, "detail": self.detail})
    }
}

/// The `publish_rejected` episode (part of the append state).
#[derive(Debug, Default)]
pub(super) struct Rejected {
    /// The open warning: alert id and when it was raised.
    open: Option<(String, TimestampMs)>,
    /// Last dead letter.
    last: Option<TimestampMs>,
    /// A dead letter not yet announced.
    pending: Option<Value>,
}

impl Rejected {
    /// A dead letter to announce at the next transition check.
    pub(super) fn note(&mut self, evidence: Value) {
        self.pending = Some(evidence);
    }
}

impl Store {
    /// Record a dead letter (tree, counter, log) and leave it for the next transition check.
    pub(super) fn record_dead_letter(&self, d: &DeadLetter) -> Result<(), StoreError> {
        // Kept for inspect only while the database can be written; always counted and logged.
        if let Ok(t) = self.trees()
            && !self.is_volatile()
        {
            let tree = &t.dead_letters;
            tree.insert(keys::seq_key(d.seq), serde_json::to_vec(d)?)?;
            while tree.len() > DEAD_LETTER_MAX {
                if tree.pop_min()?.is_none() {
                    break;
                }
            }
        }
        self.inner
            .counters
            .dead_letters
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(id = %d.id, topic = %d.topic, bytes = d.bytes, reason = %d.detail,
            "publish_rejected: message moved to the dead-letter tree");
        Ok(())
    }

    /// Move outbox message `seq` to the dead letters (the publisher's path) and announce it.
    /// Returns false when it was no longer in the outbox.
    pub fn dead_letter(&self, seq: u64, why: Rejection) -> Result<bool, StoreError> {
        let key = keys::seq_key(seq);
        let held = self.lock_volatile()?.messages.remove(&seq);
        let m = match held {
            Some(m) => m,
            None => {
                let Some(v) = self.trees()?.outbox.remove(key)? else {
                    return Ok(false);
                };
                self.inner.used.fetch_sub(cost(&key, &v), Ordering::Relaxed);
                self.inner.depth.fetch_sub(1, Ordering::Relaxed);
                OutboxMessage::decode(&key, &v)?
            }
        };
        let d = DeadLetter::new(seq, &m, why, TimestampMs::now());
        self.record_dead_letter(&d)?;
        self.note_rejection(d.evidence())?;
        // An empty append runs the transitions (raising publish_rejected) and flushes.
        self.append_blocking(&[])?;
        Ok(true)
    }

    pub(super) fn note_rejection(&self, evidence: Value) -> Result<(), StoreError> {
        self.lock_append()?.rejected.note(evidence);
        Ok(())
    }

    /// The newest dead letters, newest first.
    pub fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let mut out = Vec::new();
        for kv in self.trees()?.dead_letters.iter().rev().take(max) {
            let (_, v) = kv?;
            if let Ok(d) = serde_json::from_slice(&v) {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Raise `publish_rejected` for a new dead letter, clear it after [`QUIET_MS`] without one.
    pub(super) fn rejected_transitions(
        &self,
        r: &mut Rejected,
        next_seq: u64,
        now: TimestampMs,
    ) -> Vec<Alert> {
        let total = self.inner.counters.dead_letters.load(Ordering::Relaxed);
        let make = |id: &str, state, raised_at, evidence: Value| Alert {
            message: format!(
                "the broker does not take some messages: {total} moved to the dead-letter tree \
                 (see chocoline inspect)"
            ),
            evidence,
            ..self.notice(
                AlertKind::PublishRejected,
                Severity::Warning,
                state,
                id,
                raised_at,
                now,
            )
        };
        if let Some(mut ev) = r.pending.take() {
            r.last = Some(now);
            if r.open.is_none() {
                if let Value::Object(m) = &mut ev {
                    m.insert("dead_letters_total".into(), Value::from(total));
                }
                let id = format!("{}-{next_seq}", self.notice_id("publish-rejected"));
                r.open = Some((id.clone(), now));
                return vec![make(&id, AlertState::Raised, now, ev)];
            }
            return Vec::new();
        }
        match (&r.open, r.last) {
            (Some((id, raised_at)), Some(last)) if now.0 - last.0 >= QUIET_MS => {
                let a = make(
                    id,
                    AlertState::Cleared,
                    *raised_at,
                    json!({"dead_letters_total": total}),
                );
                r.open = None;
                vec![a]
            }
            _ => Vec::new(),
        }
    }
}
