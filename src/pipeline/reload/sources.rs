//! Where the reload controller's work comes from (SIGHUP triggers, deploy bundles) and the
//! loading of a new configuration.

use std::time::Instant;

use tokio::sync::mpsc;

use super::Outcome;
use crate::config::Config;

/// The next deploy bundle; pending forever when deployment is off or its sender is gone.
pub(super) async fn next_bundle(bundles: &mut Option<mpsc::Receiver<Vec<u8>>>) -> Option<Vec<u8>> {
    match bundles.as_mut() {
        Some(rx) => match rx.recv().await {
            Some(b) => Some(b),
            None => {
                *bundles = None;
                None
            }
        },
        None => std::future::pending().await,
    }
}

/// The next reload trigger; pending forever once the signal listener is gone.
pub(super) async fn next_trigger(triggers: &mut Option<mpsc::Receiver<()>>) -> Option<()> {
    match triggers.as_mut() {
        Some(t) => t.recv().await,
        None => std::future::pending().await,
    }
}

/// Load and validate the configuration file through the start-up loader; every error is
/// logged with its file, line and key.
pub(super) async fn load_config(path: &std::path::Path, t0: Instant) -> Result<Config, Outcome> {
    let p = path.to_owned();
    let loaded = tokio::task::spawn_blocking(move || crate::config::load(&p))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reload refused: the loader failed; running configuration kept");
            Outcome::Refused
        })?;
    loaded.map(|plan| plan.config).map_err(|errors| {
        for e in &errors.errors {
            tracing::error!(error = %e, "reload: invalid configuration");
        }
        tracing::error!(
            config = %path.display(),
            errors = errors.errors.len(),
            took_ms = t0.elapsed().as_millis() as u64,
            "reload refused: invalid configuration; running configuration kept"
        );
        Outcome::Refused
    })
}

/// Apply a changed `log.level`; returns the problem to report, if any.
pub(super) fn apply_log_level(new: &Config) -> Option<String> {
    use crate::logging::LevelChange;
    match crate::logging::set_level(&new.log) {
        Ok(LevelChange::Applied) | Ok(LevelChange::NotInitialised) => None,
        Ok(LevelChange::OverriddenByRustLog) => {
            Some("log.level (RUST_LOG is set and wins)".to_string())
        }
        Err(e) => Some(format!("log.level ({e})")),
    }
}
