//! The live agent: every stage as its own task, wired with typed bounded channels.
//!
//! ```text
//! acquire ─Sample─▶ features ─FeatureVector─▶ validate ─ok─▶ infer ─Prediction─▶ monitor ─┐
//!                                                  └──DataQuality──────────────────▶ alert ◀┘
//!                                                              alert ─Record─▶ store ⇢ publish
//! ```
//!
//! With `[mqtt.topics.signals]` or `[sparkplug]` on, the raw-signal tap ([`crate::signals`])
//! sits between acquire and features and hands its ring to the publisher; with `[capture]`
//! on, the capture tap ([`crate::capture`]) follows it (`taps.rs`).
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
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::build::Stages;
use super::health_report::HealthReport;
use super::reload::{self, ReloadSource, UpdateReceivers};
use super::supervise::{supervise_acquire, supervise_publisher};
use super::telemetry;
use crate::domain::{FeatureVector, Prediction, Record, Sample};
use crate::features::stage::SourceWatch;
use crate::flow::{STALL, StageContext};
use crate::health::{Heartbeat, Liveness, Notifier};
use crate::metrics::Registry;
use crate::publish::PublishStats;

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

/// The heartbeats of the stages that process items; acquire's beats with every sample.
struct Heartbeats {
    acquire: Arc<Heartbeat>,
    features: Arc<Heartbeat>,
    validate: Arc<Heartbeat>,
    infer: Arc<Heartbeat>,
    monitor: Arc<Heartbeat>,
    alert: Arc<Heartbeat>,
}

impl Heartbeats {
    fn register(live: &Liveness, cfg: &crate::config::Config) -> Self {
        // A healthy poller produces a sample every poll interval; allow for a slow device's
        // timeouts and reconnect backoff before calling it stuck.
        let beat = (slowest_poll(cfg) * 5).max(Duration::from_secs(30));
        Heartbeats {
            acquire: live.register("acquire", STALL, Some(beat)),
            features: live.register("features", STALL, None),
            validate: live.register("validate", STALL, None),
            infer: live.register("infer", STALL, None),
            monitor: live.register("monitor", STALL, None),
            alert: live.register("alert", STALL, None),
        }
    }
}

/// The running tasks, joined in pipeline order by [`Tasks::drain`].
struct Tasks {
    acquire: JoinHandle<u64>,
    controller: JoinHandle<()>,
    /// The taps between acquire and features that are on (signals, capture), in order.
    taps: Vec<(&'static str, JoinHandle<u64>)>,
    features: JoinHandle<u64>,
    validate: JoinHandle<crate::validate::ValidateStats>,
    infer: JoinHandle<u64>,
    monitor: JoinHandle<()>,
    alert: JoinHandle<u64>,
    store: JoinHandle<()>,
    publish: JoinHandle<Option<PublishStats>>,
    refresher: JoinHandle<()>,
    /// The Sparkplug edge node (stopped with the publisher: its NDEATH goes last).
    edge: Option<JoinHandle<Result<(), crate::publish::PublishError>>>,
    /// Stops the publisher (and the refresher) once the store has flushed.
    publish_stop: CancellationToken,
    /// The label desk: ends once the publisher, which feeds it, has stopped.
    labels: Option<JoinHandle<u64>>,
}

/// Run every stage until `shutdown` fires and the pipeline has drained.
pub async fn run(
    stages: Stages,
    cfg: &crate::config::Config,
    mut control: Control,
    shutdown: CancellationToken,
) -> Report {
    let hb = Heartbeats::register(&control.liveness, cfg);
    telemetry::static_info(&control.metrics, stages.service.registry());
    let (updates, rx_updates) = reload::updates();
    let controller = reload::Controller::new(
        cfg.clone(),
        stages.service.registry().clone(),
        stages.store.clone(),
        updates,
        control.metrics.clone(),
        control.notifier.clone(),
    );
    let mut controller = controller.with_refused(stages.refused.clone());
    let mut stages = stages;
    if deploy_enabled(cfg) {
        // Bundles wait here while one installs (a few hundred ms each); a fifth is refused.
        let (tx, rx) = mpsc::channel(4);
        let mut topics = vec![stages.store.envelope().deploy_topic()];
        topics.extend(cfg.fleet.group_deploy_topic.clone());
        tracing::info!(topics = ?topics, "model deployment over MQTT is on");
        stages.publisher = stages.publisher.with_deploy(topics, tx);
        controller = controller.with_deploys(rx);
    }
    let health = health_reports(cfg, &mut stages, &control.metrics);
    let labels = super::labels::spawn(cfg, &mut stages, &control.metrics);
    let (tap, edge) = super::outputs::taps(cfg, &mut stages, &control.metrics);
    let taps = super::taps::Taps {
        signals: tap,
        capture: super::taps::capture(cfg, &control.metrics),
    };
    let controller = tokio::spawn(controller.run(control.reload.take(), shutdown.clone()));
    let side = Side {
        controller,
        health,
        taps,
        edge,
        labels,
    };
    spawn(stages, hb, rx_updates, &mut control, side, shutdown)
        .drain()
        .await
}

/// The tasks and feeds beside the stage chain.
struct Side {
    /// The reload and deploy controller.
    controller: JoinHandle<()>,
    /// The `{prefix}/health` report, when on.
    health: Option<telemetry::HealthFeed>,
    /// The taps between acquire and features that are on.
    taps: super::taps::Taps,
    /// The Sparkplug edge node, when `[sparkplug]` is on.
    edge: Option<crate::publish::edge_node::EdgeNode>,
    /// The label desk (`{prefix}/cmd/label`), when `[capture]` is on.
    labels: Option<JoinHandle<u64>>,
}

/// Deployment over MQTT is on when bundles have somewhere to go and someone to trust: an agent
/// not set up for it does not even subscribe.
fn deploy_enabled(cfg: &crate::config::Config) -> bool {
    cfg.models.installed_dir.is_some() && !cfg.fleet.trusted_keys.is_empty()
}

/// The `{prefix}/health` report, when `[fleet] health_report` is not "0s": the refresher
/// builds it, the publisher sends it retained.
fn health_reports(
    cfg: &crate::config::Config,
    stages: &mut Stages,
    metrics: &crate::metrics::Registry,
) -> Option<telemetry::HealthFeed> {
    let every = cfg.fleet.health_report.get();
    if every.is_zero() {
        return None;
    }
    let (tx, rx) = watch::channel(None);
    let topic = stages.store.envelope().health_topic();
    stages.publisher.set_health(topic, rx);
    let report = HealthReport::new(cfg, stages.service.registry().clone(), metrics.clone());
    Some(telemetry::HealthFeed { report, tx, every })
}

/// Wire the stages with bounded channels and spawn each one.
fn spawn(
    stages: Stages,
    hb: Heartbeats,
    rx: UpdateReceivers,
    control: &mut Control,
    side: Side,
    shutdown: CancellationToken,
) -> Tasks {
    let metrics = control.metrics.clone();
    let (sample_tx, sample_rx) = mpsc::channel::<Sample>(CHANNEL);
    let (vec_tx, vec_rx) = mpsc::channel::<FeatureVector>(CHANNEL);
    let (ok_tx, ok_rx) = mpsc::channel::<FeatureVector>(CHANNEL);
    let (pred_tx, pred_rx) = mpsc::channel::<Prediction>(CHANNEL);
    let super::taps::Spawned {
        tasks: taps,
        samples: sample_rx,
        predictions: pred_rx,
    } = super::taps::spawn(side.taps, sample_rx, pred_rx, &control.liveness);
    let (alert_tx, alert_rx) = mpsc::channel::<Record>(CHANNEL);
    let (store_tx, store_rx) = mpsc::channel::<Record>(CHANNEL);
    let (metrics_tx, metrics_rx) = watch::channel(stages.acquire.metrics());
    let publish_stop = CancellationToken::new();
    let source = SourceWatch {
        source: hb.acquire,
        first_cycle: control.first_cycle.take(),
    };
    let (service, infer_metrics) = (stages.service, control.metrics.clone());
    Tasks {
        acquire: tokio::spawn(supervise_acquire(
            stages.acquire,
            sample_tx,
            shutdown,
            rx.acquire,
            metrics_tx,
        )),
        controller: side.controller,
        taps,
        features: tokio::spawn(crate::features::stage::run(
            stages.features,
            sample_rx,
            vec_tx,
            StageContext::new(hb.features, rx.features, &metrics),
            source,
        )),
        validate: tokio::spawn(crate::validate::stage::run(
            vec_rx,
            ok_tx,
            alert_tx.clone(),
            hb.validate,
        )),
        infer: tokio::spawn(async move {
            crate::infer::stage::run(service, ok_rx, pred_tx, hb.infer, &infer_metrics).await
        }),
        monitor: tokio::spawn(crate::monitor::stage::run(
            stages.monitor,
            pred_rx,
            alert_tx,
            StageContext::new(hb.monitor, rx.monitor, &metrics),
        )),
        alert: tokio::spawn(crate::alert::stage::run(
            stages.alerts,
            alert_rx,
            store_tx,
            StageContext::new(hb.alert, rx.alerts, &metrics),
        )),
        store: tokio::spawn(crate::store::stage::run(stages.store.clone(), store_rx)),
        publish: tokio::spawn(supervise_publisher(
            stages.publisher,
            publish_stop.clone(),
            rx.publisher,
        )),
        edge: (side.edge).map(|e| tokio::spawn(e.run(publish_stop.clone()))),
        refresher: tokio::spawn(telemetry::refresh(
            control.metrics.clone(),
            metrics_rx,
            stages.store,
            side.health,
            publish_stop.clone(),
        )),
        publish_stop,
        labels: side.labels,
    }
}

impl Tasks {
    /// Wait for the source to stop, then for each stage in pipeline order as its input
    /// closes; only after the store has flushed is the publisher told to stop.
    async fn drain(self) -> Report {
        let samples_emitted = joined(self.acquire, "acquire").await.unwrap_or(0);
        let _ = self.controller.await;
        tracing::info!("acquisition stopped; draining the pipeline");
        for (name, t) in self.taps {
            let _ = joined(t, name).await;
        }
        let samples = self.features.await.unwrap_or_default();
        let _ = self.validate.await;
        let predictions = self.infer.await.unwrap_or_default();
        let _ = self.monitor.await;
        let records = self.alert.await.unwrap_or_default();
        let publish = finish_output(self.store, self.publish, self.publish_stop, self.labels).await;
        finish_edge(self.edge).await;
        let _ = self.refresher.await;
        Report {
            samples,
            samples_emitted,
            predictions,
            records,
            publish,
        }
    }
}

/// Wait for the store to flush what the alert stage handed it, then stop the publisher so it
/// drains the outbox, publishes `offline` and disconnects; then wait for the label desk, which
/// ends with the publisher (its feed): replies it writes after that wait in the outbox for the
/// next start.
async fn finish_output(
    store: JoinHandle<()>,
    publish: JoinHandle<Option<PublishStats>>,
    publish_stop: CancellationToken,
    labels: Option<JoinHandle<u64>>,
) -> Option<PublishStats> {
    let _ = joined(store, "store").await;
    tracing::info!("store flushed; stopping the publisher");
    publish_stop.cancel();
    let stats = joined(publish, "publisher").await.flatten();
    if let Some(desk) = labels {
        let _ = joined(desk, "label desk").await;
    }
    stats
}

/// Wait for the Sparkplug edge node (stopped with the publisher) to publish its NDEATH.
async fn finish_edge(edge: Option<JoinHandle<Result<(), crate::publish::PublishError>>>) {
    if let Some(e) = edge
        && let Some(Err(err)) = joined(e, "sparkplug").await
    {
        tracing::error!(error = %err, "Sparkplug edge node failed");
    }
}

/// Join a task; a panic is logged and gives None.
async fn joined<T>(task: JoinHandle<T>, what: &str) -> Option<T> {
    match task.await {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!(error = %e, "{what} task failed");
            None
        }
    }
}
