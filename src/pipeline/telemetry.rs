//! The agent's Prometheus series. Stage loops take handles once per label value (cached in a
//! small map) so that a poll or a prediction only touches atomics; the gauges that mirror
//! counters a stage already keeps (acquire, store) are refreshed by [`refresh`] once a second.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::acquire::AcquireMetrics;
use crate::domain::{AlertKind, AlertState, DriftWindow, Quality, Sample, TimestampMs};
use crate::metrics::{Counter, Gauge, Histogram, Registry};
use crate::store::{Outbox, Store};

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

/// Per-model inference series.
pub struct InferSeries {
    registry: Registry,
    models: HashMap<Arc<str>, (Histogram, Counter, Counter)>,
}

impl InferSeries {
    /// Handles on `registry`.
    pub fn new(registry: &Registry) -> Self {
        InferSeries {
            registry: registry.clone(),
            models: HashMap::new(),
        }
    }

    /// One prediction (or failure) of `model` that took `took`.
    pub fn observe(&mut self, model: &Arc<str>, took: Duration, ok: bool) {
        let reg = &self.registry;
        let (h, okc, errc) = self.models.entry(model.clone()).or_insert_with(|| {
            let l = [("model", model.as_ref())];
            (
                reg.histogram(
                    "chocoline_inference_seconds",
                    "Inference latency per model.",
                    &l,
                    &LATENCY,
                ),
                reg.counter("chocoline_predictions_total", "Predictions per model.", &l),
                reg.counter(
                    "chocoline_inference_errors_total",
                    "Vectors a model could not score.",
                    &l,
                ),
            )
        });
        h.observe(took.as_secs_f64());
        if ok { okc.inc() } else { errc.inc() }
    }
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

/// `chocoline_build_info` and `chocoline_model_info` (value 1, facts in labels).
pub fn static_info(registry: &Registry, models: &crate::infer::Registry) {
    registry
        .gauge(
            "chocoline_build_info",
            "Build of the running agent.",
            &[("version", env!("CARGO_PKG_VERSION"))],
        )
        .set(1.0);
    for name in models.names() {
        if let Ok(s) = models.get(name) {
            registry
                .gauge(
                    "chocoline_model_info",
                    "Model versions being served.",
                    &[("model", name), ("version", s.version.as_ref())],
                )
                .set(1.0);
        }
    }
}

/// Mirror the acquire and store counters into gauges once a second until `stop` fires.
/// `acquire` follows the running poller (a reload may restart it with fresh counters).
pub async fn refresh(
    registry: Registry,
    acquire: tokio::sync::watch::Receiver<Arc<AcquireMetrics>>,
    store: Store,
    stop: CancellationToken,
) {
    let g = |n: &str, h: &str| registry.gauge(n, h, &[]);
    let depth = g("chocoline_outbox_depth", "Messages waiting for the broker.");
    let oldest = g(
        "chocoline_outbox_oldest_age_seconds",
        "Age of the oldest undelivered message (0 when empty).",
    );
    let dropped = g(
        "chocoline_store_dropped_total",
        "Outbox messages dropped because the store was full.",
    );
    let alerts_dropped = g(
        "chocoline_store_alerts_dropped_total",
        "Alerts dropped because the store was full.",
    );
    let dead_letters = g(
        "chocoline_outbox_dead_letters_total",
        "Messages the broker would not take (over max_message_bytes, or refused max_refusals times), moved to the dead-letter tree.",
    );
    let samples = g("chocoline_samples_total", "Samples emitted by acquire.");
    let exceptions = g(
        "chocoline_modbus_exceptions_total",
        "Register blocks answered with a Modbus exception.",
    );
    let silent = g(
        "chocoline_modbus_silent_blocks_total",
        "Register blocks that timed out or broke the transport.",
    );
    let jitter = g(
        "chocoline_poll_jitter_max_seconds",
        "Largest delay of a poll start against its schedule.",
    );
    let clock = ClockSeries::new(&registry);
    let outbox = Outbox::new(store.clone());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        depth.set(store.outbox_depth() as f64);
        let age = match outbox.oldest() {
            Ok(Some(m)) => (TimestampMs::now().0 - m.created_ms).max(0) as f64 / 1000.0,
            _ => 0.0,
        };
        oldest.set(age);
        let c = store.counters();
        let poller = acquire.borrow().clone();
        dropped.set(c.outbox_dropped as f64);
        alerts_dropped.set(c.alerts_dropped as f64);
        dead_letters.set(c.dead_letters as f64);
        samples.set(poller.samples.load(Ordering::Relaxed) as f64);
        exceptions.set(poller.exceptions.load(Ordering::Relaxed) as f64);
        silent.set(poller.silent_blocks.load(Ordering::Relaxed) as f64);
        jitter.set(poller.jitter_max_us.load(Ordering::Relaxed) as f64 / 1e6);
        clock.refresh();
    }
}

/// The clock's series; refreshing them is also the once-a-second step check.
struct ClockSeries {
    steps: Gauge,
    synced: Gauge,
    last_step: Gauge,
}

impl ClockSeries {
    fn new(registry: &Registry) -> Self {
        ClockSeries {
            steps: registry.gauge(
                "chocoline_clock_steps_total",
                "Steps of the wall clock (wall vs monotonic elapsed time differing by more than 2 s).",
                &[],
            ),
            synced: registry.gauge(
                "chocoline_clock_synced",
                "1 once the wall clock has been synchronised (NTP) since the agent started.",
                &[],
            ),
            last_step: registry.gauge(
                "chocoline_clock_last_step_seconds",
                "Size of the last wall-clock step, seconds (negative: back).",
                &[],
            ),
        }
    }

    fn refresh(&self) {
        let st = crate::clock::process().status();
        self.steps.set(st.steps as f64);
        self.synced.set(if st.synced { 1.0 } else { 0.0 });
        self.last_step
            .set(st.last_step.map_or(0.0, |s| s.delta_ms as f64 / 1000.0));
    }
}
