//! The alert task: records in (predictions and drift windows from the monitor,
//! data-quality events from validate — both hold a sender of the same channel), records
//! out to the store: each input record, then the alert events it caused. Ends when every
//! sender is gone.

use tokio::sync::mpsc;

use crate::domain::Record;

use super::engine::{AlertEngine, AlertStats};

/// Run until `rx` closes; returns the counters.
pub async fn run(
    mut engine: AlertEngine,
    mut rx: mpsc::Receiver<Record>,
    tx: mpsc::Sender<Record>,
) -> AlertStats {
    let mut out = Vec::new();
    while let Some(rec) = rx.recv().await {
        engine.handle(rec, &mut out);
        for r in out.drain(..) {
            if tx.send(r).await.is_err() {
                return engine.stats().clone();
            }
        }
    }
    engine.stats().clone()
}
