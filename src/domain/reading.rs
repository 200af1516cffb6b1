//! What the acquire stage emits: readings, their trust flag, and the batch context they
//! belong to.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::TimestampMs;

/// How far a reading can be trusted. Readings are never dropped for being bad: they are
/// kept and flagged, and the validate stage decides what reaches a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    /// Decoded from a fresh, successful read and inside `valid_range`.
    Good,
    /// No fresh value within two poll intervals; `value` is the last known one.
    Stale,
    /// Decoded fine but outside the register's `valid_range`.
    OutOfRange,
    /// The read failed (timeout, transport error, Modbus exception); `value` is NaN.
    CommError,
}

/// One decoded register value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Device name from `[[devices]] name`.
    pub device: Arc<str>,
    /// Signal name from `[[devices.registers]] name` (unique across the config).
    pub name: Arc<str>,
    /// Engineering value: `raw * scale + offset` (booleans as 0.0 / 1.0; NaN on comm error).
    pub value: f64,
    /// Engineering unit from the config, e.g. `"°C"`.
    pub unit: Arc<str>,
    /// The raw 16-bit words (or bits as 0/1) as read, for commissioning output.
    pub raw: Vec<u16>,
    /// When the value was read (or simulated).
    pub ts: TimestampMs,
    /// Trust flag.
    pub quality: Quality,
}

/// All readings of one poll cycle of one device: the unit the acquire stage emits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Device name.
    pub device: Arc<str>,
    /// Start of the poll cycle.
    pub ts: TimestampMs,
    /// One reading per configured register of the device, in config order.
    pub readings: Vec<Reading>,
    /// Poll cycles skipped before this one because the previous cycle overran (0 normally).
    pub missed_cycles: u32,
}

/// Which batch and product a vector, prediction or alert belongs to (from the PLC registers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BatchContext {
    /// Batch id as read from the PLC (stringified integer), if known.
    pub batch_id: Option<String>,
    /// Product / recipe code, if known.
    pub product: Option<String>,
    /// Bean lot, from `[features] lot_signals` (the PLC's lot number, or the intake figures
    /// that identify the lot); absent when none is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
}
