//! The label journal `<data_dir>/labels/labels.jsonl` (docs/capture.md, "Labels"): one
//! label a line, appended under an exclusive `flock` on `labels/labels.lock`, all of one
//! call's labels in one write, fsynced before success is reported. Readers skip a torn or
//! foreign line; the last label of a batch wins.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::label::{Label, LabelError};
use crate::capture::read::{CaptureReadError, batches, capture_dir};

/// The labels folder's name inside the data directory.
pub const DIR: &str = "labels";
/// The journal's file name inside the labels folder.
pub const JOURNAL: &str = "labels.jsonl";
/// The lock file's name inside the labels folder (writers hold an exclusive flock on it).
pub const LOCK: &str = "labels.lock";

/// A batch of labels was refused or could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum LabelsError {
    /// One of the labels is not valid (nothing was stored).
    #[error("label {index} (batch {batch_id:?}): {source}")]
    Invalid {
        /// Its position in the batch of labels, from 0.
        index: usize,
        /// Its batch id.
        batch_id: String,
        /// What is wrong.
        source: LabelError,
    },
    /// Labels for batches the capture does not know (nothing was stored).
    #[error(
        "unknown batch {}{}: no batch line with that id in {} (it knows {known} batches{})",
        unknown[0].1,
        more(unknown),
        capture.display(),
        none_hint(*known)
    )]
    UnknownBatches {
        /// Each label refused: its position in the batch of labels and its batch id.
        unknown: Vec<(usize, String)>,
        /// How many batches the capture knows.
        known: usize,
        /// The capture folder that was read.
        capture: PathBuf,
    },
    /// The capture could not be read.
    #[error(transparent)]
    Capture(#[from] CaptureReadError),
    /// A file of the labels folder could not be created, locked, written, synced or read.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// ` (and 2 more: 1002, 1003)` after the first unknown batch id.
fn more(unknown: &[(usize, String)]) -> String {
    if unknown.len() < 2 {
        return String::new();
    }
    let rest: Vec<&str> = unknown[1..].iter().map(|(_, id)| id.as_str()).collect();
    format!(" (and {} more: {})", rest.len(), rest.join(", "))
}

/// Why a capture may know no batch at all.
pub(crate) fn none_hint(known: usize) -> &'static str {
    if known == 0 {
        ": none closed yet, or the agent runs with `[capture] enabled = false`"
    } else {
        ""
    }
}

/// `<data_dir>/labels`.
pub fn labels_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(DIR)
}

/// `<data_dir>/labels/labels.jsonl`.
pub fn journal_path(data_dir: &Path) -> PathBuf {
    labels_dir(data_dir).join(JOURNAL)
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LabelsError + '_ {
    move |source| LabelsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Every label valid, or the first that is not.
fn validate_all(labels: &[Label]) -> Result<(), LabelsError> {
    for (index, l) in labels.iter().enumerate() {
        l.validate().map_err(|source| LabelsError::Invalid {
            index,
            batch_id: l.batch_id.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Refuse labels for batches the capture in `data_dir` does not know: every such label is
/// named in the error. Reads the capture's segments (not the store).
pub fn check_known(data_dir: &Path, labels: &[Label]) -> Result<(), LabelsError> {
    let known = batches(data_dir)?;
    let unknown: Vec<(usize, String)> = labels
        .iter()
        .enumerate()
        .filter(|(_, l)| !known.contains_key(&l.batch_id))
        .map(|(i, l)| (i, l.batch_id.clone()))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(LabelsError::UnknownBatches {
        unknown,
        known: known.len(),
        capture: capture_dir(data_dir),
    })
}

/// Store `labels` after checking every one: valid, and for a batch the capture knows
/// ([`check_known`]). Any refusal stores nothing.
pub fn append_checked(data_dir: &Path, labels: &[Label]) -> Result<(), LabelsError> {
    validate_all(labels)?;
    check_known(data_dir, labels)?;
    append(data_dir, labels)
}

/// Create `dir` if missing, fsyncing its parent when it was created.
fn ensure_dir(dir: &Path) -> Result<(), LabelsError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let parent = dir.parent().unwrap_or(Path::new("."));
    sync_dir(parent)
}

fn sync_dir(dir: &Path) -> Result<(), LabelsError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Whether the file (of `len` bytes) ends in a newline; an empty file does.
fn ends_in_newline(f: &File, len: u64) -> io::Result<bool> {
    if len == 0 {
        return Ok(true);
    }
    let mut last = [0u8; 1];
    f.read_exact_at(&mut last, len - 1)?;
    Ok(last[0] == b'\n')
}

/// Append `labels` to the journal: all of them valid (else nothing is written), under the
/// exclusive lock, in one write, fsynced before returning. A journal left without its final
/// newline (a writer killed mid-write) gets one first, so the torn line stays alone and is
/// skipped. If the write fails the journal is cut back to its previous length. Does not
/// check the batches against the capture ([`append_checked`] does).
pub fn append(data_dir: &Path, labels: &[Label]) -> Result<(), LabelsError> {
    validate_all(labels)?;
    if labels.is_empty() {
        return Ok(());
    }
    let dir = labels_dir(data_dir);
    ensure_dir(&dir)?;
    let lock_path = dir.join(LOCK);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err(&lock_path))?;
    lock.lock().map_err(io_err(&lock_path))?;
    let path = dir.join(JOURNAL);
    let created = !path.exists();
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(&path)
        .map_err(io_err(&path))?;
    if created {
        sync_dir(&dir)?;
    }
    let len = file.metadata().map_err(io_err(&path))?.len();
    let mut text = String::new();
    if !ends_in_newline(&file, len).map_err(io_err(&path))? {
        text.push('\n');
    }
    text.extend(labels.iter().map(Label::to_line));
    let written = (&file)
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_data());
    if let Err(e) = written {
        // All or nothing: cut a partial write off (still under the lock).
        let _ = file.set_len(len).and_then(|()| file.sync_data());
        return Err(io_err(&path)(e));
    }
    // The lock is released when `lock` is dropped.
    drop(lock);
    Ok(())
}

/// What the journal holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Journal {
    /// Every valid label, in writing order.
    pub labels: Vec<Label>,
    /// Lines skipped: torn (no final newline), not JSON, or not a valid label.
    pub skipped: usize,
}

/// Read the whole journal; empty when there is none yet. Takes no lock: a line being
/// appended has no final newline yet and is skipped.
pub fn scan(data_dir: &Path) -> Result<Journal, LabelsError> {
    let path = journal_path(data_dir);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Journal::default()),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let mut reader = BufReader::new(file);
    let mut journal = Journal::default();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(io_err(&path))? == 0 {
            return Ok(journal);
        }
        let label = buf
            .strip_suffix(b"\n")
            .and_then(|text| std::str::from_utf8(text).ok())
            .and_then(|text| Label::from_json(text).ok());
        match label {
            Some(l) => journal.labels.push(l),
            None => journal.skipped += 1,
        }
    }
}

/// Every label in the journal, in writing order (torn and foreign lines skipped).
pub fn read(data_dir: &Path) -> Result<Vec<Label>, LabelsError> {
    Ok(scan(data_dir)?.labels)
}

/// The label in force for each batch: the last one written.
pub fn latest(data_dir: &Path) -> Result<BTreeMap<String, Label>, LabelsError> {
    Ok(read(data_dir)?
        .into_iter()
        .map(|l| (l.batch_id.clone(), l))
        .collect())
}
