//! The infer pipeline task: feature vectors in, predictions out.

use tokio::sync::mpsc;

use crate::domain::{FeatureVector, Prediction};

use super::service::Service;

/// Run until the input channel closes (or the output's receiver is gone). A vector that
/// cannot be scored (unknown model, invalid features, model failure) is logged as a typed
/// warning and skipped: one bad vector must not stop the line's other models.
pub async fn run(
    service: Service,
    mut rx: mpsc::Receiver<FeatureVector>,
    tx: mpsc::Sender<Prediction>,
) {
    while let Some(v) = rx.recv().await {
        // A prediction is a few microseconds of CPU: cheaper inline than a blocking-pool hop.
        match service.predict(&v) {
            Ok(p) => {
                if tx.send(p).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(model = %v.model, ts = %v.ts, kind = e.kind(), error = %e, "prediction skipped");
            }
        }
    }
}
