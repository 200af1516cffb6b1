//! The reload controller's deploy side: a signed model bundle arrives on `{prefix}/cmd/deploy`
//! (the publisher hands the payload over), is installed by `crate::fleet::install` on the
//! blocking pool, swapped into the registry like any other model reload, and every step is
//! written to the store as a [`DeployEvent`], which the publisher sends to
//! `{prefix}/cmd/deploy/result` in order and survives a broker outage like an alert.
//!
//! Retained-safe: a bundle seen again (a retained message redelivered on every reconnect) is
//! answered each time and changes nothing: `already_installed` when its version serves,
//! `refused` / `rolled_back_before` when the health window rolled that version back before
//! (recorded on disk, so a restart does not install it again), `refused` / `downgrade` when a
//! newer version serves.

use std::sync::Arc;

use super::Controller;
use crate::domain::{DeployEvent, DeployStep, Record, TimestampMs};
use crate::fleet::FleetError;
use crate::fleet::bundle;
use crate::fleet::install::{self, Installed, Installer};
use crate::fleet::keys::parse_trusted;
use crate::infer::registry::RegistryEvent;

/// One request's identity, for its result messages.
#[derive(Debug, Clone)]
pub(super) struct Request {
    /// First 16 hex digits of the payload's sha256.
    pub id: String,
    /// The bundle's model, once its header could be read.
    pub model: Option<String>,
    /// The bundle's version, once its header could be read.
    pub version: Option<u64>,
}

impl Controller {
    /// Handle one payload received on the deploy topic.
    pub(super) async fn deploy(&mut self, payload: Vec<u8>) {
        if payload.is_empty() {
            // A retained bundle being cleared: nothing to do.
            return;
        }
        let id = bundle::request_id(&payload);
        let header = bundle::read_header(&payload).ok();
        let req = Request {
            id,
            model: header.as_ref().map(|h| h.model.clone()),
            version: header.as_ref().map(|h| h.version),
        };
        self.deploy_event(
            &req,
            DeployStep::Received,
            None,
            format!("{} bytes", payload.len()),
        )
        .await;
        match self.install(payload).await {
            Ok(done) => self.swap_in(&req, done).await,
            // Checked after the signature: an unsigned header cannot claim to be installed.
            Err(e @ FleetError::AlreadyInstalled { .. }) => {
                self.deploy_event(&req, DeployStep::AlreadyInstalled, None, e.to_string())
                    .await;
            }
            Err(e) => {
                let msg = format!("{e}; the serving model is unchanged");
                self.deploy_event(&req, DeployStep::Refused, Some(e.kind()), msg)
                    .await;
            }
        }
    }

    /// Checks and installs the bundle on the blocking pool, with the running configuration's
    /// keys, models and directory.
    async fn install(&self, payload: Vec<u8>) -> Result<Installed, FleetError> {
        let cfg = self.running.clone();
        let task = tokio::task::spawn_blocking(move || {
            let dir = cfg
                .models
                .installed_dir
                .as_deref()
                .ok_or(FleetError::NoInstalledDir)?;
            let trusted = parse_trusted(&cfg.fleet.trusted_keys)?;
            Installer {
                dir,
                trusted: &trusted,
                enabled: &cfg.models.enabled,
                allow_downgrade: cfg.fleet.allow_downgrade,
                verify_golden: cfg.models.verify_golden,
            }
            .install(&payload)
        });
        task.await.unwrap_or_else(|e| {
            Err(FleetError::Io {
                path: "install task".into(),
                reason: e.to_string(),
            })
        })
    }

    /// The new version is on disk: load it into the registry; should that fail, go back to
    /// the previous version on disk and in the registry.
    async fn swap_in(&mut self, req: &Request, done: Installed) {
        let msg = format!(
            "version {} installed (manifest {}, sha256 {}); loading",
            done.version, done.manifest_version, done.sha256
        );
        self.deploy_event(req, DeployStep::Installed, None, msg)
            .await;
        let before = self.models.get(&done.model).ok();
        match self.reload_one(&done.model).await {
            Some(RegistryEvent::Reloaded { from, to, .. }) => {
                self.follow_manifest(before.as_deref(), &done.model).await;
                let msg = format!(
                    "model {} version {} serves (manifest {to}; before: {})",
                    done.model,
                    done.version,
                    from.as_deref().unwrap_or("nothing")
                );
                self.deploy_event(req, DeployStep::Serving, None, msg).await;
                self.watch(req, &done.model, before);
            }
            other => {
                let reason = match other {
                    Some(RegistryEvent::ReloadFailed { error, .. }) => {
                        format!("the registry refused it ({error})")
                    }
                    _ => "the reload did not run".to_owned(),
                };
                self.roll_back(req, &done.model, "reload_failed", &reason)
                    .await;
            }
        }
    }

    /// Puts the previous installed version back (on disk and in the registry) and reports
    /// `rolled_back` with `kind` and `reason`.
    pub(super) async fn roll_back(&mut self, req: &Request, model: &str, kind: &str, reason: &str) {
        let Some(dir) = self.running.models.installed_dir.clone() else {
            return;
        };
        let name = model.to_owned();
        let verify = self.running.models.verify_golden;
        let refused = req.version;
        let back = tokio::task::spawn_blocking(move || {
            let back = install::rollback(&dir, &name, verify);
            // Never again by itself: a retained copy after a restart is refused.
            if let Some(v) = refused
                && let Err(e) = install::mark_rolled_back(&dir, &name, v)
            {
                tracing::error!(model = %name, version = v, error = %e, "cannot record the rollback");
            }
            back
        })
        .await
        .ok();
        self.reload_one(model).await;
        let msg = match back {
            Some(Ok((_, Some(to)))) => format!("{reason}; version {to} serves again"),
            Some(Ok((_, None))) => format!("{reason}; the shipped model serves again"),
            Some(Err(e)) => format!("{reason}; going back failed too ({e})"),
            None => format!("{reason}; going back did not run"),
        };
        self.deploy_event(req, DeployStep::RolledBack, Some(kind), msg)
            .await;
    }

    /// Reloads one model as a file change would (logged, counted, `model_unavailable` raised
    /// or cleared) and returns what the registry did.
    async fn reload_one(&mut self, name: &str) -> Option<RegistryEvent> {
        let reg = Arc::clone(&self.models);
        let n = name.to_owned();
        let event = tokio::task::spawn_blocking(move || reg.reload(&n))
            .await
            .ok()?;
        let events = [event];
        self.model_events(&events, "deploy");
        self.model_alerts.apply(&events, &self.models).await;
        let [event] = events;
        Some(event)
    }

    /// Logs one step and writes it to the store (published on `{prefix}/cmd/deploy/result`).
    pub(super) async fn deploy_event(
        &self,
        req: &Request,
        step: DeployStep,
        error_kind: Option<&str>,
        message: String,
    ) {
        tracing::info!(request = %req.id, model = ?req.model, version = ?req.version,
            step = step.as_str(), error_kind = ?error_kind, message = %message, "deploy");
        let event = DeployEvent {
            ts: TimestampMs::now(),
            request: req.id.clone(),
            model: req.model.clone(),
            version: req.version,
            step,
            error_kind: error_kind.map(str::to_owned),
            message,
        };
        if let Err(e) = self.store.append(&[Record::Deploy(event)]).await {
            tracing::error!(error = %e, request = %req.id, "cannot store a deploy result");
        }
    }
}
