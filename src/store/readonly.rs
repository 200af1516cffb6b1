//! `inspect`'s view of a database: opened on a scratch copy, never in place.
//!
//! sled has no read-only mode, and opening a database recovers it — truncating a torn log,
//! rewriting its config, starting a new segment. On a corrupt database that would change the
//! very files a post-mortem needs. So the database directory is copied to a scratch directory
//! (`$TMPDIR/chocoline-inspect-<pid>-<n>`, removed when the store is dropped) and the copy is
//! opened; the original is only read. The data directory's lock is held meanwhile, so the
//! daemon cannot start writing halfway through the copy.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::config::StoreConfig;
use super::db::Store;
use super::error::StoreError;
use super::ledger;
use super::open::{DB_DIR, Parts, assemble, lock, open_and_scan};
use crate::wire::Envelope;

/// A scratch directory removed on drop.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// A new, empty scratch directory under the system temp dir.
    pub fn new() -> io::Result<Scratch> {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("chocoline-inspect-{}-{n}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Copy a directory tree (regular files and subdirectories).
fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Open an existing store for reading (the `inspect` path): nothing in `data_dir` is created,
/// moved or modified; a corrupt database is reported as an error. Holds the lock while open.
pub fn open_existing(data_dir: &Path) -> Result<Store, StoreError> {
    let db_path = data_dir.join(DB_DIR);
    if !db_path.is_dir() {
        return Err(StoreError::NoDatabase {
            path: data_dir.to_path_buf(),
        });
    }
    let lock = lock(data_dir)?;
    let scratch_err = |source| StoreError::Scratch {
        path: db_path.clone(),
        source,
    };
    let scratch = Scratch::new().map_err(scratch_err)?;
    let copy = scratch.path().join(DB_DIR);
    copy_tree(&db_path, &copy).map_err(scratch_err)?;
    let cfg = StoreConfig {
        data_dir: data_dir.to_path_buf(),
        ..StoreConfig::default()
    };
    let (db, scan) = open_and_scan(&copy, &cfg).map_err(|e| StoreError::Open {
        path: db_path.clone(),
        source: sled::Error::Unsupported(e),
    })?;
    let state = db.open_tree("state")?;
    let db_epoch = state
        .get("epoch")?
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default();
    let generation = ledger::read(data_dir)
        .ok()
        .flatten()
        .map_or_else(|| "?".to_string(), |r| r.generation.to_string());
    assemble(
        Some((db, &scan)),
        Parts {
            cfg,
            envelope: Envelope {
                site: String::new(),
                line: String::new(),
                topic_prefix: String::new(),
                topics: Default::default(),
                max_message_bytes: crate::wire::DEFAULT_MAX_MESSAGE_BYTES,
            },
            epoch: format!("{db_epoch}.{generation}"),
            next_seq: scan.last_outbox_seq.map_or(0, |s| s + 1),
            moved_aside: None,
            ledger: None,
            lock: Some(lock),
            scratch: Some(scratch),
        },
    )
}
