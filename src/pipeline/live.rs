//! The live agent: every stage as its own task, wired with typed bounded channels.
//!
//! ```text
//! acquire ─Sample─▶ features ─FeatureVector─▶ validate ─ok─▶ infer ─Prediction─▶ monitor ─┐
//!                                                  └──DataQuality──────────────────▶ alert ◀┘
//!                                                              alert ─Record─▶ store ⇢ publish
//! ```
//!
//! Only the source (acquire) holds the shutdown token. When it stops, its sender drops and
//! each later stage ends when its input closes, after handling what was in flight; the store
//! then flushes, and only after the store stage has returned is the publisher told to stop,
//! so it drains what was flushed last, publishes the retained `offline` status and
//! disconnects. Every stage holds a [`Heartbeat`] busy guard while it works on one item, so a
//! wedged stage (or one blocked on a full downstream channel) shows in [`Liveness::check`].
//!
//! Reloads ([`super::reload`]): the features, monitor and alert tasks take updates between two
//! items; acquire and the publisher run under small supervisors that restart them with a
//! replacement built by the reload controller. A restarted poller stops after its current
//! cycle and the new one sends into the same channel, so samples already read still drain; a
//! restarted publisher leaves undelivered messages in the sled outbox for its successor.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::build::Stages;
use super::reload::{self, ReloadSource, Restart};
use super::telemetry;
use crate::acquire::{Acquire, AcquireMetrics};
use crate::domain::{FeatureVector, Prediction, Record, Sample};
use crate::features::stage::SourceWatch;
use crate::flow::{STALL, StageContext};
use crate::health::{Liveness, Notifier};
use crate::metrics::Registry;
use crate::publish::{PublishStats, Publisher};

/// Capacity of every stage channel: enough to absorb a burst of a few poll cycles of many
/// devices; beyond that back-pressure reaches the poller rather than memory growing.
pub const CHANNEL: usize = 256;

/// What the pipeline reports to its owner while it runs.
pub struct Control {
    /// Heartbeats of the stages are registered here.
    pub liveness: Liveness,
    /// Metrics registry the stages update.
    pub metrics: Registry,
    /// Fired once the first poll cycle has produced a sample.
    pub first_cycle: Option<oneshot::Sender<()>>,
    /// Configuration reloads (SIGHUP); None: models are still watched, the configuration
    /// is fixed.
    pub reload: Option<ReloadSource>,
    /// sd_notify target (RELOADING=1 / READY=1 around a reload).
    pub notifier: Notifier,
}

/// Counters returned when the pipeline has stopped.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Samples received from acquire.
    pub samples: u64,
    /// Samples acquire sent, summed over every poller run (restarts included); equal to
    /// `samples` when nothing was lost.
    pub samples_emitted: u64,
    /// Predictions made.
    pub predictions: u64,
    /// Records handed to the store.
    pub records: u64,
    /// The publisher's counters (None if it failed).
    pub publish: Option<PublishStats>,
}

/// Longest poll interval of the configured devices (sets the source's beat expectation).
fn slowest_poll(cfg: &crate::config::Config) -> Duration {
    cfg.devices
        .iter()
        .map(|d| d.poll_interval.get())
        .max()
        .unwrap_or(Duration::from_secs(1))
}

/// Run every stage until `shutdown` fires and the pipeline has drained.
pub async fn run(
    stages: Stages,
    cfg: &crate::config::Config,
    mut control: Control,
    shutdown: CancellationToken,
) -> Report {
    let Stages {
        acquire,
        features,
        service,
        monitor,
        alerts,
        store,
        publisher,
        refused,
    } = stages;
    let live = &control.liveness;
    // A healthy poller produces a sample every poll interval; allow for a slow device's
    // timeouts and reconnect backoff before calling it stuck.
    let beat = (slowest_poll(cfg) * 5).max(Duration::from_secs(30));
    let hb_acquire = live.register("acquire", STALL, Some(beat));
    let hb_features = live.register("features", STALL, None);
    let hb_validate = live.register("validate", STALL, None);
    let hb_infer = live.register("infer", STALL, None);
    let hb_monitor = live.register("monitor", STALL, None);
    let hb_alert = live.register("alert", STALL, None);

    telemetry::static_info(&control.metrics, service.registry());
    let (updates, rx_updates) = reload::updates();
    let (metrics_tx, metrics_rx) = watch::channel(acquire.metrics());
    let publish_stop = CancellationToken::new();
    let refresher = tokio::spawn(telemetry::refresh(
        control.metrics.clone(),
        metrics_rx,
        store.clone(),
        publish_stop.clone(),
    ));
    let controller = tokio::spawn(
        reload::Controller::new(
            cfg.clone(),
            service.registry().clone(),
            store.clone(),
            updates,
            control.metrics.clone(),
            control.notifier.clone(),
        )
        .with_refused(refused)
        .run(control.reload.take(), shutdown.clone()),
    );

    let (sample_tx, sample_rx) = mpsc::channel::<Sample>(CHANNEL);
    let (vec_tx, vec_rx) = mpsc::channel::<FeatureVector>(CHANNEL);
    let (ok_tx, ok_rx) = mpsc::channel::<FeatureVector>(CHANNEL);
    let (pred_tx, pred_rx) = mpsc::channel::<Prediction>(CHANNEL);
    let (alert_tx, alert_rx) = mpsc::channel::<Record>(CHANNEL);
    let (store_tx, store_rx) = mpsc::channel::<Record>(CHANNEL);

    let t_acquire = tokio::spawn(supervise_acquire(
        acquire,
        sample_tx,
        shutdown,
        rx_updates.acquire,
        metrics_tx,
    ));
    let t_features = tokio::spawn(crate::features::stage::run(
        features,
        sample_rx,
        vec_tx,
        StageContext {
            heartbeat: hb_features,
            updates: rx_updates.features,
            metrics: control.metrics.clone(),
        },
        SourceWatch {
            source: hb_acquire,
            first_cycle: control.first_cycle.take(),
        },
    ));
    let t_validate = tokio::spawn(crate::validate::stage::run(
        vec_rx,
        ok_tx,
        alert_tx.clone(),
        hb_validate,
    ));
    let infer_metrics = control.metrics.clone();
    let t_infer = tokio::spawn(async move {
        crate::infer::stage::run(service, ok_rx, pred_tx, hb_infer, &infer_metrics).await
    });
    let t_monitor = tokio::spawn(crate::monitor::stage::run(
        monitor,
        pred_rx,
        alert_tx,
        StageContext {
            heartbeat: hb_monitor,
            updates: rx_updates.monitor,
            metrics: control.metrics.clone(),
        },
    ));
    let t_alert = tokio::spawn(crate::alert::stage::run(
        alerts,
        alert_rx,
        store_tx,
        StageContext {
            heartbeat: hb_alert,
            updates: rx_updates.alerts,
            metrics: control.metrics.clone(),
        },
    ));
    let t_store = tokio::spawn(crate::store::stage::run(store.clone(), store_rx));
    let t_publish = tokio::spawn(supervise_publisher(
        publisher,
        publish_stop.clone(),
        rx_updates.publisher,
    ));

    let samples_emitted = match t_acquire.await {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "acquire task failed");
            0
        }
    };
    let _ = controller.await;
    tracing::info!("acquisition stopped; draining the pipeline");
    let samples = t_features.await.unwrap_or_default();
    let _ = t_validate.await;
    let predictions = t_infer.await.unwrap_or_default();
    let _ = t_monitor.await;
    let records = t_alert.await.unwrap_or_default();
    if let Err(e) = t_store.await {
        tracing::error!(error = %e, "store task failed");
    }
    tracing::info!("store flushed; stopping the publisher");
    publish_stop.cancel();
    let publish = match t_publish.await {
        Ok(stats) => stats,
        Err(e) => {
            tracing::error!(error = %e, "publisher task failed");
            None
        }
    };
    let _ = refresher.await;
    Report {
        samples,
        samples_emitted,
        predictions,
        records,
        publish,
    }
}

/// Run the poller until `shutdown`, restarting it with each replacement the reload controller
/// sends. Returns the samples sent over all runs.
async fn supervise_acquire(
    mut acquire: Acquire,
    tx: mpsc::Sender<Sample>,
    shutdown: CancellationToken,
    mut restarts: mpsc::Receiver<Restart<Acquire>>,
    metrics: watch::Sender<Arc<AcquireMetrics>>,
) -> u64 {
    use std::sync::atomic::Ordering;
    let mut emitted = 0;
    loop {
        let counters = acquire.metrics();
        metrics.send_replace(counters.clone());
        let stop = shutdown.child_token();
        let mut task = tokio::spawn(acquire.run(tx.clone(), stop.clone()));
        let next = tokio::select! {
            r = &mut task => {
                if let Err(e) = r {
                    tracing::error!(error = %e, "acquire task failed");
                }
                None
            }
            Some(r) = restarts.recv() => Some(r),
        };
        let Some(Restart { next, done }) = next else {
            return emitted + counters.samples.load(Ordering::Relaxed);
        };
        // The old poller finishes its current cycle; what it read is already in the channel.
        stop.cancel();
        if let Err(e) = task.await {
            tracing::error!(error = %e, "acquire task failed");
        }
        emitted += counters.samples.load(Ordering::Relaxed);
        tracing::info!(
            samples_so_far = emitted,
            "acquire restarting with the new devices"
        );
        acquire = next;
        let _ = done.send(());
    }
}

/// Run the publisher until `stop`, restarting it with each replacement the reload controller
/// sends. Returns the last run's counters.
async fn supervise_publisher(
    mut publisher: Publisher,
    stop: CancellationToken,
    mut restarts: mpsc::Receiver<Restart<Publisher>>,
) -> Option<PublishStats> {
    let finished = |r: Result<
        Result<PublishStats, crate::publish::PublishError>,
        tokio::task::JoinError,
    >| match r {
        Ok(Ok(stats)) => Some(stats),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "publisher failed");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "publisher task failed");
            None
        }
    };
    loop {
        let own = stop.child_token();
        let mut task = tokio::spawn(publisher.run(own.clone()));
        let next = tokio::select! {
            r = &mut task => return finished(r),
            Some(r) = restarts.recv() => r,
        };
        // The old session publishes `offline` and disconnects; whatever it had not delivered
        // stays in the outbox and goes out through the new one.
        own.cancel();
        let stats = finished(task.await);
        tracing::info!(previous = ?stats, "publisher restarting with the new broker settings");
        publisher = next.next;
        let _ = next.done.send(());
    }
}
