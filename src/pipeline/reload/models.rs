//! The reload controller's model side: swap models in, log and count what a model reload did.

use std::sync::Arc;

use super::Controller;
use crate::infer::registry::{RegistryEvent, Served};
use crate::pipeline::build;

/// What one model reload did, for the reload's summary line.
pub(super) struct ModelSwap {
    /// "name: reason" of every refused model.
    pub refused: Vec<String>,
    /// "name old → new" of every model whose version changed.
    pub changed: Vec<String>,
    /// What each shadow candidate reload did ("name version", "name refused (kind)", "name
    /// removed").
    pub candidates: Vec<String>,
    /// A candidate was refused.
    pub candidate_refused: bool,
}

impl Controller {
    /// Reload every model (each verified before its atomic swap), raise or clear the
    /// `model_unavailable` alerts, and say what changed.
    pub(super) async fn swap_models(&mut self, cause: &str) -> ModelSwap {
        let before = self.serving();
        let reg = Arc::clone(&self.models);
        let events = tokio::task::spawn_blocking(move || reg.reload_all())
            .await
            .unwrap_or_default();
        let refused = self.model_events(&events, cause);
        self.model_alerts.apply(&events, &self.models).await;
        self.follow_manifests(&before, &events).await;
        let (candidates, candidate_refused) = self.swap_candidates(cause).await;
        ModelSwap {
            refused,
            changed: events.iter().filter_map(version_change).collect(),
            candidates,
            candidate_refused,
        }
    }

    /// One `[models] watch` tick: swap in the models whose files changed.
    pub(super) async fn poll_models(&mut self) {
        let before = self.serving();
        let reg = Arc::clone(&self.models);
        if let Ok(events) = tokio::task::spawn_blocking(move || reg.poll_changes()).await {
            self.model_events(&events, "file change");
            self.model_alerts.apply(&events, &self.models).await;
            self.follow_manifests(&before, &events).await;
        }
    }

    /// A new version may compute its features differently or carry another drift reference:
    /// then the feature engine or the drift monitor is rebuilt from the manifests now serving,
    /// as a SIGHUP that changed them would (their windows restart).
    pub(super) async fn follow_manifest(&self, before: Option<&Served>, model: &str) {
        let Ok(now) = self.models.get(model) else {
            return;
        };
        let features = ["features", "feature_spec_version", "level"];
        if manifest_part(before, &features) != manifest_part(Some(&now), &features) {
            self.rebuild_features(model).await;
        }
        if manifest_part(before, &["reference"]) != manifest_part(Some(&now), &["reference"]) {
            self.rebuild_monitor(model).await;
        }
    }

    async fn rebuild_features(&self, model: &str) {
        match build::features(&self.running) {
            Ok(f) => {
                tracing::info!(
                    model,
                    "new model version computes other features: feature engine rebuilt"
                );
                let _ = self.updates.features.send(f).await;
            }
            Err(e) => tracing::error!(model, error = %e, "cannot rebuild the feature engine"),
        }
    }

    async fn rebuild_monitor(&self, model: &str) {
        match build::monitor(&self.running) {
            Ok(m) => {
                tracing::info!(
                    model,
                    "new model version has another drift reference: drift monitor rebuilt"
                );
                let _ = self.updates.monitor.send(m).await;
            }
            Err(e) => tracing::error!(model, error = %e, "cannot rebuild the drift monitor"),
        }
    }

    /// What serves now, per model.
    fn serving(&self) -> Vec<(String, Option<Arc<Served>>)> {
        self.models
            .names()
            .map(|n| (n.to_owned(), self.models.get(n).ok()))
            .collect()
    }

    /// For each model whose folder changed (a new version, or one installed by
    /// `chocoline model install`), rebuild what reads its manifest if that part changed.
    async fn follow_manifests(
        &self,
        before: &[(String, Option<Arc<Served>>)],
        events: &[RegistryEvent],
    ) {
        for e in events {
            let RegistryEvent::Reloaded { name, .. } = e else {
                continue;
            };
            let old = before
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, s)| s.clone());
            self.follow_manifest(old.as_deref(), name).await;
        }
    }

    /// Log and count model reload events; returns "name: reason" for each refused model.
    pub(super) fn model_events(&self, events: &[RegistryEvent], cause: &str) -> Vec<String> {
        let mut refused = Vec::new();
        for e in events {
            match e {
                RegistryEvent::Reloaded { name, from, to } => {
                    self.model_series(name, "ok").inc();
                    if from.as_deref() != Some(to.as_str()) {
                        self.model_version_changed(name, from.as_deref(), to, cause);
                    }
                }
                RegistryEvent::ReloadFailed { name, error } => {
                    self.model_series(name, "refused").inc();
                    self.model_refused(name, error, cause);
                    refused.push(format!("{name}: {}", error.kind()));
                }
            }
        }
        refused
    }

    /// A new version serves: log it and move `chocoline_model_info` from the old to the new.
    fn model_version_changed(&self, name: &str, from: Option<&str>, to: &str, cause: &str) {
        tracing::info!(model = %name, from = ?from, to = %to, cause, "model reloaded");
        if let Some(old) = from {
            self.model_info(name, old).set(0.0);
        }
        self.model_info(name, to).set(1.0);
    }

    /// A model was refused: say whether the previous version keeps serving.
    fn model_refused(&self, name: &str, error: &crate::infer::InferError, cause: &str) {
        if self.models.get(name).is_ok() {
            tracing::error!(model = %name, kind = error.kind(), error = %error, cause,
                "model reload refused; the previous model keeps serving");
        } else {
            tracing::error!(model = %name, kind = error.kind(), error = %error, cause,
                "model reload refused; nothing serves under this name");
        }
    }

    fn model_info(&self, name: &str, version: &str) -> crate::metrics::Gauge {
        self.metrics.gauge(
            "chocoline_model_info",
            "Model versions being served.",
            &[("model", name), ("version", version)],
        )
    }

    fn model_series(&self, name: &str, result: &str) -> crate::metrics::Counter {
        self.metrics.counter(
            "chocoline_model_reloads_total",
            "Model reload attempts per model and result (refused: the previous model kept serving).",
            &[("model", name), ("result", result)],
        )
    }
}

/// The values of `keys` in the manifest of the folder `s` serves from (Null when unreadable).
fn manifest_part(s: Option<&Served>, keys: &[&str]) -> Vec<serde_json::Value> {
    let m: serde_json::Value = s
        .and_then(|s| std::fs::read(s.dir.join("manifest.json")).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    keys.iter().map(|k| m[*k].clone()).collect()
}

/// "name old → new" for a reload that changed the serving version.
fn version_change(e: &RegistryEvent) -> Option<String> {
    match e {
        RegistryEvent::Reloaded { name, from, to } if from.as_deref() != Some(to.as_str()) => Some(
            format!("{name} {} → {to}", from.as_deref().unwrap_or("none")),
        ),
        _ => None,
    }
}
