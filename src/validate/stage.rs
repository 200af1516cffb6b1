//! The validate stage loop that ships: vectors in; accepted vectors to infer, refused ones as
//! [`Record::DataQuality`] to the alert stage (which counts them into the `data_quality`
//! rule and hands them to the store). Ends when its input closes or an output is gone.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::validator::{ValidateStats, Validator, Verdict};
use crate::domain::{FeatureVector, Record};
use crate::health::Heartbeat;

/// Run the validate stage until `rx` closes; returns the counters.
pub async fn run(
    mut rx: mpsc::Receiver<FeatureVector>,
    ok_tx: mpsc::Sender<FeatureVector>,
    dq_tx: mpsc::Sender<Record>,
    heartbeat: Arc<Heartbeat>,
) -> ValidateStats {
    let mut v = Validator::new();
    while let Some(fv) = rx.recv().await {
        let _busy = heartbeat.busy();
        let sent = match v.check(fv) {
            Verdict::Accept(fv) => ok_tx.send(fv).await.is_ok(),
            Verdict::Refuse(e) => {
                tracing::debug!(model = %e.model, ts = %e.ts, flags = ?e.flags, "vector refused");
                dq_tx.send(Record::DataQuality(e)).await.is_ok()
            }
        };
        if !sent {
            break;
        }
    }
    v.stats().clone()
}
