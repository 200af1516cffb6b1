//! `chocoline run --config FILE`: loads and validates the configuration (exit 2 listing every
//! error), starts logging, then runs the agent ([`crate::pipeline::agent`]) until SIGTERM or
//! SIGINT, which stop it in order (poller first, store flushed, `offline` published); exit 0.

use std::path::Path;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::config::{self, LogFormat};
use crate::logging;
use crate::pipeline::agent::{self, AgentError, Supervision};

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
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    rt.block_on(async move {
        let shutdown = CancellationToken::new();
        let signals = match stop_signals(shutdown.clone()) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot install signal handlers");
                return ExitCode::from(EXIT_FAILURE);
            }
        };
        let result = agent::run(&plan.config, Supervision::from_env(), shutdown).await;
        signals.abort();
        match result {
            Ok(report) => {
                tracing::info!(samples = report.samples, predictions = report.predictions,
                    records = report.records, publish = ?report.publish, "stopped");
                ExitCode::SUCCESS
            }
            Err(e @ AgentError::Build(_)) => {
                tracing::error!(error = %e, "cannot start");
                ExitCode::from(EXIT_BAD_INPUT)
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start");
                ExitCode::from(EXIT_FAILURE)
            }
        }
    })
}

/// Cancel `shutdown` on the first SIGTERM or SIGINT.
fn stop_signals(shutdown: CancellationToken) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "stopping");
        shutdown.cancel();
    }))
}
