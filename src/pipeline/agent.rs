//! The agent around the pipeline: builds the stages, serves `/metrics` and `/healthz`, tells
//! systemd `READY=1` once the models are loaded and the first poll cycle has run, pings the
//! watchdog while every stage makes progress, and stops in order when `shutdown` fires.
//! Shared by `chocoline run` and `chocoline demo`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::build::{self, BuildError};
use super::live::{self, Control, Report};
use super::reload::ReloadSource;
use crate::config::Config;
use crate::health::{Liveness, Notifier};
use crate::metrics::{HealthStatus, Registry};

/// Why the agent did not run.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A stage could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// The metrics endpoint could not listen.
    #[error("metrics: cannot listen on {addr}: {source}")]
    Metrics {
        /// `[metrics] listen`.
        addr: std::net::SocketAddr,
        /// OS error.
        source: std::io::Error,
    },
}

/// How the agent talks to its supervisor.
#[derive(Debug, Clone)]
pub struct Supervision {
    /// sd_notify target.
    pub notifier: Notifier,
    /// Watchdog period (`WATCHDOG_USEC`), if systemd asked for one.
    pub watchdog: Option<Duration>,
}

impl Supervision {
    /// From the environment systemd sets.
    pub fn from_env() -> Self {
        Supervision {
            notifier: Notifier::from_env(),
            watchdog: crate::health::watchdog_period_from_env(),
        }
    }

    /// No supervisor (demo, tests).
    pub fn none() -> Self {
        Supervision {
            notifier: Notifier::new(None),
            watchdog: None,
        }
    }
}

/// Build and run the agent for `cfg` until `shutdown` fires and everything has drained.
/// `reload`: where SIGHUP reloads come from (None: the configuration stays fixed; model
/// files are still watched when `[models] watch` is on).
pub async fn run(
    cfg: &Config,
    supervision: Supervision,
    reload: Option<ReloadSource>,
    shutdown: CancellationToken,
) -> Result<Report, AgentError> {
    crate::clock::wait_for_sync(cfg.agent.wait_for_time_sync.get()).await;
    let stages = build::stages(cfg)?;
    log_models(cfg, &stages.refused);
    let liveness = Liveness::new();
    let metrics = Registry::new();
    let ready = Arc::new(AtomicBool::new(false));
    // The endpoint and the watchdog outlive the source: they stop after the drain.
    let aux_stop = CancellationToken::new();
    let mut aux = Vec::new();
    if cfg.metrics.enabled {
        let health = health_check(liveness.clone(), ready.clone());
        aux.push(serve_metrics(cfg, metrics.clone(), health, aux_stop.clone()).await?);
    }
    let (first_tx, first_rx) = oneshot::channel();
    aux.push(tokio::spawn(announce_ready(
        first_rx,
        ready,
        supervision.notifier.clone(),
        aux_stop.clone(),
    )));
    if let Some(period) = supervision.watchdog {
        tracing::info!(period = ?period, "systemd watchdog enabled");
        aux.push(tokio::spawn(crate::health::watchdog(
            supervision.notifier.clone(),
            period,
            liveness.clone(),
            aux_stop.clone(),
        )));
    }
    aux.push(tokio::spawn(announce_stopping(
        supervision.notifier.clone(),
        shutdown.clone(),
    )));
    let control = Control {
        liveness,
        metrics,
        first_cycle: Some(first_tx),
        reload,
        notifier: supervision.notifier.clone(),
    };
    let report = live::run(stages, cfg, control, shutdown).await;
    aux_stop.cancel();
    for t in aux {
        let _ = t.await;
    }
    Ok(report)
}

/// Log which enabled models loaded and which were refused.
fn log_models<E>(cfg: &Config, refused: &[(String, E)]) {
    let refused: Vec<&str> = refused.iter().map(|(n, _)| n.as_str()).collect();
    let loaded: Vec<&String> = (cfg.models.enabled.iter())
        .filter(|n| !refused.contains(&n.as_str()))
        .collect();
    tracing::info!(models = ?loaded, refused = ?refused, "models loaded");
}

/// `/healthz`: healthy once the first poll cycle has run and every stage makes progress.
fn health_check(
    liveness: Liveness,
    ready: Arc<AtomicBool>,
) -> impl Fn() -> HealthStatus + Send + Sync + 'static {
    move || {
        let mut reasons = liveness.check();
        if !ready.load(Ordering::Relaxed) {
            reasons.insert(0, "starting: no poll cycle yet".to_string());
        }
        HealthStatus {
            healthy: reasons.is_empty(),
            reasons,
        }
    }
}

/// Bind `[metrics] listen` and serve `/metrics` and `/healthz` until `stop`.
async fn serve_metrics(
    cfg: &Config,
    metrics: Registry,
    health: impl Fn() -> HealthStatus + Send + Sync + 'static,
    stop: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, AgentError> {
    let addr = cfg.metrics.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| AgentError::Metrics { addr, source })?;
    tracing::info!(listen = %addr, "serving /metrics and /healthz");
    Ok(tokio::spawn(crate::metrics::serve(
        listener,
        metrics,
        Arc::new(health),
        stop,
    )))
}

/// After the first poll cycle: mark ready and tell systemd `READY=1`.
async fn announce_ready(
    first_cycle: oneshot::Receiver<()>,
    ready: Arc<AtomicBool>,
    notifier: Notifier,
    stop: CancellationToken,
) {
    tokio::select! {
        () = stop.cancelled() => {}
        r = first_cycle => if r.is_ok() {
            mark_ready(&ready, &notifier);
        }
    }
}

/// The first poll cycle has run: `/healthz` may say healthy, systemd hears `READY=1`.
fn mark_ready(ready: &AtomicBool, notifier: &Notifier) {
    ready.store(true, Ordering::Relaxed);
    tracing::info!("first poll cycle done; ready");
    if let Err(e) = notifier.notify("READY=1") {
        tracing::warn!(error = %e, "sd_notify READY failed");
    }
}

/// Tell systemd `STOPPING=1` as soon as shutdown begins.
async fn announce_stopping(notifier: Notifier, shutdown: CancellationToken) {
    shutdown.cancelled().await;
    let _ = notifier.notify("STOPPING=1");
}
