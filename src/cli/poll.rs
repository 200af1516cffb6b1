//! `chocoline poll --config FILE [--device NAME] [--once | --count N] [--format table|json]`:
//! the commissioning tool. Polls the configured devices through the real acquire stage —
//! without models, store or broker — and prints every decoded reading with its raw registers
//! in hex, so a technician can check a register map (address base, byte order, scale) against
//! a real device. JSON output is one object per reading per line.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::acquire::Acquire;
use crate::config::LogFormat;
use crate::domain::{Quality, Reading, Sample};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum PollFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// One JSON object per reading per line, for tools.
    Json,
}

/// Arguments of `chocoline poll`.
#[derive(Debug, Clone, Args)]
pub struct PollArgs {
    /// Configuration file.
    #[arg(long, short, default_value = super::DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Poll only this device (repeatable).
    #[arg(long = "device", value_name = "NAME")]
    pub devices: Vec<String>,
    /// One cycle per device, then exit.
    #[arg(long, conflicts_with = "count")]
    pub once: bool,
    /// This many cycles per device, then exit (default: until Ctrl-C).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PollFormat::Table)]
    pub format: PollFormat,
}

/// Runs `chocoline poll`. Exit code 0 when every reading of the last cycle of every device
/// was good (or out of range: the device answered), 1 otherwise, 2 on bad input.
pub fn run(args: &PollArgs, log_format: Option<LogFormat>) -> ExitCode {
    let config = match load_for_devices(&args.config, "poll") {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(e) = crate::logging::init(&config.log, log_format) {
        eprintln!("chocoline poll: {e}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let devices = match select_devices(config.devices, &args.devices) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let acquire = match Acquire::from_config(&devices) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("chocoline poll: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chocoline poll: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let cycles = Cycles {
        names: devices.iter().map(|d| d.name.clone()).collect(),
        limit: if args.once { Some(1) } else { args.count },
        seen: HashMap::new(),
        last_ok: HashMap::new(),
    };
    rt.block_on(poll(acquire, cycles, args.format))
}

/// The devices `--device` names (all when none is named); unknown names are bad input.
fn select_devices(
    mut devices: Vec<crate::acquire::config::DeviceConfig>,
    wanted: &[String],
) -> Result<Vec<crate::acquire::config::DeviceConfig>, ExitCode> {
    if wanted.is_empty() {
        return Ok(devices);
    }
    let unknown: Vec<&String> = wanted
        .iter()
        .filter(|n| !devices.iter().any(|d| &d.name == *n))
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
        eprintln!("chocoline poll: unknown device(s) {unknown:?}; the config has {known:?}");
        return Err(ExitCode::from(EXIT_BAD_INPUT));
    }
    devices.retain(|d| wanted.contains(&d.name));
    Ok(devices)
}

/// Poll cycles counted per device, and whether each device's last cycle was good.
struct Cycles {
    names: Vec<String>,
    /// Cycles per device before exiting (None: until Ctrl-C).
    limit: Option<u64>,
    seen: HashMap<String, u64>,
    last_ok: HashMap<String, bool>,
}

impl Cycles {
    /// Count one sample; true when every device has had its `limit` cycles.
    fn count(&mut self, sample: &Sample) -> bool {
        let ok = sample
            .readings
            .iter()
            .all(|r| matches!(r.quality, Quality::Good | Quality::OutOfRange));
        self.last_ok.insert(sample.device.to_string(), ok);
        *self.seen.entry(sample.device.to_string()).or_default() += 1;
        self.limit.is_some_and(|n| {
            (self.names.iter()).all(|d| self.seen.get(d).copied().unwrap_or(0) >= n)
        })
    }

    /// 0 when every device's last cycle was good, 1 otherwise.
    fn exit_code(&self) -> ExitCode {
        let all_ok = (self.names.iter()).all(|d| self.last_ok.get(d).copied().unwrap_or(false));
        if all_ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Run the acquire stage and print every reading until the cycles are done or Ctrl-C.
async fn poll(acquire: Acquire, mut cycles: Cycles, format: PollFormat) -> ExitCode {
    let (tx, mut rx) = mpsc::channel::<Sample>(64);
    let token = CancellationToken::new();
    let stage = tokio::spawn(acquire.run(tx, token.clone()));
    let mut out = std::io::stdout().lock();
    if format == PollFormat::Table {
        let _ = writeln!(
            out,
            "{:<24} {:<16} {:<16} {:<24} {:>16} {:<6} QUALITY",
            "TIME", "DEVICE", "NAME", "RAW", "VALUE", "UNIT"
        );
    }
    loop {
        let sample = tokio::select! {
            s = rx.recv() => s,
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(sample) = sample else { break };
        for r in &sample.readings {
            let _ = match format {
                PollFormat::Table => writeln!(out, "{}", table_row(r)),
                PollFormat::Json => writeln!(out, "{}", json_row(r)),
            };
        }
        let _ = out.flush();
        if cycles.count(&sample) {
            break;
        }
    }
    token.cancel();
    drop(rx);
    let _ = stage.await;
    cycles.exit_code()
}

/// Loads a configuration for a command that only talks Modbus (`poll`, `simulate --listen`).
///
/// The full loader runs first. When it fails only because of sections such a command does not
/// use (models directory not installed yet, MQTT, …) — every error's key outside `devices` —
/// the file is still parsed strictly (unknown keys refused) and those errors are printed as
/// warnings: a technician commissions the register map before the models are on the box.
/// Any error about `[[devices]]`, or a file that does not parse, is fatal (exit 2).
pub fn load_for_devices(
    path: &std::path::Path,
    command: &str,
) -> Result<crate::config::Config, ExitCode> {
    let errors = match crate::config::load(path) {
        Ok(plan) => return Ok(plan.config),
        Err(errors) => errors,
    };
    let about_devices = errors
        .errors
        .iter()
        .any(|e| e.key.is_empty() || e.key.starts_with("devices"));
    if !about_devices {
        let parsed = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| crate::config::load::parse_as_written(&text));
        if let Some(config) = parsed {
            for e in &errors.errors {
                eprintln!("warning (not used by {command}): {e}");
            }
            return Ok(config);
        }
    }
    eprintln!("{errors}");
    Err(ExitCode::from(EXIT_BAD_INPUT))
}

/// Raw registers as `0x41FC 0x0000` (bits as `0x0001`).
pub fn raw_hex(raw: &[u16]) -> String {
    raw.iter()
        .map(|w| format!("0x{w:04X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn quality_name(q: Quality) -> &'static str {
    match q {
        Quality::Good => "good",
        Quality::Stale => "stale",
        Quality::OutOfRange => "out_of_range",
        Quality::CommError => "comm_error",
    }
}

fn table_row(r: &Reading) -> String {
    format!(
        "{:<24} {:<16} {:<16} {:<24} {:>16} {:<6} {}",
        r.ts.to_string(),
        r.device,
        r.name,
        raw_hex(&r.raw),
        format!("{:.4}", r.value),
        r.unit,
        quality_name(r.quality)
    )
}

fn json_row(r: &Reading) -> String {
    // NaN (comm error) has no JSON number: it becomes null.
    let value = if r.value.is_finite() {
        serde_json::json!(r.value)
    } else {
        serde_json::Value::Null
    };
    serde_json::json!({
        "ts": r.ts.0,
        "device": &*r.device,
        "name": &*r.name,
        "raw": raw_hex(&r.raw),
        "value": value,
        "unit": &*r.unit,
        "quality": quality_name(r.quality),
    })
    .to_string()
}
