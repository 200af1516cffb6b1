//! `chocoline run --config FILE`: loads and validates the configuration (exit 2 listing every
//! error), starts logging, then starts the pipeline. The pipeline is not wired yet: `run` says
//! so and exits 1 rather than pretending to work.

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
    tracing::error!(error = %e, "chocoline cannot run");
    ExitCode::from(EXIT_FAILURE)
}
