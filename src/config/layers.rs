//! The layers' middle steps of loading: which environment variables override which keys
//! ([`env_overrides`]), and the TOML document with them written over it, deserialised into
//! the schema ([`merge`]) — with every broken override named, section by section, rather
//! than only the first.
//!
//! One path for the file and the environment: an override is written into (a copy of) the
//! parsed document at its key path and the merged document goes through the same strict
//! deserializer as the file alone ([`structure`]). An override's value is a string first; only
//! where the schema refuses a string there is it read as a TOML value (`8`, `true`, `1.5`,
//! `["bloom", "quality"]`), so `CHOCOLINE__MQTT__CLIENT_ID=007` stays the string `"007"`
//! while `CHOCOLINE__MQTT__INFLIGHT=8` becomes the integer 8.

use std::path::Path;

use toml_edit::{Item, Table, Value};

use super::Config;
use super::error::{ConfigError, Location};
use super::load::{ENV_PREFIX, ENV_SEPARATOR, Env};
use super::locate::EnvVar;
use super::structure::{self, Problem};

/// Sections that are arrays of tables: the environment cannot address their entries.
const ARRAY_SECTIONS: [&str; 2] = ["devices", "products"];

/// The overrides: each variable's key words (for locating errors) and its value, in the
/// order they are applied (by name).
pub(super) struct Overrides {
    /// The variables, split into key words.
    pub vars: Vec<EnvVar>,
    /// Their values, index by index.
    values: Vec<String>,
}

/// The overrides of `env`: their key words (for locating errors) and values; a name that
/// cannot be a setting is an error naming the variable.
pub(super) fn env_overrides(path: &Path, env: &Env) -> Result<Overrides, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut vars = Vec::new();
    let mut values = Vec::new();
    for name in &env.not_unicode {
        errors.push(env_error(path, name, "value is not valid UTF-8"));
    }
    for (name, value) in &env.vars {
        match env_words(name) {
            Ok(words) => {
                vars.push(EnvVar {
                    name: name.to_string(),
                    words,
                });
                values.push(value.clone());
            }
            Err(msg) => errors.push(env_error(path, name, &msg)),
        }
    }
    if errors.is_empty() {
        Ok(Overrides { vars, values })
    } else {
        Err(errors)
    }
}

/// The file's document (each call of `file` hands over a fresh one) with the overrides written
/// over it, deserialised into the schema; or every problem of the merged document, per
/// section and per array entry.
pub(super) fn merge(
    mut file: impl FnMut() -> Table,
    overrides: &Overrides,
) -> Result<Config, Vec<Problem>> {
    let doc = file();
    let typed = typed_overrides(&doc, overrides);
    let mut first = Some(doc);
    structure::read_with(|| {
        let doc = first.take().unwrap_or_else(&mut file);
        apply(doc, overrides, &typed)
    })
}

/// Which overrides are read as TOML values rather than strings (see the module docs): those
/// whose string the schema refuses at their own key. Decided on the overridden sections alone
/// (devices and products cannot be overridden), so that the whole document, which can be
/// megabytes once parsed, is read only once.
fn typed_overrides(doc: &Table, overrides: &Overrides) -> Vec<bool> {
    let mut part = Table::new();
    for var in &overrides.vars {
        if let Some((section, _)) = var.words.split_first()
            && !part.contains_key(section)
            && let Some(item) = doc.get(section)
        {
            part.insert(section, item.clone());
        }
    }
    let mut typed = vec![false; overrides.vars.len()];
    loop {
        let problems = structure::check_sections(&apply(part.clone(), overrides, &typed));
        // Each round reads at least one more override as TOML, so this ends.
        let mut again = false;
        for p in &problems {
            if let Some(i) = string_refused(overrides, &typed, p) {
                typed[i] = true;
                again = true;
            }
        }
        if !again {
            return typed;
        }
    }
}

/// The override whose string value the schema refused at its own key (it wants a number, a
/// boolean, a list…) and that has not been read as a TOML value yet.
fn string_refused(overrides: &Overrides, typed: &[bool], problem: &Problem) -> Option<usize> {
    if !problem.message.starts_with("invalid type: string") {
        return None;
    }
    let words = problem.path.words();
    overrides
        .vars
        .iter()
        .zip(typed)
        .position(|(v, done)| !*done && v.words == words)
}

/// The document with every override written at its key path.
fn apply(file: Table, overrides: &Overrides, typed: &[bool]) -> Table {
    let mut root = Item::Table(file);
    for ((var, text), as_toml) in overrides.vars.iter().zip(&overrides.values).zip(typed) {
        let value = if *as_toml {
            text.parse::<Value>()
                .unwrap_or_else(|_| Value::from(text.as_str()))
        } else {
            Value::from(text.as_str())
        };
        set(&mut root, &var.words, value);
    }
    match root {
        Item::Table(t) => t,
        // `set` keeps a table at the root: every variable names a section below it.
        _ => Table::new(),
    }
}

/// Writes `value` at `words` below `item`, making tables of whatever stands in the way (an
/// inline table becomes a table with the same keys; a scalar is replaced).
fn set(item: &mut Item, words: &[String], value: Value) {
    let Some((first, rest)) = words.split_first() else {
        *item = Item::Value(value);
        return;
    };
    if let Item::Value(Value::InlineTable(t)) = item {
        *item = Item::Table(std::mem::take(t).into_table());
    }
    if !matches!(item, Item::Table(_)) {
        *item = Item::Table(Table::new());
    }
    if let Item::Table(table) = item {
        let child = table.entry(first).or_insert(Item::None);
        set(child, rest, value);
    }
}

/// The words of an override's key, or why the name cannot be a setting.
fn env_words(name: &str) -> Result<Vec<String>, String> {
    let lower = name.to_lowercase();
    let rest = lower
        .get(ENV_PREFIX.len() + ENV_SEPARATOR.len()..)
        .unwrap_or_default();
    let words: Vec<String> = rest.split(ENV_SEPARATOR).map(str::to_string).collect();
    let well_formed = words.iter().all(|w| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    });
    if !well_formed {
        return Err(format!(
            "not a setting name: write {ENV_PREFIX}__SECTION__KEY with letters, digits and \
             single underscores, e.g. {ENV_PREFIX}__MQTT__CLIENT_ID"
        ));
    }
    let first = words.first().map(String::as_str).unwrap_or_default();
    if !structure::SECTIONS.contains(&first) {
        return Err(format!(
            "unknown section \"{first}\"; expected one of {}",
            structure::SECTIONS.join(", ")
        ));
    }
    if ARRAY_SECTIONS.contains(&first) {
        return Err(format!(
            "[[{first}]] entries cannot be set from the environment; edit the file"
        ));
    }
    Ok(words)
}

fn env_error(path: &Path, name: &str, message: &str) -> ConfigError {
    ConfigError {
        file: path.to_path_buf(),
        location: Location::Env(name.to_string()),
        key: String::new(),
        value: None,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_words_split_and_refuse_arrays() {
        assert_eq!(
            env_words("CHOCOLINE__MQTT__CLIENT_ID").unwrap(),
            vec!["mqtt", "client_id"]
        );
        assert!(env_words("CHOCOLINE__MQTT____X").is_err());
        assert!(env_words("CHOCOLINE__MQTT__CLIENT-ID").is_err());
        assert!(env_words("CHOCOLINE__DEVICES__0__NAME").is_err());
        assert!(
            env_words("CHOCOLINE__FOO")
                .unwrap_err()
                .contains("unknown section")
        );
    }

    fn merged(text: &str, env: &[(&str, &str)]) -> Result<Config, Vec<Problem>> {
        let doc: toml_edit::Document<String> = text.parse().unwrap();
        let overrides =
            env_overrides(Path::new("t.toml"), &Env::from_pairs(env.iter().copied())).unwrap();
        merge(|| doc.as_table().clone(), &overrides)
    }

    #[test]
    fn values_are_text_unless_the_setting_refuses_text() {
        let cfg = merged(
            "[mqtt]\nclient_id = \"a\"\n",
            &[
                ("CHOCOLINE__MQTT__CLIENT_ID", "007"),
                ("CHOCOLINE__MQTT__INFLIGHT", "8"),
                ("CHOCOLINE__MQTT__TOPICS__ALERTS__QOS", "0"),
                ("CHOCOLINE__MQTT__TOPICS__ALERTS__RETAIN", "true"),
                ("CHOCOLINE__MODELS__ENABLED", "[\"bloom\", \"quality\"]"),
            ],
        )
        .unwrap();
        assert_eq!(cfg.mqtt.client_id, "007");
        assert_eq!(cfg.mqtt.inflight, 8);
        assert!(cfg.mqtt.topics.alerts.retain);
        assert_eq!(cfg.mqtt.topics.alerts.qos, 0);
        assert_eq!(
            cfg.mqtt.topics.drift.qos, 1,
            "a default kept beside the overrides"
        );
        assert_eq!(cfg.models.enabled, vec!["bloom", "quality"]);
    }

    #[test]
    fn an_override_reaches_into_an_inline_table_and_keeps_its_other_keys() {
        let cfg = merged(
            "[mqtt.topics]\nalerts = { qos = 0, retain = true }\n",
            &[("CHOCOLINE__MQTT__TOPICS__ALERTS__QOS", "1")],
        )
        .unwrap();
        assert_eq!(cfg.mqtt.topics.alerts.qos, 1);
        assert!(cfg.mqtt.topics.alerts.retain);
    }

    #[test]
    fn every_bad_override_is_a_problem_at_its_key() {
        let problems = merged(
            "",
            &[
                ("CHOCOLINE__MQTT__INFLIGHT", "1.5"),
                ("CHOCOLINE__LOG__FORMAT", "xml"),
                ("CHOCOLINE__STORE__NO_SUCH_KEY", "1"),
            ],
        )
        .unwrap_err();
        let keys: Vec<String> = problems.iter().map(|p| p.path.to_string()).collect();
        assert_eq!(
            keys,
            vec!["log.format", "mqtt.inflight", "store.no_such_key"],
            "{problems:?}"
        );
        assert!(
            problems[1].message.contains("floating point"),
            "{problems:?}"
        );
        assert!(
            problems[0].message.contains("expected human or json"),
            "{problems:?}"
        );
    }
}
