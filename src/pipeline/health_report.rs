//! The retained `{prefix}/health` report (issue #20): one message per line controller,
//! refreshed every `[fleet] health_report` (default 60 s), so that one subscription to
//! `chocoline/+/+/health` watches a whole factory. Schema `chocoline.health/1`
//! (docs/schemas/chocoline.health_v1.json).
//!
//! It reads what the stages already keep — the outbox, the poller's last good read per device,
//! the registry's serving versions, the drift series, the clock — and adds nothing to their
//! hot paths. It is not stored: only the latest matters, it is retained on the broker, and the
//! publisher sends it again on every connection.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::acquire::AcquireMetrics;
use crate::config::Config;
use crate::domain::TimestampMs;
use crate::infer::installed::current_version;
use crate::metrics::Registry as Metrics;
use crate::store::Store;

/// Schema of the health report.
pub const SCHEMA: &str = "chocoline.health/1";

/// What a health report is built from.
pub struct HealthReport {
    site: String,
    line: String,
    devices: Vec<String>,
    models: Arc<crate::infer::Registry>,
    installed: Option<PathBuf>,
    metrics: Metrics,
    started: Instant,
}

impl HealthReport {
    /// For the agent running `cfg`, serving from `models`, counting into `metrics`.
    pub fn new(cfg: &Config, models: Arc<crate::infer::Registry>, metrics: Metrics) -> Self {
        HealthReport {
            site: cfg.agent.site.clone(),
            line: cfg.agent.line.clone(),
            devices: cfg.devices.iter().map(|d| d.name.clone()).collect(),
            models,
            installed: cfg.models.installed_dir.clone(),
            metrics,
            started: Instant::now(),
        }
    }

    /// The report as of now.
    pub fn payload(&self, store: &Store, acquire: &AcquireMetrics) -> Vec<u8> {
        let now = TimestampMs::now();
        let report = json!({
            "schema": SCHEMA,
            "site": self.site,
            "line": self.line,
            "ts": now.0,
            "uptime_s": self.started.elapsed().as_secs(),
            "clock": crate::clock::process().status(),
            "outbox": outbox(store, now),
            "devices": self.devices(acquire),
            "models": self.models(),
            "drift": self.drift(),
        });
        serde_json::to_vec(&report).unwrap_or_default()
    }

    /// Per configured device, when a poll last read a good value (null: not since start).
    fn devices(&self, acquire: &AcquireMetrics) -> Value {
        let last = acquire.last_good();
        let mut out = Map::new();
        for d in &self.devices {
            let ts = last
                .iter()
                .find(|(n, _)| &**n == d.as_str())
                .map(|(_, t)| t.0);
            out.insert(d.clone(), json!({ "last_good_poll": ts }));
        }
        Value::Object(out)
    }

    /// Per model: what serves (manifest version, sha256, installed bundle version or the
    /// shipped folder), or `serving: false`.
    fn models(&self) -> Value {
        let mut out = Map::new();
        for name in self.models.names() {
            let v = match self.models.get(name) {
                Ok(s) => {
                    let bundle = self
                        .installed
                        .as_deref()
                        .and_then(|i| current_version(i, name))
                        .filter(|_| {
                            // `s.dir` is canonical (the resolved `current` link).
                            self.installed
                                .as_deref()
                                .and_then(|i| std::fs::canonicalize(i).ok())
                                .is_some_and(|i| s.dir.starts_with(i))
                        });
                    json!({
                        "serving": true,
                        "version": &*s.version,
                        "sha256": s.sha256,
                        "bundle_version": bundle,
                    })
                }
                Err(_) => json!({ "serving": false }),
            };
            out.insert(name.to_owned(), v);
        }
        Value::Object(out)
    }

    /// Per model with a drift reference: windows judged, and the last window's drifted share
    /// and features (absent until its first window closes).
    fn drift(&self) -> Value {
        let mut out = Map::new();
        for name in self.models.names() {
            let l = [("model", name)];
            let Some(windows) = self.metrics.read("chocoline_drift_windows_total", &l) else {
                continue;
            };
            out.insert(
                name.to_owned(),
                json!({
                    "windows": windows as u64,
                    "drifted_share": self.metrics.read("chocoline_drift_share", &l),
                    "features_drifted": self
                        .metrics
                        .read("chocoline_drift_features_drifted", &l)
                        .map(|v| v as u64),
                }),
            );
        }
        Value::Object(out)
    }
}

/// Outbox depth and the age of its oldest message.
fn outbox(store: &Store, now: TimestampMs) -> Value {
    let oldest = crate::store::Outbox::new(store.clone())
        .oldest()
        .ok()
        .flatten()
        .map(|m| (now.0 - m.created_ms).max(0) as f64 / 1000.0);
    json!({ "depth": store.outbox_depth(), "oldest_age_s": oldest.unwrap_or(0.0) })
}
