//! The [`Store`] handle: the sled database, its trees and the in-memory accounting that the
//! disk budget and `inspect` need.
//!
//! Trees:
//! - `outbox`: big-endian `u64` sequence → [`OutboxMessage`] (what must still reach the broker);
//! - `predictions`: `(ts, seq)` → payload JSON (ring: age and count bounded);
//! - `drift`: `(end ts, seq)` → payload JSON (ring);
//! - `alerts`: sequence → payload JSON (the last [`ALERT_HISTORY_MAX`] alert events, for
//!   `inspect`);
//! - `open_alerts`: alert id → the raised [`crate::domain::Alert`] (JSON) until its `cleared`
//!   event is stored; what is left there at the next open is closed with reason `restart`
//!   (`recovery.rs`), so the control room never holds an alert that nothing will clear;
//! - `state`: `epoch`, `next_seq`, drop counters.
//!
//! Beside the database, `DATA_DIR/ledger` ([`super::ledger`]) holds the generation and the last
//! durable / acknowledged sequence, which sled cannot be trusted with after a torn log.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use std::sync::{Mutex, RwLock};
use tokio::sync::watch;

use super::config::StoreConfig;
use super::error::StoreError;
use super::ledger::Ledger;
use crate::domain::{Alert, AlertKind, AlertState, BatchContext, Severity, TimestampMs};
use crate::wire::Envelope;

/// Alert events kept in the `alerts` history tree.
pub const ALERT_HISTORY_MAX: u64 = 1000;

/// Fixed per-entry cost added to key + value lengths in the disk budget: sled's node and log
/// framing overhead (measured by `benches/store.rs`, "disk bytes per stored alert").
pub const ENTRY_OVERHEAD: u64 = 48;

/// sled is log-structured: its files hold more than the live bytes (measured by
/// `benches/store.rs`: 2.1–2.2× for alerts). The live-byte budget is therefore
/// `max_bytes × 2 / 5` (a factor of 2.5, some headroom over the measurement), so that
/// `max_bytes` bounds the files on disk.
pub const SPACE_AMPLIFICATION_X2: u64 = 5;

/// Live-byte budget for a `max_bytes` value.
pub fn budget_of(max_bytes: u64) -> u64 {
    max_bytes / SPACE_AMPLIFICATION_X2 * 2
}

/// Budget cost of one entry.
pub fn cost(key: &[u8], value: &[u8]) -> u64 {
    key.len() as u64 + value.len() as u64 + ENTRY_OVERHEAD
}

/// Cheap clonable handle on the open store. The database lock (`DATA_DIR/chocoline.lock`) is
/// held until the last clone is dropped.
#[derive(Clone)]
pub struct Store {
    pub(super) inner: Arc<Inner>,
}

/// The sled database and its trees. Held behind a lock in [`Inner`] so that a database that
/// failed (sled keeps an I/O error such as ENOSPC for good) can be closed and opened again once
/// the disk has room, and so that the store can start without one on a full disk.
pub(super) struct Trees {
    pub db: sled::Db,
    pub outbox: sled::Tree,
    pub predictions: sled::Tree,
    pub drift: sled::Tree,
    pub alerts: sled::Tree,
    pub open_alerts: sled::Tree,
    pub dead_letters: sled::Tree,
    pub state: sled::Tree,
}

impl Trees {
    /// Open every tree of `db`.
    pub fn of(db: sled::Db) -> Result<Trees, sled::Error> {
        Ok(Trees {
            outbox: db.open_tree("outbox")?,
            predictions: db.open_tree("predictions")?,
            drift: db.open_tree("drift")?,
            alerts: db.open_tree("alerts")?,
            open_alerts: db.open_tree("open_alerts")?,
            dead_letters: db.open_tree("dead_letters")?,
            state: db.open_tree("state")?,
            db,
        })
    }
}

pub(super) struct Inner {
    /// None while the store runs without a database (disk full at start, or sled failed).
    pub trees: RwLock<Option<Arc<Trees>>>,
    /// What lives only in memory while the disk is full (`volatile.rs`).
    pub volatile: Mutex<super::volatile::Volatile>,
    /// Each model's newest prediction and drift window (`latest.rs`).
    pub latest: Mutex<super::latest::Latest>,
    pub cfg: StoreConfig,
    pub envelope: Envelope,
    pub epoch: String,
    pub used: AtomicU64,
    pub depth: AtomicU64,
    pub predictions_len: AtomicU64,
    pub drift_len: AtomicU64,
    pub alerts_len: AtomicU64,
    pub counters: Counters,
    /// Exclusive upper bound of the sequence numbers that are flushed: the publisher never
    /// sends a message before it is durable, so a crash can never reuse a published id.
    pub durable: watch::Sender<u64>,
    pub append: Mutex<AppendState>,
    pub moved_aside: Option<PathBuf>,
    /// The sequence ledger (None for a read-only copy opened by `inspect`).
    pub ledger: Option<Ledger>,
    pub _lock: Option<std::fs::File>,
    /// The scratch copy `inspect` opened, removed when the store is dropped (declared last so
    /// the database is closed first).
    pub _scratch: Option<super::readonly::Scratch>,
}

/// State only the appending side touches (serialised by a mutex).
pub(super) struct AppendState {
    pub next_seq: u64,
    /// The current `store_full` episode: alert id, severity, raised at.
    pub full: Option<(String, Severity, TimestampMs)>,
    pub full_count: u64,
    /// The current `publish_rejected` episode.
    pub rejected: super::dead_letter::Rejected,
}

/// What the store dropped to stay inside `max_bytes` (persisted in the `state` tree).
#[derive(Debug, Default)]
pub struct Counters {
    /// Prediction-history entries dropped for space or expired by age / count.
    pub predictions_pruned: AtomicU64,
    /// Drift windows dropped from history.
    pub drift_pruned: AtomicU64,
    /// Undelivered non-alert outbox messages dropped because the store was full.
    pub outbox_dropped: AtomicU64,
    /// Undelivered alerts dropped because the store was full (each raised a critical
    /// `store_full`).
    pub alerts_dropped: AtomicU64,
    /// Outbox entries that could not be decoded and were removed.
    pub undecodable: AtomicU64,
    /// Messages moved to the dead-letter tree (too large, or refused by the broker).
    pub dead_letters: AtomicU64,
    /// Predictions, drift windows and data-quality events dropped because the disk was full.
    pub disk_full_dropped: AtomicU64,
}

/// Counter values, for snapshots and reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CounterValues {
    /// See [`Counters::predictions_pruned`].
    pub predictions_pruned: u64,
    /// See [`Counters::drift_pruned`].
    pub drift_pruned: u64,
    /// See [`Counters::outbox_dropped`].
    pub outbox_dropped: u64,
    /// See [`Counters::alerts_dropped`].
    pub alerts_dropped: u64,
    /// See [`Counters::undecodable`].
    pub undecodable: u64,
    /// See [`Counters::dead_letters`].
    #[serde(default)]
    pub dead_letters: u64,
    /// See [`Counters::disk_full_dropped`].
    #[serde(default)]
    pub disk_full_dropped: u64,
}

pub(super) const COUNTER_KEYS: [&str; 7] = [
    "predictions_pruned",
    "drift_pruned",
    "outbox_dropped",
    "alerts_dropped",
    "undecodable",
    "dead_letters",
    "disk_full_dropped",
];

impl Counters {
    pub(super) fn get(&self, name: &str) -> Option<&AtomicU64> {
        match name {
            "predictions_pruned" => Some(&self.predictions_pruned),
            "drift_pruned" => Some(&self.drift_pruned),
            "outbox_dropped" => Some(&self.outbox_dropped),
            "alerts_dropped" => Some(&self.alerts_dropped),
            "undecodable" => Some(&self.undecodable),
            "dead_letters" => Some(&self.dead_letters),
            "disk_full_dropped" => Some(&self.disk_full_dropped),
            _ => None,
        }
    }

    /// Current values.
    pub fn values(&self) -> CounterValues {
        CounterValues {
            predictions_pruned: self.predictions_pruned.load(Ordering::Relaxed),
            drift_pruned: self.drift_pruned.load(Ordering::Relaxed),
            outbox_dropped: self.outbox_dropped.load(Ordering::Relaxed),
            alerts_dropped: self.alerts_dropped.load(Ordering::Relaxed),
            undecodable: self.undecodable.load(Ordering::Relaxed),
            dead_letters: self.dead_letters.load(Ordering::Relaxed),
            disk_full_dropped: self.disk_full_dropped.load(Ordering::Relaxed),
        }
    }
}

impl Store {
    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.inner.cfg.data_dir
    }

    /// `{database epoch}.{generation}`, part of every message id. The database epoch is random
    /// per database (a database started fresh after corruption, or one whose ledger was lost,
    /// gets a new one); the generation grows on every open and is fsynced in the ledger before
    /// anything is published — so even a log that rolled back never reuses an id the control
    /// room has already seen.
    pub fn epoch(&self) -> &str {
        &self.inner.epoch
    }

    /// The envelope (site, line, topics) messages are built with.
    pub fn envelope(&self) -> &Envelope {
        &self.inner.envelope
    }

    /// Undelivered messages in the outbox.
    pub fn outbox_depth(&self) -> u64 {
        let sled = self.inner.depth.load(Ordering::Relaxed);
        match self.inner.volatile.lock() {
            Ok(v) => (sled + v.messages.len() as u64).saturating_sub(v.pending_acks.len() as u64),
            Err(_) => sled,
        }
    }

    /// Each model's newest prediction and drift window appended so far (`latest.rs`).
    pub fn latest(&self) -> super::latest::Latest {
        (self.inner.latest.lock()).map_or_else(|_| Default::default(), |l| l.clone())
    }

    /// The database, or [`StoreError::Unavailable`] while the store runs without one.
    pub(super) fn trees(&self) -> Result<Arc<Trees>, StoreError> {
        self.inner
            .trees
            .read()
            .ok()
            .and_then(|t| t.clone())
            .ok_or(StoreError::Unavailable)
    }

    /// The live-byte budget: `max_bytes × 2 / 5`.
    pub fn budget(&self) -> u64 {
        budget_of(self.inner.cfg.max_bytes.get())
    }

    /// Budgeted bytes in use (keys + values + [`ENTRY_OVERHEAD`] per entry, all trees).
    pub fn used_bytes(&self) -> u64 {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// Bytes sled occupies on disk (log + snapshots); larger than [`Store::used_bytes`] because
    /// sled is log-structured.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.trees()?.db.size_on_disk()?)
    }

    /// Drop counters.
    pub fn counters(&self) -> CounterValues {
        self.inner.counters.values()
    }

    /// Where a corrupt database was moved when this one was opened, if that happened.
    pub fn moved_aside(&self) -> Option<&Path> {
        self.inner.moved_aside.as_deref()
    }

    /// Exclusive upper bound of durable sequence numbers, and a way to wait for it to grow.
    pub fn durable(&self) -> watch::Receiver<u64> {
        self.inner.durable.subscribe()
    }

    /// Flush everything (used on shutdown; appends flush by themselves).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.write_ledger();
        if self.is_volatile() {
            // Nothing can be written; what is in memory is lost on exit (counted, logged).
            return Ok(());
        }
        self.persist_counters()?;
        self.trees()?.db.flush_async().await?;
        Ok(())
    }

    /// Rewrite the ledger with the current durable bound and acknowledgements. A failure is
    /// logged, not returned: the ledger only sharpens what a later open can report.
    pub(super) fn write_ledger(&self) {
        if let Some(l) = &self.inner.ledger
            && let Err(e) = l.write()
        {
            tracing::warn!(error = %e, "store ledger not written");
        }
    }

    /// The id of a notice the store raises about itself: `{site}-{line}-{what}-{epoch}`.
    pub fn notice_id(&self, what: &str) -> String {
        let env = &self.inner.envelope;
        format!("{}-{}-{what}-{}", env.site, env.line, self.inner.epoch)
    }

    /// An alert the store (or the agent) raises about itself (`store_full`,
    /// `store_corrupt`, `publish_rejected`, `model_unavailable`): site and line from the
    /// envelope, no batch. The caller fills in `message` and `evidence`.
    pub fn notice(
        &self,
        kind: AlertKind,
        severity: Severity,
        state: AlertState,
        id: &str,
        raised_at: TimestampMs,
        now: TimestampMs,
    ) -> Alert {
        let env = &self.inner.envelope;
        Alert {
            id: id.to_string(),
            kind,
            severity,
            state,
            site: env.site.clone(),
            line: env.line.clone(),
            batch: BatchContext::default(),
            raised_at,
            ts: now,
            message: String::new(),
            evidence: serde_json::Value::Null,
        }
    }

    /// Open alerts the store still holds (raised, not yet cleared), oldest id first.
    pub fn open_alerts(&self) -> Result<Vec<crate::domain::Alert>, StoreError> {
        let mut out = Vec::new();
        let t = self.trees()?;
        for kv in t.open_alerts.iter() {
            let (k, v) = kv?;
            match serde_json::from_slice(&v) {
                Ok(a) => out.push(a),
                Err(e) => {
                    tracing::error!(error = %e, id = %String::from_utf8_lossy(&k),
                        "open alert entry unreadable: removed");
                    t.open_alerts.remove(&k)?;
                }
            }
        }
        Ok(out)
    }

    pub(super) fn persist_counters(&self) -> Result<(), StoreError> {
        let t = self.trees()?;
        for name in COUNTER_KEYS {
            if let Some(c) = self.inner.counters.get(name) {
                let v = c.load(Ordering::Relaxed);
                t.state.insert(name, &v.to_be_bytes())?;
            }
        }
        Ok(())
    }
}

/// Read a big-endian u64 value.
pub(super) fn be_u64(v: &[u8]) -> Option<u64> {
    let b: [u8; 8] = v.get(..8)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}
