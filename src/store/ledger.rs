//! The sequence ledger: a 32-byte file beside the database (`DATA_DIR/ledger`) that remembers,
//! outside sled, what sled alone cannot prove after a torn log.
//!
//! sled recovers a damaged log by truncating it at the first bad record. After a `kill -9`
//! followed by a flipped byte (or a cut) in its newest file, the database silently opens as it
//! was minutes earlier: undelivered messages are gone and the outbox sequence rewinds. Two
//! numbers kept here turn that into something the store can see and report:
//!
//! - `generation`: incremented and **fsynced on every open, before anything is published**. It is
//!   part of every message id (`{epoch}.{generation}-{seq}`), and the id is stored in the message
//!   when it is written, so a re-send keeps its id while a rewound sequence can never give an
//!   already-published id to a different payload;
//! - `next_seq`: the durable bound after the last flush, and `acked_max`, the highest sequence the
//!   broker acknowledged. If sled opens with a lower bound than `next_seq`, the log rolled back:
//!   the messages in `[max(sled bound, acked_max + 1), next_seq)` were lost undelivered.
//!
//! Layout (little-endian): `b"CLG1" | u32 generation | u64 next_seq | u64 acked_max + 1 (0 =
//! none) | u32 crc32 of the first 28 bytes`. It is rewritten in place with one `pwrite` of 32
//! bytes after each group commit (no fsync: a killed process does not lose the page cache, and a
//! ledger that is behind only under-reports). A missing or damaged ledger makes the store choose
//! a new random database epoch, so ids stay unique without it.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Name of the ledger file inside `data_dir`.
pub const LEDGER_FILE: &str = "ledger";

const MAGIC: &[u8; 4] = b"CLG1";
const LEN: usize = 32;

/// What a ledger file held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recorded {
    /// Opens so far.
    pub generation: u32,
    /// Durable bound (exclusive) after the last recorded flush.
    pub next_seq: u64,
    /// Highest acknowledged sequence, if any.
    pub acked_max: Option<u64>,
}

impl Recorded {
    fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[..4].copy_from_slice(MAGIC);
        b[4..8].copy_from_slice(&self.generation.to_le_bytes());
        b[8..16].copy_from_slice(&self.next_seq.to_le_bytes());
        let acked = self.acked_max.map_or(0, |a| a.saturating_add(1));
        b[16..24].copy_from_slice(&acked.to_le_bytes());
        let crc = crc32fast::hash(&b[..28]);
        b[28..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Result<Self, &'static str> {
        if b.len() != LEN {
            return Err("wrong length");
        }
        if &b[..4] != MAGIC {
            return Err("bad magic");
        }
        let le32 =
            |r: std::ops::Range<usize>| u32::from_le_bytes(b[r].try_into().unwrap_or([0; 4]));
        let le64 =
            |r: std::ops::Range<usize>| u64::from_le_bytes(b[r].try_into().unwrap_or([0; 8]));
        if le32(28..32) != crc32fast::hash(&b[..28]) {
            return Err("checksum mismatch");
        }
        let acked = le64(16..24);
        Ok(Recorded {
            generation: le32(4..8),
            next_seq: le64(8..16),
            acked_max: acked.checked_sub(1),
        })
    }
}

/// Read the ledger of `dir`: `Ok(None)` when there is none, `Err(reason)` when it is damaged.
pub fn read(dir: &Path) -> Result<Option<Recorded>, String> {
    match std::fs::read(dir.join(LEDGER_FILE)) {
        Ok(b) => Recorded::decode(&b)
            .map(Some)
            .map_err(|r| format!("{}: {r}", dir.join(LEDGER_FILE).display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", dir.join(LEDGER_FILE).display())),
    }
}

/// The open ledger of a running store.
#[derive(Debug)]
pub struct Ledger {
    file: Mutex<File>,
    generation: u32,
    next_seq: AtomicU64,
    /// `acked_max + 1`; 0 = nothing acknowledged yet.
    acked: AtomicU64,
}

impl Ledger {
    /// Start a new generation: write `generation`, `next_seq` and `acked_max` and fsync the file
    /// (and the directory when the file is new) before returning.
    pub fn begin(dir: &Path, rec: Recorded) -> io::Result<Ledger> {
        let path = dir.join(LEDGER_FILE);
        let existed = path.exists();
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)?;
        file.set_len(LEN as u64)?;
        file.write_all_at(&rec.encode(), 0)?;
        file.sync_all()?;
        if !existed {
            File::open(dir)?.sync_all()?;
        }
        Ok(Ledger {
            file: Mutex::new(file),
            generation: rec.generation,
            next_seq: AtomicU64::new(rec.next_seq),
            acked: AtomicU64::new(rec.acked_max.map_or(0, |a| a + 1)),
        })
    }

    /// This open's generation.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Note an acknowledged sequence (memory only; written with the next [`Ledger::write`]).
    pub fn note_acked(&self, seq: u64) {
        self.acked
            .fetch_max(seq.saturating_add(1), Ordering::Relaxed);
    }

    /// Note a new durable bound and write the ledger (one `pwrite`, no fsync).
    pub fn note_durable(&self, next_seq: u64) -> io::Result<()> {
        self.next_seq.fetch_max(next_seq, Ordering::Relaxed);
        self.write()
    }

    /// The values as they would be written now.
    pub fn current(&self) -> Recorded {
        Recorded {
            generation: self.generation,
            next_seq: self.next_seq.load(Ordering::Relaxed),
            acked_max: self.acked.load(Ordering::Relaxed).checked_sub(1),
        }
    }

    /// Rewrite the file with the current values.
    pub fn write(&self) -> io::Result<()> {
        let file = self
            .file
            .lock()
            .map_err(|_| io::Error::other("ledger lock poisoned"))?;
        // Read the values under the lock so that a later write never carries older numbers.
        file.write_all_at(&self.current().encode(), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_damage() {
        let r = Recorded {
            generation: 7,
            next_seq: 140,
            acked_max: Some(39),
        };
        let b = r.encode();
        assert_eq!(Recorded::decode(&b), Ok(r));
        for i in 0..LEN {
            let mut bad = b;
            bad[i] ^= 0x10;
            assert!(Recorded::decode(&bad).is_err(), "flip at {i} not seen");
        }
        assert!(Recorded::decode(&b[..31]).is_err());
        let none = Recorded {
            acked_max: None,
            ..r
        };
        assert_eq!(Recorded::decode(&none.encode()), Ok(none));
    }

    #[test]
    fn begin_persists_and_updates_never_go_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()), Ok(None));
        let l = Ledger::begin(
            dir.path(),
            Recorded {
                generation: 1,
                ..Recorded::default()
            },
        )
        .unwrap();
        l.note_durable(10).unwrap();
        l.note_acked(4);
        l.note_acked(2);
        l.note_durable(8).unwrap();
        let got = read(dir.path()).unwrap().unwrap();
        assert_eq!(
            got,
            Recorded {
                generation: 1,
                next_seq: 10,
                acked_max: Some(4)
            }
        );
        std::fs::write(dir.path().join(LEDGER_FILE), b"garbage").unwrap();
        assert!(read(dir.path()).is_err());
    }
}
