//! `chocoline simulate`: the line simulator. `--export-csv DIR` writes a simulated run as
//! training / replay data (models/DATA_CARD.md). Server modes (`--listen`) are added beside
//! it; every mode shares the process-model arguments below.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::domain::TimestampMs;
use crate::simulate::export::{ExportOptions, export_csv};
use crate::simulate::{FaultPlan, Scenario};

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};

/// Default simulated start for exports: 2026-01-01T00:00:00Z, a fixed instant so that an
/// export is a pure function of its arguments.
pub const DEFAULT_EXPORT_START_MS: i64 = 1_767_225_600_000;

/// Arguments of `chocoline simulate`.
#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// Write `samples.csv` and `batches.csv` of a simulated run into this directory.
    #[arg(long, value_name = "DIR")]
    pub export_csv: Option<PathBuf>,
    /// Scenario: normal, fat-bloom, sugar-bloom, gritty, sensor-stuck, sensor-dropout, drift.
    #[arg(long, default_value = "normal")]
    pub scenario: Scenario,
    /// Seed of the process model (same seed, same line).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Simulated span of an export, e.g. `24h`.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Time between exported rows, e.g. `1s`.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Simulated start of an export, ms since the UNIX epoch (default 2026-01-01T00:00Z).
    #[arg(long, default_value_t = DEFAULT_EXPORT_START_MS)]
    pub start_ms: i64,
    /// Healthy warm-up before the scenario's fault starts, e.g. `30m`.
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    pub fault_start: Duration,
    /// How long the scenario's fault lasts, e.g. `2h`.
    #[arg(long, default_value = "2h", value_parser = humantime::parse_duration)]
    pub fault_duration: Duration,
}

impl SimulateArgs {
    /// The fault plan given by `--fault-start` / `--fault-duration`.
    pub fn plan(&self) -> FaultPlan {
        FaultPlan {
            warmup: self.fault_start,
            duration: self.fault_duration,
        }
    }
}

/// Run `chocoline simulate`.
pub fn run(args: &SimulateArgs) -> ExitCode {
    let Some(dir) = &args.export_csv else {
        eprintln!("chocoline simulate: nothing to do; give --export-csv DIR");
        return ExitCode::from(EXIT_BAD_INPUT);
    };
    let opts = ExportOptions {
        scenario: args.scenario,
        seed: args.seed,
        start: TimestampMs(args.start_ms),
        duration: args.duration,
        interval: args.interval,
        plan: args.plan(),
    };
    match export_csv(dir, &opts) {
        Ok(summary) => {
            eprintln!(
                "chocoline simulate: wrote {} samples and {} batches ({} seed {}) to {}",
                summary.samples,
                summary.batches,
                args.scenario,
                args.seed,
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e @ crate::simulate::export::ExportError::BadInterval(_)) => {
            eprintln!("chocoline simulate: {e}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
        Err(e) => {
            eprintln!("chocoline simulate: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
