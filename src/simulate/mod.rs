//! Simulate: a physically plausible chocolate line (docs/domain.md) — the process model
//! that drives the Modbus simulator and produces the training data.
//!
//! - [`process`]: [`LineSim`], the seeded line (one-second ticks, no clock, no I/O);
//! - [`scenario`]: [`Scenario`] and when its fault happens ([`FaultPlan`]);
//! - [`recipe`]: the plant's recipes and bean lots;
//! - [`batch`]: batch accumulation and labels (grade, yield, defect, latent bloom);
//! - [`noise`]: the pinned PRNG and platform-independent maths;
//! - [`export`]: the CSV export used for training and replay;
//! - [`source`]: the [`source::SignalSource`] trait the Modbus server reads values from
//!   (implemented by [`LineSim`]);
//! - [`server`]: the Modbus TCP / RTU server serving a config's register map.

pub mod batch;
pub mod export;
pub mod noise;
pub mod process;
pub mod recipe;
pub mod scenario;
pub mod server;
pub mod source;
#[cfg(test)]
mod tests;

pub use batch::{BatchRecord, BloomLabel, Defect};
pub use process::{LineSim, device_of};
pub use recipe::{ChocolateKind, RECIPES, Recipe};
pub use scenario::{FaultPlan, Scenario, UnknownScenario};
