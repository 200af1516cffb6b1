//! Pipeline: wires the stages with typed, bounded channels, supervises them and shuts them
//! down in order (only the source holds the shutdown signal; each later stage ends when its
//! input closes).

pub mod replay;

pub mod agent;
pub mod build;
pub mod changes;
pub mod degraded;
pub mod health_report;
mod labels;
pub mod live;
mod outputs;
pub mod reload;
mod supervise;
mod taps;
pub mod telemetry;
pub mod updates;
