//! Errors of the store. Each names the path or the entry concerned so that an operator can act
//! on it without reading code.

use std::path::PathBuf;

/// What can go wrong opening or writing the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory cannot be created or written (permissions, read-only mount).
    #[error(
        "store data_dir {path}: not writable ({source}); create it and give the chocoline user \
         write access, or set [store] data_dir"
    )]
    DataDirNotWritable {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Another process (a running chocoline daemon) holds the data directory's lock.
    #[error("store data_dir {path} is in use by another chocoline process (lock {lock} is held)")]
    Locked {
        /// The directory.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// A corrupt database could not be moved aside.
    #[error("store database {from} is corrupt and moving it aside to {to} failed: {source}")]
    MoveAside {
        /// The corrupt database directory.
        from: PathBuf,
        /// Where it should have gone.
        to: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// sled failed while opening a freshly created database: the disk itself is the problem.
    #[error("store database {path}: {source}")]
    Open {
        /// The database directory.
        path: PathBuf,
        /// The sled error.
        #[source]
        source: sled::Error,
    },
    /// `inspect` was pointed at a directory without a chocoline database.
    #[error("no chocoline database in {path} (expected {path}/db): check --data-dir")]
    NoDatabase {
        /// The data directory.
        path: PathBuf,
    },
    /// A sled read or write failed.
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// A record could not be serialised.
    #[error("store: encoding a record: {0}")]
    Encode(#[from] serde_json::Error),
    /// A single message is larger than the whole disk budget.
    #[error("store: a message of {size} bytes does not fit in [store] max_bytes = {max} bytes")]
    TooLarge {
        /// Encoded size.
        size: u64,
        /// The budget.
        max: u64,
    },
    /// An outbox or history entry could not be decoded.
    #[error("store: {tree} entry {key}: {reason}")]
    BadEntry {
        /// Tree name.
        tree: &'static str,
        /// Key, hex.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Writing the inspect snapshot failed.
    #[error("store: writing snapshot {path}: {source}")]
    Snapshot {
        /// The snapshot file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `inspect` could not copy the database to a scratch directory.
    #[error("store: copying {path} to a scratch directory for inspection: {source}")]
    Scratch {
        /// The database directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The store runs without its database (disk full, or sled failed and waits for room to
    /// open it again).
    #[error("store: the database is not open (disk full or failed); running from memory")]
    Unavailable,
}
