//! The inference service: [`crate::domain::FeatureVector`] in, [`crate::domain::Prediction`]
//! out, through the model the registry currently serves under the vector's model name.
//!
//! Confidence, in `[0, 1]`:
//! - classifier: the maximum class probability;
//! - regressor: an *extrapolation margin*, `1 − (share of features outside the training range)`
//!   where the range is the manifest reference's first and last bin edge — 1 when every input
//!   lies where the model was trained, falling as more inputs leave that range;
//! - anomaly: the distance of `decision_function` from the manifest threshold (default 0),
//!   `min(1, |decision − threshold| / 0.5)` — IsolationForest decisions lie in about
//!   `[−0.5, 0.5]`, so 1 means "clearly normal / clearly anomalous", 0 "on the boundary".
//!
//! No prediction cache: feature vectors are means, slopes and EWMAs of noisy sensor values,
//! so two vectors are practically never bit-identical. Measured (session 2): `chocoline
//! replay --config config/demo.toml` over 24 simulated hours at 1 s, scenarios `normal` and
//! `sensor-stuck` (seed 7), 331,280 predictions in all: 0 were made on a vector bit-identical
//! to any earlier one of the same model (an unbounded cache would hit 0.00 %), 0 on a vector
//! equal to the model's previous one — stuck sensors are refused by validation before they
//! reach inference. A cache would cost a hash of every vector and never pay; a prediction
//! costs a few microseconds. `cargo bench --bench infer` repeats the measurement through the
//! feature stage alone.

use std::sync::Arc;

use crate::domain::{FeatureVector, Prediction, PredictionOutput};

use super::error::InferError;
use super::manifest::{Role, Task};
use super::model::Output;
use super::registry::{Registry, Served};

/// Predictions from the registry's models. Cheap to clone; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Service {
    registry: Arc<Registry>,
}

impl Service {
    /// Serve from `registry`.
    pub fn new(registry: Arc<Registry>) -> Self {
        Service { registry }
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Predict one vector with the model named in `fv.model`.
    pub fn predict(&self, fv: &FeatureVector) -> Result<Prediction, InferError> {
        let served = self.registry.get(&fv.model)?;
        let result = inputs(&served, fv)
            .and_then(|x| served.model()?.run(&x))
            .and_then(|outs| build(&served, fv, &outs, 0));
        record(&served, &result);
        result
    }

    /// Score `fv` with its model's shadow candidate (`[models.<name>] candidate`,
    /// docs/shadow.md): None when the model has none loaded. The prediction carries the
    /// candidate's own version, `shadow = true` and `decides = false`; the serving model's
    /// prediction is computed apart ([`Service::predict`]) and never depends on this one.
    pub fn shadow(&self, fv: &FeatureVector) -> Option<Result<Prediction, InferError>> {
        let served = self.registry.candidate(&fv.model)?;
        let result = inputs(&served, fv)
            .and_then(|x| served.model()?.run(&x))
            .and_then(|outs| build(&served, fv, &outs, 0))
            .map(|p| Prediction {
                shadow: true,
                decides: false,
                ..p
            });
        record(&served, &result);
        Some(result)
    }

    /// Predict many vectors: one model run per model name, results in input order.
    pub fn predict_batch(&self, fvs: &[FeatureVector]) -> Vec<Result<Prediction, InferError>> {
        let mut results: Vec<Option<Result<Prediction, InferError>>> = vec![None; fvs.len()];
        let mut names: Vec<&str> = fvs.iter().map(|f| &*f.model).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let idx: Vec<usize> = (0..fvs.len()).filter(|&i| &*fvs[i].model == name).collect();
            let served = match self.registry.get(name) {
                Ok(s) => s,
                Err(e) => {
                    for &i in &idx {
                        results[i] = Some(Err(e.clone()));
                    }
                    continue;
                }
            };
            let mut x = Vec::with_capacity(idx.len() * served.manifest.features.len());
            let mut ok = Vec::with_capacity(idx.len());
            for &i in &idx {
                match inputs(&served, &fvs[i]) {
                    Ok(v) => {
                        x.extend_from_slice(&v);
                        ok.push(i);
                    }
                    Err(e) => {
                        served.outcomes.failed();
                        results[i] = Some(Err(e));
                    }
                }
            }
            if ok.is_empty() {
                continue;
            }
            match served.model().and_then(|m| m.run(&x)) {
                Ok(outs) => {
                    for (row, &i) in ok.iter().enumerate() {
                        let r = build(&served, &fvs[i], &outs, row);
                        record(&served, &r);
                        results[i] = Some(r);
                    }
                }
                Err(e) => {
                    for &i in &ok {
                        served.outcomes.failed();
                        results[i] = Some(Err(e.clone()));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(InferError::ModelNotFound(String::new()))))
            .collect()
    }
}

/// Count a prediction's outcome against the version that made it.
fn record(served: &Served, result: &Result<Prediction, InferError>) {
    match result {
        Ok(p) => served.outcomes.predicted(p.confidence),
        Err(_) => served.outcomes.failed(),
    }
}

/// Check a vector against the manifest and convert it to the f32 model input.
fn inputs(served: &Served, fv: &FeatureVector) -> Result<Vec<f32>, InferError> {
    let m = &served.manifest;
    let invalid = |reason: String| InferError::InvalidFeatures {
        model: served.name.to_string(),
        reason,
    };
    if fv.spec_version != m.feature_spec_version {
        return Err(invalid(format!(
            "vector built with feature spec {}, model expects {}",
            fv.spec_version, m.feature_spec_version
        )));
    }
    if fv.values.len() != m.features.len() {
        return Err(invalid(format!(
            "{} values, the model takes {} features",
            fv.values.len(),
            m.features.len()
        )));
    }
    if !fv.names.is_empty() {
        if fv.names.len() != m.features.len() {
            return Err(invalid(format!(
                "{} names for {} values",
                fv.names.len(),
                fv.values.len()
            )));
        }
        for (i, (got, want)) in fv.names.iter().zip(&m.features).enumerate() {
            if *got != want.name {
                return Err(invalid(format!(
                    "feature {i} is {got:?}, the model expects {:?}",
                    want.name
                )));
            }
        }
    }
    fv.values
        .iter()
        .zip(&m.features)
        .map(|(v, f)| {
            if v.is_finite() {
                Ok(*v as f32)
            } else {
                Err(invalid(format!(
                    "feature {:?} is {v} (NaN/inf are not allowed)",
                    f.name
                )))
            }
        })
        .collect()
}

fn output<'a>(served: &Served, outs: &'a [Output], role: Role) -> Option<&'a Output> {
    let name = &served.manifest.output(role)?.name;
    outs.iter().find(|o| o.name == *name)
}

fn build(
    served: &Served,
    fv: &FeatureVector,
    outs: &[Output],
    row: usize,
) -> Result<Prediction, InferError> {
    let m = &served.manifest;
    let fail = |reason: String| InferError::Prediction {
        model: served.name.to_string(),
        reason,
    };
    let real = |role: Role| -> Result<f64, InferError> {
        output(served, outs, role)
            .and_then(|o| o.real(row, 0))
            .ok_or_else(|| fail(format!("no {} output", role.as_str())))
    };
    let (output, confidence) = match m.task {
        Task::Classifier => {
            let label = output(served, outs, Role::Label)
                .and_then(|o| o.cell(row, 0))
                .map(|l| class_name(l, &m.classes))
                .ok_or_else(|| fail("no label output".into()))?;
            let probs = output(served, outs, Role::Probabilities)
                .ok_or_else(|| fail("no probabilities output".into()))?;
            if probs.width != m.classes.len() {
                return Err(fail(format!(
                    "{} probability columns for {} classes",
                    probs.width,
                    m.classes.len()
                )));
            }
            let probabilities: Vec<(String, f64)> = m
                .classes
                .iter()
                .enumerate()
                .map(|(j, c)| (c.clone(), probs.real(row, j).unwrap_or(f64::NAN)))
                .collect();
            let conf = probabilities.iter().map(|(_, p)| *p).fold(0.0, f64::max);
            (
                PredictionOutput::Class {
                    label,
                    probabilities,
                },
                conf,
            )
        }
        Task::Regressor => {
            let value = real(Role::Value)?;
            (
                PredictionOutput::Value { value },
                extrapolation_margin(served, fv),
            )
        }
        Task::Anomaly => {
            let decision = real(Role::DecisionFunction)?;
            let score = real(Role::ScoreSamples).unwrap_or(decision);
            let threshold = m.decision.threshold.unwrap_or(0.0);
            let conf = ((decision - threshold).abs() / 0.5).min(1.0);
            (
                PredictionOutput::Anomaly {
                    score,
                    decision,
                    is_anomaly: decision < threshold,
                    contributions: contributions(served, outs, row),
                },
                conf,
            )
        }
    };
    Ok(Prediction {
        model: Arc::clone(&served.name),
        model_version: Arc::clone(&served.version),
        ts: fv.ts,
        batch: fv.batch.clone(),
        output,
        confidence: if confidence.is_finite() {
            confidence.clamp(0.0, 1.0)
        } else {
            0.0
        },
        features: fv.clone(),
        decides: m.decision.decides,
        shadow: false,
    })
}

/// `1 − share of features outside [first edge, last edge]` of the training reference.
/// The class name of a classifier's label. skl2onnx exports the label output of a model
/// trained on integer-encoded classes (models/training/fit.py encodes each class as its index
/// in the manifest's `classes`) as that index: `"2"` becomes `"reject"`, so the payloads,
/// the capture and `model compare` speak the lab's words. A label that already is a class
/// name, or is not an index of one, is kept as it is.
fn class_name(label: String, classes: &[String]) -> String {
    if classes.contains(&label) {
        return label;
    }
    (label.parse::<usize>().ok())
        .and_then(|i| classes.get(i))
        .cloned()
        .unwrap_or(label)
}

fn extrapolation_margin(served: &Served, fv: &FeatureVector) -> f64 {
    let refs = &served.manifest.reference.features;
    if refs.is_empty() || fv.values.is_empty() {
        return 1.0;
    }
    let outside = served
        .manifest
        .features
        .iter()
        .zip(&fv.values)
        .filter(|(f, v)| {
            refs.iter()
                .find(|r| r.name == f.name)
                .and_then(|r| Some((*r.edges.first()?, *r.edges.last()?)))
                .is_some_and(|(lo, hi)| **v < lo || **v > hi)
        })
        .count();
    1.0 - outside as f64 / fv.values.len() as f64
}

/// The `(signal, z)` pairs of an anomaly model's `contributions` output for `row`, named by
/// the manifest's `columns` (shared, not copied: this runs for every prediction); empty
/// when the model has no such output.
fn contributions(served: &Served, outs: &[Output], row: usize) -> Vec<(Arc<str>, f64)> {
    let Some(spec) = served.manifest.output(Role::Contributions) else {
        return Vec::new();
    };
    let Some(o) = output(served, outs, Role::Contributions) else {
        return Vec::new();
    };
    spec.columns
        .iter()
        .enumerate()
        .filter_map(|(j, c)| o.real(row, j).map(|z| (Arc::clone(c), z)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::class_name;

    #[test]
    fn a_class_index_label_is_named_after_the_manifest_classes() {
        let classes: Vec<String> = ["A", "B", "reject"].map(String::from).to_vec();
        assert_eq!(class_name("2".into(), &classes), "reject");
        assert_eq!(class_name("0".into(), &classes), "A");
        assert_eq!(class_name("B".into(), &classes), "B");
        assert_eq!(class_name("7".into(), &classes), "7", "not an index: kept");
        let numeric: Vec<String> = ["1", "0"].map(String::from).to_vec();
        assert_eq!(
            class_name("0".into(), &numeric),
            "0",
            "already a class name"
        );
    }
}
