//! The batches the capture knows, kept up to date incrementally for the agent's label desk
//! (docs/capture.md, "Labels over MQTT"): the same answer as
//! [`crate::capture::read::batches`] — a batch is known when a `batch` line with its id is in
//! any segment of `<data_dir>/capture/` — without reading the whole capture (up to
//! `[capture] max_bytes`, 1 GiB by default) for every label. Segments are append-only files
//! under new names: each is read once, from where the last look stopped; a line without its
//! final `\n` (being written) is read again next time; a segment deleted by rotation is
//! forgotten.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::journal::LabelsError;
use crate::capture::line::{Line, decode};
use crate::capture::read::{CaptureReadError, capture_dir, segments};

/// What was read of one segment.
#[derive(Debug, Default)]
struct Scanned {
    /// Its inode: a different file under the same name is read from the start.
    inode: u64,
    /// Bytes read, up to the end of the last whole line.
    read: u64,
    /// Batch ids of its `batch` lines.
    ids: BTreeSet<String>,
}

/// The batch ids of the capture in one data directory.
#[derive(Debug)]
pub struct KnownBatches {
    data_dir: PathBuf,
    segments: BTreeMap<PathBuf, Scanned>,
}

impl KnownBatches {
    /// Nothing read yet; [`KnownBatches::refresh`] reads the capture of `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        KnownBatches {
            data_dir: data_dir.to_path_buf(),
            segments: BTreeMap::new(),
        }
    }

    /// Read what the segments gained since the last call; forget deleted ones.
    pub fn refresh(&mut self) -> Result<(), CaptureReadError> {
        let listed = segments(&self.data_dir)?;
        self.segments.retain(|path, _| listed.contains(path));
        for path in listed {
            let scanned = self.segments.entry(path.clone()).or_default();
            match scan(&path, scanned) {
                Ok(()) => {}
                // Deleted by rotation since the folder was listed.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.segments.remove(&path);
                }
                Err(source) => return Err(CaptureReadError::Read { path, source }),
            }
        }
        Ok(())
    }

    /// Whether the capture knows `batch_id` (as of the last refresh).
    pub fn contains(&self, batch_id: &str) -> bool {
        self.segments.values().any(|s| s.ids.contains(batch_id))
    }

    /// How many distinct batches the capture knows (as of the last refresh).
    pub fn count(&self) -> usize {
        let all: BTreeSet<&String> = self.segments.values().flat_map(|s| &s.ids).collect();
        all.len()
    }

    /// Refresh, then refuse `batch_id` when the capture does not know it, with the error
    /// (and message) `chocoline label` gives.
    pub fn check(&mut self, batch_id: &str) -> Result<(), LabelsError> {
        self.refresh()?;
        if self.contains(batch_id) {
            return Ok(());
        }
        Err(LabelsError::UnknownBatches {
            unknown: vec![(0, batch_id.to_string())],
            known: self.count(),
            capture: capture_dir(&self.data_dir),
        })
    }
}

/// Read `path` from where `s` stopped, adding the ids of its whole `batch` lines.
fn scan(path: &Path, s: &mut Scanned) -> io::Result<()> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    if meta.ino() != s.inode || meta.len() < s.read {
        *s = Scanned {
            inode: meta.ino(),
            ..Scanned::default()
        };
    }
    if meta.len() == s.read {
        return Ok(());
    }
    file.seek(SeekFrom::Start(s.read))?;
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        let Some(text) = buf.strip_suffix(b"\n") else {
            // End of file, or a line still being written: read again next time.
            return Ok(());
        };
        s.read += n as u64;
        if let Some(id) = batch_id(text) {
            s.ids.insert(id);
        }
    }
}

/// The batch id of a whole capture line when it is a `batch` line; as the capture reader
/// does, leading NUL bytes (a block allocated but never written before a crash) are passed
/// over, and lines of other kinds are recognised by their `{"k":"…"` prefix undecoded.
fn batch_id(text: &[u8]) -> Option<String> {
    let start = text.iter().position(|&b| b != 0).unwrap_or(text.len());
    let text = &text[start..];
    if text.starts_with(br#"{"k":""#) && !text.starts_with(br#"{"k":"batch""#) {
        return None;
    }
    if let Line::Batch(b) = decode(std::str::from_utf8(text).ok()?)? {
        Some(b.batch_id)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::capture::line::{BatchLine, SampleLine, encode, segment_name};
    use crate::capture::read::batches;

    fn batch(id: &str) -> String {
        encode(&Line::Batch(BatchLine {
            ts: 1,
            batch_id: id.into(),
            product: None,
            lot: None,
            start_ms: 0,
            end_ms: 1,
            samples: 1,
        }))
    }

    fn sample() -> String {
        encode(&Line::Sample(SampleLine {
            ts: 1,
            device: "tempering".into(),
            values: BTreeMap::new(),
            quality: BTreeMap::new(),
        }))
    }

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    /// The same ids as the capture reader's, and the same count.
    fn agrees(k: &mut KnownBatches, d: &Path) -> Vec<String> {
        k.refresh().unwrap();
        let full: Vec<String> = batches(d).unwrap().into_keys().collect();
        assert_eq!(k.count(), full.len());
        assert!(full.iter().all(|id| k.contains(id)));
        full
    }

    #[test]
    fn it_follows_appends_torn_lines_new_and_deleted_segments() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let mut k = KnownBatches::new(d);
        assert!(
            agrees(&mut k, d).is_empty(),
            "no capture folder: nothing known"
        );
        let dir = capture_dir(d);
        std::fs::create_dir_all(&dir).unwrap();
        let first = dir.join(segment_name(1_000, 1));
        append(
            &first,
            &format!("{}{}{}", sample(), batch("1001"), sample()),
        );
        assert_eq!(agrees(&mut k, d), ["1001"]);
        // A batch line half written: not known until its newline is there.
        let line = batch("1002");
        let (head, tail) = line.split_at(10);
        append(&first, head);
        assert_eq!(agrees(&mut k, d), ["1001"]);
        assert!(!k.contains("1002"));
        append(&first, tail);
        assert_eq!(agrees(&mut k, d), ["1001", "1002"]);
        let second = dir.join(segment_name(2_000, 2));
        append(&second, &format!("\0\0{}{}", batch("1003"), batch("1002")));
        append(&dir.join("notes.txt"), &batch("9999"));
        assert_eq!(agrees(&mut k, d), ["1001", "1002", "1003"]);
        assert!(
            !k.contains("9999"),
            "a file that is not a segment is not read"
        );
        std::fs::remove_file(&first).unwrap();
        assert_eq!(agrees(&mut k, d), ["1002", "1003"]);
        assert!(
            !k.contains("1001"),
            "a pruned segment's batches are forgotten"
        );
    }

    #[test]
    fn a_segment_replaced_under_its_name_is_read_again() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let dir = capture_dir(d);
        std::fs::create_dir_all(&dir).unwrap();
        let seg = dir.join(segment_name(1_000, 1));
        append(&seg, &format!("{}{}", batch("1001"), batch("1002")));
        let mut k = KnownBatches::new(d);
        agrees(&mut k, d);
        std::fs::remove_file(&seg).unwrap();
        append(&seg, &batch("2001"));
        assert_eq!(agrees(&mut k, d), ["2001"]);
    }

    #[test]
    fn an_unknown_batch_gets_the_cli_s_refusal() {
        let tmp = tempfile::tempdir().unwrap();
        let mut k = KnownBatches::new(tmp.path());
        let e = k.check("1001").unwrap_err().to_string();
        assert!(e.starts_with("unknown batch 1001: no batch line"), "{e}");
        assert!(e.contains("knows 0 batches: none closed yet"), "{e}");
        let dir = capture_dir(tmp.path());
        std::fs::create_dir_all(&dir).unwrap();
        append(&dir.join(segment_name(1, 1)), &batch("1001"));
        k.check("1001").unwrap();
        let e = k.check("42").unwrap_err().to_string();
        assert!(e.contains("(it knows 1 batches)"), "{e}");
    }
}
