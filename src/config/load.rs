//! Loading, in layers: built-in defaults (the `#[serde(default)]`s of the schema) → the TOML
//! file → environment variables `CHOCOLINE__SECTION__KEY`; then relative paths are resolved
//! against the directory of the configuration file and the whole is validated.
//!
//! The file is first checked strictly on its own ([`super::structure`]); the overrides are then
//! written over its document and the result deserialised the same way (`layers.rs`).
//! Environment values are strings unless the schema refuses a string at that key, so
//! `CHOCOLINE__MQTT__CLIENT_ID=007` stays `"007"` instead of becoming the integer 7.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml_edit::{Item, Table};

use super::error::{ConfigError, ConfigErrors, Location, humanize};
use super::keypath::KeyPath;
use super::layers;
use super::locate::{EnvVar, Locator};
use super::plan::Plan;
use super::structure::{self, Problem};
use super::text::{decode, syntax_error};
use super::{Config, validate};

/// Prefix of environment overrides.
pub const ENV_PREFIX: &str = "CHOCOLINE";
/// Separator between the prefix, sections and keys of an environment override.
pub const ENV_SEPARATOR: &str = "__";

/// The environment overrides: every variable whose name starts with `CHOCOLINE__`
/// (case-insensitive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    pub(super) vars: BTreeMap<String, String>,
    pub(super) not_unicode: Vec<String>,
}

impl Env {
    /// The overrides set in this process's environment.
    pub fn from_process() -> Self {
        let mut env = Env::default();
        for (k, v) in std::env::vars_os() {
            let Ok(k) = k.into_string() else { continue };
            if !is_override(&k) {
                continue;
            }
            match v.into_string() {
                Ok(v) => {
                    env.vars.insert(k, v);
                }
                Err(_) => env.not_unicode.push(k),
            }
        }
        env
    }

    /// Overrides from explicit pairs (tests, embedding); names without the prefix are ignored.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(k, _)| is_override(k))
            .collect();
        Env {
            vars,
            not_unicode: Vec::new(),
        }
    }

    /// No overrides.
    pub fn empty() -> Self {
        Env::default()
    }
}

fn is_override(name: &str) -> bool {
    let prefix = format!("{ENV_PREFIX}{ENV_SEPARATOR}");
    name.len() >= prefix.len()
        && name
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(&prefix))
}

/// Loads and validates the configuration file `path` with this process's environment.
pub fn load(path: &Path) -> Result<Plan, ConfigErrors> {
    load_with_env(path, &Env::from_process())
}

/// Loads and validates the configuration file `path` with the given environment overrides.
pub fn load_with_env(path: &Path, env: &Env) -> Result<Plan, ConfigErrors> {
    let text = read_text(path)?;
    load_str(&text, path, env)
}

/// `check-config`: [`load`], then also what the shadow candidate folders hold (each loads,
/// passes its golden rows and takes its serving model's inputs), which `run` and SIGHUP leave
/// to the registry (src/config/validate/model_tables.rs says why).
pub fn load_for_check(path: &Path) -> Result<Plan, ConfigErrors> {
    let text = read_text(path)?;
    load_text(&text, path, &Env::from_process(), true)
}

fn read_text(path: &Path) -> Result<String, ConfigErrors> {
    let text = std::fs::read(path).map_err(|e| file_error(path, format!("cannot read: {e}")))?;
    decode(path, text).map_err(|e| ConfigErrors {
        file: path.to_path_buf(),
        errors: vec![e],
    })
}

/// Loads and validates configuration `text` as if read from `path` (which names the file in
/// errors and anchors relative paths).
pub fn load_str(text: &str, path: &Path, env: &Env) -> Result<Plan, ConfigErrors> {
    load_text(text, path, env, false)
}

/// [`load_str`]; `candidates`: also check the shadow candidates' files.
fn load_text(text: &str, path: &Path, env: &Env, candidates: bool) -> Result<Plan, ConfigErrors> {
    let fail = |errors: Vec<ConfigError>| ConfigErrors {
        file: path.to_path_buf(),
        errors,
    };

    let doc = match toml_edit::Document::parse(text.to_string()) {
        Ok(d) => d,
        Err(e) => return Err(fail(vec![syntax_error(path, text, &e)])),
    };
    // Deserialising consumes a document, and a parsed document takes many times the memory of
    // its text (structure::read_with says why that matters): the parsed one is handed over,
    // and the text is parsed again only where another copy is needed (a failed check, the
    // error report's locations).
    let mut parsed = Some(doc.into_table());
    // Problems located in the file (and, `with_env`, in the variables `vars`) for the report.
    let report = |problems: Vec<Problem>, vars: &[EnvVar], with_env: bool| {
        let doc = parse_again(text);
        let locator = Locator::new(text, doc.as_ref(), vars);
        fail(located(path, &locator, problems, with_env))
    };
    // The environment's names; a bad one is reported after the file's own problems.
    let overrides = layers::env_overrides(path, env);

    // 1. The file alone, strictly. With no override its reading is the configuration. With
    //    overrides that reading would be thrown away, so the file is only checked, section by
    //    section, and the configuration is read once, from the merged document (a second full
    //    reading cost 6 MB of peak memory for a 500-device file, which glibc keeps).
    let file_cfg = if overrides.as_ref().is_ok_and(|o| o.vars.is_empty()) {
        match structure::read_with(|| hand_over(&mut parsed, text)) {
            Ok(c) => Some(c),
            Err(problems) => return Err(report(problems, &[], false)),
        }
    } else {
        // The per-section pass accepts what the whole reading accepts: every section has a
        // default and an unknown one is a problem of its own (structure::read_with's fallback
        // covers a case where they would differ; none is known).
        let problems = parsed
            .as_ref()
            .map(structure::check_sections)
            .unwrap_or_default();
        if !problems.is_empty() {
            return Err(report(problems, &[], false));
        }
        None
    };

    // 2. The environment's overrides, 3. merged with the file (none: the file's reading stands).
    let overrides = overrides.map_err(fail)?;
    let mut cfg = match file_cfg {
        Some(c) => c,
        None => match layers::merge(|| hand_over(&mut parsed, text), &overrides) {
            Ok(c) => c,
            Err(problems) => return Err(report(problems, &overrides.vars, true)),
        },
    };

    // 4. Paths, then meaning.
    resolve_paths(&mut cfg, &base_dir(path));
    let mut problems = validate::validate(&cfg);
    if candidates && problems.is_empty() {
        problems = validate::candidate_files(&cfg);
    }
    if !problems.is_empty() {
        return Err(report(problems, &overrides.vars, true));
    }
    Ok(Plan {
        file: path.to_path_buf(),
        config: cfg,
    })
}

/// The parsed document, the first time; the text parsed again after that.
fn hand_over(parsed: &mut Option<Table>, text: &str) -> Table {
    parsed
        .take()
        .or_else(|| parse_again(text).map(|d| d.into_table()))
        .unwrap_or_default()
}

/// Text that parsed once, parsed again (`None` cannot happen; it only keeps this panic-free).
fn parse_again(text: &str) -> Option<toml_edit::Document<String>> {
    toml_edit::Document::parse(text.to_string()).ok()
}

/// Configuration text deserialised as written — strict types and keys, but no environment,
/// no validation, relative paths as written — for the commands that read a file the full
/// [`load`] refuses for sections they do not use. `None` when it does not parse.
pub fn parse_as_written(text: &str) -> Option<Config> {
    let doc = toml_edit::Document::parse(text.to_string()).ok()?;
    structure::parse_owned::<Config>(Item::Table(doc.into_table()), &KeyPath::root())
        .ok()
        .flatten()
}

/// Section `name` of configuration text deserialised on its own, as written (as
/// [`parse_as_written`]); `Ok(None)` when the file lacks it, else the first problem as
/// "key: message".
pub fn parse_section<T: DeserializeOwned>(text: &str, name: &str) -> Result<Option<T>, String> {
    let doc = toml_edit::Document::parse(text.to_string()).map_err(|e| one_line(&e.to_string()))?;
    let Some(item) = doc.as_table().get(name) else {
        return Ok(None);
    };
    structure::parse::<T>(item, &KeyPath::root().key(name))
        .map_err(|p| format!("{}: {}", p.path, p.message))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Turns problems into located errors, in file order (environment ones last).
fn located(
    path: &Path,
    locator: &Locator<'_>,
    problems: Vec<Problem>,
    with_env: bool,
) -> Vec<ConfigError> {
    let mut out: Vec<ConfigError> = problems
        .into_iter()
        .map(|p| {
            let (location, value) = if with_env {
                locator.locate(&p.path)
            } else {
                locator.locate_in_file(&p.path)
            };
            let secret = p.path.last_key().is_some_and(is_secret_name);
            ConfigError {
                file: path.to_path_buf(),
                location,
                key: p.path.to_string(),
                value: value.filter(|_| p.show_value && !secret),
                message: humanize(&p.message),
            }
        })
        .collect();
    out.sort_by_key(|e| match &e.location {
        Location::File => (0, 0),
        Location::Line(n) => (1, *n),
        Location::Env(_) => (2, 0),
    });
    out
}

fn is_secret_name(key: &str) -> bool {
    let k = key.to_lowercase();
    ["password", "secret", "token", "passphrase"]
        .iter()
        .any(|s| k.contains(s) && !k.ends_with("_file"))
}

fn file_error_entry(path: &Path, message: String) -> ConfigError {
    ConfigError {
        file: path.to_path_buf(),
        location: Location::File,
        key: String::new(),
        value: None,
        message,
    }
}

fn file_error(path: &Path, message: String) -> ConfigErrors {
    ConfigErrors {
        file: path.to_path_buf(),
        errors: vec![file_error_entry(path, message)],
    }
}

/// The directory relative paths are resolved against: the configuration file's directory,
/// made absolute so that the agent's working directory never matters.
pub fn base_dir(file: &Path) -> PathBuf {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::path::absolute(&dir).unwrap_or(dir)
}

/// Makes every relative path of the configuration relative to `base`. Empty paths are left
/// alone for validation to report.
fn resolve_paths(cfg: &mut Config, base: &Path) {
    fn fix(p: &mut PathBuf, base: &Path) {
        if !p.as_os_str().is_empty() && p.is_relative() {
            *p = base.join(&*p);
        }
    }
    fn fix_opt(p: &mut Option<PathBuf>, base: &Path) {
        if let Some(p) = p {
            fix(p, base);
        }
    }
    cfg.models.resolve_relative(base);
    fix(&mut cfg.store.data_dir, base);
    fix_opt(&mut cfg.mqtt.password_file, base);
    fix_opt(&mut cfg.mqtt.ca_file, base);
    fix_opt(&mut cfg.mqtt.client_cert_file, base);
    fix_opt(&mut cfg.mqtt.client_key_file, base);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_names_are_matched_case_insensitively() {
        assert!(is_override("CHOCOLINE__MQTT__URL"));
        assert!(is_override("chocoline__mqtt__url"));
        assert!(!is_override("CHOCOLINE_INTEROP"));
        assert!(!is_override("CHOCO"));
    }

    /// Keys and locations of the errors `load_str` reports for `text` under `env`.
    fn errors(text: &str, env: &[(&str, &str)]) -> Vec<(String, Location)> {
        let env = Env::from_pairs(env.iter().copied());
        match load_str(text, Path::new("/etc/chocoline/c.toml"), &env) {
            Ok(_) => vec![],
            Err(e) => e.errors.into_iter().map(|e| (e.key, e.location)).collect(),
        }
    }

    #[test]
    fn with_overrides_the_file_is_still_checked_on_its_own() {
        let bad = "[mqtt]\ninflight = \"many\"\n\n[log]\nlevle = \"info\"\n";
        let file_errors = vec![
            ("mqtt.inflight".to_owned(), Location::Line(2)),
            ("log.levle".to_owned(), Location::Line(5)),
        ];
        // An override of the bad key does not hide it, nor does one elsewhere.
        assert_eq!(
            errors(bad, &[("CHOCOLINE__MQTT__INFLIGHT", "8")]),
            file_errors
        );
        assert_eq!(
            errors(bad, &[("CHOCOLINE__LOG__LEVEL", "debug")]),
            file_errors
        );
        // A variable that names no setting is reported only once the file is right.
        assert_eq!(errors(bad, &[("CHOCOLINE__NOPE__X", "1")]), file_errors);
        let good = "[mqtt]\ninflight = 4\n";
        let misnamed = errors(good, &[("CHOCOLINE__NOPE__X", "1")]);
        assert_eq!(misnamed.len(), 1, "{misnamed:?}");
        assert!(matches!(&misnamed[0].1, Location::Env(v) if v == "CHOCOLINE__NOPE__X"));
        let env = errors(good, &[("CHOCOLINE__MQTT__INFLIGHT", "many")]);
        assert_eq!(env.len(), 1, "{env:?}");
        assert_eq!(env[0].0, "mqtt.inflight");
        assert!(matches!(env[0].1, Location::Env(_)), "{env:?}");
    }

    #[test]
    fn relative_paths_resolve_against_the_file_directory() {
        let mut cfg = crate::config::testing::fully_populated();
        cfg.models.dir = PathBuf::from("../models");
        cfg.store.data_dir = PathBuf::from("/var/lib/x");
        resolve_paths(&mut cfg, Path::new("/etc/chocoline"));
        assert_eq!(cfg.models.dir, PathBuf::from("/etc/chocoline/../models"));
        assert_eq!(cfg.store.data_dir, PathBuf::from("/var/lib/x"));
        // `[models.<name>]` paths: against the file's directory too, not `models.dir`.
        let bloom = &cfg.models.per_model["bloom"];
        assert_eq!(bloom.candidate, Some("/etc/chocoline/bloom-2.1.0".into()));
        assert_eq!(bloom.folder, Some("/etc/chocoline/bloom-2.0.0".into()));
    }

    #[test]
    fn secret_names() {
        assert!(is_secret_name("password"));
        assert!(!is_secret_name("password_file"));
        assert!(!is_secret_name("client_id"));
    }
}
