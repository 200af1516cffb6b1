//! The features stage loop that ships: `Sample` in, `FeatureVector` out, over typed bounded
//! channels. Between two samples it takes a new [`FeatureEngine`] from the reload controller
//! (its windows refill). It is also where the poller's progress becomes visible: every sample
//! beats the source's heartbeat, counts into the per-device poll series and, the first time,
//! tells the agent that the first poll cycle has run. It ends when its input closes (shutdown
//! drains in order) or when its output is gone.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::engine::FeatureEngine;
use crate::domain::{FeatureVector, Sample, TimestampMs};
use crate::flow::{Next, StageContext, next};
use crate::health::Heartbeat;
use crate::metrics::PollSeries;

/// What only the first stage after the source needs besides its [`StageContext`].
pub struct SourceWatch {
    /// The source's heartbeat: beaten once per sample (one per device and cycle).
    pub source: Arc<Heartbeat>,
    /// Fired with the first sample: the first poll cycle has run.
    pub first_cycle: Option<oneshot::Sender<()>>,
}

/// Run the features stage until `rx` closes or `tx`'s receiver is gone; returns the samples
/// received.
pub async fn run(
    mut engine: FeatureEngine,
    mut rx: mpsc::Receiver<Sample>,
    tx: mpsc::Sender<FeatureVector>,
    mut ctx: StageContext<FeatureEngine>,
    mut watch: SourceWatch,
) -> u64 {
    let mut series = PollSeries::new(&ctx.metrics);
    let mut out = Vec::new();
    let mut n = 0;
    loop {
        let sample = match next(&mut rx, &mut ctx.updates).await {
            Next::Item(s) => s,
            Next::Update(e) => {
                tracing::info!("features: new engine (windows refill)");
                engine = e;
                continue;
            }
            Next::Closed => return n,
        };
        let _busy = ctx.heartbeat.busy();
        n += 1;
        arrived(&sample, &mut watch, &mut series);
        engine.push(&sample, &mut out);
        for v in out.drain(..) {
            if tx.send(v).await.is_err() {
                return n;
            }
        }
    }
}

/// A sample arrived: beat the source, count the poll, announce the first cycle, and log the
/// readings at debug level.
fn arrived(sample: &Sample, watch: &mut SourceWatch, series: &mut PollSeries) {
    watch.source.beat();
    series.observe(sample, TimestampMs::now());
    if let Some(tx) = watch.first_cycle.take() {
        let _ = tx.send(());
    }
    if tracing::enabled!(tracing::Level::DEBUG) {
        let readings: Vec<String> = sample
            .readings
            .iter()
            .map(|r| format!("{}={:.3}{} {:?}", r.name, r.value, r.unit, r.quality))
            .collect();
        tracing::debug!(device = %sample.device, ts = %sample.ts,
            missed = sample.missed_cycles, readings = %readings.join(", "), "sample");
    }
}
