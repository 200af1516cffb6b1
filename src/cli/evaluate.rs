//! `chocoline evaluate --config FILE [--seeds A..B] [--days N] [--json] [--baseline FILE]`:
//! simulate and replay, in process, every scenario over a seed range, and score every alert
//! kind against the simulator's ground truth as events (src/evaluate/, docs/evaluation.md).
//! Prints a Markdown table (or JSON); with `--baseline`, exits 1 when a figure is worse than
//! in that earlier `--json` output (CI).

use std::io::IsTerminal;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::evaluate::{Summary, evaluate, plans, report};
use crate::simulate::Scenario;

/// Arguments of `chocoline evaluate`.
#[derive(Debug, Clone, Args)]
pub struct EvaluateArgs {
    /// Configuration file (models, products, rules, drift settings).
    #[arg(long, short)]
    pub config: PathBuf,
    /// Seeds, `A..B` (inclusive) or one seed. Default: five seeds outside every tuning
    /// range (docs/evaluation.md lists the ranges; 9001–9014 and 9501–9528 are the alert
    /// rules' tuning seeds).
    #[arg(long, default_value = "9801..9805", value_parser = parse_seeds)]
    pub seeds: RangeInclusive<u64>,
    /// Simulated days per (seed, scenario), e.g. `1` or `0.25`.
    #[arg(long, default_value_t = 1.0, value_parser = parse_days)]
    pub days: f64,
    /// Scenarios, comma-separated (default: all ten, the three unseen faults included).
    #[arg(long, value_delimiter = ',')]
    pub scenarios: Vec<Scenario>,
    /// Print the figures as JSON instead of Markdown.
    #[arg(long)]
    pub json: bool,
    /// An earlier `--json` output: exit 1 if any figure is worse now.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Minutes a p95 detection delay may grow before it counts as worse (with `--baseline`).
    #[arg(long, default_value_t = 1.0)]
    pub delay_slack_min: f64,
}

fn parse_seeds(s: &str) -> Result<RangeInclusive<u64>, String> {
    let bad = || format!("seeds \"{s}\": expected A..B (A ≤ B) or one seed");
    let (a, b) = match s.split_once("..") {
        Some((a, b)) => (a.trim(), b.trim()),
        None => (s.trim(), s.trim()),
    };
    let a: u64 = a.parse().map_err(|_| bad())?;
    let b: u64 = b.parse().map_err(|_| bad())?;
    if a > b || b - a >= 10_000 {
        return Err(bad());
    }
    Ok(a..=b)
}

fn parse_days(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(d) if d.is_finite() && d > 0.0 && d <= 366.0 => Ok(d),
        _ => Err(format!("days \"{s}\" must be a number > 0 and ≤ 366")),
    }
}

fn progress(done: usize, total: usize, started: Instant, tty: bool) {
    let width = 30;
    let filled = (done * width).checked_div(total).unwrap_or(width);
    let line = format!(
        "[{}{}] {done}/{total} runs, {:.0} s",
        "#".repeat(filled),
        "-".repeat(width - filled),
        started.elapsed().as_secs_f64()
    );
    if tty {
        eprint!("\r{line}");
        if done == total {
            eprintln!();
        }
    } else {
        eprintln!("{line}");
    }
}

fn read_baseline(path: &PathBuf) -> Result<Summary, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("{}: not an evaluate --json output: {e}", path.display()))
}

/// Run `evaluate`; returns the exit code.
pub fn run(args: &EvaluateArgs) -> ExitCode {
    let cfg = match crate::config::load(&args.config) {
        Ok(p) => p.config,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let baseline = match args.baseline.as_ref().map(read_baseline).transpose() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("chocoline evaluate: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let scenarios = if args.scenarios.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        args.scenarios.clone()
    };
    let span = Duration::from_secs((args.days * 86_400.0).round() as u64);
    let plans = plans(args.seeds.clone(), span, &scenarios);
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let summary = match evaluate(&cfg, &plans, |d, t| progress(d, t, started, tty)) {
        Ok((s, _)) => s,
        Err(e) => {
            eprintln!("chocoline evaluate: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let what = format!(
        "seeds {}..{}, {} day(s) per run, scenarios {}",
        args.seeds.start(),
        args.seeds.end(),
        args.days,
        scenarios
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if args.json {
        match serde_json::to_string_pretty(&summary) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("chocoline evaluate: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        }
    } else {
        print!("{}", report::markdown(&summary, &what));
    }
    eprintln!(
        "{} samples in {:.1} s ({:.0} samples/s)",
        summary.samples,
        started.elapsed().as_secs_f64(),
        summary.samples as f64 / started.elapsed().as_secs_f64().max(1e-9)
    );
    if let Some(before) = baseline {
        let worse = report::regressions(&before, &summary, args.delay_slack_min);
        if !worse.is_empty() {
            for w in &worse {
                eprintln!("worse than the baseline: {w}");
            }
            return ExitCode::from(EXIT_FAILURE);
        }
        eprintln!("no figure worse than the baseline");
    }
    ExitCode::SUCCESS
}
