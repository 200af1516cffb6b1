//! `chocoline run --config FILE`: loads and validates the configuration (exit 2 listing every
//! error), starts logging, then starts the pipeline. The pipeline is not wired yet: until it
//! is, `run` runs the acquire stage alone and logs every sample with its readings' qualities
//! (saying so in a warning), until Ctrl-C.

use std::path::Path;
use std::process::ExitCode;

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::config::{self, LogFormat};
use crate::logging;

/// Why `run` stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The stages exist but nothing connects them yet.
    #[error("the pipeline is not wired yet: configuration is valid, but there is nothing to run")]
    PipelineNotWired,
}

/// Runs the agent with the configuration at `path`; returns the process exit code.
pub fn run(path: &Path, log_format: Option<LogFormat>) -> ExitCode {
    let plan = match config::load(path) {
        Ok(p) => p,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    if let Err(e) = logging::init(&plan.config.log, log_format) {
        eprintln!("chocoline: {e}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    tracing::info!(
        config = %plan.file.display(),
        devices = plan.config.devices.len(),
        products = plan.config.products.len(),
        version = env!("CARGO_PKG_VERSION"),
        "configuration loaded"
    );
    let e = RunError::PipelineNotWired;
    tracing::warn!(error = %e, "only acquisition runs; readings are logged");
    acquire_only(&plan.config)
}

/// Polls the devices and logs each sample until Ctrl-C. Replaced by the pipeline once wired.
fn acquire_only(config: &config::Config) -> ExitCode {
    let acquire = match crate::acquire::Acquire::from_config(&config.devices) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "cannot poll");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    rt.block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel(256);
        let token = tokio_util::sync::CancellationToken::new();
        let stage = tokio::spawn(acquire.run(tx, token.clone()));
        tokio::spawn({
            let token = token.clone();
            async move {
                let _ = tokio::signal::ctrl_c().await;
                tracing::info!("shutting down");
                token.cancel();
            }
        });
        while let Some(s) = rx.recv().await {
            let readings: Vec<String> = s
                .readings
                .iter()
                .map(|r| format!("{}={:.3}{} {:?}", r.name, r.value, r.unit, r.quality))
                .collect();
            tracing::info!(device = %s.device, ts = %s.ts, missed = s.missed_cycles,
                readings = %readings.join(", "), "sample");
        }
        let _ = stage.await;
        ExitCode::SUCCESS
    })
}
