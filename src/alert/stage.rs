//! The alert stage loop that ships: records in (predictions and drift windows from the
//! monitor, data-quality events from validate — both hold a sender of the same channel),
//! records out to the store: each input record, then the alert events it caused. Every alert
//! event and drift window is counted in the agent's series and logged. Between two records it
//! takes new rules from the reload controller; open alerts keep their state. Ends when every
//! sender is gone or the store's receiver is.

use tokio::sync::mpsc;

use super::config::{AlertsConfig, ProductConfig};
use super::engine::AlertEngine;
use crate::domain::Record;
use crate::flow::{Next, StageContext, next};
use crate::metrics::AlertSeries;

/// New rules for the alert engine, handed over by a reload.
#[derive(Debug, Clone)]
pub struct AlertRules {
    /// `[alerts]`.
    pub alerts: AlertsConfig,
    /// `[[products]]`.
    pub products: Vec<ProductConfig>,
}

/// Run until `rx` closes; returns the records sent to the store.
pub async fn run(
    mut engine: AlertEngine,
    mut rx: mpsc::Receiver<Record>,
    tx: mpsc::Sender<Record>,
    mut ctx: StageContext<AlertRules>,
) -> u64 {
    let mut series = AlertSeries::new(&ctx.metrics);
    let mut out = Vec::new();
    let mut n = 0;
    loop {
        let rec = match next(&mut rx, &mut ctx.updates).await {
            Next::Item(r) => r,
            Next::Update(rules) => {
                engine.reconfigure(&rules.alerts, &rules.products);
                tracing::info!(
                    open = engine.open_alerts().len(),
                    "alerts: new rules in force"
                );
                continue;
            }
            Next::Closed => return n,
        };
        let _busy = ctx.heartbeat.busy();
        engine.handle(rec, &mut out);
        for r in out.drain(..) {
            observe(&r, &mut series);
            n += 1;
            if tx.send(r).await.is_err() {
                return n;
            }
        }
    }
}

/// Count and log an outgoing alert event or drift window.
fn observe(r: &Record, series: &mut AlertSeries) {
    match r {
        Record::Alert(a) => {
            series.alert(a.kind, a.state);
            crate::logging::log_alert(a);
        }
        Record::Drift(w) => {
            series.drift(w);
            tracing::info!(model = %w.model, samples = w.samples,
                drifted_share = w.drifted_share, "drift window");
        }
        _ => {}
    }
}
