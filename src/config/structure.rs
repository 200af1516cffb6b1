//! The one way a TOML document becomes the schema ([`parse`], [`read_with`]), with the strict check
//! of a document against it when it does not: exact TOML types (`slave_id = 1.7` is refused, not
//! rounded; `"5"` is not a number), unknown keys, enum spellings, missing keys. Each top-level
//! section and each `[[devices]]` / `[[products]]` entry is checked on its own, so one broken
//! device does not hide the next. The file alone is checked first; the file with the
//! environment's overrides written over it goes through the same functions
//! (`super::layers`), so the schema is deserialised by one deserializer only.

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml_edit::{Item, Table};

use super::error::humanize_at;
use super::keypath::KeyPath;
use super::{
    AgentConfig, AlertsConfig, Config, DeviceConfig, DriftConfig, FeaturesConfig, FleetConfig,
    LogConfig, MetricsConfig, ModelsConfig, MqttConfig, ProductConfig, StoreConfig,
};

/// The top-level keys of [`Config`], in the order the reference sample uses.
pub const SECTIONS: [&str; 14] = [
    "agent",
    "devices",
    "products",
    "features",
    "models",
    "fleet",
    "drift",
    "alerts",
    "store",
    "mqtt",
    "sparkplug",
    "capture",
    "log",
    "metrics",
];

/// A problem found at a key path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    /// The key.
    pub path: KeyPath,
    /// What is wrong and what would be valid.
    pub message: String,
    /// Whether the offending value may be shown (never for unknown keys: a misplaced
    /// `password = "…"` must not be echoed).
    pub show_value: bool,
}

impl Problem {
    pub(crate) fn new(path: KeyPath, message: impl Into<String>) -> Self {
        Problem {
            path,
            message: message.into(),
            show_value: true,
        }
    }
}

/// The document `make` builds, deserialised into the schema; or, when that fails, every
/// structural problem of it, per section and per array entry (never an empty list).
///
/// Deserialising consumes the document, and a parsed TOML document takes many times the
/// memory of its text (≈ 3 MB for a 500-device file), which the allocator keeps once freed. So
/// nothing is copied on the way: `make` hands over a document, and is called a second time
/// only when the first one fails, for the per-section report.
pub(crate) fn read_with(mut make: impl FnMut() -> Table) -> Result<Config, Vec<Problem>> {
    let whole = match parse_owned::<Config>(Item::Table(make()), &KeyPath::root()) {
        Ok(Some(cfg)) => return Ok(cfg),
        Ok(None) => Problem::new(KeyPath::root(), "cannot be read"),
        Err(p) => p,
    };
    let mut out = check_sections(&make());
    if out.is_empty() {
        // A problem the per-section pass cannot see; report what the whole pass said.
        out.push(whole);
    }
    Err(out)
}

/// The structural problems of the document, the first of each section and of each array
/// entry, without building the configuration: each section is copied and deserialised on its
/// own (an array's entries one at a time), so the memory it takes beyond the document is one
/// section's.
pub(crate) fn check_sections(root: &Table) -> Vec<Problem> {
    let mut out = Vec::new();
    for (key, item) in root.iter() {
        let base = KeyPath::root().key(key);
        let res = match key {
            "devices" => each::<DeviceConfig>(item, &base, &mut out),
            "products" => each::<ProductConfig>(item, &base, &mut out),
            _ => section(key, item, &base).unwrap_or_else(|| {
                Err(Problem {
                    message: format!("unknown section; expected one of {}", SECTIONS.join(", ")),
                    path: base,
                    show_value: false,
                })
            }),
        };
        if let Err(p) = res {
            out.push(p);
        }
    }
    out
}

/// Every structural problem of the document ([`read_with`] without the result).
#[cfg(test)]
pub(crate) fn check_document(root: &Table) -> Vec<Problem> {
    read_with(|| root.clone()).err().unwrap_or_default()
}

/// Checks top-level section `name` against its schema type, reporting the first problem with
/// its path inside the section; `None` for a name that is not a section.
fn section(name: &str, item: &Item, base: &KeyPath) -> Option<Result<(), Problem>> {
    use crate::capture::config::CaptureConfig;
    use crate::sparkplug::config::SparkplugConfig;
    Some(match name {
        "agent" => deserialize::<AgentConfig>(item, base),
        "features" => deserialize::<FeaturesConfig>(item, base),
        "models" => deserialize::<ModelsConfig>(item, base),
        "fleet" => deserialize::<FleetConfig>(item, base),
        "drift" => deserialize::<DriftConfig>(item, base),
        "alerts" => deserialize::<AlertsConfig>(item, base),
        "store" => deserialize::<StoreConfig>(item, base),
        "mqtt" => deserialize::<MqttConfig>(item, base),
        "log" => deserialize::<LogConfig>(item, base),
        "metrics" => deserialize::<MetricsConfig>(item, base),
        "sparkplug" => deserialize::<SparkplugConfig>(item, base),
        "capture" => deserialize::<CaptureConfig>(item, base),
        _ => return None,
    })
}

/// Checks each element of an array on its own; a non-array is checked as a whole.
fn each<T: DeserializeOwned>(
    item: &Item,
    base: &KeyPath,
    out: &mut Vec<Problem>,
) -> Result<(), Problem> {
    // One element copied at a time: the list can be most of the document.
    let mut check = |i: usize, el: Item| {
        if let Err(p) = parse_owned::<T>(el, &base.index(i)) {
            out.push(p);
        }
    };
    match item {
        Item::ArrayOfTables(a) => {
            for (i, t) in a.iter().enumerate() {
                check(i, Item::Table(t.clone()));
            }
        }
        Item::Value(toml_edit::Value::Array(a)) => {
            for (i, v) in a.iter().enumerate() {
                check(i, Item::Value(v.clone()));
            }
        }
        _ => return deserialize::<Vec<T>>(item, base),
    }
    Ok(())
}

/// Checks that one item deserializes into `T` ([`parse`], the value dropped).
fn deserialize<T: DeserializeOwned>(item: &Item, base: &KeyPath) -> Result<(), Problem> {
    parse::<T>(item, base).map(|_| ())
}

/// Deserializes one item into `T`, reporting the first problem with its full key path
/// (`base` and the path inside the item); `None` for `Item::None` (nothing written).
///
/// Everything that turns TOML into the schema comes through here, always through
/// `serde_path_to_error` over `toml_edit`'s value deserializer: each schema type's
/// deserialisation is compiled once.
pub(crate) fn parse<T: DeserializeOwned>(
    item: &Item,
    base: &KeyPath,
) -> Result<Option<T>, Problem> {
    parse_owned(item.clone(), base)
}

/// [`parse`], consuming the item (no copy of it is made).
pub(crate) fn parse_owned<T: DeserializeOwned>(
    item: Item,
    base: &KeyPath,
) -> Result<Option<T>, Problem> {
    let value = match item.into_value() {
        Ok(v) => v,
        Err(_) => return Ok(None),
    };
    match serde_path_to_error::deserialize::<_, T>(value.into_deserializer()) {
        Ok(v) => Ok(Some(v)),
        Err(e) => Err(problem_from(base.join_serde(e.path()), e.inner().message())),
    }
}

/// A problem from a serde error message at `path`: unknown and missing fields are added to the
/// path (serde reports them at their table), and unknown keys never show their value.
fn problem_from(mut path: KeyPath, message: &str) -> Problem {
    let mut show_value = true;
    if let Some(field) = quoted_after(message, "unknown field `") {
        show_value = false;
        if path.last_key() != Some(field) {
            path = path.key(field);
        }
    } else if let Some(field) = quoted_after(message, "missing field `") {
        path = path.key(field);
    }
    Problem {
        message: humanize_at(&path, message),
        path,
        show_value,
    }
}

/// The field named by serde's "unknown field `x`, expected …" or "missing field `x`".
fn quoted_after<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split_once('`').map(|(f, _)| f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<(String, String)> {
        let doc: toml_edit::Document<String> = text.parse().unwrap();
        check_document(doc.as_table())
            .into_iter()
            .map(|p| (p.path.to_string(), p.message))
            .collect()
    }

    #[test]
    fn sections_match_the_schema() {
        let cfg = crate::config::testing::fully_populated();
        let v = serde_json::to_value(&cfg).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(|s| s.as_str()).collect();
        let mut a = keys.clone();
        a.sort();
        let mut b = SECTIONS.to_vec();
        b.sort();
        assert_eq!(a, b);
    }

    #[test]
    fn valid_document_has_no_problems() {
        assert!(problems("[agent]\nsite = \"s\"\n").is_empty());
    }

    #[test]
    fn reports_one_problem_per_broken_entry_and_section() {
        let p = problems(
            r#"
[agent]
sight = "x"

[[devices]]
name = "a"
controller = "tcp://h"
slave_id = 1.5

[[devices]]
name = "b"
controller = "tcp://h"
[[devices.registers]]
name = "t"
address = 0
byte_order = "ABDC"

[bogus]
x = 1
"#,
        );
        let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "agent.sight",
                "devices[0].slave_id",
                "devices[1].registers[0].byte_order",
                "bogus"
            ]
        );
        assert!(
            p[0].1
                .contains("expected one of site, line, product, wait_for_time_sync"),
            "{p:?}"
        );
        assert!(
            p[2].1.contains("expected one of ABCD, DCBA, BADC, CDAB"),
            "{p:?}"
        );
    }

    #[test]
    fn a_good_document_is_built_once_and_a_bad_one_twice() {
        // The document is handed over, not copied: read_with asks for a second one only to
        // report the problems of a failed first reading.
        let count = |text: &str| {
            let doc: toml_edit::Document<String> = text.parse().unwrap();
            let mut calls = 0;
            let res = read_with(|| {
                calls += 1;
                doc.as_table().clone()
            });
            (res.is_ok(), calls)
        };
        assert_eq!(count("[agent]\nsite = \"s\"\n"), (true, 1));
        assert_eq!(count("[agent]\nsight = \"s\"\n"), (false, 2));
    }

    #[test]
    fn missing_required_key_is_named() {
        let p = problems("[[devices]]\ncontroller = \"tcp://h\"\n");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, "devices[0].name");
        assert!(p[0].1.contains("missing field name"), "{p:?}");
    }
}
