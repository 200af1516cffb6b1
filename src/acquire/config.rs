//! `[[devices]]` and `[[devices.registers]]`: what to poll, in Telegraf's Modbus vocabulary.

use serde::{Deserialize, Serialize};

pub use crate::codec::{ByteOrder, DataType};
use crate::settings::units::Duration;

/// One Modbus slave: a PLC or a sensor gateway, reached over TCP or a serial line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// Unique device name, used in readings, logs and metrics. Required.
    pub name: String,
    /// `"tcp://host:port"` (port defaults to 502) or `"file:///dev/ttyUSB0"` for RTU. Required.
    /// Several devices may share one controller (one TCP connection or one serial bus).
    pub controller: String,
    /// Modbus unit id. Default 1. Range 1–247; over Modbus TCP also 0 or 255 (a device
    /// addressed by its IP address); 0 on a serial line is the broadcast no slave answers.
    #[serde(default = "default_slave_id")]
    pub slave_id: u8,
    /// Time between the starts of two poll cycles. Default "1s".
    #[serde(default = "default_poll_interval")]
    pub poll_interval: Duration,
    /// Timeout of one request; must be shorter than `poll_interval`. Default "500ms".
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// RTU only: baud rate. Default 19200.
    #[serde(default = "default_baud_rate")]
    pub baud_rate: u32,
    /// RTU only: data bits, 5–8. Default 8.
    #[serde(default = "default_data_bits")]
    pub data_bits: u8,
    /// RTU only: parity. Default "even" (the Modbus RTU default).
    #[serde(default)]
    pub parity: Parity,
    /// RTU only: stop bits, 1 or 2. Default 1.
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
    /// Pause after each request, for slow devices. Default "0ms".
    #[serde(default = "default_pause")]
    pub pause_between_requests: Duration,
    /// Longest read in 16-bit words; devices that reject long reads need less. Default 125,
    /// range 1–125.
    #[serde(default = "default_max_words")]
    pub max_word_registers_per_request: u16,
    /// The registers to read. At least one.
    #[serde(default)]
    pub registers: Vec<RegisterConfig>,
}

/// Serial parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    /// No parity bit.
    None,
    /// Even parity (Modbus RTU default).
    #[default]
    Even,
    /// Odd parity.
    Odd,
}

/// One value read from a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterConfig {
    /// Signal name, unique across the whole config; features and alert rules refer to it.
    pub name: String,
    /// Register table: "holding", "input", "coil" or "discrete". Default "holding".
    #[serde(default)]
    pub register: RegisterKind,
    /// 0-based protocol address (holding register 40001 in PLC notation is address 0).
    pub address: u16,
    /// How to decode the words. Default "UINT16"; coils and discretes are always BOOL.
    #[serde(default)]
    pub data_type: DataType,
    /// Word and byte order of multi-byte values: "ABCD" (big endian), "DCBA", "BADC", "CDAB".
    /// Default "ABCD".
    #[serde(default)]
    pub byte_order: ByteOrder,
    /// Engineering value = raw * scale + offset. Default 1.0.
    #[serde(default = "default_scale")]
    pub scale: f64,
    /// Default 0.0.
    #[serde(default)]
    pub offset: f64,
    /// Engineering unit shown to people, e.g. "°C", "%", "µm". Default "".
    #[serde(default)]
    pub unit: String,
    /// Plausible range `[min, max]` of the engineering value; readings outside are kept and
    /// flagged `out_of_range`. Default: none.
    #[serde(default, deserialize_with = "crate::settings::units::optional_pair")]
    pub valid_range: Option<[f64; 2]>,
}

/// Modbus register table. Only read function codes are ever used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegisterKind {
    /// Function code 3.
    #[default]
    Holding,
    /// Function code 4.
    Input,
    /// Function code 1.
    Coil,
    /// Function code 2.
    Discrete,
}

fn default_slave_id() -> u8 {
    1
}
fn default_poll_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_timeout() -> Duration {
    Duration::from_millis(500)
}
fn default_baud_rate() -> u32 {
    19200
}
fn default_data_bits() -> u8 {
    8
}
fn default_stop_bits() -> u8 {
    1
}
fn default_pause() -> Duration {
    Duration::from_millis(0)
}
fn default_max_words() -> u16 {
    125
}
fn default_scale() -> f64 {
    1.0
}
