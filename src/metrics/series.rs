//! The series the stage loops update: polls (features stage, where samples arrive),
//! inference (infer stage), alert events and drift windows (alert stage). Each takes its
//! handles once per label value (cached in a small map) so that a poll or a prediction only
//! touches atomics.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::{Counter, Gauge, Histogram, Registry};
use crate::domain::{AlertKind, AlertState, DriftWindow, Quality, Sample, TimestampMs};

/// Latency buckets, seconds (10 µs … 10 s).
const LATENCY: [f64; 13] = [
    1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0,
];

/// Per-device series.
struct Device {
    polls: Counter,
    errors: Counter,
    missed: Counter,
    latency: Histogram,
}

/// Series the features task updates for each sample.
pub struct PollSeries {
    registry: Registry,
    devices: HashMap<Arc<str>, Device>,
}

impl PollSeries {
    /// Handles on `registry`.
    pub fn new(registry: &Registry) -> Self {
        PollSeries {
            registry: registry.clone(),
            devices: HashMap::new(),
        }
    }

    /// Count one poll cycle of a device. Latency is the time from the cycle's start to the
    /// sample reaching the pipeline (the Modbus round trips of the whole cycle).
    pub fn observe(&mut self, s: &Sample, now: TimestampMs) {
        let reg = &self.registry;
        let d = self.devices.entry(s.device.clone()).or_insert_with(|| {
            let l = [("device", s.device.as_ref())];
            Device {
                polls: reg.counter("chocoline_polls_total", "Poll cycles per device.", &l),
                errors: reg.counter(
                    "chocoline_poll_errors_total",
                    "Readings that failed (comm error) per device.",
                    &l,
                ),
                missed: reg.counter(
                    "chocoline_missed_cycles_total",
                    "Poll cycles skipped because an earlier cycle overran, per device.",
                    &l,
                ),
                latency: reg.histogram(
                    "chocoline_poll_latency_seconds",
                    "Time from a poll cycle's start to its sample entering the pipeline.",
                    &l,
                    &LATENCY,
                ),
            }
        });
        d.polls.inc();
        d.missed.add(u64::from(s.missed_cycles));
        let errors = s
            .readings
            .iter()
            .filter(|r| r.quality == Quality::CommError)
            .count();
        d.errors.add(errors as u64);
        d.latency
            .observe((now.0.saturating_sub(s.ts.0)).max(0) as f64 / 1000.0);
    }
}

/// Per-model inference series, and the same three for shadow candidates under their own
/// names (`chocoline_shadow_*`, docs/shadow.md), so that the serving model's series never
/// count a candidate's work.
pub struct InferSeries {
    registry: Registry,
    models: HashMap<Arc<str>, (Histogram, Counter, Counter)>,
    shadow: HashMap<Arc<str>, (Histogram, Counter, Counter)>,
}

/// Metric names and help texts of one set of inference series.
struct Names {
    seconds: (&'static str, &'static str),
    predictions: (&'static str, &'static str),
    errors: (&'static str, &'static str),
}

const SERVING: Names = Names {
    seconds: (
        "chocoline_inference_seconds",
        "Inference latency per model.",
    ),
    predictions: ("chocoline_predictions_total", "Predictions per model."),
    errors: (
        "chocoline_inference_errors_total",
        "Vectors a model could not score.",
    ),
};

const SHADOW: Names = Names {
    seconds: (
        "chocoline_shadow_inference_seconds",
        "Inference latency of each model's shadow candidate.",
    ),
    predictions: (
        "chocoline_shadow_predictions_total",
        "Shadow predictions per model (its candidate's).",
    ),
    errors: (
        "chocoline_shadow_inference_errors_total",
        "Vectors a model's shadow candidate could not score.",
    ),
};

impl InferSeries {
    /// Handles on `registry`.
    pub fn new(registry: &Registry) -> Self {
        InferSeries {
            registry: registry.clone(),
            models: HashMap::new(),
            shadow: HashMap::new(),
        }
    }

    /// One prediction (or failure) of `model` that took `took`.
    pub fn observe(&mut self, model: &Arc<str>, took: Duration, ok: bool) {
        observe(&self.registry, &mut self.models, &SERVING, model, took, ok);
    }

    /// One prediction (or failure) of `model`'s shadow candidate that took `took`.
    pub fn observe_shadow(&mut self, model: &Arc<str>, took: Duration, ok: bool) {
        observe(&self.registry, &mut self.shadow, &SHADOW, model, took, ok);
    }
}

fn observe(
    reg: &Registry,
    models: &mut HashMap<Arc<str>, (Histogram, Counter, Counter)>,
    names: &Names,
    model: &Arc<str>,
    took: Duration,
    ok: bool,
) {
    let (h, okc, errc) = models.entry(model.clone()).or_insert_with(|| {
        let l = [("model", model.as_ref())];
        (
            reg.histogram(names.seconds.0, names.seconds.1, &l, &LATENCY),
            reg.counter(names.predictions.0, names.predictions.1, &l),
            reg.counter(names.errors.0, names.errors.1, &l),
        )
    });
    h.observe(took.as_secs_f64());
    if ok { okc.inc() } else { errc.inc() }
}

/// Alert and drift series (the alert task sees both).
pub struct AlertSeries {
    registry: Registry,
    events: HashMap<(AlertKind, bool), Counter>,
    drift: HashMap<Arc<str>, (Gauge, Gauge, Counter)>,
}

impl AlertSeries {
    /// Handles on `registry`.
    pub fn new(registry: &Registry) -> Self {
        AlertSeries {
            registry: registry.clone(),
            events: HashMap::new(),
            drift: HashMap::new(),
        }
    }

    /// Count an alert event.
    pub fn alert(&mut self, kind: AlertKind, state: AlertState) {
        let raised = state == AlertState::Raised;
        let reg = &self.registry;
        self.events
            .entry((kind, raised))
            .or_insert_with(|| {
                let l = [("kind", kind.as_str())];
                if raised {
                    reg.counter(
                        "chocoline_alerts_raised_total",
                        "Alerts raised per kind.",
                        &l,
                    )
                } else {
                    reg.counter(
                        "chocoline_alerts_cleared_total",
                        "Alerts cleared per kind.",
                        &l,
                    )
                }
            })
            .inc();
    }

    /// Record a closed drift window.
    pub fn drift(&mut self, w: &DriftWindow) {
        let reg = &self.registry;
        let (share, drifted, windows) = self.drift.entry(w.model.clone()).or_insert_with(|| {
            let l = [("model", w.model.as_ref())];
            (
                reg.gauge(
                    "chocoline_drift_share",
                    "Share of a model's features that drifted in the last window (0-1).",
                    &l,
                ),
                reg.gauge(
                    "chocoline_drift_features_drifted",
                    "Features that drifted in the last window.",
                    &l,
                ),
                reg.counter("chocoline_drift_windows_total", "Drift windows closed.", &l),
            )
        });
        share.set(w.drifted_share);
        drifted.set(w.features.iter().filter(|f| f.drifted).count() as f64);
        windows.inc();
        for f in &w.features {
            let l = [("model", w.model.as_ref()), ("feature", f.feature.as_str())];
            reg.gauge(
                "chocoline_drift_psi",
                "PSI of a feature in the last window.",
                &l,
            )
            .set(f.psi);
        }
    }
}
