//! `chocoline replay --config FILE --input samples.csv [--output DIR]`: the whole pipeline
//! offline on recorded readings (the simulator's CSV export), as fast as the stage code goes.
//! Writes `predictions.jsonl`, `drift.jsonl`, `alerts.jsonl` and `data_quality.jsonl` into
//! DIR, shows progress on stderr and prints samples/s at the end.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::domain::Record;
use crate::pipeline::replay::{CsvSamples, build};

/// Samples per [`crate::pipeline::replay::OfflinePipeline::push_chunk`]: enough rows for the
/// tree ops' batch path to pay, few enough that progress stays smooth.
const CHUNK: usize = 256;

/// Arguments of `chocoline replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// Configuration file (models, products, rules, drift settings).
    #[arg(long, short)]
    pub config: PathBuf,
    /// Recorded samples: the simulator's `samples.csv` format.
    #[arg(long, short)]
    pub input: PathBuf,
    /// Directory for the JSONL outputs (created if missing).
    #[arg(long, short, default_value = "replay-out")]
    pub output: PathBuf,
}

/// Counts bytes read, for the progress bar.
struct Counting<R> {
    inner: R,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

struct Outputs {
    predictions: BufWriter<File>,
    drift: BufWriter<File>,
    alerts: BufWriter<File>,
    data_quality: BufWriter<File>,
}

impl Outputs {
    fn create(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let f = |n: &str| File::create(dir.join(n)).map(BufWriter::new);
        Ok(Outputs {
            predictions: f("predictions.jsonl")?,
            drift: f("drift.jsonl")?,
            alerts: f("alerts.jsonl")?,
            data_quality: f("data_quality.jsonl")?,
        })
    }

    fn write(&mut self, r: &Record) -> std::io::Result<()> {
        let (w, json) = match r {
            Record::Prediction(p) => (&mut self.predictions, serde_json::to_vec(p)),
            Record::Drift(d) => (&mut self.drift, serde_json::to_vec(d)),
            Record::Alert(a) => (&mut self.alerts, serde_json::to_vec(a)),
            Record::DataQuality(e) => (&mut self.data_quality, serde_json::to_vec(e)),
        };
        w.write_all(&json.map_err(std::io::Error::other)?)?;
        w.write_all(b"\n")
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.predictions.flush()?;
        self.drift.flush()?;
        self.alerts.flush()?;
        self.data_quality.flush()
    }
}

fn progress(done: u64, total: u64, samples: u64, started: Instant, tty: bool) {
    let frac = if total == 0 {
        1.0
    } else {
        done as f64 / total as f64
    };
    let width = 30;
    let filled = ((frac * width as f64) as usize).min(width);
    let rate = samples as f64 / started.elapsed().as_secs_f64().max(1e-9);
    let bar = format!(
        "[{}{}] {:5.1}% {samples} samples {rate:.0}/s",
        "#".repeat(filled),
        "-".repeat(width - filled),
        frac * 100.0
    );
    if tty {
        eprint!("\r{bar}");
    } else {
        eprintln!("{bar}");
    }
}

/// Run `replay`; returns the exit code.
pub fn run(args: &ReplayArgs) -> ExitCode {
    let plan = match crate::config::load(&args.config) {
        Ok(p) => p,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let cfg = plan.config;
    let mut pipeline = match build(&cfg) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("chocoline replay: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let file = match File::open(&args.input) {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "chocoline replay: cannot read {}: {e}",
                args.input.display()
            );
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let input = Counting {
        inner: std::io::BufReader::with_capacity(1 << 20, file),
        read: read.clone(),
    };
    let ranges = cfg
        .devices
        .iter()
        .flat_map(|d| d.registers.iter())
        .filter_map(|r| r.valid_range.map(|v| (r.name.clone(), v)))
        .collect();
    let mut samples = match CsvSamples::new(input, &cfg.features.signal_map, ranges) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("chocoline replay: {}: {e}", args.input.display());
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let mut out = match Outputs::create(&args.output) {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "chocoline replay: cannot write to {}: {e}",
                args.output.display()
            );
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut records = Vec::new();
    let mut chunk = Vec::with_capacity(CHUNK);
    loop {
        chunk.clear();
        let mut bad_row = None;
        while chunk.len() < CHUNK {
            match samples.next_sample() {
                Ok(Some(s)) => chunk.push(s),
                Ok(None) => break,
                Err(e) => {
                    bad_row = Some(e);
                    break;
                }
            }
        }
        // The rows before a bad one are still replayed and written, as they were read.
        pipeline.push_chunk(&chunk, &mut records);
        for r in records.drain(..) {
            if let Err(e) = out.write(&r) {
                eprintln!("\nchocoline replay: writing {}: {e}", args.output.display());
                return ExitCode::from(EXIT_FAILURE);
            }
        }
        if let Some(e) = bad_row {
            eprintln!("\nchocoline replay: {}: {e}", args.input.display());
            return ExitCode::from(EXIT_BAD_INPUT);
        }
        if chunk.len() < CHUNK {
            break;
        }
        let interval = if tty { 0.2 } else { 5.0 };
        if last_report.elapsed().as_secs_f64() >= interval {
            let c = pipeline.counts().samples;
            progress(
                read.load(std::sync::atomic::Ordering::Relaxed),
                total,
                c,
                started,
                tty,
            );
            last_report = Instant::now();
        }
    }
    if let Err(e) = out.flush() {
        eprintln!("chocoline replay: writing {}: {e}", args.output.display());
        return ExitCode::from(EXIT_FAILURE);
    }
    let secs = started.elapsed().as_secs_f64();
    let c = pipeline.counts().clone();
    progress(total, total, c.samples, started, tty);
    if tty {
        eprintln!();
    }
    println!(
        "replayed {} samples in {secs:.2} s: {:.0} samples/s; {} vectors ({} refused), {} predictions, \
         {} inference errors, {} drift windows, {} alert events → {}",
        c.samples,
        c.samples as f64 / secs.max(1e-9),
        c.vectors,
        c.refused,
        c.predictions,
        c.infer_errors,
        c.drift_windows,
        c.alerts,
        args.output.display()
    );
    ExitCode::SUCCESS
}
