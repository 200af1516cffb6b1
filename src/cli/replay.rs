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
            // Replay has no MQTT: no deployment or label command reaches it.
            Record::Deploy(_) | Record::Label(_) => return Ok(()),
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

/// Why `replay` stopped early: the message for stderr and the exit code.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn bad_input(message: String) -> Self {
        Failure {
            code: EXIT_BAD_INPUT,
            message,
        }
    }

    fn internal(message: String) -> Self {
        Failure {
            code: EXIT_FAILURE,
            message,
        }
    }
}

/// The input CSV being read, with what the progress bar needs.
struct Input {
    samples: CsvSamples<Counting<std::io::BufReader<File>>>,
    /// File size in bytes.
    total: u64,
    /// Bytes read so far.
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Progress reporting on stderr: a live bar on a terminal, a line every 5 s otherwise.
struct Progress {
    tty: bool,
    started: Instant,
    last_report: Instant,
}

impl Progress {
    fn new() -> Self {
        Progress {
            tty: std::io::stderr().is_terminal(),
            started: Instant::now(),
            last_report: Instant::now(),
        }
    }

    /// Report if the interval has passed.
    fn tick(&mut self, input: &Input, samples: u64) {
        let interval = if self.tty { 0.2 } else { 5.0 };
        if self.last_report.elapsed().as_secs_f64() >= interval {
            let done = input.read.load(std::sync::atomic::Ordering::Relaxed);
            progress(done, input.total, samples, self.started, self.tty);
            self.last_report = Instant::now();
        }
    }

    /// The final, full bar.
    fn finish(&self, total: u64, samples: u64) {
        progress(total, total, samples, self.started, self.tty);
        if self.tty {
            eprintln!();
        }
    }
}

/// Run `replay`; returns the exit code.
pub fn run(args: &ReplayArgs) -> ExitCode {
    match try_run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("{}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn try_run(args: &ReplayArgs) -> Result<(), Failure> {
    let cfg = crate::config::load(&args.config)
        .map_err(|errors| Failure::bad_input(errors.to_string()))?
        .config;
    let mut pipeline =
        build(&cfg).map_err(|e| Failure::bad_input(format!("chocoline replay: {e}")))?;
    let mut input = open_input(args, &cfg)?;
    let mut out = Outputs::create(&args.output).map_err(|e| {
        Failure::internal(format!(
            "chocoline replay: cannot write to {}: {e}",
            args.output.display()
        ))
    })?;
    let mut progress = Progress::new();
    replay_all(args, &mut pipeline, &mut input, &mut out, &mut progress)?;
    out.flush().map_err(|e| {
        Failure::internal(format!(
            "chocoline replay: writing {}: {e}",
            args.output.display()
        ))
    })?;
    let secs = progress.started.elapsed().as_secs_f64();
    let c = pipeline.counts().clone();
    progress.finish(input.total, c.samples);
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
    Ok(())
}

/// Open the input CSV; the devices' valid ranges flag out-of-range cells as the acquire
/// stage would.
fn open_input(args: &ReplayArgs, cfg: &crate::config::Config) -> Result<Input, Failure> {
    let file = File::open(&args.input).map_err(|e| {
        Failure::bad_input(format!(
            "chocoline replay: cannot read {}: {e}",
            args.input.display()
        ))
    })?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counting = Counting {
        inner: std::io::BufReader::with_capacity(1 << 20, file),
        read: read.clone(),
    };
    let ranges = cfg
        .devices
        .iter()
        .flat_map(|d| d.registers.iter())
        .filter_map(|r| r.valid_range.map(|v| (r.name.clone(), v)))
        .collect();
    let samples = CsvSamples::new(counting, &cfg.features.signal_map, ranges).map_err(|e| {
        Failure::bad_input(format!("chocoline replay: {}: {e}", args.input.display()))
    })?;
    Ok(Input {
        samples,
        total,
        read,
    })
}

/// Push the input through the pipeline chunk by chunk and write every record.
fn replay_all(
    args: &ReplayArgs,
    pipeline: &mut crate::pipeline::replay::OfflinePipeline<crate::infer::service::Service>,
    input: &mut Input,
    out: &mut Outputs,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let mut records = Vec::new();
    let mut chunk = Vec::with_capacity(CHUNK);
    loop {
        chunk.clear();
        let bad_row = read_chunk(&mut input.samples, &mut chunk);
        // The rows before a bad one are still replayed and written, as they were read.
        pipeline.push_chunk(&chunk, &mut records);
        for r in records.drain(..) {
            out.write(&r).map_err(|e| {
                Failure::internal(format!(
                    "\nchocoline replay: writing {}: {e}",
                    args.output.display()
                ))
            })?;
        }
        if let Some(e) = bad_row {
            return Err(Failure::bad_input(format!(
                "\nchocoline replay: {}: {e}",
                args.input.display()
            )));
        }
        if chunk.len() < CHUNK {
            return Ok(());
        }
        progress.tick(input, pipeline.counts().samples);
    }
}

/// Fill `chunk` with up to [`CHUNK`] samples; returns the error of a bad row, which ends it.
fn read_chunk<R: Read>(
    samples: &mut CsvSamples<R>,
    chunk: &mut Vec<crate::domain::Sample>,
) -> Option<crate::pipeline::replay::ReplayError> {
    while chunk.len() < CHUNK {
        match samples.next_sample() {
            Ok(Some(s)) => chunk.push(s),
            Ok(None) => return None,
            Err(e) => return Some(e),
        }
    }
    None
}
