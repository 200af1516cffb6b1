//! The reload controller: on SIGHUP it re-reads the configuration through the same layered
//! loader as start-up (defaults → TOML → environment) and the models, and hands each change
//! to the stage that owns it ([`super::changes`] says which change goes where). Between
//! SIGHUPs it polls the model files (`[models] watch`) and swaps in changed models.
//!
//! The files `[mqtt]` names (password, CA, client certificate and key) are read again on every
//! SIGHUP: new content under the same path restarts the publisher like a changed `[mqtt]`
//! setting, and a file that cannot be read refuses the reload.
//!
//! All or nothing for the configuration: the new configuration must load and validate, and
//! every part that must be rebuilt for it (feature engine, drift monitor, poller, publisher)
//! must build, before anything is handed out; otherwise the reload is refused, every error is
//! logged with its file, line and key, and the running configuration stays. Models are per
//! model: the registry verifies a new model (sha256, golden rows) before its atomic swap, and
//! a refused model leaves the previous one serving.
//!
//! Stages never see each other: the controller sends each stage a typed update on a channel
//! of its own ([`Updates`]); a stage takes it between two items ([`next`]). Acquire and the
//! publisher are restarted by their supervisors in [`super::live`] ([`Restart`]).
//!
//! Every reload ends with one summary line (what changed; applied live / restarted / needs a
//! process restart / refused) and updates `chocoline_reloads_total{result}`,
//! `chocoline_reload_last_result{result}`, `chocoline_reload_last_seconds` and
//! `chocoline_reload_last_timestamp_seconds`.

mod candidates;
mod deploy;
mod models;
mod sources;
mod summary;
mod watch;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::build;
use super::changes::{self, Changes};
use super::degraded::ModelAlerts;
use super::updates::restart;
pub use super::updates::{AlertRules, Next, Restart, UpdateReceivers, Updates, next, updates};
use crate::acquire::Acquire;
use crate::config::Config;
use crate::features::FeatureEngine;
use crate::health::Notifier;
use crate::metrics::Registry as Metrics;
use crate::monitor::Monitor;
use crate::publish::Publisher;
use crate::publish::secrets::SecretDigests;
use crate::store::{Outbox, Store};
use sources::{apply_log_level, load_config, next_bundle, next_trigger};

/// How often model files are checked for changes when `[models] watch` is on. A check is a
/// few `stat` calls per model.
pub const MODEL_POLL: Duration = Duration::from_secs(2);

/// Where reloads come from: the configuration file to re-read and a trigger per SIGHUP.
#[derive(Debug)]
pub struct ReloadSource {
    /// The configuration file the agent was started with.
    pub path: PathBuf,
    /// One message per reload request.
    pub triggers: mpsc::Receiver<()>,
}

/// Outcome of one reload, as the `result` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything in the new configuration and models is in force.
    Applied,
    /// Applied, except keys that need a process restart or models that were refused.
    Partial,
    /// The new configuration was rejected; nothing changed.
    Refused,
}

impl Outcome {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Partial => "partial",
            Outcome::Refused => "refused",
        }
    }
}

/// The reload controller's state.
pub struct Controller {
    running: Config,
    /// Digests of the files the running `[mqtt]` names.
    secrets: SecretDigests,
    models: Arc<crate::infer::Registry>,
    store: Store,
    updates: Updates,
    metrics: Metrics,
    notifier: Notifier,
    /// The `model_unavailable` alerts of models with nothing serving.
    model_alerts: ModelAlerts,
    /// Models refused at start, alerted when the controller starts.
    refused_at_start: Vec<(String, crate::infer::InferError)>,
    /// Bundles from `{prefix}/cmd/deploy` (None: deployment over MQTT is off); taken by `run`.
    deploys: Option<mpsc::Receiver<Vec<u8>>>,
    /// Open health windows of deployed versions, per model.
    watches: std::collections::BTreeMap<String, watch::Watch>,
}

impl Controller {
    /// A controller for an agent running `running`.
    pub fn new(
        running: Config,
        models: Arc<crate::infer::Registry>,
        store: Store,
        updates: Updates,
        metrics: Metrics,
        notifier: Notifier,
    ) -> Self {
        // The publisher has just read these files; should one have gone since, the next
        // reload finds it changed and restarts the publisher, which is harmless.
        let secrets = SecretDigests::read(&running.mqtt).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot digest the [mqtt] files");
            SecretDigests::default()
        });
        Controller {
            running,
            secrets,
            models,
            model_alerts: ModelAlerts::new(store.clone()),
            store,
            updates,
            metrics,
            notifier,
            refused_at_start: Vec::new(),
            deploys: None,
            watches: std::collections::BTreeMap::new(),
        }
    }

    /// Install the bundles arriving on `rx` (fed by the publisher's deploy subscription,
    /// which a publisher rebuilt by a reload takes over: `Publisher::attach`).
    pub fn with_deploys(mut self, rx: mpsc::Receiver<Vec<u8>>) -> Self {
        self.deploys = Some(rx);
        self
    }

    /// The models refused at start: each gets a `model_unavailable` alert when the
    /// controller runs, cleared when a reload loads it.
    pub fn with_refused(mut self, refused: Vec<(String, crate::infer::InferError)>) -> Self {
        self.refused_at_start = refused;
        self
    }

    /// Serve reload triggers and poll model files until `stop` fires.
    pub async fn run(mut self, source: Option<ReloadSource>, stop: CancellationToken) {
        let (path, mut triggers) = match source {
            Some(s) => (Some(s.path), Some(s.triggers)),
            None => (None, None),
        };
        let mut tick = tokio::time::interval(MODEL_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.reset();
        for (name, error) in std::mem::take(&mut self.refused_at_start) {
            self.model_alerts.refused(&name, &error).await;
        }
        self.report_candidates();
        let mut bundles = self.deploys.take();
        let mut health = tokio::time::interval(watch::HEALTH_TICK);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let got = tokio::select! {
                () = stop.cancelled() => return,
                got = next_trigger(&mut triggers) => got,
                Some(bundle) = next_bundle(&mut bundles) => {
                    self.deploy(bundle).await;
                    continue;
                }
                _ = health.tick(), if !self.watches.is_empty() => {
                    self.check_health().await;
                    continue;
                }
                _ = tick.tick() => {
                    if self.running.models.watch {
                        self.poll_models().await;
                        self.poll_candidates().await;
                    }
                    continue;
                }
            };
            match (got, &path) {
                (Some(()), Some(path)) => self.reload(path, &stop).await,
                // The signal listener is gone: no more reloads, model watching goes on.
                _ => triggers = None,
            }
        }
    }

    /// One SIGHUP: re-read the configuration and the models and apply what changed.
    async fn reload(&mut self, path: &std::path::Path, stop: &CancellationToken) {
        let t0 = Instant::now();
        let _ = self.notifier.notify("RELOADING=1");
        let outcome = match self.prepare(path, t0).await {
            Ok(prepared) => self.apply(prepared, stop, t0).await,
            Err(refused) => refused,
        };
        self.record(outcome, t0.elapsed());
        let _ = self.notifier.notify("READY=1");
    }

    /// Load and validate the new configuration, read the `[mqtt]` files and build every part
    /// the changes need. Nothing is handed out yet: an error here refuses the whole reload.
    async fn prepare(&self, path: &std::path::Path, t0: Instant) -> Result<Prepared, Outcome> {
        let new = load_config(path, t0).await?;
        let secrets = SecretDigests::read(&new.mqtt).map_err(|e| {
            tracing::error!(config = %path.display(), error = %e,
                "reload refused: a file [mqtt] names cannot be read; running configuration kept");
            Outcome::Refused
        })?;
        for f in secrets.changed(&self.secrets) {
            tracing::info!(key = f.key, path = %f.path.display(),
                "reload: [mqtt] file changed; the publisher reconnects with it");
        }
        let changes = changes::diff(&self.running, &new).with_secrets(&self.secrets, &secrets);
        // What will run: the new configuration minus the keys only a process restart applies.
        let new = changes::running(&self.running, &new);
        let built = Built::for_changes(&changes, &new, &self.store).map_err(|e| {
            tracing::error!(config = %path.display(), error = %e,
                "reload refused: the new configuration cannot be applied; running configuration kept");
            Outcome::Refused
        })?;
        Ok(Prepared {
            new,
            secrets,
            changes,
            built,
        })
    }

    /// Hand the prepared parts out, then reload the models, and log the summary line.
    async fn apply(&mut self, p: Prepared, stop: &CancellationToken, t0: Instant) -> Outcome {
        let mut problems = Vec::new();
        if p.changes.log_level {
            problems.extend(apply_log_level(&p.new));
        }
        if let Err(e) = self.hand_out(p.built, &p.new, stop).await {
            problems.push(e);
        }
        // Models last: a model swap is independent of the configuration's success. The new
        // configuration runs first, so that what follows a new manifest reads its folder.
        self.running = p.new;
        self.secrets = p.secrets;
        self.models.configure(&self.running.models);
        let models = self.swap_models("SIGHUP").await;
        let summary = summary::Summary {
            changes: &p.changes,
            models,
            problems,
        };
        summary.log(t0)
    }

    /// Send the built parts to their stages; wait for restarts to be confirmed.
    async fn hand_out(
        &self,
        built: Built,
        new: &Config,
        stop: &CancellationToken,
    ) -> Result<(), String> {
        let u = &self.updates;
        let gone = |what: &str| format!("{what}: stage has stopped");
        if let Some(f) = built.features {
            u.features.send(f).await.map_err(|_| gone("features"))?;
        }
        if let Some(m) = built.monitor {
            u.monitor.send(m).await.map_err(|_| gone("drift"))?;
        }
        if built.alerts {
            let rules = AlertRules {
                alerts: new.alerts.clone(),
                products: new.products.clone(),
            };
            u.alerts.send(rules).await.map_err(|_| gone("alerts"))?;
        }
        if let Some(a) = built.acquire {
            restart(&u.acquire, a, "acquire", stop).await?;
        }
        if let Some(p) = built.publisher {
            restart(&u.publisher, p, "publish", stop).await?;
        }
        Ok(())
    }

    fn record(&self, outcome: Outcome, took: Duration) {
        let m = &self.metrics;
        m.counter(
            "chocoline_reloads_total",
            "Configuration reloads (SIGHUP) per result.",
            &[("result", outcome.as_str())],
        )
        .inc();
        for o in [Outcome::Applied, Outcome::Partial, Outcome::Refused] {
            m.gauge(
                "chocoline_reload_last_result",
                "1 for the result of the last reload.",
                &[("result", o.as_str())],
            )
            .set(if o == outcome { 1.0 } else { 0.0 });
        }
        m.gauge(
            "chocoline_reload_last_seconds",
            "Duration of the last reload.",
            &[],
        )
        .set(took.as_secs_f64());
        m.gauge(
            "chocoline_reload_last_timestamp_seconds",
            "Unix time of the last reload.",
            &[],
        )
        .set(crate::domain::TimestampMs::now().0 as f64 / 1000.0);
    }
}

/// A reload that loaded, validated and built: ready to hand out.
struct Prepared {
    /// The configuration that will run.
    new: Config,
    /// Digests of the files the new `[mqtt]` names.
    secrets: SecretDigests,
    /// What changed, and where it goes.
    changes: Changes,
    /// The rebuilt parts.
    built: Built,
}

/// The parts a reload must rebuild, built before anything is handed out.
struct Built {
    features: Option<FeatureEngine>,
    monitor: Option<Monitor>,
    alerts: bool,
    acquire: Option<Acquire>,
    publisher: Option<Publisher>,
}

impl Built {
    fn for_changes(c: &Changes, new: &Config, store: &Store) -> Result<Built, build::BuildError> {
        Ok(Built {
            features: c.features.then(|| build::features(new)).transpose()?,
            monitor: c.drift.then(|| build::monitor(new)).transpose()?,
            alerts: c.alerts,
            acquire: c
                .devices
                .then(|| Acquire::from_config(&new.devices))
                .transpose()?,
            publisher: c
                .mqtt
                .then(|| Publisher::new(&new.mqtt, Outbox::new(store.clone())))
                .transpose()?,
        })
    }
}
