//! `chocoline export --data-dir DIR [--config FILE] [--since T] [--until T] --output DIR`:
//! the capture and the lab's labels as the training pipeline's `samples.csv` /
//! `batches.csv` (docs/capture.md, "Export"; the library is [`crate::export`]).
//!
//! Exit 2: bad arguments or configuration, an output folder that is not empty or lies in the
//! data directory, a range without samples (nothing is created then). Exit 1: the capture,
//! the labels or the output cannot be read or written. Reads only: safe while the agent runs.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::alert::config::{Chocolate, ProductConfig};
use crate::export::{Columns, ExportOptions, ExportSummary, Product, Progress, export, parse_time};
use crate::features::config::FeaturesConfig;

/// Shortest time between two progress reports on a terminal (at most 5 a second).
const REPORT_EVERY: Duration = Duration::from_millis(200);

/// Arguments of `chocoline export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The agent's `[store] data_dir`: `capture/` and `labels/labels.jsonl` are read.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/chocoline")]
    pub data_dir: PathBuf,
    /// The agent's configuration: `[features]` (signal_map, batch_id_signal, product_signal)
    /// and `[[products]]`. Without it register names are taken as signal names and every
    /// product is unknown.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// First time included: RFC 3339 in UTC (2026-12-06T10:00:00Z) or ms since the epoch.
    /// Default: from the beginning of the capture.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<i64>,
    /// First time excluded (same forms as --since). Default: to the end of the capture.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<i64>,
    /// Output folder: must not exist or be empty, and must not be inside the data directory.
    #[arg(long, value_name = "DIR")]
    pub output: PathBuf,
}

fn chocolate_name(c: Chocolate) -> &'static str {
    match c {
        Chocolate::Dark => "dark",
        Chocolate::Milk => "milk",
        Chocolate::White => "white",
    }
}

/// The export's columns and products from a configuration's sections.
pub fn options_from(
    features: &FeaturesConfig,
    products: &[ProductConfig],
    args: &ExportArgs,
) -> ExportOptions {
    let columns = Columns::new(
        &features.batch_id_signal,
        &features.product_signal,
        |signal| features.register_of(signal).to_string(),
    );
    let products: BTreeMap<i64, Product> = products
        .iter()
        .map(|p| {
            let product = Product {
                code: p.code.clone(),
                chocolate: chocolate_name(p.chocolate).to_string(),
            };
            (i64::from(p.recipe_id), product)
        })
        .collect();
    ExportOptions {
        since: args.since,
        until: args.until,
        output: args.output.clone(),
        columns,
        products,
    }
}

/// The summary printed on success.
pub fn summary_text(s: &ExportSummary) -> String {
    let mut out = format!(
        "exported {} sample rows and {} batches into {}",
        s.rows,
        s.batches,
        s.output.display()
    );
    let dropped = [
        (s.rows_without_batch_id, "without a good batch id"),
        (s.rows_without_recipe, "without a good recipe"),
        (s.rows_repeated_ts, "with a repeated timestamp"),
    ];
    for (n, why) in dropped {
        if n > 0 {
            out += &format!("\n  sample rows left out {why}: {n}");
        }
    }
    for (why, n) in &s.left_out {
        out += &format!("\n  batches left out ({}): {n}", why.as_str());
    }
    out += &format!(
        "\n  read {} capture lines ({:.1} MB), {} torn lines skipped",
        s.read.lines,
        s.read.bytes as f64 / 1e6,
        s.torn_lines
    );
    out
}

/// Run the subcommand.
pub fn run(args: &ExportArgs) -> ExitCode {
    let fail = |code: u8, msg: &str| {
        eprintln!("chocoline export: {msg}");
        ExitCode::from(code)
    };
    let opts = match &args.config {
        Some(path) => match crate::config::load(path) {
            Ok(plan) => options_from(&plan.config.features, &plan.config.products, args),
            Err(errors) => {
                eprintln!("{errors}");
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        },
        None => options_from(&FeaturesConfig::default(), &[], args),
    };
    let tty = std::io::stderr().is_terminal();
    let mut last: Option<Instant> = None;
    let mut report = |p: &Progress| {
        if !tty || last.is_some_and(|t| t.elapsed() < REPORT_EVERY) {
            return;
        }
        last = Some(Instant::now());
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\rexport: {} lines read, {:.1} MB, {} rows written ",
            p.lines,
            p.bytes as f64 / 1e6,
            p.rows
        );
        let _ = err.flush();
    };
    let result = export(&args.data_dir, &opts, &mut report);
    if tty && last.is_some() {
        eprintln!();
    }
    match result {
        Ok(summary) => {
            println!("{}", summary_text(&summary));
            ExitCode::SUCCESS
        }
        Err(e) if e.is_bad_input() => fail(EXIT_BAD_INPUT, &e.to_string()),
        Err(e) => fail(EXIT_FAILURE, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::LeftOut;

    #[test]
    fn the_summary_names_rows_batches_and_reasons() {
        let s = ExportSummary {
            output: "/tmp/out".into(),
            rows: 10,
            batches: 2,
            rows_without_recipe: 1,
            left_out: [(LeftOut::Unlabelled, 3)].into(),
            ..ExportSummary::default()
        };
        let t = summary_text(&s);
        assert!(
            t.starts_with("exported 10 sample rows and 2 batches into /tmp/out"),
            "{t}"
        );
        assert!(t.contains("batches left out (no label): 3"), "{t}");
        assert!(
            t.contains("sample rows left out without a good recipe: 1"),
            "{t}"
        );
        assert!(!t.contains("batch id"), "{t}");
    }
}
