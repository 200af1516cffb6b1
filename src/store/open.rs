//! Opening the store without ever crash-looping.
//!
//! Order matters: (1) the data directory must exist and be writable — otherwise a clear error,
//! because moving things aside would not help; (2) our own lock file is taken, so a second
//! process gets "in use" instead of mistaking sled's lock error for corruption; (3) sled is
//! opened and every tree is read end to end. If (3) fails or panics (sled 0.34 has open
//! reports of both after abrupt stops) the database directory is renamed
//! `db.corrupt-<UTC time>`, a fresh one is created and a critical `store_corrupt` alert is
//! queued — the agent keeps running and the evidence is kept for analysis.

use std::fs;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng;
use std::sync::Mutex;
use tokio::sync::watch;

use super::config::StoreConfig;
use super::db::{AppendState, COUNTER_KEYS, Counters, Inner, Store, be_u64, cost};
use super::error::StoreError;
use super::keys;
use super::payload::Envelope;
use crate::domain::{Alert, AlertKind, AlertState, BatchContext, Record, Severity, TimestampMs};

/// Name of the sled directory inside `data_dir`.
pub const DB_DIR: &str = "db";
/// Name of the lock file inside `data_dir`.
pub const LOCK_FILE: &str = "chocoline.lock";

/// Sums gathered by reading every tree once.
#[derive(Default)]
struct Scan {
    used: u64,
    outbox: u64,
    predictions: u64,
    drift: u64,
    alerts: u64,
    last_outbox_seq: Option<u64>,
}

/// Make sure `dir` exists and is writable; a clear error otherwise.
pub fn ensure_writable(dir: &Path) -> Result<(), StoreError> {
    let err = |source| StoreError::DataDirNotWritable {
        path: dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(dir).map_err(err)?;
    let probe = dir.join(".write-probe");
    let mut f = fs::File::create(&probe).map_err(err)?;
    f.write_all(b"ok").map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    fs::remove_file(&probe).map_err(err)?;
    Ok(())
}

/// Take the data directory's lock (held by the returned file until it is dropped).
pub fn lock(dir: &Path) -> Result<fs::File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| StoreError::DataDirNotWritable {
            path: dir.to_path_buf(),
            source,
        })?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: dir.to_path_buf(),
            lock: path,
        }),
        Err(fs::TryLockError::Error(source)) => Err(StoreError::DataDirNotWritable {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Open sled at `path` and read every tree end to end; a panic inside sled counts as failure.
fn open_and_scan(path: &Path, cfg: &StoreConfig) -> Result<(sled::Db, Scan), String> {
    let attempt = std::panic::catch_unwind(AssertUnwindSafe(|| -> Result<_, String> {
        let flush_ms = u64::try_from(cfg.flush_interval.get().as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cfg.cache_capacity.get())
            .flush_every_ms(Some(flush_ms))
            .open()
            .map_err(|e| e.to_string())?;
        let scan = scan(&db).map_err(|e| e.to_string())?;
        Ok((db, scan))
    }));
    match attempt {
        Ok(r) => r,
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "sled panicked while opening".into())),
    }
}

fn scan(db: &sled::Db) -> Result<Scan, sled::Error> {
    let mut s = Scan::default();
    for (name, slot) in [
        ("outbox", 0),
        ("predictions", 1),
        ("drift", 2),
        ("alerts", 3),
        ("state", 4),
    ] {
        let tree = db.open_tree(name)?;
        for kv in tree.iter() {
            let (k, v) = kv?;
            s.used += cost(&k, &v);
            match slot {
                0 => {
                    s.outbox += 1;
                    s.last_outbox_seq = keys::seq_of(&k);
                }
                1 => s.predictions += 1,
                2 => s.drift += 1,
                3 => s.alerts += 1,
                _ => {}
            }
        }
    }
    Ok(s)
}

/// A name for the moved-aside database that sorts by time and never overwrites.
fn aside_path(dir: &Path) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .replace(':', "");
    let mut p = dir.join(format!("{DB_DIR}.corrupt-{stamp}"));
    let mut n = 1;
    while p.exists() {
        p = dir.join(format!("{DB_DIR}.corrupt-{stamp}-{n}"));
        n += 1;
    }
    p
}

/// Open (or create) the store under `cfg.data_dir`.
pub fn open(cfg: &StoreConfig, envelope: Envelope) -> Result<Store, StoreError> {
    let dir = cfg.data_dir.clone();
    ensure_writable(&dir)?;
    let lock = lock(&dir)?;
    let db_path = dir.join(DB_DIR);

    let mut moved_aside = None;
    let mut corrupt_reason = None;
    let (db, scan) = match open_and_scan(&db_path, cfg) {
        Ok(ok) => ok,
        Err(reason) => {
            let to = aside_path(&dir);
            tracing::error!(db = %db_path.display(), moved_to = %to.display(), error = %reason,
                "store database unreadable: moving it aside and starting fresh");
            if db_path.exists() {
                fs::rename(&db_path, &to).map_err(|source| StoreError::MoveAside {
                    from: db_path.clone(),
                    to: to.clone(),
                    source,
                })?;
                moved_aside = Some(to);
            }
            corrupt_reason = Some(reason);
            open_and_scan(&db_path, cfg).map_err(|e| StoreError::Open {
                path: db_path.clone(),
                source: sled::Error::Unsupported(e),
            })?
        }
    };

    let state = db.open_tree("state")?;
    let epoch = match state.get("epoch")? {
        Some(v) => String::from_utf8_lossy(&v).into_owned(),
        None => {
            let e = format!("{:08x}", rand::rng().random::<u32>());
            state.insert("epoch", e.as_bytes())?;
            e
        }
    };
    let stored_next = state
        .get("next_seq")?
        .as_deref()
        .and_then(be_u64)
        .unwrap_or(0);
    let next_seq = stored_next.max(scan.last_outbox_seq.map_or(0, |s| s + 1));
    let counters = Counters::default();
    for name in COUNTER_KEYS {
        if let (Some(v), Some(c)) = (state.get(name)?, counters.get(name)) {
            c.store(be_u64(&v).unwrap_or(0), Ordering::Relaxed);
        }
    }

    let (durable, _) = watch::channel(next_seq);
    let store = Store {
        inner: Arc::new(Inner {
            outbox: db.open_tree("outbox")?,
            predictions: db.open_tree("predictions")?,
            drift: db.open_tree("drift")?,
            alerts: db.open_tree("alerts")?,
            state,
            db,
            cfg: cfg.clone(),
            envelope,
            epoch,
            used: AtomicU64::new(scan.used),
            depth: AtomicU64::new(scan.outbox),
            predictions_len: AtomicU64::new(scan.predictions),
            drift_len: AtomicU64::new(scan.drift),
            alerts_len: AtomicU64::new(scan.alerts),
            counters,
            durable,
            append: Mutex::new(AppendState {
                next_seq,
                full: None,
                full_count: 0,
            }),
            moved_aside: moved_aside.clone(),
            _lock: lock,
        }),
    };
    store.inner.db.flush()?;

    if let Some(reason) = corrupt_reason {
        let env = store.envelope().clone();
        let now = TimestampMs::now();
        let alert = |state| {
            Record::Alert(Alert {
                id: format!("{}-{}-store-corrupt-{}", env.site, env.line, store.epoch()),
                kind: AlertKind::StoreCorrupt,
                severity: Severity::Critical,
                state,
                site: env.site.clone(),
                line: env.line.clone(),
                batch: BatchContext::default(),
                raised_at: now,
                ts: now,
                message: format!(
                    "store database was unreadable and has been moved aside{}; started empty: \
                     messages not yet delivered before the failure are in the moved copy only",
                    moved_aside
                        .as_ref()
                        .map(|p| format!(" to {}", p.display()))
                        .unwrap_or_default()
                ),
                evidence: serde_json::json!({
                    "error": reason,
                    "moved_to": moved_aside.as_ref().map(|p| p.display().to_string()),
                }),
            })
        };
        // The database was replaced, which ends the condition; the raised event carries the
        // evidence, the cleared one closes it for alarm lists that track state.
        store.append_blocking(&[alert(AlertState::Raised), alert(AlertState::Cleared)])?;
    }
    Ok(store)
}

/// Open an existing store for reading (the `inspect` path): no directory is created, nothing
/// is moved aside, a corrupt database is reported as an error. Holds the lock while open.
pub fn open_existing(data_dir: &Path) -> Result<Store, StoreError> {
    let db_path = data_dir.join(DB_DIR);
    if !db_path.is_dir() {
        return Err(StoreError::NoDatabase {
            path: data_dir.to_path_buf(),
        });
    }
    let lock = lock(data_dir)?;
    let cfg = StoreConfig {
        data_dir: data_dir.to_path_buf(),
        ..StoreConfig::default()
    };
    let (db, scan) = open_and_scan(&db_path, &cfg).map_err(|e| StoreError::Open {
        path: db_path.clone(),
        source: sled::Error::Unsupported(e),
    })?;
    let state = db.open_tree("state")?;
    let epoch = state
        .get("epoch")?
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default();
    let counters = Counters::default();
    for name in COUNTER_KEYS {
        if let (Some(v), Some(c)) = (state.get(name)?, counters.get(name)) {
            c.store(be_u64(&v).unwrap_or(0), Ordering::Relaxed);
        }
    }
    let next_seq = scan.last_outbox_seq.map_or(0, |s| s + 1);
    let (durable, _) = watch::channel(next_seq);
    Ok(Store {
        inner: Arc::new(Inner {
            outbox: db.open_tree("outbox")?,
            predictions: db.open_tree("predictions")?,
            drift: db.open_tree("drift")?,
            alerts: db.open_tree("alerts")?,
            state,
            db,
            cfg,
            envelope: Envelope {
                site: String::new(),
                line: String::new(),
                topic_prefix: String::new(),
                topics: Default::default(),
            },
            epoch,
            used: AtomicU64::new(scan.used),
            depth: AtomicU64::new(scan.outbox),
            predictions_len: AtomicU64::new(scan.predictions),
            drift_len: AtomicU64::new(scan.drift),
            alerts_len: AtomicU64::new(scan.alerts),
            counters,
            durable,
            append: Mutex::new(AppendState {
                next_seq,
                full: None,
                full_count: 0,
            }),
            moved_aside: None,
            _lock: lock,
        }),
    })
}
