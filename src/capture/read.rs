//! Reading capture segments back (docs/capture.md): every segment of `<data_dir>/capture/` in
//! writing order (by [`super::line::segment_number`]), line by line, streamed. A torn or foreign line (no
//! final `\n`, not UTF-8, not a [`Line`]) is skipped and counted, never an error; files that
//! are not segments are ignored. Safe while the agent writes: it only appends, and a segment
//! deleted by rotation between listing and opening is passed over.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::line::{BatchLine, Line, decode, list_segments};

/// The capture folder's name inside the data directory.
pub const DIR: &str = "capture";

/// Reading the capture failed (a torn line never does).
#[derive(Debug, thiserror::Error)]
pub enum CaptureReadError {
    /// The capture folder exists but cannot be listed.
    #[error("cannot list the capture folder {path}: {source}")]
    List {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A segment cannot be opened (other than gone: rotation deletes old segments).
    #[error("cannot open the capture segment {path}: {source}")]
    Open {
        /// The segment.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A segment cannot be read.
    #[error("cannot read the capture segment {path}: {source}")]
    Read {
        /// The segment.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// `<data_dir>/capture`.
pub fn capture_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(DIR)
}

/// The segment files of `<data_dir>/capture/` in writing order; none when the folder is
/// missing.
pub fn segments(data_dir: &Path) -> Result<Vec<PathBuf>, CaptureReadError> {
    let dir = capture_dir(data_dir);
    let found =
        list_segments(&dir).map_err(|source| CaptureReadError::List { path: dir, source })?;
    Ok(found.into_iter().map(|(_, path)| path).collect())
}

/// Every line of every segment, in writing order, one segment open at a time and one line
/// in memory at a time. Yields an error (then goes on with the next segment) when a segment
/// cannot be opened or read.
#[derive(Debug)]
pub struct Lines {
    pending: std::vec::IntoIter<PathBuf>,
    current: Option<(PathBuf, BufReader<File>)>,
    buf: Vec<u8>,
    skipped: u64,
    bytes: u64,
    only: Option<&'static str>,
}

impl Lines {
    /// Yield only lines of kind `kind` (`"batch"`, `"sample"`, …): the others are passed
    /// over by their `{"k":"…"` prefix, as the writer puts it, without being decoded (a
    /// large capture holds far more samples than batches).
    pub fn only(mut self, kind: &'static str) -> Lines {
        self.only = Some(kind);
        self
    }

    /// Torn or undecodable lines passed over so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Bytes of segment text read so far (every line, yielded or not): for progress reports.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// Open the next segment; false when none is left.
    fn open_next(&mut self) -> Result<bool, CaptureReadError> {
        for path in self.pending.by_ref() {
            match File::open(&path) {
                Ok(f) => {
                    self.current = Some((path, BufReader::new(f)));
                    return Ok(true);
                }
                // Deleted by the agent's rotation since the folder was listed.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(CaptureReadError::Open { path, source }),
            }
        }
        Ok(false)
    }
}

/// The text of the line in `raw` (as read, with its `\n` if it had one); None when torn.
fn whole(raw: &[u8]) -> Option<&[u8]> {
    let text = raw.strip_suffix(b"\n")?;
    // A crash can leave a run of NUL bytes where the file system had allocated a block that
    // was never written; the line after it is still whole.
    let start = text.iter().position(|&b| b != 0).unwrap_or(text.len());
    Some(&text[start..])
}

/// Whether `text` is, by its prefix, a line of another kind than `kind`.
fn other_kind(text: &[u8], kind: &str) -> bool {
    text.strip_prefix(br#"{"k":""#).is_some_and(|rest| {
        !(rest.starts_with(kind.as_bytes()) && rest.get(kind.len()) == Some(&b'"'))
    })
}

impl Iterator for Lines {
    type Item = Result<Line, CaptureReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some((path, reader)) = self.current.as_mut() else {
                match self.open_next() {
                    Ok(true) => continue,
                    Ok(false) => return None,
                    Err(e) => return Some(Err(e)),
                }
            };
            self.buf.clear();
            match reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => self.current = None,
                Ok(n) => {
                    self.bytes += n as u64;
                    let text = whole(&self.buf);
                    if let (Some(text), Some(kind)) = (text, self.only)
                        && other_kind(text, kind)
                    {
                        continue;
                    }
                    match text.and_then(|t| decode(std::str::from_utf8(t).ok()?)) {
                        Some(line) => return Some(Ok(line)),
                        None => self.skipped += 1,
                    }
                }
                Err(source) => {
                    let path = path.clone();
                    self.current = None;
                    return Some(Err(CaptureReadError::Read { path, source }));
                }
            }
        }
    }
}

/// Every line of the capture in `data_dir` (see [`Lines`]); nothing when there is no capture
/// folder.
pub fn lines(data_dir: &Path) -> Result<Lines, CaptureReadError> {
    Ok(Lines {
        pending: segments(data_dir)?.into_iter(),
        current: None,
        buf: Vec::new(),
        skipped: 0,
        bytes: 0,
        only: None,
    })
}

/// The batches the capture in `data_dir` knows: batch id → its newest `batch` line (the last
/// one written). Empty when there is no capture folder.
pub fn batches(data_dir: &Path) -> Result<BTreeMap<String, BatchLine>, CaptureReadError> {
    let mut found = BTreeMap::new();
    for line in lines(data_dir)?.only("batch") {
        if let Line::Batch(b) = line? {
            found.insert(b.batch_id.clone(), b);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::super::line::{SampleLine, encode, segment_name};
    use super::*;
    use crate::domain::Quality;
    use std::io::Write;

    fn batch(id: &str, ts: i64) -> Line {
        Line::Batch(BatchLine {
            ts,
            batch_id: id.into(),
            product: Some("3".into()),
            lot: None,
            start_ms: ts - 100,
            end_ms: ts,
            samples: 100,
        })
    }

    fn sample(ts: i64) -> Line {
        Line::Sample(SampleLine {
            ts,
            device: "plc".into(),
            values: [("batch_id".to_string(), Some(1001.0))].into(),
            quality: [("batch_id".to_string(), Quality::Good)].into(),
        })
    }

    fn write_segment(data_dir: &Path, n: u64, text: &[u8]) {
        let dir = capture_dir(data_dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut f = File::create(dir.join(segment_name(1_796_560_000_000 + n as i64, n))).unwrap();
        f.write_all(text).unwrap();
    }

    #[test]
    fn kinds_are_told_by_prefix() {
        assert!(other_kind(br#"{"k":"sample","ts":1}"#, "batch"));
        assert!(other_kind(br#"{"k":"batches","ts":1}"#, "batch"));
        assert!(!other_kind(br#"{"k":"batch","ts":1}"#, "batch"));
        assert!(
            !other_kind(br#"{ "k": "sample"}"#, "batch"),
            "unknown layout: decoded"
        );
    }

    #[test]
    fn missing_folder_has_no_batches() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(batches(tmp.path()).unwrap().is_empty());
        assert_eq!(lines(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn segments_are_read_in_number_order_torn_lines_skipped_others_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        // Segment 10 sorts after 9 by number (and by name, the numbers being zero-padded).
        let mut ten = encode(&sample(30)) + &encode(&batch("1001", 31));
        ten.push_str(r#"{"k":"batch","ts":3"#); // torn: no final newline
        write_segment(d, 10, ten.as_bytes());
        let nine = encode(&batch("1001", 20)) + "not json\n" + &encode(&batch("1002", 21));
        write_segment(d, 9, nine.as_bytes());
        let mut nul = vec![0u8; 64];
        nul.extend_from_slice(encode(&sample(5)).as_bytes());
        write_segment(d, 2, &nul);
        std::fs::write(capture_dir(d).join("notes.txt"), "x\n").unwrap();
        std::fs::create_dir(capture_dir(d).join("capture-1796560000000-000099.jsonl")).unwrap();

        let mut it = lines(d).unwrap();
        let ts: Vec<i64> = it.by_ref().map(|l| l.unwrap().ts()).collect();
        assert_eq!(ts, [5, 20, 21, 30, 31]);
        assert_eq!(it.skipped(), 2);

        let b = batches(d).unwrap();
        assert_eq!(b.keys().collect::<Vec<_>>(), ["1001", "1002"]);
        assert_eq!(b["1001"].ts, 31, "the newest batch line wins");
        let mut it = lines(d).unwrap().only("batch");
        let ts: Vec<i64> = it.by_ref().map(|l| l.unwrap().ts()).collect();
        assert_eq!(ts, [20, 21, 31]);
        assert_eq!(
            it.skipped(),
            2,
            "whole lines of another kind are not skipped ones"
        );
    }

    #[test]
    fn an_unlistable_folder_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(DIR), "a file, not a folder").unwrap();
        let e = batches(tmp.path()).unwrap_err();
        assert!(matches!(e, CaptureReadError::List { .. }));
        assert!(
            e.to_string()
                .contains(&capture_dir(tmp.path()).display().to_string())
        );
    }

    #[test]
    fn an_unreadable_segment_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        // A directory opens but does not read: the error names it, then reading goes on.
        let dir = capture_dir(tmp.path());
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(segment_name(1, 1));
        std::fs::create_dir(&path).unwrap();
        let mut it = Lines {
            pending: vec![path.clone()].into_iter(),
            current: None,
            buf: Vec::new(),
            skipped: 0,
            bytes: 0,
            only: None,
        };
        let e = it.next().unwrap().unwrap_err();
        assert!(matches!(e, CaptureReadError::Read { .. }), "{e}");
        assert!(e.to_string().contains(&path.display().to_string()));
        assert!(it.next().is_none());
    }

    #[test]
    fn a_segment_deleted_after_listing_is_passed_over() {
        let tmp = tempfile::tempdir().unwrap();
        write_segment(tmp.path(), 1, encode(&batch("7", 1)).as_bytes());
        let mut it = lines(tmp.path()).unwrap();
        it.pending = vec![capture_dir(tmp.path()).join("gone.jsonl")]
            .into_iter()
            .chain(segments(tmp.path()).unwrap())
            .collect::<Vec<_>>()
            .into_iter();
        assert_eq!(it.count(), 1);
    }
}
