//! Logging through `tracing`: human-readable lines by default, one JSON object per line with
//! `--log-format json` (or `[log] format = "json"`). The level comes from `[log] level` unless
//! `RUST_LOG` is set, which wins. Everything goes to stderr (journald picks it up); stdout is
//! left to command output such as `check-config`'s summary.
//!
//! Secrets never reach a log line: the configuration holds no secret values (passwords are
//! read from files by the stage that needs them, and never logged).
//!
//! The filter sits behind a [`tracing_subscriber::reload`] layer so that a reload (SIGHUP)
//! can change `[log] level` without restarting: [`set_level`] swaps it in place.

use std::sync::OnceLock;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry, reload};

use crate::domain::Alert;
use serde::{Deserialize, Serialize};

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Level or filter ("error", "warn", "info", "debug", "trace", or a tracing filter such as
    /// "info,chocoline::acquire=debug"). `RUST_LOG` wins when set. Default "info".
    #[serde(default = "default_level")]
    pub level: String,
    /// "human" or "json". `--log-format` wins when given. Default "human".
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: default_level(),
            format: LogFormat::default(),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

fn default_level() -> String {
    "info".into()
}

/// Levels a bare directive may name.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// `RUST_LOG` does not parse as a filter.
    #[error("RUST_LOG={value:?} is not a valid log filter: {reason}")]
    RustLog {
        /// The variable's value.
        value: String,
        /// The parser's complaint.
        reason: String,
    },
    /// `[log] level` does not parse as a filter (validation normally catches this first).
    #[error("[log] level = {value:?}: {reason}")]
    Level {
        /// The configured value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A global subscriber was already installed.
    #[error("logging was already initialised")]
    AlreadyInitialised,
    /// The running filter could not be replaced (the subscriber is gone).
    #[error("cannot change the log filter: {0}")]
    Reload(String),
}

/// Why a filter with a span or field part (`target[span]=…`, `{field}`) is refused: only
/// `EnvFilter` reads them, and `Targets` would take the brackets as part of a target name.
const NO_SPAN_FILTERS: &str = "span and field filters are not supported, only target=level";

fn is_span_filter(filter: &str) -> bool {
    filter.contains(['[', '{'])
}

/// What is wrong with a `[log] level` filter, if anything. The filter is a list of
/// `target=level` directives and at most one bare level (tracing-subscriber's `Targets`, not
/// `EnvFilter`: span and field filters such as `chocoline[poll]=debug` are not accepted, and
/// the regex engine `EnvFilter` needs stays out of the binary). A bare word must be a level,
/// so `level = "warning"` is an error instead of a filter that silently shows nothing.
pub fn filter_problem(level: &str) -> Option<String> {
    const EXPECTED: &str = "expected error, warn, info, debug, trace, off or a filter such as \"info,chocoline::acquire=debug\"";
    let level = level.trim();
    if level.is_empty() {
        return Some(format!("must not be empty; {EXPECTED}"));
    }
    for directive in level.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if is_span_filter(directive) {
            return Some(format!("\"{directive}\": {NO_SPAN_FILTERS}; {EXPECTED}"));
        }
        let bare = !directive.contains(['=', ':']);
        if bare && !LEVELS.contains(&directive.to_ascii_lowercase().as_str()) {
            return Some(format!("\"{directive}\" is not a level; {EXPECTED}"));
        }
    }
    level
        .parse::<Targets>()
        .err()
        .map(|e| format!("{e}; {EXPECTED}"))
}

/// The filter to use: `RUST_LOG` (given here as `rust_log`) when set and non-empty, else the
/// configured level.
pub fn filter(cfg: &LogConfig, rust_log: Option<&str>) -> Result<Targets, LoggingError> {
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        Some(v) if is_span_filter(v) => Err(LoggingError::RustLog {
            value: v.to_string(),
            reason: NO_SPAN_FILTERS.into(),
        }),
        Some(v) => v.parse::<Targets>().map_err(|e| LoggingError::RustLog {
            value: v.to_string(),
            reason: e.to_string(),
        }),
        None => {
            if let Some(reason) = filter_problem(&cfg.level) {
                return Err(LoggingError::Level {
                    value: cfg.level.clone(),
                    reason,
                });
            }
            cfg.level
                .trim()
                .parse::<Targets>()
                .map_err(|e| LoggingError::Level {
                    value: cfg.level.clone(),
                    reason: e.to_string(),
                })
        }
    }
}

/// The format to use: the command-line flag wins over `[log] format`.
pub fn format(cfg: &LogConfig, flag: Option<LogFormat>) -> LogFormat {
    flag.unwrap_or(cfg.format)
}

/// Handle on the installed filter, set once by [`init`].
static FILTER: OnceLock<reload::Handle<Targets, Registry>> = OnceLock::new();

/// Installs the global subscriber (stderr). Call once, after the configuration loaded.
pub fn init(cfg: &LogConfig, flag: Option<LogFormat>) -> Result<(), LoggingError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter(cfg, rust_log.as_deref())?;
    let (filter, handle) = reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match format(cfg, flag) {
        LogFormat::Human => fmt.boxed(),
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init()
        .map_err(|_| LoggingError::AlreadyInitialised)?;
    let _ = FILTER.set(handle);
    Ok(())
}

/// What [`set_level`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelChange {
    /// The new filter is in force.
    Applied,
    /// `RUST_LOG` is set and wins over `[log] level`: nothing changed.
    OverriddenByRustLog,
    /// Logging was not initialised through [`init`] (tests, library use): nothing changed.
    NotInitialised,
}

/// Swap the running filter for `cfg.level` (a reload). `RUST_LOG`, when set, keeps winning.
pub fn set_level(cfg: &LogConfig) -> Result<LevelChange, LoggingError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    if rust_log.as_deref().is_some_and(|v| !v.trim().is_empty()) {
        return Ok(LevelChange::OverriddenByRustLog);
    }
    let new = filter(cfg, None)?;
    let Some(handle) = FILTER.get() else {
        return Ok(LevelChange::NotInitialised);
    };
    handle
        .reload(new)
        .map(|()| LevelChange::Applied)
        .map_err(|e| LoggingError::Reload(e.to_string()))
}

/// Logs an alert event at info. The alert's text goes in `alert_message`: the event's own
/// message is "alert", and with `--log-format json` (events flattened into the line) a field
/// named `message` would be a second `"message"` key in the same object.
pub fn log_alert(a: &Alert) {
    tracing::info!(id = %a.id, kind = %a.kind, state = ?a.state, severity = ?a.severity,
        alert_message = %a.message, "alert");
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn bare_words_must_be_levels() {
        assert!(filter_problem("info").is_none());
        assert!(filter_problem("DEBUG").is_none());
        assert!(filter_problem("info,chocoline::acquire=debug").is_none());
        assert!(filter_problem("warning").unwrap().contains("not a level"));
        assert!(filter_problem("").is_some());
        assert!(filter_problem("chocoline=loud").is_some());
        // Span filters need EnvFilter (and its regex engine), which the agent does not link.
        assert!(filter_problem("chocoline[poll]=debug").is_some());
    }

    #[test]
    fn rust_log_wins_over_the_config() {
        let cfg = LogConfig {
            level: "warn".into(),
            format: LogFormat::Human,
        };
        assert_eq!(filter(&cfg, None).unwrap().to_string(), "warn");
        assert_eq!(filter(&cfg, Some("debug")).unwrap().to_string(), "debug");
        assert_eq!(filter(&cfg, Some("  ")).unwrap().to_string(), "warn");
        assert!(matches!(
            filter(&cfg, Some("x=loud")),
            Err(LoggingError::RustLog { .. })
        ));
        assert!(matches!(
            filter(&cfg, Some("chocoline[poll]=debug")),
            Err(LoggingError::RustLog { .. })
        ));
    }

    #[test]
    fn flag_wins_over_config_format() {
        let cfg = LogConfig {
            level: "info".into(),
            format: LogFormat::Json,
        };
        assert_eq!(format(&cfg, None), LogFormat::Json);
        assert_eq!(format(&cfg, Some(LogFormat::Human)), LogFormat::Human);
    }

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What `log` writes through a JSON subscriber at level info (the agent's
    /// `--log-format json`), as text.
    fn json_output(log: impl FnOnce()) -> String {
        let buf = Buf::default();
        let w = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || w.clone())
            .json()
            .flatten_event(true)
            .finish();
        tracing::subscriber::with_default(sub, log);
        String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn json_format_writes_one_object_per_line() {
        let out = json_output(|| {
            tracing::info!(devices = 4, "configuration loaded");
            tracing::debug!("filtered out");
        });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1, "{out}");
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["message"], "configuration loaded");
        assert_eq!(v["devices"], 4);
        assert_eq!(v["level"], "INFO");
    }

    /// The keys of one JSON object, in order, duplicates kept (serde_json's `Value` would keep
    /// only the last of two equal keys).
    fn object_keys(line: &str) -> Vec<String> {
        struct Keys(Vec<String>);
        impl<'de> serde::Deserialize<'de> for Keys {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = Keys;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a JSON object")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<Keys, A::Error> {
                        let mut keys = Vec::new();
                        while let Some((k, _)) =
                            map.next_entry::<String, serde::de::IgnoredAny>()?
                        {
                            keys.push(k);
                        }
                        Ok(Keys(keys))
                    }
                }
                d.deserialize_map(V)
            }
        }
        serde_json::from_str::<Keys>(line).unwrap().0
    }

    #[test]
    fn object_keys_sees_duplicates() {
        assert_eq!(object_keys(r#"{"a":1,"b":{"a":2},"a":3}"#), ["a", "b", "a"]);
    }

    #[test]
    fn json_alert_line_has_exactly_one_message_key() {
        use crate::domain::{AlertKind, AlertState, BatchContext, Severity, TimestampMs};
        let alert = Alert {
            id: "s-l-7".into(),
            kind: AlertKind::FatBloomRisk,
            severity: Severity::Critical,
            state: AlertState::Raised,
            site: "site".into(),
            line: "line".into(),
            batch: BatchContext::default(),
            raised_at: TimestampMs(1_700_000_000_000),
            ts: TimestampMs(1_700_000_000_000),
            message: "fat bloom risk 0.91 > 0.80".into(),
            evidence: serde_json::json!({}),
        };
        let out = json_output(|| log_alert(&alert));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1, "{out}");
        let keys = object_keys(lines[0]);
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), keys.len(), "duplicate keys in {}", lines[0]);
        assert_eq!(keys.iter().filter(|k| *k == "message").count(), 1);
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["message"], "alert");
        assert_eq!(v["alert_message"], "fat bloom risk 0.91 > 0.80");
        assert_eq!(v["id"], "s-l-7");
    }
}
