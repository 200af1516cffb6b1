//! Command line: one file per subcommand. `main.rs` only calls [`main`] and exits with the
//! code it returns.
//!
//! Exit codes: 0 success, 1 runtime failure (or a verification mismatch), 2 bad input
//! (configuration, arguments, files).
//!
//! The desk tools — `simulate`, `demo`, `replay`, `evaluate` — are behind the cargo feature
//! `tools` (on by default). The line controller's build (`--no-default-features`) leaves them
//! out: they run on an engineer's machine, against the simulator or data copied off the line,
//! and their code would only make the controller's binary larger (issue #23).

pub mod check_config;
#[cfg(feature = "tools")]
pub mod demo;
#[cfg(feature = "tools")]
pub mod evaluate;
pub mod export;
pub mod poll;
pub mod run;
#[cfg(feature = "tools")]
pub mod simulate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod model;
pub mod model_compare;
pub mod model_fleet;
pub mod model_list;

use crate::config::LogFormat;

pub mod inspect;
pub mod label;
pub mod outbox_feed;
#[cfg(feature = "tools")]
pub mod replay;

/// Exit code for bad input: configuration, arguments, unreadable files.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code for a runtime failure.
pub const EXIT_FAILURE: u8 = 1;

/// Default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/chocoline/chocoline.toml";

/// chocoline: edge agent for chocolate production lines.
#[derive(Debug, Parser)]
#[command(name = "chocoline", version, about)]
pub struct Cli {
    /// Log format (overrides `[log] format`).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent.
    Run {
        /// Configuration file.
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Validate a configuration file and print a summary; exit 2 listing every error.
    CheckConfig {
        /// Configuration file.
        #[arg(long, short, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Simulate a chocolate line: export a run as CSV (training / replay data), or serve it as
    /// a Modbus TCP server (`--listen`).
    #[cfg(feature = "tools")]
    Simulate(simulate::SimulateArgs),
    /// Show the store: outbox depth, oldest undelivered message, last alerts, predictions and
    /// drift windows. Safe while the agent runs (reads its snapshot then).
    Inspect {
        /// The `[store] data_dir` of the agent.
        #[arg(long, default_value = "/var/lib/chocoline")]
        data_dir: PathBuf,
        /// Print the snapshot as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Test hook for the store/publish fault tests (see `src/cli/outbox_feed.rs`).
    #[command(name = "__outbox-feed", hide = true)]
    OutboxFeed(outbox_feed::FeedArgs),
    /// List, verify and run exported models.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// Poll the configured devices and print every decoded reading (commissioning).
    Poll(poll::PollArgs),
    /// Try chocoline in one command: line simulator, embedded MQTT broker, the agent with the
    /// committed models, and a control-room view of what the broker receives.
    #[cfg(feature = "tools")]
    Demo(demo::DemoArgs),
    /// Run the whole pipeline offline on recorded samples (the simulator's CSV export) and
    /// write predictions, drift windows and alerts as JSONL.
    #[cfg(feature = "tools")]
    Replay(replay::ReplayArgs),
    /// Simulate and replay every scenario over a seed range and score each alert kind as
    /// events against the simulator's ground truth (recall, precision, detection delay,
    /// false alerts per day of normal running).
    #[cfg(feature = "tools")]
    Evaluate(evaluate::EvaluateArgs),
    /// Store the lab's result for a batch (grade, defect, yield), or import a lab sheet (CSV),
    /// for retraining. Refused (exit 2, nothing stored) when a value is wrong or the capture
    /// does not know the batch. Safe while the agent runs.
    Label(label::LabelArgs),
    /// Turn the capture and the lab's labels into the training pipeline's `samples.csv` /
    /// `batches.csv` (over a time range). Exit 2 when the range holds no sample or the
    /// output folder is not empty. Reads only; safe while the agent runs.
    Export(export::ExportArgs),
}

/// Parse arguments, run the subcommand, return the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_BAD_INPUT)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Run { config } => run::run(&config, cli.log_format),
        Command::CheckConfig { config } => check_config::check_config(&config),
        Command::Inspect { data_dir, json } => inspect::run(&data_dir, json),
        Command::OutboxFeed(args) => outbox_feed::run(args),
        Command::Model(cmd) => model::run(cmd),
        #[cfg(feature = "tools")]
        Command::Simulate(args) => simulate::run(&args, cli.log_format),
        Command::Poll(args) => poll::run(&args, cli.log_format),
        #[cfg(feature = "tools")]
        Command::Demo(args) => demo::run(&args, cli.log_format),
        #[cfg(feature = "tools")]
        Command::Replay(args) => replay::run(&args),
        #[cfg(feature = "tools")]
        Command::Evaluate(args) => evaluate::run(&args),
        Command::Label(args) => label::run(&args),
        Command::Export(args) => export::run(&args),
    }
}
