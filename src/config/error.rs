//! Configuration errors: every one names the file, where the offending setting stands (a line
//! of the file, or the environment variable that set it), the dotted key and what is wrong.
//!
//! ```text
//! config/line3.toml:42: devices[1].registers[0].byte_order = "ABDC": unknown value; expected one of ABCD, DCBA, BADC, CDAB
//! config/line3.toml: environment variable CHOCOLINE__MQTT__KEEP_ALIVE: mqtt.keep_alive: duration "5" has no unit: …
//! ```

use std::fmt;
use std::path::PathBuf;

use super::keypath::{KeyPath, Segment};

/// Where an offending setting comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A line of the configuration file (1-based).
    Line(usize),
    /// An environment variable (`CHOCOLINE__SECTION__KEY`).
    Env(String),
    /// The file as a whole (it cannot be read, or the setting is absent and has no place).
    File,
}

/// One configuration error.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// The configuration file, as the user named it.
    pub file: PathBuf,
    /// Line or environment variable.
    pub location: Location,
    /// Dotted key, e.g. `devices[1].registers[0].byte_order`; empty for file-level errors.
    pub key: String,
    /// The value as written in the file, when it is a short scalar and not a secret.
    pub value: Option<String>,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        match &self.location {
            Location::Line(n) => write!(f, "{file}:{n}: ")?,
            Location::Env(var) => write!(f, "{file}: environment variable {var}: ")?,
            Location::File => write!(f, "{file}: ")?,
        }
        if !self.key.is_empty() {
            f.write_str(&self.key)?;
            if let Some(v) = &self.value {
                write!(f, " = {v}")?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every error found in one configuration (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigErrors {
    /// The configuration file.
    pub file: PathBuf,
    /// The errors, in file order where possible.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.errors {
            writeln!(f, "{e}")?;
        }
        let n = self.errors.len();
        write!(
            f,
            "{}: {n} configuration error{}",
            self.file.display(),
            if n == 1 { "" } else { "s" }
        )
    }
}

/// Allowed values of `slave_id`, as every message about it states them.
pub(crate) const SLAVE_ID_RANGE: &str = "1..=247 (the Modbus unit id; over Modbus TCP also 0 or \
     255, for a device addressed by its IP address)";
/// Allowed values of `max_word_registers_per_request`.
pub(crate) const MAX_WORDS_RANGE: &str = "1..=125 (the Modbus limit for one read)";
/// Allowed values of `data_bits`.
pub(crate) const DATA_BITS_RANGE: &str = "5, 6, 7 or 8";
/// Allowed values of `stop_bits`.
pub(crate) const STOP_BITS_RANGE: &str = "1 or 2";

/// The allowed values of a `[[devices]]` setting whose limit is narrower than its integer
/// type's, so that a value the type cannot even hold is reported with the setting's range
/// (`slave_id = 300`: 1..=247, not u8's 0..=255).
pub(crate) fn setting_range(path: &KeyPath) -> Option<&'static str> {
    let [Segment::Key(section), Segment::Index(_), Segment::Key(key)] = path.segments() else {
        return None;
    };
    if section != "devices" {
        return None;
    }
    match key.as_str() {
        "slave_id" => Some(SLAVE_ID_RANGE),
        "max_word_registers_per_request" => Some(MAX_WORDS_RANGE),
        "data_bits" => Some(DATA_BITS_RANGE),
        "stop_bits" => Some(STOP_BITS_RANGE),
        _ => None,
    }
}

/// [`humanize`]d, and for a setting with its own range ([`setting_range`]) the integer type's
/// range replaced by the setting's.
pub(crate) fn humanize_at(path: &KeyPath, message: &str) -> String {
    let m = humanize(message);
    match (setting_range(path), m.split_once(", expected an integer")) {
        (Some(range), Some((head, _))) => format!("{head}, expected an integer {range}"),
        _ => m,
    }
}

/// Rewrites serde's wording into what a technician reads: no backticks, Rust integer types
/// spelled as ranges.
pub(crate) fn humanize(message: &str) -> String {
    let mut m = message.replace('`', "");
    let ranges = [
        ("expected u8", "expected an integer 0..=255"),
        ("expected u16", "expected an integer 0..=65535"),
        ("expected u32", "expected an integer 0..=4294967295"),
        ("expected u64", "expected a non-negative integer"),
        ("expected f64", "expected a number"),
        ("expected i64", "expected an integer"),
    ];
    for (from, to) in ranges {
        if m.ends_with(from) {
            m.truncate(m.len() - from.len());
            m.push_str(to);
        }
    }
    if let Some(rest) = m.strip_prefix("unknown variant ") {
        // "unknown variant ABDC, expected one of ABCD, …" → the value is shown beside the key.
        if let Some((_, expected)) = rest.split_once(", expected ") {
            return format!("unknown value; expected {expected}");
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_key_value() {
        let e = ConfigError {
            file: "config/line3.toml".into(),
            location: Location::Line(42),
            key: "devices[1].registers[0].byte_order".into(),
            value: Some("\"ABDC\"".into()),
            message: "unknown value; expected one of ABCD, DCBA, BADC, CDAB".into(),
        };
        assert_eq!(
            e.to_string(),
            "config/line3.toml:42: devices[1].registers[0].byte_order = \"ABDC\": unknown value; expected one of ABCD, DCBA, BADC, CDAB"
        );
    }

    #[test]
    fn display_names_environment_variable() {
        let e = ConfigError {
            file: "c.toml".into(),
            location: Location::Env("CHOCOLINE__MQTT__INFLIGHT".into()),
            key: "mqtt.inflight".into(),
            value: None,
            message: "bad".into(),
        };
        assert_eq!(
            e.to_string(),
            "c.toml: environment variable CHOCOLINE__MQTT__INFLIGHT: mqtt.inflight: bad"
        );
    }

    #[test]
    fn type_errors_of_narrow_settings_name_the_settings_range() {
        let at = |key: &str| KeyPath::root().key("devices").index(2).key(key);
        assert_eq!(
            humanize_at(&at("slave_id"), "invalid value: integer `300`, expected u8"),
            format!("invalid value: integer 300, expected an integer {SLAVE_ID_RANGE}")
        );
        let m = humanize_at(
            &at("max_word_registers_per_request"),
            "invalid value: integer `70000`, expected u16",
        );
        assert!(m.ends_with("expected an integer 1..=125 (the Modbus limit for one read)"));
        assert!(!m.contains("65535"), "{m}");
        let m = humanize_at(
            &at("slave_id"),
            "invalid type: floating point `1.5`, expected u8",
        );
        assert!(m.starts_with("invalid type: floating point 1.5, expected an integer 1..=247"));
        // Settings whose type is their range keep the type's wording.
        assert!(
            humanize_at(
                &at("baud_rate"),
                "invalid value: integer `-1`, expected u32"
            )
            .ends_with("0..=4294967295")
        );
        let elsewhere = KeyPath::root().key("mqtt").key("slave_id");
        assert!(
            humanize_at(&elsewhere, "invalid value: integer `300`, expected u8")
                .ends_with("0..=255")
        );
    }

    #[test]
    fn humanize_variants_and_integers() {
        assert_eq!(
            humanize("unknown variant `ABDC`, expected one of `ABCD`, `DCBA`"),
            "unknown value; expected one of ABCD, DCBA"
        );
        assert_eq!(
            humanize("invalid value: integer `300`, expected u8"),
            "invalid value: integer 300, expected an integer 0..=255"
        );
    }
}
