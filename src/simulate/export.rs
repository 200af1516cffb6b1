//! CSV export of a simulated run: `samples.csv` (one row per sample) and `batches.csv` (one
//! row per closed batch with its labels). The schema is documented in `models/DATA_CARD.md`;
//! the training pipeline and `replay` read it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use crate::domain::TimestampMs;

use super::batch::BatchRecord;
use super::process::LineSim;
use super::scenario::{FaultPlan, Scenario};

/// Signals written in their own leading columns (`ts_ms,batch_id,recipe,…`), so they are
/// not repeated among the other signals.
const LEADING: [&str; 2] = ["batch_id", "recipe"];

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Scenario.
    pub scenario: Scenario,
    /// Seed.
    pub seed: u64,
    /// Simulated start time.
    pub start: TimestampMs,
    /// Simulated span; rows cover `[start, start + duration)`.
    pub duration: Duration,
    /// Time between rows.
    pub interval: Duration,
    /// Fault warm-up and duration.
    pub plan: FaultPlan,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// Rows in `samples.csv`.
    pub samples: u64,
    /// Rows in `batches.csv`.
    pub batches: u64,
}

/// Export failures.
#[derive(Debug, Error)]
pub enum ExportError {
    /// `--interval` must be a positive whole number of milliseconds.
    #[error("interval must be at least 1 ms, got {0:?}")]
    BadInterval(Duration),
    /// Creating the directory or writing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The header of `samples.csv`.
pub fn samples_header() -> Vec<&'static str> {
    let mut h = vec!["ts_ms", "batch_id", "recipe"];
    h.extend(LineSim::signals().iter().filter(|s| !LEADING.contains(s)));
    h.extend(["scenario", "fault", "bloom_label"]);
    h
}

/// The header of `batches.csv`.
pub const BATCHES_HEADER: &str =
    "batch_id,recipe,product,chocolate,start_ms,end_ms,bean_lot,quality_grade,yield_pct,defect";

/// Run the simulator and write `dir/samples.csv` and `dir/batches.csv`.
pub fn export_csv(dir: &Path, opts: &ExportOptions) -> Result<ExportSummary, ExportError> {
    if opts.interval.as_millis() == 0 {
        return Err(ExportError::BadInterval(opts.interval));
    }
    std::fs::create_dir_all(dir).map_err(|source| ExportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let samples_path = dir.join("samples.csv");
    let batches_path = dir.join("batches.csv");
    let mut samples = Sink::create(&samples_path)?;
    let mut batches = Sink::create(&batches_path)?;
    samples.line(&samples_header().join(","))?;
    batches.line(BATCHES_HEADER)?;

    let mut sim = LineSim::with_plan(opts.scenario, opts.seed, opts.start, opts.plan);
    let end = opts
        .start
        .0
        .saturating_add(i64::try_from(opts.duration.as_millis()).unwrap_or(i64::MAX));
    let others: Vec<&str> = LineSim::signals()
        .iter()
        .copied()
        .filter(|s| !LEADING.contains(s))
        .collect();
    let mut summary = ExportSummary {
        samples: 0,
        batches: 0,
    };
    let mut row = String::with_capacity(256);
    while sim.now().0 < end {
        row.clear();
        row.push_str(&sim.now().0.to_string());
        for s in LEADING.iter().chain(others.iter()) {
            row.push(',');
            if !sim.is_dropped(s)
                && let Some(v) = sim.value(s)
            {
                row.push_str(&v.to_string());
            }
        }
        row.push(',');
        row.push_str(opts.scenario.name());
        row.push(',');
        if let Some(f) = sim.active_fault() {
            row.push_str(f.name());
        }
        row.push(',');
        row.push_str(sim.bloom_label().name());
        samples.line(&row)?;
        summary.samples += 1;
        sim.step(opts.interval);
        for b in sim.take_closed_batches() {
            batches.line(&batch_row(&b))?;
            summary.batches += 1;
        }
    }
    samples.finish()?;
    batches.finish()?;
    Ok(summary)
}

/// One `batches.csv` row.
fn batch_row(b: &BatchRecord) -> String {
    format!(
        "{},{},{},{},{},{},{},{},{},{}",
        b.batch_id,
        b.recipe,
        b.product,
        b.chocolate,
        b.start_ms,
        b.end_ms,
        b.bean_lot,
        b.quality_grade,
        b.yield_pct,
        b.defect.as_str()
    )
}

/// A buffered file that names itself in errors.
struct Sink {
    path: PathBuf,
    out: BufWriter<File>,
}

impl Sink {
    fn create(path: &Path) -> Result<Self, ExportError> {
        let file = File::create(path).map_err(|source| ExportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Sink {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        })
    }

    fn line(&mut self, s: &str) -> Result<(), ExportError> {
        self.out
            .write_all(s.as_bytes())
            .and_then(|()| self.out.write_all(b"\n"))
            .map_err(|source| ExportError::Io {
                path: self.path.clone(),
                source,
            })
    }

    fn finish(mut self) -> Result<(), ExportError> {
        self.out.flush().map_err(|source| ExportError::Io {
            path: self.path.clone(),
            source,
        })
    }
}
