//! A full disk is a state, not a crash.
//!
//! Before each group commit the store checks the free space of its filesystem. Under
//! `[store] reserve_bytes` (or when sled itself failed, or could not be opened at start) it stops
//! writing to sled and runs **from memory**:
//!
//! - alerts get their sequence and id as usual and are kept in memory; the publisher reads them
//!   together with what is still in sled, in sequence order, and publishes them straight away;
//! - predictions, drift windows and data-quality events are dropped and counted
//!   (`disk_full_dropped`);
//! - acknowledgements of messages that are in sled are remembered and applied later (a delete is
//!   a write, and sled keeps the first I/O error it meets for good);
//! - a critical `store_full` alert (evidence: free bytes, reserve, reason) is raised once.
//!
//! When there is room again the next append writes the held alerts into sled under their own
//! sequence and id, applies the held acknowledgements, closes the alerts a restart left open
//! (if the store started without its database) and clears `store_full`. A database that sled
//! failed on is closed and opened again (every [`REOPEN_EVERY`]) once there is room.
//!
//! What is in memory is lost if the process stops before the disk has room: the shutdown log
//! says how many alerts that was.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::MutexGuard;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::append::Slot;
use super::db::{AppendState, Store, Trees, cost};
use super::error::StoreError;
use super::keys;
use super::message::OutboxMessage;
use super::recovery::closed_by_restart;
use crate::domain::{Alert, AlertKind, AlertState, Record, Severity, TimestampMs};

/// How often a failed or missing database is tried again once there is room.
pub const REOPEN_EVERY: Duration = Duration::from_secs(2);

/// Least free space before the database is opened again after running from memory.
pub const REOPEN_MIN_FREE: u64 = 1024 * 1024;

/// Most alerts held in memory; beyond it the oldest are dropped (`alerts_dropped`).
pub const VOLATILE_MAX: usize = 10_000;

/// What lives only in memory while the store cannot write.
#[derive(Debug, Default)]
pub struct Volatile {
    /// Running from memory.
    pub active: bool,
    /// Why (for logs and evidence).
    pub reason: String,
    /// Alerts waiting for the broker, by sequence.
    pub messages: BTreeMap<u64, OutboxMessage>,
    /// Sequences in sled that the broker acknowledged meanwhile.
    pub pending_acks: BTreeSet<u64>,
    /// `open_alerts` changes to apply (an empty value removes).
    pub open_alerts: Vec<(Vec<u8>, Vec<u8>)>,
    /// The open `store_full` (disk) alert: id, raised at.
    pub full: Option<(String, TimestampMs)>,
    /// The store opened without its database: the previous run's open alerts still need their
    /// restart clear.
    pub restart_clears_due: bool,
    /// Last attempt to open the database again.
    pub last_reopen: Option<Instant>,
}

impl Store {
    /// True while the store runs from memory.
    pub fn is_volatile(&self) -> bool {
        self.inner
            .volatile
            .lock()
            .map(|v| v.active)
            .unwrap_or(false)
    }

    /// Alerts held in memory, not yet acknowledged by the broker.
    pub fn volatile_alerts(&self) -> usize {
        self.inner
            .volatile
            .lock()
            .map(|v| v.messages.len())
            .unwrap_or(0)
    }

    pub(super) fn lock_volatile(&self) -> Result<MutexGuard<'_, Volatile>, StoreError> {
        self.inner
            .volatile
            .lock()
            .map_err(|_| StoreError::Unavailable)
    }

    /// Bytes available to the store on its filesystem (None when that cannot be asked).
    pub fn free_bytes(&self) -> Option<u64> {
        fs2::available_space(&self.inner.cfg.data_dir).ok()
    }

    /// Decide where this append goes: true = sled. Leaving the memory state (room again)
    /// moves what was held into sled and puts the store's own events into `lead`.
    pub(super) fn ready_to_write(
        &self,
        st: &mut AppendState,
        now: TimestampMs,
        lead: &mut Vec<Record>,
    ) -> Result<bool, StoreError> {
        let reserve = self.inner.cfg.reserve_bytes.get();
        let free = self.free_bytes();
        if let Some(free) = free.filter(|f| *f < reserve) {
            self.enter_volatile(format!(
                "disk full: {free} bytes free for {}, under [store] reserve_bytes = {reserve}",
                self.inner.cfg.data_dir.display()
            ));
            return Ok(false);
        }
        if !self.is_volatile() {
            return Ok(true);
        }
        // Leaving the memory state needs room for sled to write what was held: at least
        // REOPEN_MIN_FREE even with a zero reserve, or it would fail again at once.
        if free.is_some_and(|f| f < reserve.max(REOPEN_MIN_FREE)) {
            return Ok(false);
        }
        // sled may have met the full disk in its background flusher and kept that error for
        // good: always continue on a freshly opened database.
        self.close_db();
        if !self.try_reopen(lead)? {
            return Ok(false);
        }
        let mut v = self.lock_volatile()?;
        self.recover(&mut v, st, now, lead)?;
        Ok(true)
    }

    /// Start (or keep) running from memory.
    pub(super) fn enter_volatile(&self, reason: String) {
        if let Ok(mut v) = self.inner.volatile.lock() {
            if !v.active {
                tracing::error!(%reason, "store cannot write: alerts are kept in memory and \
                    published from there, other records are dropped until there is room");
                v.active = true;
            }
            v.reason = reason;
        }
    }

    /// Room again: write what was held into sled (the caller's group commit flushes it).
    fn recover(
        &self,
        v: &mut Volatile,
        st: &mut AppendState,
        now: TimestampMs,
        lead: &mut Vec<Record>,
    ) -> Result<(), StoreError> {
        let t = self.trees()?;
        if v.restart_clears_due {
            // The previous run's open alerts, before this run's changes are applied.
            for a in self.open_alerts()? {
                lead.push(Record::Alert(closed_by_restart(a, now)));
            }
            v.restart_clears_due = false;
        }
        for (k, val) in v.open_alerts.drain(..) {
            if val.is_empty() {
                t.open_alerts.remove(k)?;
            } else {
                t.open_alerts.insert(k, val)?;
            }
        }
        let moved = v.messages.len();
        for (seq, m) in std::mem::take(&mut v.messages) {
            let key = keys::seq_key(seq);
            let val = m.encode();
            if t.outbox.insert(key, val.as_slice())?.is_none() {
                self.inner.depth.fetch_add(1, Ordering::Relaxed);
                self.inner
                    .used
                    .fetch_add(cost(&key, &val), Ordering::Relaxed);
            }
        }
        for seq in std::mem::take(&mut v.pending_acks) {
            let key = keys::seq_key(seq);
            if let Some(old) = t.outbox.remove(key)? {
                self.inner.depth.fetch_sub(1, Ordering::Relaxed);
                self.inner
                    .used
                    .fetch_sub(cost(&key, &old), Ordering::Relaxed);
            }
        }
        let dropped = self
            .inner
            .counters
            .disk_full_dropped
            .load(Ordering::Relaxed);
        if let Some((id, raised_at)) = v.full.take() {
            let ev = json!({"disk_full_dropped": dropped, "free_bytes": self.free_bytes()});
            lead.push(Record::Alert(self.disk_full_alert(
                &id,
                AlertState::Cleared,
                raised_at,
                now,
                ev,
            )));
        }
        v.active = false;
        st.next_seq = st.next_seq.max(self.sled_next_seq(&t)?);
        tracing::info!(
            moved,
            dropped,
            "store writable again: the alerts held in memory are on disk"
        );
        Ok(())
    }

    /// The bound sled itself knows (a reopened database may be behind the running count).
    fn sled_next_seq(&self, t: &Trees) -> Result<u64, StoreError> {
        Ok(t.outbox
            .last()?
            .and_then(|(k, _)| keys::seq_of(&k))
            .map_or(0, |s| s + 1))
    }

    /// Keep alerts in memory, drop everything else (counted). Raises `store_full` once.
    pub(super) fn insert_volatile(
        &self,
        st: &mut AppendState,
        lead: &[Record],
        records: &[Record],
        now: TimestampMs,
    ) -> Result<Vec<super::Appended>, StoreError> {
        let mut v = self.lock_volatile()?;
        let mut raise = Vec::new();
        if v.full.is_none() {
            let id = format!("{}-{}", self.notice_id("store-full-disk"), st.next_seq);
            let ev = json!({
                "reason": v.reason,
                "data_dir": self.inner.cfg.data_dir.display().to_string(),
                "free_bytes": self.free_bytes(),
                "reserve_bytes": self.inner.cfg.reserve_bytes.get(),
            });
            raise.push(Record::Alert(self.disk_full_alert(
                &id,
                AlertState::Raised,
                now,
                now,
                ev,
            )));
            v.full = Some((id, now));
        }
        let mut out = Vec::new();
        let mut entries = Vec::new();
        let mut seq = st.next_seq;
        for record in raise.iter().chain(lead).chain(records) {
            if !matches!(record, Record::Alert(_)) {
                self.inner
                    .counters
                    .disk_full_dropped
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            }
            entries.clear();
            match self.prepare(record, seq, now, &mut entries, &mut out) {
                Ok(None) => {}
                Ok(Some(_)) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "alert refused while running from memory");
                    continue;
                }
            }
            for e in entries.drain(..) {
                match e.tree {
                    Slot::Outbox => {
                        v.messages
                            .insert(seq, OutboxMessage::decode(&e.key, &e.value)?);
                    }
                    Slot::OpenAlerts => v.open_alerts.push((e.key, e.value)),
                    _ => {}
                }
            }
            seq += 1;
        }
        while v.messages.len() > VOLATILE_MAX {
            v.messages.pop_first();
            self.inner
                .counters
                .alerts_dropped
                .fetch_add(1, Ordering::Relaxed);
        }
        st.next_seq = seq;
        Ok(out)
    }

    /// The `store_full` alert of a full disk.
    fn disk_full_alert(
        &self,
        id: &str,
        state: AlertState,
        raised_at: TimestampMs,
        now: TimestampMs,
        evidence: Value,
    ) -> Alert {
        Alert {
            message: match state {
                AlertState::Raised => "disk full: the store cannot write; alerts are published \
                    from memory, predictions / drift / data-quality messages are dropped until \
                    there is room"
                    .into(),
                AlertState::Cleared => {
                    "disk has room again: the alerts held in memory are stored".into()
                }
            },
            evidence,
            ..self.notice(
                AlertKind::StoreFull,
                Severity::Critical,
                state,
                id,
                raised_at,
                now,
            )
        }
    }
}
