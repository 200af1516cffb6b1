//! The monitor stage loop that ships, and the [`Monitor`] it drives: predictions in; each prediction passed on as a [`Record`], followed by
//! a [`Record::Drift`] whenever one of its model's windows closes. Ends when its input
//! closes (a partial last window is not reported: too few vectors for the thresholds).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::domain::{Prediction, Record};
use crate::flow::{Next, StageContext, next};

use super::window::ModelMonitor;

/// Drift monitors of all models, by model name. Models without a reference pass through.
pub struct Monitor {
    models: HashMap<Arc<str>, ModelMonitor>,
    enabled: bool,
}

impl Monitor {
    /// From one monitor per model with a reference; `enabled` is `[drift] enabled`.
    pub fn new(models: Vec<ModelMonitor>, enabled: bool) -> Self {
        Monitor {
            models: models.into_iter().map(|m| (m.model().clone(), m)).collect(),
            enabled,
        }
    }

    /// Handle one prediction; appends the records to emit. A shadow candidate's prediction
    /// (docs/shadow.md) is passed on uncounted: its vector is the serving prediction's, which
    /// the window has already counted.
    pub fn handle(&mut self, p: Prediction, out: &mut Vec<Record>) {
        let drift = if self.enabled && !p.shadow {
            self.models.get_mut(&p.model).and_then(|m| m.observe(&p))
        } else {
            None
        };
        out.push(Record::Prediction(p));
        if let Some(w) = drift {
            out.push(Record::Drift(w));
        }
    }
}

/// Run until `rx` closes or `tx`'s receiver is gone. Between two predictions it takes a new
/// [`Monitor`] from the reload controller (its current windows restart).
pub async fn run(
    mut monitor: Monitor,
    mut rx: mpsc::Receiver<Prediction>,
    tx: mpsc::Sender<Record>,
    mut ctx: StageContext<Monitor>,
) {
    let mut out = Vec::new();
    loop {
        let p = match next(&mut rx, &mut ctx.updates).await {
            Next::Item(p) => p,
            Next::Update(m) => {
                tracing::info!("drift: new monitor (current windows restart)");
                monitor = m;
                continue;
            }
            Next::Closed => return,
        };
        let _busy = ctx.heartbeat.busy();
        monitor.handle(p, &mut out);
        for r in out.drain(..) {
            if tx.send(r).await.is_err() {
                return;
            }
        }
    }
}
