//! Features: per-signal ring buffers and the transforms of the models' feature specs
//! (docs/feature-spec.md); emits [`crate::domain::FeatureVector`]s.

pub mod config;
