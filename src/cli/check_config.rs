//! `chocoline check-config --config FILE`: runs exactly the loading path `run` uses and prints
//! a one-screen summary (exit 0) or every error (exit 2). Nothing is started, nothing written.
//! It also loads each shadow candidate (`[models.<name>] candidate`) with the registry's checks,
//! which `run` leaves to the registry (docs/shadow.md).

use std::path::Path;
use std::process::ExitCode;

use super::EXIT_BAD_INPUT;
use crate::config;

/// Validates `path` (with this process's `CHOCOLINE__*` environment) and reports.
pub fn check_config(path: &Path) -> ExitCode {
    match config::load::load_for_check(path) {
        Ok(plan) => {
            println!("{}", plan.summary());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
