//! Acquire: polls Modbus TCP / RTU devices and emits one [`crate::domain::Sample`] per device
//! and poll cycle. Read-only by design: only function codes 1–4 exist in this module.
//!
//! | file | job |
//! |---|---|
//! | [`backoff`] | reconnect delays: exponential, capped, jittered |
//! | [`config`] | `[[devices]]` schema |
//! | [`plan`] | merge a slave's registers into few reads |
//! | [`decode`] | words → engineering values: the ground-floor [`crate::codec`], re-exported |
//! | [`connection`] | one context per endpoint, timeouts, reconnect with backoff |
//! | [`connectors`] | TCP and serial connectors, chosen by `controller` |
//! | [`health`] | dead-slave isolation |
//! | [`poller`] | one slave's cycle → readings with quality |
//! | [`stage`] | the source task: schedules, metrics, shutdown |

pub mod backoff;
pub mod config;
pub mod connection;
pub mod connectors;
pub use crate::codec as decode;
pub mod health;
pub mod plan;
pub mod poller;
pub mod stage;

pub use stage::{Acquire, AcquireError, AcquireMetrics};
