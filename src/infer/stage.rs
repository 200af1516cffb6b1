//! The infer stage loop that ships: feature vectors in, predictions out.
//!
//! A vector that cannot be scored (invalid features, model failure) is logged as a typed
//! warning and skipped: one bad vector must not stop the line's other models. A model with
//! nothing serving (refused at start) has its own `model_unavailable` alert, so its skipped
//! vectors are logged once, not per vector, until it serves again.
//!
//! A model with a shadow candidate (`[models.<name>] candidate`, docs/shadow.md) has each
//! vector scored a second time, by the candidate, after the serving prediction went out; the
//! shadow prediction follows it on the same channel. A candidate that cannot score a vector
//! is logged once (then counted, not logged) until it scores again, and never changes what
//! the serving model predicted.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::error::InferError;
use super::service::Service;
use crate::domain::{FeatureVector, Prediction};
use crate::health::Heartbeat;
use crate::metrics::{InferSeries, Registry};

#[cfg(test)]
mod tests;

/// Run until the input channel closes (or the output's receiver is gone); returns the
/// predictions made.
pub async fn run(
    service: Service,
    mut rx: mpsc::Receiver<FeatureVector>,
    tx: mpsc::Sender<Prediction>,
    heartbeat: Arc<Heartbeat>,
    metrics: &Registry,
) -> u64 {
    let mut series = InferSeries::new(metrics);
    let mut unavailable: HashSet<Arc<str>> = HashSet::new();
    let mut failing = ShadowFailures::default();
    let mut n = 0;
    while let Some(v) = rx.recv().await {
        let _busy = heartbeat.busy();
        // A prediction is microseconds of CPU: cheaper inline than a blocking-pool hop.
        let start = Instant::now();
        let result = service.predict(&v);
        series.observe(&v.model, start.elapsed(), result.is_ok());
        match result {
            Ok(p) => {
                n += 1;
                unavailable.remove(&p.model);
                log_prediction(&p);
                if tx.send(p).await.is_err() {
                    break;
                }
            }
            Err(e) => skipped(&v, &e, &mut unavailable),
        }
        if let Some(p) = shadow(&service, &v, &mut series, &mut failing)
            && tx.send(p).await.is_err()
        {
            break;
        }
    }
    n
}

/// Score `v` with its model's shadow candidate: the shadow prediction, or None when the
/// model has no candidate or the candidate failed (then logged through `failing`).
fn shadow(
    service: &Service,
    v: &FeatureVector,
    series: &mut InferSeries,
    failing: &mut ShadowFailures,
) -> Option<Prediction> {
    let start = Instant::now();
    let result = service.shadow(v)?;
    series.observe_shadow(&v.model, start.elapsed(), result.is_ok());
    match result {
        Ok(p) => {
            failing.scored(&p.model);
            log_prediction(&p);
            Some(p)
        }
        Err(e) => {
            failing.failed(v, &e);
            None
        }
    }
}

/// Shadow candidates whose last vector failed, with how many failed in a row: the first
/// failure is logged, the next ones only counted (the `chocoline_shadow_inference_errors_total`
/// series), and the run's length is logged when the candidate scores again.
#[derive(Debug, Default)]
struct ShadowFailures {
    runs: HashMap<Arc<str>, u64>,
}

impl ShadowFailures {
    /// The candidate of `model` could not score `v`.
    fn failed(&mut self, v: &FeatureVector, e: &InferError) {
        let run = self.runs.entry(v.model.clone()).or_default();
        *run += 1;
        if *run == 1 {
            tracing::warn!(model = %v.model, ts = %v.ts, kind = e.kind(), error = %e,
                warning = "candidate_unavailable",
                "shadow prediction skipped; the serving prediction is unaffected (further failures are counted, not logged)");
        }
    }

    /// The candidate of `model` scored a vector.
    fn scored(&mut self, model: &Arc<str>) {
        if let Some(run) = self.runs.remove(model) {
            tracing::info!(model = %model, skipped = run, "shadow candidate scoring again");
        }
    }

    /// Vectors the candidate of `model` failed in a row so far.
    #[cfg(test)]
    fn run(&self, model: &str) -> u64 {
        self.runs.get(model).copied().unwrap_or(0)
    }
}

fn log_prediction(p: &Prediction) {
    tracing::debug!(model = %p.model, version = %p.model_version, ts = %p.ts,
        batch = ?p.batch.batch_id, output = ?p.output, confidence = p.confidence,
        "prediction");
}

/// Log a vector that could not be scored; a missing model only once until it serves.
fn skipped(v: &FeatureVector, e: &InferError, unavailable: &mut HashSet<Arc<str>>) {
    if matches!(e, InferError::ModelNotFound(_)) {
        if unavailable.insert(v.model.clone()) {
            tracing::warn!(model = %v.model, error = %e,
                "predictions skipped until the model loads (model_unavailable)");
        }
        return;
    }
    tracing::warn!(model = %v.model, ts = %v.ts, kind = e.kind(), error = %e,
        "prediction skipped");
}
