//! The inspect snapshot: what `chocoline inspect` shows, computed from the open database and
//! written atomically (temp file + rename) to `DATA_DIR/inspect.json`.
//!
//! Why a file: sled allows one process per database and has no read-only mode, so while the
//! daemon runs `inspect` cannot open the database. The daemon rewrites the snapshot every
//! `[store] snapshot_interval`; `inspect` opens the database directly only when nobody holds
//! the lock.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::db::{CounterValues, Store};
use super::dead_letter::DeadLetter;
use super::error::StoreError;
use crate::domain::TimestampMs;

/// Snapshot file name inside `data_dir`.
pub const SNAPSHOT_FILE: &str = "inspect.json";

/// How many recent alerts / predictions / drift windows a snapshot carries.
pub const SNAPSHOT_LAST: usize = 10;

/// The oldest message still waiting for its PubAck.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Undelivered {
    /// Message id.
    pub id: String,
    /// Topic.
    pub topic: String,
    /// When the store accepted it (ms since epoch).
    pub created_ms: i64,
}

/// Everything `inspect` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When the snapshot was taken (ms since epoch).
    pub taken_ms: i64,
    /// Database epoch (part of every message id).
    pub epoch: String,
    /// Undelivered messages.
    pub outbox_depth: u64,
    /// The oldest undelivered message.
    pub oldest_undelivered: Option<Undelivered>,
    /// Budgeted bytes in use.
    pub used_bytes: u64,
    /// `[store] max_bytes`.
    pub max_bytes: u64,
    /// sled's size on disk.
    pub size_on_disk: u64,
    /// Drop counters.
    pub counters: CounterValues,
    /// Newest alert events, newest first (payload JSON).
    pub last_alerts: Vec<Value>,
    /// Newest predictions, newest first.
    pub last_predictions: Vec<Value>,
    /// Newest drift windows, newest first.
    pub drift_windows: Vec<Value>,
    /// Where a corrupt database was moved at the last open, if it was.
    pub moved_aside: Option<PathBuf>,
    /// Newest dead letters (messages the broker would not take), newest first.
    #[serde(default)]
    pub dead_letters: Vec<DeadLetter>,
}

impl Store {
    /// Compute a snapshot from the database.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let inner = &self.inner;
        let t = self.trees()?;
        let oldest = super::outbox::Outbox::new(self.clone())
            .oldest()?
            .map(|m| Undelivered {
                id: m.id,
                topic: m.topic,
                created_ms: m.created_ms,
            });
        let last = |tree: &sled::Tree| -> Result<Vec<Value>, StoreError> {
            let mut v = Vec::new();
            for kv in tree.iter().rev().take(SNAPSHOT_LAST) {
                let (_, val) = kv?;
                v.push(serde_json::from_slice(&val).unwrap_or(Value::Null));
            }
            Ok(v)
        };
        Ok(Snapshot {
            taken_ms: TimestampMs::now().0,
            epoch: inner.epoch.clone(),
            outbox_depth: self.outbox_depth(),
            oldest_undelivered: oldest,
            used_bytes: self.used_bytes(),
            max_bytes: inner.cfg.max_bytes.get(),
            size_on_disk: t.db.size_on_disk().unwrap_or(0),
            counters: self.counters(),
            last_alerts: last(&t.alerts)?,
            last_predictions: last(&t.predictions)?,
            drift_windows: last(&t.drift)?,
            moved_aside: inner.moved_aside.clone(),
            dead_letters: self.dead_letters(SNAPSHOT_LAST)?,
        })
    }

    /// Write the snapshot file atomically.
    pub fn write_snapshot(&self) -> Result<(), StoreError> {
        let snap = self.snapshot()?;
        write_atomic(&self.data_dir().join(SNAPSHOT_FILE), &snap)
    }
}

fn write_atomic(path: &Path, snap: &Snapshot) -> Result<(), StoreError> {
    let err = |source| StoreError::Snapshot {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec_pretty(snap)?;
    std::fs::write(&tmp, body).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Read a snapshot file written by a running daemon.
pub fn read_snapshot(data_dir: &Path) -> Result<Snapshot, StoreError> {
    let path = data_dir.join(SNAPSHOT_FILE);
    let body = std::fs::read(&path).map_err(|source| StoreError::Snapshot {
        path: path.clone(),
        source,
    })?;
    Ok(serde_json::from_slice(&body)?)
}
