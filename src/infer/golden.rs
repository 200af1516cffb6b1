//! Running a model on its `golden.csv` (docs/manifest.md): the rows the training pipeline
//! scored with scikit-learn. A model may only serve when it reproduces them.
//!
//! Real outputs must agree within the manifest's tolerance (default 1e-5). Labels must be
//! identical except on rows whose golden probabilities have an exact tie at the top, where
//! the winner is an implementation detail; those are counted and reported.

use std::path::Path;

use super::error::InferError;
use super::manifest::{Manifest, Role, Task};
use super::model::Model;

/// The result of a golden run.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldenReport {
    /// Rows checked.
    pub rows: usize,
    /// Max abs difference per golden column (labels: number of mismatches as f64).
    pub columns: Vec<(String, f64)>,
    /// Label mismatches on exactly tied rows (allowed).
    pub tie_label_diffs: usize,
    /// Label mismatches elsewhere (failures).
    pub label_mismatches: usize,
    /// Allowed abs difference.
    pub tolerance: f64,
}

impl GoldenReport {
    /// Every real column within tolerance and no label mismatch outside ties.
    pub fn passed(&self) -> bool {
        self.label_mismatches == 0
            && self
                .columns
                .iter()
                .filter(|(c, _)| c != "label")
                .all(|(_, d)| d.is_finite() && *d <= self.tolerance)
    }

    /// One-line summary of the worst column.
    pub fn summary(&self) -> String {
        let worst = self
            .columns
            .iter()
            .filter(|(c, _)| c != "label")
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match worst {
            Some((c, d)) => format!(
                "{} rows, worst column {c} max|diff| {d:.3e} (tolerance {:.0e}), {} label mismatch(es), {} on ties",
                self.rows, self.tolerance, self.label_mismatches, self.tie_label_diffs
            ),
            None => format!(
                "{} rows, {} label mismatch(es)",
                self.rows, self.label_mismatches
            ),
        }
    }
}

/// Which golden column an output column is compared with.
fn golden_columns(manifest: &Manifest) -> Vec<(String, Role, usize)> {
    let mut v = Vec::new();
    match manifest.task {
        Task::Classifier => {
            v.push(("label".to_owned(), Role::Label, 0));
            for (j, c) in manifest.classes.iter().enumerate() {
                v.push((format!("p_{c}"), Role::Probabilities, j));
            }
        }
        Task::Regressor => v.push(("value".to_owned(), Role::Value, 0)),
        Task::Anomaly => {
            if manifest.output(Role::ScoreSamples).is_some() {
                v.push(("score_samples".to_owned(), Role::ScoreSamples, 0));
            }
            v.push(("decision_function".to_owned(), Role::DecisionFunction, 0));
            if let Some(o) = manifest.output(Role::Contributions) {
                for (j, c) in o.columns.iter().enumerate() {
                    v.push((format!("z_{c}"), Role::Contributions, j));
                }
            }
        }
    }
    v
}

/// Run `model` on `<dir>/<golden.file>`.
#[expect(
    clippy::too_many_lines,
    reason = "golden check: read rows, run, compare per output kind with its tolerance; one linear report builder"
)]
pub fn verify(model: &Model, manifest: &Manifest, dir: &Path) -> Result<GoldenReport, InferError> {
    let golden = manifest
        .golden
        .as_ref()
        .ok_or_else(|| InferError::GoldenMismatch {
            model: manifest.name.clone(),
            reason: "the manifest names no golden file".into(),
        })?;
    let path = dir.join(&golden.file);
    let bad = |reason: String| InferError::GoldenMismatch {
        model: manifest.name.clone(),
        reason: format!("{}: {reason}", path.display()),
    };
    let mut rdr = csv::Reader::from_path(&path).map_err(|e| bad(e.to_string()))?;
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| bad(e.to_string()))?
        .iter()
        .map(str::to_owned)
        .collect();
    let pos = |name: &str| header.iter().position(|h| h == name);
    let feature_cols: Vec<usize> = manifest
        .features
        .iter()
        .map(|f| pos(&f.name).ok_or_else(|| bad(format!("no column for feature {:?}", f.name))))
        .collect::<Result<_, _>>()?;
    let wanted = golden_columns(manifest);
    let mut targets = Vec::new();
    for (col, role, j) in &wanted {
        let c = pos(col).ok_or_else(|| bad(format!("no golden column {col:?}")))?;
        let out_name = manifest
            .output(*role)
            .map(|o| o.name.clone())
            .ok_or_else(|| bad(format!("no output with role {}", role.as_str())))?;
        let out_ix = model
            .output_names()
            .iter()
            .position(|n| *n == out_name)
            .ok_or_else(|| bad(format!("the ONNX graph has no output {out_name:?}")))?;
        targets.push((col.clone(), c, out_ix, *j));
    }
    let prob_cols: Vec<usize> = wanted
        .iter()
        .filter(|(_, r, _)| *r == Role::Probabilities)
        .filter_map(|(c, _, _)| pos(c))
        .collect();

    let mut x = Vec::new();
    let mut records = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| bad(e.to_string()))?;
        for &c in &feature_cols {
            let v: f32 = rec
                .get(c)
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| bad(format!("row {}: feature column {c} is not a number", i + 2)))?;
            x.push(v);
        }
        records.push(rec);
    }
    if records.is_empty() {
        return Err(bad("no rows".into()));
    }
    let outs = model.run(&x)?;
    let mut report = GoldenReport {
        rows: records.len(),
        columns: targets.iter().map(|(c, ..)| (c.clone(), 0.0)).collect(),
        tie_label_diffs: 0,
        label_mismatches: 0,
        tolerance: golden.tolerance,
    };
    for (r, rec) in records.iter().enumerate() {
        for (t, (col, c, out_ix, j)) in targets.iter().enumerate() {
            let out = outs
                .get(*out_ix)
                .ok_or_else(|| bad(format!("output {out_ix} missing")))?;
            let want = rec.get(*c).unwrap_or("").trim();
            if col == "label" {
                let got = out.cell(r, *j).unwrap_or_default();
                if !labels_equal(&got, want) {
                    if is_tie(rec, &prob_cols) {
                        report.tie_label_diffs += 1;
                    } else {
                        report.label_mismatches += 1;
                    }
                    if let Some(slot) = report.columns.get_mut(t) {
                        slot.1 += 1.0;
                    }
                }
            } else {
                let got = out.real(r, *j).unwrap_or(f64::NAN);
                let want: f64 = want
                    .parse()
                    .map_err(|_| bad(format!("row {}: {col} {want:?} is not a number", r + 2)))?;
                let d = (got - want).abs();
                if let Some(slot) = report.columns.get_mut(t) {
                    slot.1 = if d.is_nan() {
                        f64::INFINITY
                    } else {
                        slot.1.max(d)
                    };
                }
            }
        }
    }
    Ok(report)
}

fn labels_equal(got: &str, want: &str) -> bool {
    if got == want {
        return true;
    }
    match (got.parse::<f64>(), want.parse::<f64>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn is_tie(rec: &csv::StringRecord, prob_cols: &[usize]) -> bool {
    let mut p: Vec<f64> = prob_cols
        .iter()
        .filter_map(|c| rec.get(*c).and_then(|s| s.trim().parse().ok()))
        .collect();
    p.sort_by(|a, b| b.total_cmp(a));
    matches!(p.as_slice(), [a, b, ..] if a == b)
}
