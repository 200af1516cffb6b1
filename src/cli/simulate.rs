//! `chocoline simulate`: the line simulator, in one of two modes that share the process-model
//! arguments below:
//!
//! - `--export-csv DIR` writes a simulated run as training / replay data (models/DATA_CARD.md);
//! - `--listen ADDR --config FILE` serves the config's register map as a real Modbus TCP server,
//!   values from the live process model advancing with wall time × `--speed`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::config::LogFormat;
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
    #[arg(long, value_name = "DIR", conflicts_with = "listen")]
    pub export_csv: Option<PathBuf>,
    /// Serve Modbus TCP on this address, e.g. `127.0.0.1:5020`.
    #[arg(long, value_name = "ADDR", requires = "config")]
    pub listen: Option<std::net::SocketAddr>,
    /// Configuration whose `[[devices]]` register map is served (with `--listen`).
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Simulated seconds per wall-clock second (with `--listen`), e.g. `60` to see a fault
    /// scenario within minutes.
    #[arg(long, default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,
    /// Scenario: normal, fat-bloom, sugar-bloom, gritty, sensor-stuck, sensor-dropout, drift,
    /// cooling-failure, conche-overheat, wrong-recipe (the last three are in no training set).
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
    /// Repeat the fault with this period (start to start), e.g. `6h`; each episode draws
    /// fresh magnitudes. Default: one episode.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub fault_every: Option<Duration>,
}

impl SimulateArgs {
    /// The fault plan given by `--fault-start` / `--fault-duration`.
    pub fn plan(&self) -> FaultPlan {
        FaultPlan {
            warmup: self.fault_start,
            duration: self.fault_duration,
            every: self.fault_every,
        }
    }
}

fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1e6 => Ok(v),
        _ => Err(format!("speed \"{s}\" must be a number > 0 and ≤ 1e6")),
    }
}

/// Run `chocoline simulate`.
pub fn run(args: &SimulateArgs, log_format: Option<LogFormat>) -> ExitCode {
    if let (Some(listen), Some(config)) = (args.listen, &args.config) {
        return serve(args, listen, config, log_format);
    }
    let Some(dir) = &args.export_csv else {
        eprintln!(
            "chocoline simulate: nothing to do; give --export-csv DIR or --listen ADDR --config FILE"
        );
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

/// How often the process model is advanced while serving.
const TICK: Duration = Duration::from_millis(100);

/// `--listen` mode: serve the register map until Ctrl-C.
fn serve(
    args: &SimulateArgs,
    listen: std::net::SocketAddr,
    path: &std::path::Path,
    log_format: Option<LogFormat>,
) -> ExitCode {
    use crate::simulate::LineSim;
    use crate::simulate::server::{RegisterMap, SimService, drive, serve_tcp};

    let cfg = match super::poll::load_for_devices(path, "simulate") {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(e) = crate::logging::init(&cfg.log, log_format) {
        eprintln!("chocoline simulate: {e}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let cfg = &cfg;
    let map = match RegisterMap::from_devices(&cfg.devices, &cfg.features.signal_map) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("chocoline simulate: {}: {e}", path.display());
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let inverse: std::collections::HashMap<&str, &str> = cfg
        .features
        .signal_map
        .iter()
        .map(|(s, r)| (r.as_str(), s.as_str()))
        .collect();
    for d in &cfg.devices {
        for r in &d.registers {
            let signal = inverse.get(r.name.as_str()).copied().unwrap_or(&r.name);
            if !LineSim::signals().contains(&signal) {
                tracing::warn!(device = %d.name, register = %r.name, %signal,
                    "not a simulated signal; reads of it answer exception 4");
            }
        }
    }
    let sim = LineSim::with_plan(args.scenario, args.seed, TimestampMs::now(), args.plan());
    let service = SimService::new(map, sim);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chocoline simulate: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let speed = args.speed;
    let scenario = args.scenario;
    let seed = args.seed;
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("chocoline simulate: cannot listen on {listen}: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        };
        let token = tokio_util::sync::CancellationToken::new();
        tracing::info!(%listen, %scenario, seed, speed, "Modbus TCP simulator serving");
        tokio::spawn(drive(service.clone(), TICK, speed, token.clone()));
        let ctrl_c = {
            let token = token.clone();
            async move {
                let _ = tokio::signal::ctrl_c().await;
                token.cancel();
            }
        };
        tokio::spawn(ctrl_c);
        match serve_tcp(listener, service, token).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("chocoline simulate: server failed: {e}");
                ExitCode::from(EXIT_FAILURE)
            }
        }
    })
}
