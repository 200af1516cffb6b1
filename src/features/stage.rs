//! The features task: `Sample` in, `FeatureVector` out, over typed bounded channels. It ends
//! when its input closes (shutdown drains in order) or when its output is gone.

use tokio::sync::mpsc;

use crate::domain::{FeatureVector, Sample};

use super::engine::{EngineStats, FeatureEngine};

/// Run the features stage until `rx` closes; returns the engine's counters.
pub async fn run(
    mut engine: FeatureEngine,
    mut rx: mpsc::Receiver<Sample>,
    tx: mpsc::Sender<FeatureVector>,
) -> EngineStats {
    let mut out = Vec::new();
    while let Some(sample) = rx.recv().await {
        engine.push(&sample, &mut out);
        for v in out.drain(..) {
            if tx.send(v).await.is_err() {
                return engine.stats();
            }
        }
    }
    engine.stats()
}
