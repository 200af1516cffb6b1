//! Simulate: a physically plausible chocolate line (shared/domain.md) — the process model
//! that drives the Modbus simulator and produces the training data.
//!
//! | file | job |
//! |---|---|
//! | [`source`] | the [`source::SignalSource`] trait the Modbus server reads values from |
//! | [`server`] | the Modbus TCP / RTU server serving a config's register map |

pub mod server;
pub mod source;
