//! The segment writer (docs/capture.md): appends lines to the newest segment, starts a new
//! one at `segment_bytes`, deletes the oldest segments beyond `max_bytes` or `max_age`, and
//! skips lines while the file system has less than `keep_free` bytes free.
//!
//! Lines go through a buffer that the stage flushes once a second; a segment is fsynced when
//! it is closed (rotation, shutdown). A crash loses at most the lines of the last second, and
//! may leave a torn last line, which readers skip. After a restart the writer starts a new
//! segment numbered after the highest on disk, so it never appends behind a torn line.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::config::CaptureConfig;
use super::line::{self, Line};
use crate::metrics::Counter;

/// How often the free space is asked for.
const FREE_CHECK: Duration = Duration::from_secs(1);

/// Counters of what happened to lines.
#[derive(Debug, Clone, Default)]
pub struct LineCounters {
    /// Written to a segment.
    pub written: Counter,
    /// Skipped: too little free space, or a write failed.
    pub skipped: Counter,
    /// Segments deleted for `max_bytes` or `max_age`.
    pub pruned: Counter,
}

/// The open segment.
struct Segment {
    path: PathBuf,
    file: BufWriter<File>,
    bytes: u64,
}

/// Writes capture lines into rotating segments of one folder.
pub struct Writer {
    dir: PathBuf,
    cfg: CaptureConfig,
    open: Option<Segment>,
    next_n: u64,
    counters: LineCounters,
    free_checked: Option<Instant>,
    room: bool,
}

impl Writer {
    /// A writer into `dir` (created if missing); the next segment is numbered after the
    /// highest one there.
    pub fn open(dir: &Path, cfg: CaptureConfig, counters: LineCounters) -> io::Result<Writer> {
        fs::create_dir_all(dir)?;
        let next_n = line::list_segments(dir)?.last().map_or(0, |(n, _)| n + 1);
        Ok(Writer {
            dir: dir.to_path_buf(),
            cfg,
            open: None,
            next_n,
            counters,
            free_checked: None,
            room: true,
        })
    }

    /// Append `l` (or skip it, counted, when the disk is short of `keep_free` or the write
    /// fails: capture never stops the line's pipeline).
    pub fn write(&mut self, l: &Line) {
        if !self.has_room() {
            self.counters.skipped.inc();
            return;
        }
        match self.append(l) {
            Ok(()) => self.counters.written.inc(),
            Err(e) => {
                self.counters.skipped.inc();
                tracing::warn!(error = %e, dir = %self.dir.display(), "capture line not written");
                // Start over on a new segment next time.
                self.open = None;
            }
        }
    }

    /// Write the buffered lines to the file (once a second, from the stage).
    pub fn flush(&mut self) {
        if let Some(s) = &mut self.open
            && let Err(e) = s.file.flush()
        {
            tracing::warn!(error = %e, "capture flush failed");
        }
    }

    /// Flush and fsync the open segment (shutdown).
    pub fn close(&mut self) -> io::Result<()> {
        match self.open.take() {
            Some(s) => finish(s),
            None => Ok(()),
        }
    }

    fn append(&mut self, l: &Line) -> io::Result<()> {
        let text = line::encode(l);
        let full = (self.open.as_ref())
            .is_some_and(|s| s.bytes + text.len() as u64 > self.cfg.segment_bytes.get());
        if full && let Some(s) = self.open.take() {
            finish(s)?;
            self.prune()?;
        }
        if self.open.is_none() {
            let seg = self.start(l.ts())?;
            self.open = Some(seg);
        }
        let Some(seg) = self.open.as_mut() else {
            return Ok(());
        };
        seg.file.write_all(text.as_bytes())?;
        seg.bytes += text.len() as u64;
        Ok(())
    }

    fn start(&mut self, ts: i64) -> io::Result<Segment> {
        let path = self.dir.join(line::segment_name(ts, self.next_n));
        self.next_n += 1;
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        File::open(&self.dir)?.sync_all()?;
        Ok(Segment {
            path,
            file: BufWriter::new(file),
            bytes: 0,
        })
    }

    /// Delete whole oldest segments (never the open one) while they leave less than one
    /// segment of room under `max_bytes`, or while the oldest was last written longer than
    /// `max_age` ago.
    fn prune(&self) -> io::Result<()> {
        let open = self.open.as_ref().map(|s| s.path.clone());
        let mut segs: Vec<(PathBuf, u64, SystemTime)> = Vec::new();
        for (_, path) in line::list_segments(&self.dir)? {
            let m = fs::metadata(&path)?;
            segs.push((
                path,
                m.len(),
                m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            ));
        }
        let mut total: u64 = segs.iter().map(|s| s.1).sum();
        let now = SystemTime::now();
        for (path, len, modified) in segs {
            let too_old = now
                .duration_since(modified)
                .is_ok_and(|age| age > self.cfg.max_age.get());
            // Room for the segment about to start: the folder stays within max_bytes.
            let over = total + self.cfg.segment_bytes.get() > self.cfg.max_bytes.get();
            if Some(&path) == open.as_ref() || !(over || too_old) {
                break;
            }
            fs::remove_file(&path)?;
            total -= len;
            self.counters.pruned.inc();
        }
        Ok(())
    }

    fn has_room(&mut self) -> bool {
        if self.free_checked.is_none_or(|t| t.elapsed() >= FREE_CHECK) {
            self.free_checked = Some(Instant::now());
            let free = fs2::available_space(&self.dir).ok();
            let room = free.is_none_or(|f| f >= self.cfg.keep_free.get());
            if room != self.room {
                if room {
                    tracing::info!(dir = %self.dir.display(), "capture writes again: room on disk");
                } else {
                    tracing::warn!(dir = %self.dir.display(), free = ?free, keep_free = self.cfg.keep_free.get(),
                        "capture paused: less free space than [capture] keep_free (the outbox keeps it)");
                }
            }
            self.room = room;
        }
        self.room
    }
}

/// Flush and fsync a segment being closed.
fn finish(s: Segment) -> io::Result<()> {
    let file = s
        .file
        .into_inner()
        .map_err(io::IntoInnerError::into_error)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::line::SampleLine;
    use crate::settings::units::ByteSize;

    fn sample(ts: i64) -> Line {
        Line::Sample(SampleLine {
            ts,
            device: "plc".into(),
            values: [("batch_id".to_string(), Some(1001.0))].into(),
            quality: [("batch_id".to_string(), crate::domain::Quality::Good)].into(),
        })
    }

    fn cfg(segment: u64, max: u64) -> CaptureConfig {
        CaptureConfig {
            enabled: true,
            segment_bytes: ByteSize(segment),
            max_bytes: ByteSize(max),
            keep_free: ByteSize(0),
            ..CaptureConfig::default()
        }
    }

    fn sizes(dir: &Path) -> Vec<(u64, u64)> {
        (line::list_segments(dir).unwrap().into_iter())
            .map(|(n, p)| (n, fs::metadata(p).unwrap().len()))
            .collect()
    }

    #[test]
    fn segments_rotate_and_the_oldest_go_beyond_max_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let c = LineCounters::default();
        let len = line::encode(&sample(1_000)).len() as u64;
        // Ten lines per segment, at most 30 lines' worth kept.
        let mut w = Writer::open(tmp.path(), cfg(10 * len, 30 * len), c.clone()).unwrap();
        for i in 0..100 {
            w.write(&sample(1_000 + i));
        }
        w.close().unwrap();
        let s = sizes(tmp.path());
        // Segments 0..=9 written; after the last rotation three remain (the open one + two):
        // 30 lines, max_bytes.
        assert_eq!(s.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [7, 8, 9]);
        assert!(s.iter().all(|(_, b)| *b == 10 * len));
        assert_eq!(
            (c.written.get(), c.skipped.get(), c.pruned.get()),
            (100, 0, 7)
        );
        // The newest lines are the ones kept.
        let (_, newest) = line::list_segments(tmp.path()).unwrap().pop().unwrap();
        let last = fs::read_to_string(newest).unwrap();
        assert_eq!(
            line::decode(last.lines().last().unwrap()).unwrap().ts(),
            1_099
        );
    }

    #[test]
    fn a_restart_starts_a_new_segment_after_a_torn_one() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w =
            Writer::open(tmp.path(), cfg(1 << 20, 1 << 30), LineCounters::default()).unwrap();
        w.write(&sample(1));
        w.close().unwrap();
        // kill -9 in the middle of a line.
        let (_, first) = line::list_segments(tmp.path()).unwrap().pop().unwrap();
        let mut f = OpenOptions::new().append(true).open(&first).unwrap();
        f.write_all(br#"{"k":"sample","ts":2,"dev"#).unwrap();
        let mut w =
            Writer::open(tmp.path(), cfg(1 << 20, 1 << 30), LineCounters::default()).unwrap();
        w.write(&sample(3));
        w.close().unwrap();
        let s = line::list_segments(tmp.path()).unwrap();
        assert_eq!(s.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [0, 1]);
        let second = fs::read_to_string(&s[1].1).unwrap();
        assert_eq!(line::decode(second.trim_end()).unwrap().ts(), 3);
    }

    #[test]
    fn nothing_is_written_while_the_disk_is_short_of_keep_free() {
        let tmp = tempfile::tempdir().unwrap();
        let c = LineCounters::default();
        let mut too_much = cfg(1 << 20, 1 << 30);
        too_much.keep_free = ByteSize(u64::MAX);
        let mut w = Writer::open(tmp.path(), too_much, c.clone()).unwrap();
        for i in 0..5 {
            w.write(&sample(i));
        }
        w.close().unwrap();
        assert_eq!((c.written.get(), c.skipped.get()), (0, 5));
        assert!(line::list_segments(tmp.path()).unwrap().is_empty());
    }
}
