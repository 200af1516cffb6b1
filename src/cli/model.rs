//! `chocoline model …`: list, verify and run exported models.
//!
//! `predict` is the tool a data scientist uses to check any skl2onnx tree export on the device
//! before shipping it: it needs no manifest, only the ONNX file and a CSV of float features.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use crate::infer::error::InferError;
use crate::infer::golden;
use crate::infer::model::Model;
use crate::infer::registry::load_served;

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use super::{model_compare, model_fleet, model_list};

/// `model` subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// List the models of a directory: name, version, task, sha256 check, features. With
    /// `--config`, also the folders it serves from outside `[models] dir` and its shadow
    /// candidates, each with its role.
    List {
        /// Models directory (one folder per model).
        #[arg(long, conflicts_with = "config")]
        dir: Option<PathBuf>,
        /// Take the directory from this configuration file's `[models] dir`.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Run a model folder's golden.csv and print the max abs difference per output
    /// (exit 1 on mismatch). Given a directory of model folders, verifies each.
    Verify {
        /// A model folder (with manifest.json) or a directory of them.
        dir: PathBuf,
    },
    /// Run any ONNX tree model on a CSV of float features (header optional) and write every
    /// output as CSV columns.
    Predict {
        /// The ONNX file.
        #[arg(long)]
        onnx: PathBuf,
        /// Input CSV: one row per sample, one column per feature.
        #[arg(long)]
        input: PathBuf,
        /// Output CSV (default: standard output).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// The serving model against its shadow candidate on the line's capture and lab labels:
    /// agreement, and both models' figures on the labelled batches neither was trained on.
    Compare(model_compare::CompareArgs),
    /// Signed bundles: keygen, bundle, install, rollback.
    #[command(flatten)]
    Fleet(model_fleet::FleetCommand),
}

/// Run a `model` subcommand.
pub fn run(cmd: ModelCommand) -> ExitCode {
    match cmd {
        ModelCommand::List { dir, config } => model_list::run(dir, config),
        ModelCommand::Verify { dir } => verify(&dir),
        ModelCommand::Fleet(cmd) => model_fleet::run(cmd),
        ModelCommand::Compare(args) => model_compare::run(&args),
        ModelCommand::Predict {
            onnx,
            input,
            output,
        } => match predict(&onnx, &input, output.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(PredictError::BadInput(msg)) => {
                eprintln!("chocoline model predict: {msg}");
                ExitCode::from(EXIT_BAD_INPUT)
            }
            Err(PredictError::Failed(msg)) => {
                eprintln!("chocoline model predict: {msg}");
                ExitCode::from(EXIT_FAILURE)
            }
        },
    }
}

/// The model folders of `dir`: `dir` itself when it holds a manifest, else its sub-folders that
/// do, sorted.
pub(super) fn model_folders(dir: &Path) -> Result<Vec<PathBuf>, String> {
    if dir.join("manifest.json").is_file() {
        return Ok(vec![dir.to_owned()]);
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("manifest.json").is_file())
        .collect();
    v.sort();
    Ok(v)
}

fn verify(dir: &Path) -> ExitCode {
    let folders = match model_folders(dir) {
        Ok(f) if !f.is_empty() => f,
        Ok(_) => {
            eprintln!(
                "chocoline model verify: no manifest.json in {} or its sub-folders",
                dir.display()
            );
            return ExitCode::from(EXIT_BAD_INPUT);
        }
        Err(e) => {
            eprintln!("chocoline model verify: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let mut code = ExitCode::SUCCESS;
    for folder in folders {
        let started = std::time::Instant::now();
        // Load without the registry's golden gate so the report shows the differences.
        let served = match load_served(&folder, false, true) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{}: FAILED to load: {e}", folder.display());
                code = ExitCode::from(match e {
                    InferError::Checksum { .. } => EXIT_FAILURE,
                    _ => EXIT_BAD_INPUT,
                });
                continue;
            }
        };
        let load_ms = started.elapsed().as_secs_f64() * 1e3;
        let result = served
            .model()
            .and_then(|m| golden::verify(m, &served.manifest, &folder));
        match result {
            Ok(report) => {
                println!(
                    "{} {} (loaded+optimised in {load_ms:.1} ms): {} rows, tolerance {:.0e}",
                    served.name, served.version, report.rows, report.tolerance
                );
                for (col, d) in &report.columns {
                    if col == "label" {
                        println!("  {col:24} mismatches {d}");
                    } else {
                        println!("  {col:24} max|diff| {d:.3e}");
                    }
                }
                if report.tie_label_diffs > 0 {
                    println!(
                        "  labels differing on exact ties: {}",
                        report.tie_label_diffs
                    );
                }
                if report.passed() {
                    println!("  OK");
                } else {
                    println!("  MISMATCH");
                    code = ExitCode::from(EXIT_FAILURE);
                }
            }
            Err(e) => {
                eprintln!("{}: FAILED: {e}", folder.display());
                code = ExitCode::from(EXIT_FAILURE);
            }
        }
    }
    code
}

enum PredictError {
    BadInput(String),
    Failed(String),
}

/// Read the input CSV: all fields must be numbers; the first line is a header when none of its
/// fields is a number.
fn read_rows(input: &Path) -> Result<(Vec<Vec<f32>>, bool), String> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(input)
        .map_err(|e| format!("{}: {e}", input.display()))?;
    let mut rows = Vec::new();
    let mut header = false;
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| format!("{}: {e}", input.display()))?;
        if rec.iter().all(|f| f.is_empty()) {
            continue;
        }
        let parsed: Vec<Option<f32>> = rec.iter().map(|f| f.parse::<f32>().ok()).collect();
        if i == 0 && parsed.iter().all(Option::is_none) {
            header = true;
            continue;
        }
        let mut row = Vec::with_capacity(parsed.len());
        for (c, (v, raw)) in parsed.iter().zip(rec.iter()).enumerate() {
            match v {
                Some(v) => row.push(*v),
                None => {
                    return Err(format!(
                        "{} line {}, column {}: {raw:?} is not a number",
                        input.display(),
                        i + 1,
                        c + 1
                    ));
                }
            }
        }
        rows.push(row);
    }
    Ok((rows, header))
}

fn predict(onnx: &Path, input: &Path, output: Option<&Path>) -> Result<(), PredictError> {
    let (rows, _) = read_rows(input).map_err(PredictError::BadInput)?;
    if rows.is_empty() {
        return Err(PredictError::BadInput(format!(
            "{}: no data rows",
            input.display()
        )));
    }
    let width = rows.first().map(Vec::len).unwrap_or(0);
    let model = Model::load_file(onnx, None).map_err(|e| PredictError::BadInput(e.to_string()))?;
    let want = model.n_features();
    for (i, r) in rows.iter().enumerate() {
        if r.len() != want {
            return Err(PredictError::BadInput(format!(
                "{}: data row {} has {} columns, the model takes {want} features",
                input.display(),
                i + 1,
                r.len()
            )));
        }
    }
    let _ = width;
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    let outs = model
        .run(&flat)
        .map_err(|e| PredictError::Failed(e.to_string()))?;

    let mut sink: Box<dyn Write> = match output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p)
                .map_err(|e| PredictError::BadInput(format!("{}: {e}", p.display())))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut w = csv::Writer::from_writer(&mut sink);
    let mut header = Vec::new();
    for o in &outs {
        if o.width == 1 {
            header.push(o.name.clone());
        } else {
            header.extend((0..o.width).map(|j| format!("{}_{j}", o.name)));
        }
    }
    let io = |e: csv::Error| PredictError::Failed(format!("writing output: {e}"));
    w.write_record(&header).map_err(io)?;
    for r in 0..rows.len() {
        let mut rec = Vec::with_capacity(header.len());
        for o in &outs {
            for j in 0..o.width {
                rec.push(o.cell(r, j).unwrap_or_default());
            }
        }
        w.write_record(&rec).map_err(io)?;
    }
    w.flush()
        .map_err(|e| PredictError::Failed(format!("writing output: {e}")))?;
    drop(w);
    sink.flush()
        .map_err(|e| PredictError::Failed(format!("writing output: {e}")))?;
    Ok(())
}
