//! Export (issue #18; docs/capture.md, "Export"): the line's captured samples and batches,
//! joined with the lab's labels, as the training pipeline's `samples.csv` / `batches.csv`
//! (the simulator's export format, `models/DATA_CARD.md`; the headers are the simulator's
//! own, [`crate::simulate::export`], so the two cannot drift apart).
//!
//! | file | job |
//! |---|---|
//! | `samples.rs` | one row per sample line of the batch-id device; forward fill; quality blanking |
//! | `batches.rs` | one row per labelled batch; `bean_lot` numbers; reasons a batch is left out |
//! | `output.rs` | the output folder: checks, `.tmp` files renamed when complete, `.complete` last |
//!
//! Reads `<data_dir>/capture/` and `<data_dir>/labels/labels.jsonl` only (never the sled
//! store, never a lock), so it is safe while the agent runs, and writes nothing inside the
//! data directory. A CLI-level tool: the caller resolves the configuration into [`Columns`]
//! and products.

pub mod batches;
pub mod output;
pub mod samples;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::capture::line::{BatchLine, Line, SampleLine};
use crate::capture::read::{CaptureReadError, capture_dir, lines};
use crate::labels::{LabelsError, latest};
use crate::simulate::export::{BATCHES_HEADER, samples_header};

pub use batches::{LeftOut, Product};
pub use samples::Columns;

/// Header columns of `samples.csv` that are not signals read from registers.
const NOT_SIGNALS: [&str; 6] = [
    "ts_ms",
    "batch_id",
    "recipe",
    "scenario",
    "fault",
    "bloom_label",
];
/// Lines read between two progress reports.
const PROGRESS_EVERY: u64 = 4096;

impl Columns {
    /// The columns of [`samples_header`], each signal read from the register `register_of`
    /// gives for it; the batch id and recipe from the registers named.
    pub fn new(batch_id: &str, recipe: &str, register_of: impl Fn(&str) -> String) -> Columns {
        let signals = samples_header()
            .into_iter()
            .filter(|c| !NOT_SIGNALS.contains(c))
            .map(|s| (s.to_string(), register_of(s)))
            .collect();
        Columns {
            batch_id: batch_id.to_string(),
            recipe: recipe.to_string(),
            signals,
        }
    }
}

/// What to export, and where.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// First ms included (None: from the beginning).
    pub since: Option<i64>,
    /// First ms excluded (None: to the end).
    pub until: Option<i64>,
    /// The output folder: missing or empty, outside the data directory.
    pub output: PathBuf,
    /// Registers per column.
    pub columns: Columns,
    /// Products by recipe id (`[[products]]`); empty: every product unknown.
    pub products: BTreeMap<i64, Product>,
}

/// How far the export is, for a progress report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Capture lines read.
    pub lines: u64,
    /// Bytes of capture read.
    pub bytes: u64,
    /// `samples.csv` rows written.
    pub rows: u64,
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// The output folder.
    pub output: PathBuf,
    /// Capture lines read and bytes read.
    pub read: Progress,
    /// Torn or foreign capture lines passed over.
    pub torn_lines: u64,
    /// Rows in `samples.csv`.
    pub rows: u64,
    /// Sample lines in range left out: batch id not usable.
    pub rows_without_batch_id: u64,
    /// Sample lines in range left out: recipe not usable.
    pub rows_without_recipe: u64,
    /// Sample lines in range left out: timestamp not after the previous row's.
    pub rows_repeated_ts: u64,
    /// Rows in `batches.csv`.
    pub batches: u64,
    /// Batches in range left out of `batches.csv`, by reason.
    pub left_out: BTreeMap<LeftOut, u64>,
}

/// Why an export failed. Nothing is written in the data directory in any case.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The data directory does not exist.
    #[error("{0}: no such data directory")]
    NoDataDir(PathBuf),
    /// `since` is not before `until`.
    #[error("empty range: since {} is not before until {}", ts_text(Some(*since), ""), ts_text(Some(*until), ""))]
    BadRange {
        /// First ms included.
        since: i64,
        /// First ms excluded.
        until: i64,
    },
    /// The output folder exists and is not empty (or is not a folder).
    #[error("{0}: the output folder must not exist or be empty")]
    OutputNotEmpty(PathBuf),
    /// The output folder is inside the data directory.
    #[error("{}: the output folder is inside the data directory {}", output.display(), data_dir.display())]
    OutputInDataDir {
        /// The output folder.
        output: PathBuf,
        /// The data directory.
        data_dir: PathBuf,
    },
    /// No sample row in the range (nothing was written).
    #[error("no captured samples between {} and {} in {}", ts_text(*since, "the beginning"), ts_text(*until, "the end"), capture.display())]
    NoSamples {
        /// First ms included.
        since: Option<i64>,
        /// First ms excluded.
        until: Option<i64>,
        /// The capture folder read.
        capture: PathBuf,
    },
    /// The capture could not be read.
    #[error(transparent)]
    Capture(#[from] CaptureReadError),
    /// The labels could not be read.
    #[error(transparent)]
    Labels(#[from] LabelsError),
    /// A file of the output folder could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl ExportError {
    /// Whether the input (arguments, range, output folder) is at fault rather than the disk.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ExportError::NoDataDir(_)
                | ExportError::BadRange { .. }
                | ExportError::OutputNotEmpty(_)
                | ExportError::OutputInDataDir { .. }
                | ExportError::NoSamples { .. }
        )
    }
}

/// A time as RFC 3339 (UTC, milliseconds); `open` for an open bound.
fn ts_text(ms: Option<i64>, open: &str) -> String {
    match ms {
        None => open.to_string(),
        Some(ms) => match u64::try_from(ms) {
            Ok(ms) => {
                humantime::format_rfc3339_millis(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
                    .to_string()
            }
            Err(_) => format!("{ms} ms"),
        },
    }
}

/// A `--since` / `--until` value: RFC 3339 in UTC (`2026-12-06T10:00:00Z`) or an integer
/// number of milliseconds since the epoch.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let t = humantime::parse_rfc3339(text).map_err(|e| {
        format!("{text:?} is not RFC 3339 (2026-12-06T10:00:00Z) or ms since the epoch: {e}")
    })?;
    let ms = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| format!("{text:?} is before 1970"))?
        .as_millis();
    i64::try_from(ms).map_err(|_| format!("{text:?} is too far in the future"))
}

fn in_range(opts: &ExportOptions, ts: i64) -> bool {
    opts.since.is_none_or(|s| ts >= s) && opts.until.is_none_or(|u| ts < u)
}

/// Export the capture and labels of `data_dir` into `opts.output`; `progress` is called
/// every few thousand lines. With no sample row in the range nothing is created.
pub fn export(
    data_dir: &Path,
    opts: &ExportOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<ExportSummary, ExportError> {
    if !data_dir.is_dir() {
        return Err(ExportError::NoDataDir(data_dir.to_path_buf()));
    }
    if let (Some(since), Some(until)) = (opts.since, opts.until)
        && since >= until
    {
        return Err(ExportError::BadRange { since, until });
    }
    output::check(&opts.output, data_dir)?;
    let created = !opts.output.exists();
    let result = write_all(data_dir, opts, progress);
    if result.is_err() {
        // Best effort: leave the output folder as it was (no partial files).
        for name in ["samples.csv.tmp", "batches.csv.tmp", "export.json.tmp"] {
            let _ = std::fs::remove_file(opts.output.join(name));
        }
        if created {
            let _ = std::fs::remove_dir(&opts.output);
        }
    }
    result
}

/// The samples pass: forward fill, the `samples.csv` file once its first row is known.
#[derive(Default)]
struct SamplesPass {
    fill: samples::ForwardFill,
    sink: Option<output::Sink>,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
}

impl SamplesPass {
    /// Take one sample line; write its row when it is one of the batch-id device in range.
    fn sample(
        &mut self,
        s: SampleLine,
        opts: &ExportOptions,
        summary: &mut ExportSummary,
    ) -> Result<(), ExportError> {
        let row_line = s.values.contains_key(&opts.columns.batch_id) && in_range(opts, s.ts);
        let ts = s.ts;
        if !row_line {
            self.fill.push(s);
            return Ok(());
        }
        self.fill.push(s.clone());
        match self.fill.row(&s, &opts.columns) {
            Err(samples::Dropped::NoBatchId) => summary.rows_without_batch_id += 1,
            Err(samples::Dropped::NoRecipe) => summary.rows_without_recipe += 1,
            Ok(_) if self.last_ts.is_some_and(|last| ts <= last) => {
                summary.rows_repeated_ts += 1;
            }
            Ok(row) => {
                let out = match self.sink.as_mut() {
                    Some(out) => out,
                    None => {
                        let mut out = output::Sink::create(&opts.output, "samples.csv")?;
                        out.line(&samples_header().join(","))?;
                        self.sink.insert(out)
                    }
                };
                out.line(&row)?;
                self.first_ts.get_or_insert(ts);
                self.last_ts = Some(ts);
                summary.rows += 1;
            }
        }
        Ok(())
    }
}

fn write_all(
    data_dir: &Path,
    opts: &ExportOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<ExportSummary, ExportError> {
    let mut summary = ExportSummary {
        output: opts.output.clone(),
        ..ExportSummary::default()
    };
    let mut pass = SamplesPass::default();
    let mut closed: BTreeMap<String, BatchLine> = BTreeMap::new();
    let mut it = lines(data_dir)?;
    while let Some(line) = it.next() {
        summary.read.lines += 1;
        match line? {
            Line::Sample(s) => pass.sample(s, opts, &mut summary)?,
            // The newest line of a batch wins (as for `chocoline label`).
            Line::Batch(b) => {
                closed.insert(b.batch_id.clone(), b);
            }
            Line::Prediction(_) => {}
        }
        if summary.read.lines.is_multiple_of(PROGRESS_EVERY) {
            summary.read.bytes = it.bytes_read();
            summary.read.rows = summary.rows;
            progress(&summary.read);
        }
    }
    summary.read.bytes = it.bytes_read();
    summary.read.rows = summary.rows;
    summary.torn_lines = it.skipped();
    progress(&summary.read);
    let Some(samples_out) = pass.sink else {
        return Err(ExportError::NoSamples {
            since: opts.since,
            until: opts.until,
            capture: capture_dir(data_dir),
        });
    };
    let (batches_out, batch_ids) = write_batches(data_dir, opts, closed, &mut summary)?;
    samples_out.finish()?;
    batches_out.finish()?;
    let meta = output::ExportMeta {
        schema: output::EXPORT_SCHEMA.into(),
        since_ms: opts.since.or(pass.first_ts).unwrap_or_default(),
        until_ms: opts
            .until
            .or(pass.last_ts.map(|t| t + 1))
            .unwrap_or_default(),
        rows: summary.rows,
        batches: summary.batches,
        batch_ids,
        written_by: env!("CARGO_PKG_VERSION").into(),
    };
    output::write_meta(&opts.output, &meta)?;
    output::mark_complete(&opts.output)?;
    Ok(summary)
}

/// `batches.csv` (not yet renamed): the closed batches in range, by start, with their labels.
fn write_batches(
    data_dir: &Path,
    opts: &ExportOptions,
    closed: BTreeMap<String, BatchLine>,
    summary: &mut ExportSummary,
) -> Result<(output::Sink, Vec<String>), ExportError> {
    let labels = latest(data_dir)?;
    let mut in_range: Vec<BatchLine> = closed
        .into_values()
        .filter(|b| opts.since.is_none_or(|s| b.start_ms >= s))
        .filter(|b| opts.until.is_none_or(|u| b.end_ms <= u))
        .collect();
    in_range.sort_by(|a, b| (a.start_ms, &a.batch_id).cmp(&(b.start_ms, &b.batch_id)));
    let mut out = output::Sink::create(&opts.output, "batches.csv")?;
    out.line(BATCHES_HEADER)?;
    let mut lots = batches::LotNumbers::default();
    let mut ids = Vec::new();
    for b in &in_range {
        match batches::row(b, labels.get(&b.batch_id), &opts.products, &mut lots) {
            Ok(row) => {
                out.line(&row)?;
                summary.batches += 1;
                ids.push(b.batch_id.clone());
            }
            Err(why) => *summary.left_out.entry(why).or_default() += 1,
        }
    }
    Ok((out, ids))
}

#[cfg(test)]
mod tests;
