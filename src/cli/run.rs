//! `chocoline run --config FILE`: loads and validates the configuration (exit 2 listing every
//! error), starts logging, then runs the agent ([`crate::pipeline::agent`]) until SIGTERM or
//! SIGINT, which stop it in order (poller first, store flushed, `offline` published); exit 0.
//! SIGHUP reloads the configuration and the models ([`crate::pipeline::reload`]); an invalid
//! new configuration is logged and the running one kept.

use std::path::Path;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::config::{self, LogFormat};
use crate::logging;
use crate::pipeline::agent::{self, AgentError, Supervision};
use crate::pipeline::reload::ReloadSource;

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
        let (hup_tx, hup_rx) = tokio::sync::mpsc::channel(1);
        let signals = match (stop_signals(shutdown.clone()), reload_signal(hup_tx)) {
            (Ok(a), Ok(b)) => [a, b],
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "cannot install signal handlers");
                return ExitCode::from(EXIT_FAILURE);
            }
        };
        let reload = ReloadSource {
            path: plan.file.clone(),
            triggers: hup_rx,
        };
        let result = agent::run(
            &plan.config,
            Supervision::from_env(),
            Some(reload),
            shutdown,
        )
        .await;
        for s in signals {
            s.abort();
        }
        match result {
            Ok(report) => {
                tracing::info!(samples = report.samples, samples_emitted = report.samples_emitted,
                    predictions = report.predictions,
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

/// Send one reload request per SIGHUP. Requests arriving while a reload runs collapse into
/// one (the channel holds one): the next reload reads the latest file anyway.
fn reload_signal(
    triggers: tokio::sync::mpsc::Sender<()>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!(signal = "SIGHUP", "reloading");
            if let Err(tokio::sync::mpsc::error::TrySendError::Closed(())) = triggers.try_send(()) {
                return;
            }
        }
    }))
}
