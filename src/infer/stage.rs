//! The infer stage loop that ships: feature vectors in, predictions out.
//!
//! A vector that cannot be scored (invalid features, model failure) is logged as a typed
//! warning and skipped: one bad vector must not stop the line's other models. A model with
//! nothing serving (refused at start) has its own `model_unavailable` alert, so its skipped
//! vectors are logged once, not per vector, until it serves again.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::error::InferError;
use super::service::Service;
use crate::domain::{FeatureVector, Prediction};
use crate::health::Heartbeat;
use crate::metrics::{InferSeries, Registry};

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
    }
    n
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
