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
use std::sync::{Mutex, RwLock};
use tokio::sync::watch;

use super::config::StoreConfig;
use super::db::{AppendState, COUNTER_KEYS, Counters, Inner, Store, Trees, be_u64, cost};
use super::error::StoreError;
use super::keys;
use super::ledger::{self, Ledger, Recorded};
use super::recovery;
use crate::wire::Envelope;

/// Name of the sled directory inside `data_dir`.
pub const DB_DIR: &str = "db";
/// Name of the lock file inside `data_dir`.
pub const LOCK_FILE: &str = "chocoline.lock";

/// Sums gathered by reading every tree once.
#[derive(Default)]
pub(super) struct Scan {
    pub used: u64,
    pub outbox: u64,
    pub predictions: u64,
    pub drift: u64,
    pub alerts: u64,
    pub last_outbox_seq: Option<u64>,
}

/// Make sure `dir` exists and is writable; a clear error otherwise.
pub fn ensure_writable(dir: &Path) -> Result<(), StoreError> {
    let err = |source| StoreError::DataDirNotWritable {
        path: dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(dir).map_err(err)?;
    let probe = dir.join(".write-probe");
    let written = fs::File::create(&probe).and_then(|mut f| {
        f.write_all(b"ok")?;
        f.sync_all()
    });
    let _ = fs::remove_file(&probe);
    match written {
        Ok(()) => Ok(()),
        // A full disk is not a permission problem: the store starts and runs from memory.
        Err(e) if e.kind() == std::io::ErrorKind::StorageFull => {
            tracing::warn!(dir = %dir.display(), "data directory is on a full disk");
            Ok(())
        }
        Err(e) => Err(err(e)),
    }
}

/// True when the disk holding `dir` has less than `reserve` bytes free.
pub(super) fn disk_full(dir: &Path, reserve: u64) -> bool {
    fs2::available_space(dir).is_ok_and(|f| f < reserve)
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
pub(super) fn open_and_scan(path: &Path, cfg: &StoreConfig) -> Result<(sled::Db, Scan), String> {
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

/// What went wrong with the database file itself while opening.
pub(super) struct Quarantine {
    /// sled's error or panic message.
    pub reason: String,
    /// Where the unreadable database was moved.
    pub moved_aside: Option<PathBuf>,
}

/// What opening sled gave.
pub(super) type Opened = (sled::Db, Scan, Option<Quarantine>);

/// Open sled; if it is unreadable move it aside and open a fresh one. None when the disk is
/// full: a database that cannot be opened for lack of room is not corrupt.
fn open_or_quarantine(dir: &Path, cfg: &StoreConfig) -> Result<Option<Opened>, StoreError> {
    let db_path = dir.join(DB_DIR);
    let reserve = cfg.reserve_bytes.get();
    if disk_full(dir, reserve) {
        return Ok(None);
    }
    let reason = match open_and_scan(&db_path, cfg) {
        Ok((db, scan)) => return Ok(Some((db, scan, None))),
        Err(reason) => reason,
    };
    if disk_full(dir, reserve) || reason.contains("os error 28") {
        tracing::error!(error = %reason, "store database cannot be opened on a full disk");
        return Ok(None);
    }
    quarantine(dir, cfg, reason).map(Some)
}

/// Move an unreadable database aside and open a fresh one.
pub(super) fn quarantine(
    dir: &Path,
    cfg: &StoreConfig,
    reason: String,
) -> Result<Opened, StoreError> {
    let db_path = dir.join(DB_DIR);
    let to = aside_path(dir);
    tracing::error!(db = %db_path.display(), moved_to = %to.display(), error = %reason,
        "store database unreadable: moving it aside and starting fresh");
    let mut moved_aside = None;
    if db_path.exists() {
        fs::rename(&db_path, &to).map_err(|source| StoreError::MoveAside {
            from: db_path.clone(),
            to: to.clone(),
            source,
        })?;
        moved_aside = Some(to);
    }
    let (db, scan) = open_and_scan(&db_path, cfg).map_err(|e| StoreError::Open {
        path: db_path.clone(),
        source: sled::Error::Unsupported(e),
    })?;
    Ok((
        db,
        scan,
        Some(Quarantine {
            reason,
            moved_aside,
        }),
    ))
}

/// The database epoch: kept, or drawn anew when there is none yet or when `rotate` (the ledger
/// that guards the sequence was missing or damaged, so ids could otherwise repeat).
fn db_epoch(state: &sled::Tree, rotate: bool) -> Result<String, StoreError> {
    if let Some(v) = state.get("epoch")?
        && !rotate
    {
        return Ok(String::from_utf8_lossy(&v).into_owned());
    }
    let e = format!("{:08x}", rand::rng().random::<u32>());
    state.insert("epoch", e.as_bytes())?;
    Ok(e)
}

/// Read the persisted drop counters.
fn load_counters(state: &sled::Tree) -> Result<Counters, StoreError> {
    let counters = Counters::default();
    for name in COUNTER_KEYS {
        if let (Some(v), Some(c)) = (state.get(name)?, counters.get(name)) {
            c.store(be_u64(&v).unwrap_or(0), Ordering::Relaxed);
        }
    }
    Ok(counters)
}

/// Everything [`assemble`] needs besides the database.
pub(super) struct Parts {
    pub cfg: StoreConfig,
    pub envelope: Envelope,
    pub epoch: String,
    pub next_seq: u64,
    pub moved_aside: Option<PathBuf>,
    pub ledger: Option<Ledger>,
    pub lock: Option<fs::File>,
    pub scratch: Option<super::readonly::Scratch>,
}

/// Build the store handle around an open database (None: without one, from memory).
pub(super) fn assemble(db: Option<(sled::Db, &Scan)>, p: Parts) -> Result<Store, StoreError> {
    let empty = Scan::default();
    let (trees, scan) = match db {
        Some((db, scan)) => (Some(Arc::new(Trees::of(db)?)), scan),
        None => (None, &empty),
    };
    let counters = match &trees {
        Some(t) => load_counters(&t.state)?,
        None => Counters::default(),
    };
    let (durable, _) = watch::channel(p.next_seq);
    Ok(Store {
        inner: Arc::new(Inner {
            trees: RwLock::new(trees),
            volatile: Mutex::new(Default::default()),
            latest: Mutex::new(Default::default()),
            cfg: p.cfg,
            envelope: p.envelope,
            epoch: p.epoch,
            used: AtomicU64::new(scan.used),
            depth: AtomicU64::new(scan.outbox),
            predictions_len: AtomicU64::new(scan.predictions),
            drift_len: AtomicU64::new(scan.drift),
            alerts_len: AtomicU64::new(scan.alerts),
            counters,
            durable,
            append: Mutex::new(AppendState {
                next_seq: p.next_seq,
                full: None,
                full_count: 0,
                rejected: Default::default(),
            }),
            moved_aside: p.moved_aside,
            ledger: p.ledger,
            _lock: p.lock,
            _scratch: p.scratch,
        }),
    })
}

/// Open (or create) the store under `cfg.data_dir`.
///
/// After sled is open: the ledger starts a new generation (fsynced), a rollback of the log or a
/// quarantined database is reported as `store_corrupt` with the undelivered messages it lost,
/// and alerts left open by the previous run are closed with reason `restart`.
pub fn open(cfg: &StoreConfig, envelope: Envelope) -> Result<Store, StoreError> {
    let dir = cfg.data_dir.clone();
    ensure_writable(&dir)?;
    let lock = lock(&dir)?;
    let recorded = ledger::read(&dir);
    if let Err(reason) = &recorded {
        tracing::warn!(error = %reason, "store ledger damaged: a new database epoch keeps ids unique");
    }
    let prev = recorded.as_ref().ok().copied().flatten();
    let Some((db, scan, quarantine)) = open_or_quarantine(&dir, cfg)? else {
        return start_without_db(cfg, envelope, lock, prev);
    };

    let state = db.open_tree("state")?;
    let db_epoch = db_epoch(&state, prev.is_none())?;
    let stored_next = state
        .get("next_seq")?
        .as_deref()
        .and_then(be_u64)
        .unwrap_or(0);
    let sled_next = stored_next.max(scan.last_outbox_seq.map_or(0, |s| s + 1));
    let rollback = prev.and_then(|r| recovery::Rollback::check(r, sled_next));
    let base = prev.unwrap_or_default();
    let ledger = Ledger::begin(
        &dir,
        Recorded {
            generation: base.generation.saturating_add(1),
            next_seq: sled_next.max(base.next_seq),
            acked_max: base.acked_max,
        },
    )
    .map_err(|source| StoreError::DataDirNotWritable {
        path: dir.clone(),
        source,
    })?;
    let store = assemble(
        Some((db, &scan)),
        Parts {
            cfg: cfg.clone(),
            envelope,
            epoch: format!("{db_epoch}.{}", ledger.generation()),
            next_seq: sled_next.max(base.next_seq),
            moved_aside: quarantine.as_ref().and_then(|q| q.moved_aside.clone()),
            ledger: Some(ledger),
            lock: Some(lock),
            scratch: None,
        },
    )?;
    store.trees()?.db.flush()?;
    recovery::report(&store, quarantine, rollback)?;
    recovery::close_left_open(&store)?;
    Ok(store)
}

/// Start on a full disk: no database, alerts from memory, the database opened once there is
/// room (`volatile.rs`). The database epoch is in sled, out of reach: a random one for this run
/// keeps ids unique.
fn start_without_db(
    cfg: &StoreConfig,
    envelope: Envelope,
    lock: fs::File,
    prev: Option<Recorded>,
) -> Result<Store, StoreError> {
    let base = prev.unwrap_or_default();
    let ledger = Ledger::begin(
        &cfg.data_dir,
        Recorded {
            generation: base.generation.saturating_add(1),
            ..base
        },
    )
    .map_err(|e| tracing::warn!(error = %e, "store ledger not written (disk full)"))
    .ok();
    let generation = ledger.as_ref().map_or(0, |l| l.generation());
    let epoch = format!("{:08x}.{generation}", rand::rng().random::<u32>());
    let store = assemble(
        None,
        Parts {
            cfg: cfg.clone(),
            envelope,
            epoch,
            next_seq: base.next_seq,
            moved_aside: None,
            ledger,
            lock: Some(lock),
            scratch: None,
        },
    )?;
    store.enter_volatile(format!(
        "disk full at start: {} has under [store] reserve_bytes = {} free",
        cfg.data_dir.display(),
        cfg.reserve_bytes.get()
    ));
    store.lock_volatile()?.restart_clears_due = true;
    Ok(store)
}
