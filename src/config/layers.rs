//! The layers' middle steps of loading: which environment variables override which keys
//! ([`env_overrides`]), and the TOML file merged with them into the schema ([`merge`]) — with
//! every broken override named, section by section, rather than only the first.

use std::path::Path;

use super::Config;
use super::error::{ConfigError, Location};
use super::keypath::KeyPath;
use super::load::{ENV_PREFIX, ENV_SEPARATOR, Env};
use super::locate::EnvVar;
use super::structure::{self, Problem};

/// Sections that are arrays of tables: the environment cannot address their entries.
const ARRAY_SECTIONS: [&str; 2] = ["devices", "products"];

/// The overrides' key words (for locating errors) and the map the `config` crate reads.
pub(super) type Overrides = (Vec<EnvVar>, config::Map<String, String>);

/// Why the merged layers did not deserialise.
pub(super) enum MergeError {
    /// The `config` crate could not merge them at all (one message for the file).
    Build(String),
    /// Keys with a wrong value, by key path.
    Problems(Vec<Problem>),
}

/// The overrides of `env`: their key words (for locating errors) and the map the `config`
/// crate reads; a name that cannot be a setting is an error naming the variable.
pub(super) fn env_overrides(path: &Path, env: &Env) -> Result<Overrides, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut env_vars = Vec::new();
    let mut env_map = config::Map::new();
    for name in &env.not_unicode {
        errors.push(env_error(path, name, "value is not valid UTF-8"));
    }
    for (name, value) in &env.vars {
        match env_words(name) {
            Ok(words) => {
                env_vars.push(EnvVar {
                    name: name.to_string(),
                    words,
                });
                env_map.insert(name.clone(), value.clone());
            }
            Err(msg) => errors.push(env_error(path, name, &msg)),
        }
    }
    if errors.is_empty() {
        Ok((env_vars, env_map))
    } else {
        Err(errors)
    }
}

/// The file and the overrides merged and deserialised into the schema.
pub(super) fn merge(
    text: &str,
    env_map: config::Map<String, String>,
) -> Result<Config, MergeError> {
    let built = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator(ENV_SEPARATOR)
                .separator(ENV_SEPARATOR)
                .source(Some(env_map)),
        )
        .build()
        .map_err(|e| MergeError::Build(e.to_string()))?;
    serde_path_to_error::deserialize(built.clone())
        .map_err(|first| MergeError::Problems(section_problems(&built, &first)))
}

/// Section by section, so that every broken override is named, not just the first.
fn section_problems(
    built: &config::Config,
    first: &serde_path_to_error::Error<config::ConfigError>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for name in structure::SECTIONS {
        let value = match built.get::<config::Value>(name) {
            Ok(v) => v,
            Err(config::ConfigError::NotFound(_)) => continue,
            Err(e) => {
                problems.push(Problem::new(KeyPath::root().key(name), message_of(&e)));
                continue;
            }
        };
        if let Some(Err(e)) = structure::section(name, value) {
            let path = KeyPath::root().key(name).join_serde(e.path());
            problems.push(structure::problem_from(path, &message_of(e.inner())));
        }
    }
    if problems.is_empty() {
        let path = KeyPath::root().join_serde(first.path());
        problems.push(structure::problem_from(path, &message_of(first.inner())));
    }
    problems
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

/// The `config` crate's error without the origin and key it appends (we name those better).
fn message_of(e: &config::ConfigError) -> String {
    let m = match e {
        config::ConfigError::Type {
            unexpected,
            expected,
            ..
        } => format!("invalid type: {unexpected}, expected {expected}"),
        config::ConfigError::At { error, .. } => message_of(error),
        config::ConfigError::Message(m) => m.clone(),
        other => other.to_string(),
    };
    enum_message(&m).unwrap_or(m)
}

/// The `config` crate words a bad enum value "enum LogFormat does not have variant constructor
/// xml", without the valid spellings; this adds them, taken from the types' own serde names.
fn enum_message(m: &str) -> Option<String> {
    let rest = m.strip_prefix("enum ")?;
    let (name, value) = rest.split_once(" does not have variant constructor ")?;
    let valid = match name {
        "LogFormat" => variants::<super::LogFormat>(),
        "OptimizeAt" => variants::<super::OptimizeAt>(),
        "Severity" => variants::<crate::domain::Severity>(),
        "Parity" => variants::<super::Parity>(),
        "RegisterKind" => variants::<super::RegisterKind>(),
        "DataType" => variants::<super::DataType>(),
        "ByteOrder" => variants::<super::ByteOrder>(),
        "Chocolate" => variants::<super::Chocolate>(),
        _ => return Some(format!("unknown value \"{value}\"")),
    };
    Some(format!("unknown value \"{value}\"; expected {valid}"))
}

/// "one of a, b, c" for a unit-variant enum, read from serde's own error for a bad spelling.
fn variants<T: serde::de::DeserializeOwned>() -> String {
    let probe = serde_json::Value::String(String::new());
    match serde_json::from_value::<T>(probe) {
        Err(e) => {
            let s = e.to_string();
            s.split_once("expected ")
                .map_or_else(|| s.clone(), |(_, v)| v.replace('`', ""))
        }
        Ok(_) => "a valid value".to_string(),
    }
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

    #[test]
    fn enum_messages_list_the_valid_values() {
        assert_eq!(
            enum_message("enum LogFormat does not have variant constructor xml").unwrap(),
            "unknown value \"xml\"; expected human or json"
        );
        assert_eq!(
            enum_message("enum Severity does not have variant constructor loud").unwrap(),
            "unknown value \"loud\"; expected warning or critical"
        );
        assert!(enum_message("something else").is_none());
    }
}
