//! Acquire: polls Modbus TCP / RTU devices and emits one [`crate::domain::Sample`] per device
//! and poll cycle. Read-only by design: only function codes 1–4 exist in this module.

pub mod config;
