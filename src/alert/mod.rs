//! Alert: declarative rules with hysteresis and de-duplication turn predictions, drift and
//! data-quality events into [`crate::domain::Alert`]s. Operator documentation:
//! docs/alerts.md.
//!
//! - [`config`]: `[alerts]` rules and `[[products]]` specifications.
//! - [`hysteresis`]: one rule's raise / clear state machine.
//! - [`share`]: rolling shares for the anomaly and data-quality rules.
//! - [`lot_drift`]: per-lot EWMA of the pH against the bean lot's own baseline.
//! - [`contributions`]: the signals an anomaly alert names.
//! - [`engine`]: which input feeds which rule, ids, evidence.
//! - [`stage`]: the task.

pub mod config;
pub mod contributions;
pub mod engine;
pub mod hysteresis;
pub mod lot_drift;
pub mod share;
pub mod stage;

#[cfg(test)]
mod tests;

pub use engine::{AlertEngine, AlertStats, BandInput, ModelInputs};
