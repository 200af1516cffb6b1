//! Monitor: compares model inputs with the training reference (frozen bins, PSI / JS / W1,
//! Page–Hinkley) and emits [`crate::domain::DriftWindow`]s.
//!
//! - [`reference`]: the manifest's frozen bins and thresholds.
//! - [`stats`]: PSI, Jensen–Shannon distance, W1 from counts (epsilon handling there).
//! - [`page_hinkley`]: the constant-memory change detector.
//! - [`window`]: per-model window state → `DriftWindow`.
//! - [`stage`]: the task.

pub mod config;
pub mod page_hinkley;
pub mod reference;
pub mod stage;
pub mod stats;
pub mod window;

#[cfg(test)]
mod tests;

pub use reference::{ModelReference, ReferenceError};
pub use stage::Monitor;
pub use window::ModelMonitor;
