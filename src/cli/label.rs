//! `chocoline label --data-dir DIR --batch ID --grade G [--defect D] [--yield Y]` or
//! `chocoline label --data-dir DIR --csv FILE`: store the lab's result for one batch, or for
//! every row of a lab sheet (docs/capture.md, "Labels").
//!
//! Everything is checked before anything is stored: the values, and that the capture in
//! `DIR/capture/` knows each batch. Any refusal exits 2 and stores nothing (a sheet's
//! problems are listed as `FILE:LINE: problem`). Safe while the agent runs: it reads the
//! capture's segment files and appends to `DIR/labels/labels.jsonl` under its lock; it never
//! opens the sled store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgGroup, Args};

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::domain::TimestampMs;
use crate::labels::journal::none_hint;
use crate::labels::sheet::{self, SheetRow};
use crate::labels::{Label, LabelSource, LabelsError, append_checked, latest};

/// Arguments of `chocoline label`.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("input").required(true).args(["batch", "csv"])))]
pub struct LabelArgs {
    /// The agent's `[store] data_dir`: its `capture/` folder is read (the batches it knows),
    /// `labels/labels.jsonl` is appended to.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/chocoline")]
    pub data_dir: PathBuf,
    /// The batch the result is for, as the capture names it (the batch-id register's value,
    /// e.g. 1001).
    #[arg(long, value_name = "ID", requires = "grade", conflicts_with = "csv")]
    pub batch: Option<String>,
    /// Quality grade: A, B or reject.
    #[arg(long, value_name = "GRADE", requires = "batch")]
    pub grade: Option<String>,
    /// Defect found: none (the default), fat_bloom, sugar_bloom, gritty or off_flavour.
    #[arg(long, value_name = "DEFECT", requires = "batch")]
    pub defect: Option<String>,
    /// Measured yield in percent, in (0, 100]; leave out when not measured.
    #[arg(
        long = "yield",
        value_name = "PCT",
        requires = "batch",
        allow_negative_numbers = true
    )]
    pub yield_pct: Option<String>,
    /// A lab sheet to import instead of one label: CSV with the header
    /// `batch_id,grade,defect,yield_pct` (defect and yield_pct optional, as columns or
    /// values), one batch a row. One bad row refuses the whole sheet.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

/// The labels to store, each with the line of the sheet it came from (None for `--batch`).
type Input = Vec<(Option<u64>, Label)>;

/// The labels the arguments give, checked; the message and exit code when they are wrong.
fn labels_from(args: &LabelArgs, at: i64) -> Result<Input, String> {
    if let Some(path) = &args.csv {
        let rows = sheet::read(path, at).map_err(|e| e.to_string())?;
        return Ok(rows
            .into_iter()
            .map(|SheetRow { line, label }| (Some(line), label))
            .collect());
    }
    let (batch, grade) = (args.batch.as_deref(), args.grade.as_deref());
    let (Some(batch), Some(grade)) = (batch, grade) else {
        return Err("give --batch ID --grade G, or --csv FILE".to_string());
    };
    let label = Label::parse(
        batch,
        grade,
        args.defect.as_deref(),
        args.yield_pct.as_deref(),
        LabelSource::Cli,
        at,
    )
    .map_err(|e| e.to_string())?;
    Ok(vec![(None, label)])
}

/// The refusal as the person should read it: for a sheet, one `FILE:LINE:` line per unknown
/// batch.
fn refusal(args: &LabelArgs, input: &Input, e: &LabelsError) -> String {
    let (
        Some(path),
        LabelsError::UnknownBatches {
            unknown,
            known,
            capture,
        },
    ) = (&args.csv, e)
    else {
        return e.to_string();
    };
    let lines: Vec<String> = unknown
        .iter()
        .map(|(i, id)| {
            let line = input.get(*i).and_then(|(l, _)| *l).unwrap_or(0);
            format!(
                "{}:{line}: batch_id: unknown batch {id}: not in {} (it knows {known} batches{})",
                path.display(),
                capture.display(),
                none_hint(*known)
            )
        })
        .collect();
    lines.join("\n")
}

/// What was stored, one line per label; a correction names the label it replaces.
fn report(input: &Input, before: &BTreeMap<String, Label>, csv: Option<&Path>) -> String {
    let n = input.len();
    let plural = if n == 1 { "" } else { "s" };
    let from = csv.map_or(String::new(), |p| format!(" from {}", p.display()));
    let mut lines = Vec::with_capacity(n);
    for (_, l) in input {
        let mut line = l.to_string();
        if let Some(old) = before.get(&l.batch_id) {
            line += &format!(" (corrects {})", old.result());
        }
        lines.push(line);
    }
    if n == 1 {
        format!("stored 1 label{from}: {}", lines[0])
    } else {
        format!("stored {n} label{plural}{from}:\n  {}", lines.join("\n  "))
    }
}

/// Run the subcommand.
pub fn run(args: &LabelArgs) -> ExitCode {
    let fail = |code: u8, msg: &str| {
        eprintln!("chocoline label: {msg}");
        ExitCode::from(code)
    };
    let input = match labels_from(args, TimestampMs::now().0) {
        Ok(input) => input,
        Err(msg) => return fail(EXIT_BAD_INPUT, &msg),
    };
    let before = match latest(&args.data_dir) {
        Ok(before) => before,
        Err(e) => return fail(EXIT_FAILURE, &e.to_string()),
    };
    let labels: Vec<Label> = input.iter().map(|(_, l)| l.clone()).collect();
    match append_checked(&args.data_dir, &labels) {
        Ok(()) => {
            println!("{}", report(&input, &before, args.csv.as_deref()));
            ExitCode::SUCCESS
        }
        Err(e @ (LabelsError::Invalid { .. } | LabelsError::UnknownBatches { .. })) => {
            fail(EXIT_BAD_INPUT, &refusal(args, &input, &e))
        }
        Err(e @ (LabelsError::Capture(_) | LabelsError::Io { .. })) => {
            fail(EXIT_FAILURE, &e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cmd {
        #[command(flatten)]
        args: LabelArgs,
    }

    fn parse(argv: &[&str]) -> Result<LabelArgs, clap::Error> {
        Cmd::try_parse_from(std::iter::once("label").chain(argv.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn arguments_take_one_label_or_one_sheet() {
        let a = parse(&["--batch", "1001", "--grade", "B", "--yield", "-5"]).unwrap();
        assert_eq!(a.yield_pct.as_deref(), Some("-5"));
        assert!(parse(&["--csv", "x.csv"]).is_ok());
        assert!(parse(&[]).is_err());
        assert!(
            parse(&["--batch", "1001"]).is_err(),
            "a label needs its grade"
        );
        assert!(parse(&["--grade", "A"]).is_err());
        assert!(parse(&["--csv", "x.csv", "--batch", "1", "--grade", "A"]).is_err());
        assert!(parse(&["--csv", "x.csv", "--defect", "gritty"]).is_err());
        let e = labels_from(&a, 0).unwrap_err();
        assert!(e.starts_with("yield_pct:"), "{e}");
    }

    #[test]
    fn the_report_names_each_label_and_corrections() {
        let l = |g, y| Label::parse("1001", g, None, y, LabelSource::Cli, 0).unwrap();
        let one = vec![(None, l("B", Some("81.2")))];
        let r = report(&one, &BTreeMap::new(), None);
        assert_eq!(
            r,
            "stored 1 label: batch 1001 grade B defect none yield 81.2"
        );
        let before = BTreeMap::from([("1001".to_string(), l("A", None))]);
        let r = report(&one, &before, None);
        assert!(
            r.ends_with("(corrects grade A defect none yield not measured)"),
            "{r}"
        );
        let two = vec![(Some(2), l("B", None)), (Some(3), l("A", None))];
        let r = report(&two, &BTreeMap::new(), Some(Path::new("lab.csv")));
        assert!(
            r.starts_with("stored 2 labels from lab.csv:\n  batch 1001"),
            "{r}"
        );
    }
}
