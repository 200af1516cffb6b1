//! Value newtypes that technicians write as strings: durations (`"500ms"`, `"1s"`, `"1h"`)
//! and byte sizes (`"64MiB"`, `"2GB"`, or a plain integer of bytes).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written as a string with a unit: `"250ms"`, `"1s"`, `"5m"`, `"1h"`, `"7d"`.
/// A bare number is refused, so that `timeout = 5` cannot mean five of an unknown unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// From milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Duration(std::time::Duration::from_millis(ms))
    }

    /// From seconds.
    pub const fn from_secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }

    /// The std duration.
    pub fn get(self) -> std::time::Duration {
        self.0
    }
}

impl FromStr for Duration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(format!(
                "duration \"{s}\" has no unit: write e.g. \"{t}s\" or \"{t}ms\""
            ));
        }
        humantime::parse_duration(t).map(Duration).map_err(|e| {
            format!(
                "invalid duration \"{s}\" ({e}): expected e.g. \"500ms\", \"1s\", \"5m\", \"1h\""
            )
        })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A size in bytes: an integer, or a string with a unit (`"512KiB"`, `"64MiB"`, `"1GB"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Mebibytes.
    pub const fn mib(n: u64) -> Self {
        ByteSize(n * 1024 * 1024)
    }

    /// Bytes.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num.parse().map_err(|_| {
            format!("invalid size \"{s}\": expected e.g. \"64MiB\", \"1GB\" or bytes")
        })?;
        let mult: f64 = match unit.trim() {
            "" | "B" => 1.0,
            "KB" | "kB" => 1e3,
            "MB" => 1e6,
            "GB" => 1e9,
            "KiB" => 1024.0,
            "MiB" => 1024.0 * 1024.0,
            "GiB" => 1024.0 * 1024.0 * 1024.0,
            other => {
                return Err(format!(
                    "invalid size unit \"{other}\" in \"{s}\": expected B, KB, MB, GB, KiB, MiB or GiB"
                ));
            }
        };
        Ok(ByteSize((n * mult).round() as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MIB: u64 = 1024 * 1024;
        if self.0 >= MIB && self.0.is_multiple_of(MIB) {
            write!(f, "{}MiB", self.0 / MIB)
        } else {
            write!(f, "{}B", self.0)
        }
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(ByteSize(n)),
            Raw::Str(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Deserializes `[min, max]` strictly: exactly two numbers. Serde's own `[f64; 2]` silently
/// drops a third element with some deserializers, so `valid_range = [1, 2, 3]` would pass.
pub fn pair<'de, D: Deserializer<'de>>(d: D) -> Result<[f64; 2], D::Error> {
    let v = Vec::<f64>::deserialize(d)?;
    match v.as_slice() {
        [a, b] => Ok([*a, *b]),
        _ => Err(serde::de::Error::custom(format!(
            "expected [min, max] (two numbers), found {} number{}",
            v.len(),
            if v.len() == 1 { "" } else { "s" }
        ))),
    }
}

/// [`pair`] for optional settings.
pub fn optional_pair<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[f64; 2]>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "pair")] [f64; 2]);
    Option::<Wrap>::deserialize(d).map(|o| o.map(|w| w.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_units() {
        assert_eq!("500ms".parse::<Duration>(), Ok(Duration::from_millis(500)));
        assert_eq!("1s".parse::<Duration>(), Ok(Duration::from_secs(1)));
        assert_eq!("1h".parse::<Duration>(), Ok(Duration::from_secs(3600)));
        assert!("5".parse::<Duration>().unwrap_err().contains("no unit"));
        assert!("fast".parse::<Duration>().is_err());
    }

    #[derive(Debug, Deserialize)]
    struct Pairs {
        #[serde(deserialize_with = "pair")]
        p: [f64; 2],
        #[serde(default, deserialize_with = "optional_pair")]
        o: Option<[f64; 2]>,
    }

    #[test]
    fn pairs_take_exactly_two_numbers() {
        let ok: Pairs = serde_json::from_str(r#"{"p": [1, 2.5], "o": [3, 4]}"#).unwrap();
        assert_eq!((ok.p, ok.o), ([1.0, 2.5], Some([3.0, 4.0])));
        let none: Pairs = serde_json::from_str(r#"{"p": [1, 2]}"#).unwrap();
        assert_eq!(none.o, None);
        let e = serde_json::from_str::<Pairs>(r#"{"p": [1, 2, 3]}"#).unwrap_err();
        assert!(e.to_string().contains("found 3 numbers"), "{e}");
        assert!(serde_json::from_str::<Pairs>(r#"{"p": [1, 2], "o": [1]}"#).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!("64MiB".parse::<ByteSize>(), Ok(ByteSize::mib(64)));
        assert_eq!("1GB".parse::<ByteSize>(), Ok(ByteSize(1_000_000_000)));
        assert_eq!("4096".parse::<ByteSize>(), Ok(ByteSize(4096)));
        assert!("12 parsecs".parse::<ByteSize>().is_err());
    }
}
