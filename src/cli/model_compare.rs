//! `chocoline model compare --data-dir DIR --model NAME [--config FILE] [--trained DIR]…
//! [--since T] [--until T]`: the serving model against its shadow candidate on the line's own
//! capture and lab labels (docs/shadow.md, "Compare"; the library is [`crate::compare`]).
//!
//! Exit 2: bad arguments or configuration, no prediction of the model in the capture, an
//! unreadable manifest data card. Exit 1: the capture or the labels cannot be read. Reads
//! only: safe while the agent runs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::compare::{CompareOptions, TrainedRange, compare, trained_ranges};
use crate::export::parse_time;

/// Arguments of `chocoline model compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The agent's `[store] data_dir`: `capture/` and `labels/labels.jsonl` are read.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/chocoline")]
    pub data_dir: PathBuf,
    /// The model, by its `[models] enabled` name.
    #[arg(long, value_name = "NAME")]
    pub model: String,
    /// The agent's configuration: the serving folder of the model and its `candidate` are
    /// read for the line exports they were trained on (their batches are not judged).
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A model folder whose training exports are left out of the judged batches (beside the
    /// ones `--config` names); repeatable.
    #[arg(long, value_name = "DIR")]
    pub trained: Vec<PathBuf>,
    /// First time included: RFC 3339 in UTC or ms since the epoch. Default: the beginning.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<i64>,
    /// First time excluded (same forms). Default: the end.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<i64>,
}

/// The model folders `--config` and `--trained` name.
fn folders(args: &CompareArgs) -> Result<Vec<PathBuf>, ExitCode> {
    let mut out = args.trained.clone();
    if let Some(path) = &args.config {
        let plan = crate::config::load(path).map_err(|errors| {
            eprintln!("{errors}");
            ExitCode::from(EXIT_BAD_INPUT)
        })?;
        let models = &plan.config.models;
        out.push(models.folder(&args.model));
        out.extend(
            models
                .candidate(&args.model)
                .map(std::path::Path::to_path_buf),
        );
    }
    Ok(out)
}

/// Run the subcommand.
pub fn run(args: &CompareArgs) -> ExitCode {
    let fail = |code: u8, msg: &str| {
        eprintln!("chocoline model compare: {msg}");
        ExitCode::from(code)
    };
    let dirs = match folders(args) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let mut trained_on: Vec<TrainedRange> = Vec::new();
    for d in &dirs {
        match trained_ranges(d) {
            Ok(r) => trained_on.extend(r),
            Err(e) => return fail(EXIT_BAD_INPUT, &e.to_string()),
        }
    }
    let opts = CompareOptions {
        model: args.model.clone(),
        since: args.since,
        until: args.until,
        trained_on,
    };
    match compare(&args.data_dir, &opts) {
        Ok(c) => {
            print!("{c}");
            for r in &opts.trained_on {
                println!(
                    "trained on (not judged): {} .. {} from {}",
                    r.since_ms, r.until_ms, r.source
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) if e.is_bad_input() => fail(EXIT_BAD_INPUT, &e.to_string()),
        Err(e) => fail(EXIT_FAILURE, &e.to_string()),
    }
}
