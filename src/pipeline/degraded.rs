//! Degraded start: the agent runs with the models that load, and says which do not.
//!
//! A corrupt model at boot used to stop the agent (exit 2, which systemd does not restart):
//! the line then ran with no monitoring at all, although the same file arriving at run time
//! is tolerated (the previous model keeps serving). Now a model refused at start leaves its
//! slot empty — its vectors are skipped, counted as inference failures — while every other
//! model, the rules and data quality go on. So that nobody mistakes the silence for a
//! healthy line, each empty slot holds a critical `model_unavailable` alert naming the model
//! and the reason. Reloads (SIGHUP, or the file watch of `[models] watch`) keep retrying;
//! when the model loads, the alert clears.
//!
//! The alerts are written straight to the store (like the store's own notices): they do not
//! come from a rule over predictions, and the alert stage never sees them.

use std::collections::BTreeMap;

use serde_json::json;

use crate::domain::{Alert, AlertKind, AlertState, Record, Severity, TimestampMs};
use crate::infer::{InferError, Registry, RegistryEvent};
use crate::store::Store;

/// The open `model_unavailable` alerts, one per model with nothing serving.
pub struct ModelAlerts {
    store: Store,
    /// Model name → the open alert (its id and raise time).
    open: BTreeMap<String, (String, TimestampMs)>,
}

impl ModelAlerts {
    /// No alert open yet.
    pub fn new(store: Store) -> Self {
        ModelAlerts {
            store,
            open: BTreeMap::new(),
        }
    }

    /// Raise the alert of `name` (refused with `error`, nothing serving) unless it is open.
    pub async fn refused(&mut self, name: &str, error: &InferError) {
        if self.open.contains_key(name) {
            return;
        }
        let now = TimestampMs::now();
        let id = self.store.notice_id(&format!("model-unavailable-{name}"));
        let message = format!(
            "model {name} is not serving: {error}. Its predictions and the alerts they raise \
             are missing; fix the model folder, then reload (SIGHUP) or let the model watch \
             pick it up"
        );
        let evidence =
            json!({"model": name, "error": error.to_string(), "error_kind": error.kind()});
        tracing::error!(model = %name, kind = error.kind(), error = %error,
            "model unavailable: running without it (alert raised)");
        let alert = self.alert(AlertState::Raised, &id, now, now, message, evidence);
        if self.append(alert).await {
            self.open.insert(name.to_string(), (id, now));
        }
    }

    /// `name` serves now: clear its alert if one is open.
    pub async fn serving(&mut self, name: &str, version: &str) {
        let Some((id, raised_at)) = self.open.get(name).cloned() else {
            return;
        };
        let message = format!("model {name} is serving again (version {version})");
        let evidence = json!({"model": name, "version": version});
        tracing::info!(model = %name, version, "model available again (alert cleared)");
        let alert = self.alert(
            AlertState::Cleared,
            &id,
            raised_at,
            TimestampMs::now(),
            message,
            evidence,
        );
        if self.append(alert).await {
            self.open.remove(name);
        }
    }

    /// Follow what a reload did: clear the alerts of models that load now, raise one for
    /// a model refused while nothing serves under its name (a refusal while an older
    /// version keeps serving is logged by the caller, not alerted).
    pub async fn apply(&mut self, events: &[RegistryEvent], registry: &Registry) {
        for e in events {
            match e {
                RegistryEvent::Reloaded { name, to, .. } => self.serving(name, to).await,
                RegistryEvent::ReloadFailed { name, error } if registry.get(name).is_err() => {
                    self.refused(name, error).await
                }
                RegistryEvent::ReloadFailed { .. } => {}
            }
        }
    }

    fn alert(
        &self,
        state: AlertState,
        id: &str,
        raised_at: TimestampMs,
        now: TimestampMs,
        message: String,
        evidence: serde_json::Value,
    ) -> Record {
        Record::Alert(Alert {
            message,
            evidence,
            ..self.store.notice(
                AlertKind::ModelUnavailable,
                Severity::Critical,
                state,
                id,
                raised_at,
                now,
            )
        })
    }

    /// Append one alert; false (logged) when the store refused it.
    async fn append(&self, alert: Record) -> bool {
        match self.store.append(std::slice::from_ref(&alert)).await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(error = %e, "model_unavailable alert not stored");
                false
            }
        }
    }
}
