//! Features: per-signal ring buffers and the transforms of the models' feature specs
//! (docs/feature-spec.md); emits [`crate::domain::FeatureVector`]s.
//!
//! - [`transform`]: the version-1 transforms (window and streaming forms).
//! - [`ring`]: bounded per-signal history.
//! - [`spec`]: a model's feature spec parsed from its manifest (unsupported versions refused).
//! - [`engine`]: samples → vectors, batch context from the PLC signals.
//! - [`stage`]: the task.

mod compiled;
pub mod config;
pub mod engine;
mod fold;
pub mod ring;
pub mod spec;
pub mod stage;
pub mod transform;

#[cfg(test)]
mod tests;

pub use engine::{EngineSetup, EngineStats, FeatureEngine};
pub use spec::{FeatureSpec, LoadError, SpecError, Window, load_specs, load_specs_in};
pub use transform::{Accumulator, Transform};
