//! `[store]`: where chocoline keeps its outbox, history and state on disk (sled).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::settings::units::{ByteSize, Duration};

/// The on-disk store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Directory of the sled database; created if missing, must be writable.
    /// Default "/var/lib/chocoline".
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Disk budget for the whole store. When reached, the oldest predictions go first, alerts
    /// last. Default "256MiB".
    #[serde(default = "default_max_bytes")]
    pub max_bytes: ByteSize,
    /// Free space the store leaves on its filesystem. Below it the store stops writing and
    /// runs from memory: alerts are published from there, other records are dropped (counted),
    /// `store_full` is raised; it writes again once there is room. Default "16MiB".
    #[serde(default = "default_reserve_bytes")]
    pub reserve_bytes: ByteSize,
    /// sled page cache. sled's own default (1 GB) is far too big for a line controller; the
    /// store's hot set is the outbox head and the prediction ring's tail. Default "2MiB"
    /// (docs/budget.md: 1.4-1.9 MB less resident than 8 MiB with 500 devices; appends ~20 %
    /// slower).
    #[serde(default = "default_cache_capacity")]
    pub cache_capacity: ByteSize,
    /// How long prediction history is kept. Default "7d".
    #[serde(default = "default_prediction_retention")]
    pub prediction_retention: Duration,
    /// Longest a write waits for a flush. Records are group-committed and flushed as soon as the
    /// stage has drained its queue, so they normally wait far less; this is sled's background
    /// flush period, which also bounds how long a delivered message's delete lives only in
    /// memory (a delete lost in a crash means one resend, never a loss). Default "20ms".
    #[serde(default = "default_flush_interval")]
    pub flush_interval: Duration,
    /// Most prediction-history entries kept (a ring: the oldest go first). Default 100000,
    /// range 1–10000000.
    #[serde(default = "default_prediction_history_max")]
    pub prediction_history_max: u64,
    /// Most drift windows kept (a ring). Default 10000, range 1–10000000.
    #[serde(default = "default_drift_history_max")]
    pub drift_history_max: u64,
    /// How often the daemon rewrites `DATA_DIR/inspect.json`, the snapshot that
    /// `chocoline inspect` reads while the daemon holds the database lock. Default "1s".
    #[serde(default = "default_snapshot_interval")]
    pub snapshot_interval: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            data_dir: default_data_dir(),
            max_bytes: default_max_bytes(),
            reserve_bytes: default_reserve_bytes(),
            cache_capacity: default_cache_capacity(),
            prediction_retention: default_prediction_retention(),
            flush_interval: default_flush_interval(),
            prediction_history_max: default_prediction_history_max(),
            drift_history_max: default_drift_history_max(),
            snapshot_interval: default_snapshot_interval(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/chocoline")
}
fn default_max_bytes() -> ByteSize {
    ByteSize::mib(256)
}
fn default_cache_capacity() -> ByteSize {
    ByteSize::mib(2)
}
fn default_prediction_retention() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}
fn default_flush_interval() -> Duration {
    Duration::from_millis(20)
}
fn default_prediction_history_max() -> u64 {
    100_000
}
fn default_drift_history_max() -> u64 {
    10_000
}
fn default_snapshot_interval() -> Duration {
    Duration::from_secs(1)
}

fn default_reserve_bytes() -> ByteSize {
    ByteSize::mib(16)
}
