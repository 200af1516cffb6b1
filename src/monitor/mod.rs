//! Monitor: compares model inputs with the training reference (frozen bins, PSI / JS / W1,
//! Page–Hinkley) and emits [`crate::domain::DriftWindow`]s.

pub mod config;
