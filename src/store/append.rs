//! Appending records: ids and sequence numbers, the disk budget, history retention, and the
//! flush that makes a record count as stored.
//!
//! Group commit: the stage hands over every record that is queued at once; they are inserted
//! and then made durable by ONE flush, after which the durable bound the publisher reads up to
//! moves forward. Under load, batches grow by themselves and the flush cost is shared.

use std::sync::atomic::Ordering;

use serde_json::Value;

use super::db::{ALERT_HISTORY_MAX, AppendState, Store, cost};
use super::dead_letter::{DeadLetter, Rejection};
use super::error::StoreError;
use super::fit::fit_alert;
use super::keys;
use super::message::OutboxMessage;
use crate::domain::{AlertState, Record, TimestampMs};
use crate::wire::MessageClass;

/// What one appended record became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Outbox sequence number.
    pub seq: u64,
    /// Message id (in the payload as `id`).
    pub id: String,
    /// Topic it will be published on.
    pub topic: String,
}

/// Where an insert went.
enum Inserted {
    /// Into sled; the caller flushes.
    Sled(Vec<Appended>),
    /// Into memory (disk full or no database).
    Volatile(Vec<Appended>),
}

/// One prepared tree write.
pub(super) struct Entry {
    pub tree: Slot,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    Outbox,
    Predictions,
    Drift,
    Alerts,
    /// Not budgeted: one small entry per open alert. An empty value means "remove".
    OpenAlerts,
}

impl Store {
    /// Append records and wait until they are durable. Returns one [`Appended`] per record
    /// (same order), plus any `store_full` alert events the store raised on the way.
    ///
    /// On a full disk (or with no database) alerts are kept in memory and published from there,
    /// everything else is dropped and counted (`volatile.rs`). If sled fails on the way (it
    /// keeps an I/O error such as ENOSPC for good), the database is closed and the same records
    /// go the memory way.
    pub async fn append(&self, records: &[Record]) -> Result<Vec<Appended>, StoreError> {
        let inserted = self.insert(records);
        let flushed = match inserted {
            Ok(Inserted::Sled(_)) => self.trees()?.db.flush_async().await.map(drop),
            _ => Ok(()),
        };
        self.settle(inserted, flushed, records)
    }

    /// Blocking variant of [`Store::append`] for synchronous callers (open, benches).
    pub fn append_blocking(&self, records: &[Record]) -> Result<Vec<Appended>, StoreError> {
        let inserted = self.insert(records);
        let flushed = match inserted {
            Ok(Inserted::Sled(_)) => self.trees()?.db.flush().map(drop),
            _ => Ok(()),
        };
        self.settle(inserted, flushed, records)
    }

    /// After the insert and (for sled) its flush: move the publisher's bound, or send the
    /// records the memory way when sled failed.
    fn settle(
        &self,
        inserted: Result<Inserted, StoreError>,
        flushed: Result<(), sled::Error>,
        records: &[Record],
    ) -> Result<Vec<Appended>, StoreError> {
        let out = match (inserted, flushed) {
            (Ok(Inserted::Sled(out)), Ok(())) => {
                self.mark_durable(&out, true);
                return Ok(out);
            }
            (Ok(Inserted::Sled(_)), Err(e)) => self.after_failure(StoreError::Sled(e), records)?,
            (Ok(Inserted::Volatile(out)), _) => out,
            (Err(e), _) => self.after_failure(e, records)?,
        };
        self.mark_durable(&out, false);
        Ok(out)
    }

    /// A sled I/O failure closes the database and sends the records the memory way; any other
    /// error is returned.
    fn after_failure(
        &self,
        e: StoreError,
        records: &[Record],
    ) -> Result<Vec<Appended>, StoreError> {
        match e {
            StoreError::Sled(sled::Error::Io(_))
            | StoreError::Sled(sled::Error::ReportableBug(_)) => {
                self.close_failed(&e.to_string());
                let mut st = self.lock_append()?;
                self.insert_volatile(&mut st, &[], records, TimestampMs::now())
            }
            other => Err(other),
        }
    }

    /// Move the publisher's bound past `out`; `durable` also records it in the ledger (messages
    /// held in memory are not durable and must not look so to a later open).
    fn mark_durable(&self, out: &[Appended], durable: bool) {
        if let Some(last) = out.iter().map(|a| a.seq).max() {
            if durable
                && let Some(l) = &self.inner.ledger
                && let Err(e) = l.note_durable(last + 1)
            {
                tracing::warn!(error = %e, "store ledger not written");
            }
            // Concurrent appends may finish their flushes out of order; the bound only grows.
            self.inner.durable.send_if_modified(|d| {
                if last + 1 > *d {
                    *d = last + 1;
                    true
                } else {
                    false
                }
            });
        }
    }

    /// Insert without flushing (the caller flushes), or keep in memory when the disk is full.
    fn insert(&self, records: &[Record]) -> Result<Inserted, StoreError> {
        let mut st = self.lock_append()?;
        if let Ok(mut latest) = self.inner.latest.lock() {
            latest.note(records);
        }
        let now = TimestampMs::now();
        // Records the store adds first: restart clears and the disk-full clear on recovery.
        let mut lead = Vec::new();
        if !self.ready_to_write(&mut st, now, &mut lead)? {
            return Ok(Inserted::Volatile(
                self.insert_volatile(&mut st, &lead, records, now)?,
            ));
        }
        let records: Vec<&Record> = lead.iter().chain(records.iter()).collect();
        let mut seq = st.next_seq;
        let mut entries = Vec::with_capacity(records.len() * 2);
        let mut out = Vec::with_capacity(records.len());
        let mut newest_prediction = None;
        let mut newest_drift = None;
        for &record in &records {
            match self.prepare(record, seq, now, &mut entries, &mut out) {
                Ok(None) => {}
                Ok(Some(dead)) => {
                    self.record_dead_letter(&dead)?;
                    st.rejected.note(dead.evidence());
                }
                Err(e @ StoreError::TooLarge { .. }) => {
                    // One oversized record must not block the ones behind it.
                    tracing::error!(error = %e, "record refused by the store");
                    continue;
                }
                Err(e) => return Err(e),
            }
            match record {
                Record::Prediction(p) => newest_prediction = newest_prediction.max(Some(p.ts)),
                Record::Drift(d) => newest_drift = newest_drift.max(Some(d.end)),
                _ => {}
            }
            seq += 1;
        }
        let needed: u64 = entries
            .iter()
            .filter(|e| e.tree != Slot::OpenAlerts)
            .map(|e| cost(&e.key, &e.value))
            .sum();
        let freed = self.make_room(needed)?;

        // The store_full alert itself is small and is written even when that overshoots the
        // budget a little: losing the notice that data is being lost would be worse.
        for alert in self.full_transitions(&mut st, &freed, now) {
            self.prepare(&Record::Alert(alert), seq, now, &mut entries, &mut out)?;
            seq += 1;
        }
        let next = seq;
        for alert in self.rejected_transitions(&mut st.rejected, next, now) {
            self.prepare(&Record::Alert(alert), seq, now, &mut entries, &mut out)?;
            seq += 1;
        }

        self.write_entries(&entries)?;
        self.trees()?.state.insert("next_seq", &seq.to_be_bytes())?;
        st.next_seq = seq;
        self.prune_history(newest_prediction, newest_drift)?;
        self.persist_counters()?;
        Ok(Inserted::Sled(out))
    }

    /// Insert the prepared entries into their trees, keeping the byte and length accounting
    /// exact; open-alert entries go to the open-alert tracking instead.
    fn write_entries(&self, entries: &[Entry]) -> Result<(), StoreError> {
        let used = &self.inner.used;
        for e in entries {
            if e.tree == Slot::OpenAlerts {
                self.track_open_alert(e)?;
                continue;
            }
            let tree = self.tree(e.tree)?;
            let old = tree.insert(&e.key, e.value.as_slice())?;
            if let Some(old) = old {
                // Only a retried batch rewrites a key: keep the accounting exact.
                used.fetch_sub(cost(&e.key, &old), Ordering::Relaxed);
            } else {
                self.len_of(e.tree).fetch_add(1, Ordering::Relaxed);
            }
            used.fetch_add(cost(&e.key, &e.value), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Keep the prediction and drift histories within their retention (counted back from the
    /// newest record written, in data time) and caps, and the alert history within its cap.
    fn prune_history(
        &self,
        newest_prediction: Option<TimestampMs>,
        newest_drift: Option<TimestampMs>,
    ) -> Result<(), StoreError> {
        let cfg = &self.inner.cfg;
        let retention = millis(cfg.prediction_retention.get());
        if let Some(ts) = newest_prediction {
            let cutoff = TimestampMs(ts.0.saturating_sub(retention));
            self.prune(Slot::Predictions, Some(cutoff), cfg.prediction_history_max)?;
        }
        if let Some(ts) = newest_drift {
            let cutoff = TimestampMs(ts.0.saturating_sub(retention));
            self.prune(Slot::Drift, Some(cutoff), cfg.drift_history_max)?;
        }
        self.prune(Slot::Alerts, None, ALERT_HISTORY_MAX)
    }

    /// The append state, serialising appends.
    pub(super) fn lock_append(&self) -> Result<std::sync::MutexGuard<'_, AppendState>, StoreError> {
        self.inner.append.lock().map_err(|_| {
            StoreError::Sled(sled::Error::ReportableBug("append lock poisoned".into()))
        })
    }

    /// Build the outbox entry (and the history entry) of one record; a non-alert message over
    /// `max_message_bytes` comes back as a dead letter instead.
    pub(super) fn prepare(
        &self,
        record: &Record,
        seq: u64,
        now: TimestampMs,
        entries: &mut Vec<Entry>,
        out: &mut Vec<Appended>,
    ) -> Result<Option<DeadLetter>, StoreError> {
        let env = &self.inner.envelope;
        let id = format!("{}-{}-{}-{seq}", env.site, env.line, self.inner.epoch);
        let mut draft = env.draft(record);
        draft.body.insert("id".into(), Value::from(id.clone()));
        if !crate::clock::process().synced() {
            // Stamped before the wall clock was first synchronised: the time may be far off.
            draft.body.insert("clock_synced".into(), Value::from(false));
        }
        let limit = env.max_message_bytes;
        let payload = if draft.class == MessageClass::Alert {
            let (payload, trimmed) = fit_alert(draft.body, limit)?;
            if trimmed {
                tracing::warn!(%id, max_message_bytes = limit,
                    "alert evidence trimmed to fit [mqtt] max_message_bytes");
            }
            payload
        } else {
            serde_json::to_vec(&Value::Object(draft.body))?
        };
        let msg = OutboxMessage {
            id: id.clone(),
            class: draft.class,
            topic: draft.topic.clone(),
            qos: draft.delivery.qos.min(1),
            retain: draft.delivery.retain,
            created_ms: now.0,
            payload,
        };
        if msg.payload.len() > limit {
            let why = Rejection::TooLarge {
                bytes: msg.payload.len(),
                max: limit,
            };
            return Ok(Some(DeadLetter::new(seq, &msg, why, now)));
        }
        let history = match record {
            Record::Prediction(p) => Some((Slot::Predictions, keys::ts_key(p.ts, seq).to_vec())),
            Record::Drift(d) => Some((Slot::Drift, keys::ts_key(d.end, seq).to_vec())),
            Record::Alert(_) => Some((Slot::Alerts, keys::seq_key(seq).to_vec())),
            Record::DataQuality(_) | Record::Deploy(_) | Record::Label(_) => None,
        };
        let value = msg.encode();
        let max = self.budget();
        let size = cost(&keys::seq_key(seq), &value);
        if size > max {
            return Err(StoreError::TooLarge { size, max });
        }
        if let Some((slot, key)) = history {
            entries.push(Entry {
                tree: slot,
                key,
                value: msg.payload.clone(),
            });
        }
        if let Record::Alert(a) = record {
            entries.push(Entry {
                tree: Slot::OpenAlerts,
                key: a.id.as_bytes().to_vec(),
                value: match a.state {
                    AlertState::Raised => serde_json::to_vec(a)?,
                    AlertState::Cleared => Vec::new(),
                },
            });
        }
        entries.push(Entry {
            tree: Slot::Outbox,
            key: keys::seq_key(seq).to_vec(),
            value,
        });
        out.push(Appended {
            seq,
            id,
            topic: draft.topic,
        });
        Ok(None)
    }

    /// Keep `open_alerts` in step: a raised alert is written, a cleared one removed.
    fn track_open_alert(&self, e: &Entry) -> Result<(), StoreError> {
        let tree = self.tree(Slot::OpenAlerts)?;
        if e.value.is_empty() {
            tree.remove(&e.key)?;
        } else {
            tree.insert(&e.key, e.value.as_slice())?;
        }
        Ok(())
    }

    /// A tree of the open database (a cheap handle).
    pub(super) fn tree(&self, slot: Slot) -> Result<sled::Tree, StoreError> {
        let t = self.trees()?;
        Ok(match slot {
            Slot::Outbox => t.outbox.clone(),
            Slot::Predictions => t.predictions.clone(),
            Slot::Drift => t.drift.clone(),
            Slot::Alerts => t.alerts.clone(),
            Slot::OpenAlerts => t.open_alerts.clone(),
        })
    }

    pub(super) fn len_of(&self, slot: Slot) -> &std::sync::atomic::AtomicU64 {
        match slot {
            Slot::Outbox => &self.inner.depth,
            Slot::Predictions => &self.inner.predictions_len,
            Slot::Drift => &self.inner.drift_len,
            Slot::Alerts => &self.inner.alerts_len,
            // Never asked for: open alerts are not budgeted or counted.
            Slot::OpenAlerts => &self.inner.alerts_len,
        }
    }

    /// Remove the oldest entry of a history tree; false when it is empty.
    pub(super) fn pop_first(&self, slot: Slot) -> Result<bool, StoreError> {
        match self.tree(slot)?.pop_min()? {
            Some((k, v)) => {
                self.inner.used.fetch_sub(cost(&k, &v), Ordering::Relaxed);
                self.len_of(slot).fetch_sub(1, Ordering::Relaxed);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
