//! `chocoline model compare` (issue #18; docs/shadow.md, "Compare"): is the candidate a
//! better model than the one serving, on this line's own data?
//!
//! | file | job |
//! |---|---|
//! | `agreement.rs` | serving and candidate predictions of the same vectors, paired by time |
//! | `labelled.rs` | one answer per batch and model, judged against the lab's label |
//! | `report.rs` | the text report |
//!
//! Reads the capture (`prediction` and `batch` lines; a candidate's predictions are the lines
//! marked `"shadow": true`) and the labels journal, like `chocoline export`: never the sled
//! store, never a lock, so it is safe while the agent runs.
//!
//! **Held-out only.** A model trained on a line export (its manifest's `"data".exports`,
//! written by `models/training/exports.py`) has seen every batch of that export's time range:
//! such batches are left out of the labelled figures of *both* models (and counted), so the
//! figures are held-out figures for each.

pub mod agreement;
pub mod labelled;
pub mod report;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::capture::line::{BatchLine, Line, PredictionLine};
use crate::capture::read::{CaptureReadError, lines};
use crate::domain::{FeatureLevel, PredictionOutput};
use crate::labels::{LabelsError, latest};

pub use agreement::Agreement;
pub use labelled::{Answer, Figures, Tally, Target};

/// What to compare.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompareOptions {
    /// The model (`[models] enabled` name).
    pub model: String,
    /// Only predictions and batches from this time on (ms since the epoch).
    pub since: Option<i64>,
    /// Only predictions and batches before this time.
    pub until: Option<i64>,
    /// Time ranges some model was trained on: their batches are not judged.
    pub trained_on: Vec<TrainedRange>,
}

/// A stretch of line history a model learned from (one export in its manifest's data card).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainedRange {
    /// Start, ms since the epoch.
    pub since_ms: i64,
    /// End (excluded).
    pub until_ms: i64,
    /// Which manifest and export said so, for the report.
    pub source: String,
}

/// One side (serving or candidate) of the comparison.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Side {
    /// Predictions read, per model version.
    pub versions: BTreeMap<String, u64>,
    /// Figures on the judged batches; None when the model has no lab target or nothing was
    /// judged.
    pub figures: Option<Figures>,
}

/// Why labelled batches were not judged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Judged {
    /// Batches judged (labelled, held out, answered by every side present).
    pub batches: u64,
    /// Labelled batches inside a range a model was trained on.
    pub in_training: u64,
    /// Labelled batches without the label this model is judged on (e.g. no yield measured).
    pub no_truth: u64,
    /// Labelled batches a side made no prediction for (or that the capture has no batch line
    /// of, or that lie outside `--since`/`--until`).
    pub no_answer: u64,
}

/// The result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Comparison {
    /// The model.
    pub model: String,
    /// The serving model's side.
    pub serving: Side,
    /// The candidate's side; None when the capture has no shadow prediction of the model.
    pub candidate: Option<Side>,
    /// Serving vs candidate on the same vectors (None without a candidate).
    pub agreement: Option<Agreement>,
    /// What the lab's label is compared with; None for an anomaly detector.
    pub target: Option<Target>,
    /// Labelled batches judged and left out.
    pub judged: Judged,
    /// Torn capture lines passed over.
    pub torn_lines: u64,
}

/// Why a comparison failed.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// The data directory does not exist.
    #[error("no data directory at {0}")]
    NoDataDir(PathBuf),
    /// The capture holds no prediction of the model.
    #[error(
        "the capture in {capture} holds no prediction of model `{model}` in the range (is [capture] enabled and the model in [models] enabled?)"
    )]
    NoPredictions {
        /// The model.
        model: String,
        /// The capture folder.
        capture: PathBuf,
    },
    /// A manifest's data card cannot be read.
    #[error("{path}: {reason}")]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The capture cannot be read.
    #[error(transparent)]
    Capture(#[from] CaptureReadError),
    /// The labels cannot be read.
    #[error(transparent)]
    Labels(#[from] LabelsError),
}

impl CompareError {
    /// A mistake in what was asked (exit 2), not a failure to read (exit 1).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            CompareError::NoDataDir(_)
                | CompareError::NoPredictions { .. }
                | CompareError::Manifest { .. }
        )
    }
}

/// The ranges of line history the model in `folder` was trained on (its manifest's
/// `"data".exports`); none for a model trained on simulated data only.
pub fn trained_ranges(folder: &Path) -> Result<Vec<TrainedRange>, CompareError> {
    let path = folder.join("manifest.json");
    let bad = |reason: String| CompareError::Manifest {
        path: path.clone(),
        reason,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let Some(exports) = v.pointer("/data/exports") else {
        return Ok(Vec::new());
    };
    let list = exports
        .as_array()
        .ok_or_else(|| bad("`data.exports` is not a list".into()))?;
    (list.iter().enumerate())
        .map(|(i, e)| {
            let int = |k: &str| {
                (e.get(k).and_then(serde_json::Value::as_i64))
                    .ok_or_else(|| bad(format!("data.exports[{i}].{k} missing or not an integer")))
            };
            let name = e
                .get("folder")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("?");
            Ok(TrainedRange {
                since_ms: int("since_ms")?,
                until_ms: int("until_ms")?,
                source: format!("{} (export {name})", folder.display()),
            })
        })
        .collect()
}

/// Everything read from the capture for one model.
#[derive(Default)]
struct Read {
    serving: BTreeMap<i64, PredictionOutput>,
    candidate: BTreeMap<i64, PredictionOutput>,
    tallies: [HashMap<String, Tally>; 2],
    versions: [BTreeMap<String, u64>; 2],
    batches: HashMap<String, BatchLine>,
    target: Option<Target>,
}

impl Read {
    fn prediction(&mut self, p: PredictionLine) {
        let side = usize::from(p.shadow);
        *self.versions[side].entry(p.version.clone()).or_default() += 1;
        if self.target.is_none() {
            self.target = Target::of(&p.output);
        }
        if let Some(b) = &p.batch_id {
            let batch_level = p.level == FeatureLevel::Batch;
            (self.tallies[side].entry(b.clone()).or_default()).add(p.ts, &p.output, batch_level);
        }
        let map = if p.shadow {
            &mut self.candidate
        } else {
            &mut self.serving
        };
        map.insert(p.ts, p.output);
    }
}

fn in_range(opts: &CompareOptions, ts: i64) -> bool {
    opts.since.is_none_or(|s| ts >= s) && opts.until.is_none_or(|u| ts < u)
}

/// Compare the serving model and its candidate on the capture and labels in `data_dir`.
pub fn compare(data_dir: &Path, opts: &CompareOptions) -> Result<Comparison, CompareError> {
    if !data_dir.is_dir() {
        return Err(CompareError::NoDataDir(data_dir.to_path_buf()));
    }
    let mut read = Read::default();
    let mut it = lines(data_dir)?;
    for line in it.by_ref() {
        match line? {
            Line::Prediction(p) if p.model == opts.model && in_range(opts, p.ts) => {
                read.prediction(p)
            }
            Line::Batch(b) => {
                read.batches.insert(b.batch_id.clone(), b);
            }
            Line::Prediction(_) | Line::Sample(_) => {}
        }
    }
    if read.serving.is_empty() {
        return Err(CompareError::NoPredictions {
            model: opts.model.clone(),
            capture: crate::capture::read::capture_dir(data_dir),
        });
    }
    let mut out = Comparison {
        model: opts.model.clone(),
        target: read.target,
        torn_lines: it.skipped(),
        ..Comparison::default()
    };
    let has_candidate = !read.candidate.is_empty();
    if has_candidate {
        out.agreement = Some(Agreement::of(&read.serving, &read.candidate));
    }
    let [serving_versions, candidate_versions] = std::mem::take(&mut read.versions);
    out.serving.versions = serving_versions;
    let figures = judge(data_dir, opts, &read, has_candidate, &mut out.judged)?;
    out.serving.figures = figures[0].clone();
    out.candidate = has_candidate.then(|| Side {
        versions: candidate_versions,
        figures: figures[1].clone(),
    });
    Ok(out)
}

/// The labelled batches both sides answered, held out from every model's training.
fn judge(
    data_dir: &Path,
    opts: &CompareOptions,
    read: &Read,
    has_candidate: bool,
    judged: &mut Judged,
) -> Result<[Option<Figures>; 2], CompareError> {
    let Some(target) = read.target else {
        return Ok([None, None]);
    };
    let sides = if has_candidate { 2 } else { 1 };
    let mut pairs: [Vec<(Answer, Answer)>; 2] = [Vec::new(), Vec::new()];
    for (id, label) in latest(data_dir)? {
        let Some(b) = read.batches.get(&id).filter(|b| in_range(opts, b.start_ms)) else {
            judged.no_answer += 1;
            continue;
        };
        if opts
            .trained_on
            .iter()
            .any(|r| b.start_ms < r.until_ms && b.end_ms > r.since_ms)
        {
            judged.in_training += 1;
            continue;
        }
        let Some(truth) = target.truth(&label) else {
            judged.no_truth += 1;
            continue;
        };
        let answers: Vec<Answer> = (0..sides)
            .filter_map(|s| read.tallies[s].get(&id).and_then(Tally::answer))
            .collect();
        if answers.len() < sides {
            judged.no_answer += 1;
            continue;
        }
        judged.batches += 1;
        for (s, a) in answers.into_iter().enumerate() {
            pairs[s].push((a, truth.clone()));
        }
    }
    let fig = |p: &[(Answer, Answer)]| (!p.is_empty()).then(|| Figures::of(p));
    Ok([
        fig(&pairs[0]),
        if has_candidate { fig(&pairs[1]) } else { None },
    ])
}
