//! The agent-wide Prometheus series: build and model info, and the gauges that mirror
//! counters a stage already keeps (acquire, store), refreshed by [`refresh`] once a second.
//! The series the stage loops update themselves live in [`crate::metrics::series`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::acquire::AcquireMetrics;
use crate::domain::TimestampMs;
use crate::metrics::{Gauge, Registry};
use crate::store::{Outbox, Store};

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

/// The `{prefix}/health` report and where each new one goes.
pub struct HealthFeed {
    /// What it is built from.
    pub report: super::health_report::HealthReport,
    /// The publisher's end.
    pub tx: tokio::sync::watch::Sender<Option<Vec<u8>>>,
    /// How often.
    pub every: Duration,
}

/// Mirror the acquire and store counters into gauges once a second until `stop` fires, and
/// build the health report every `health.every` (the first one at once).
/// `acquire` follows the running poller (a reload may restart it with fresh counters).
pub async fn refresh(
    registry: Registry,
    acquire: tokio::sync::watch::Receiver<Arc<AcquireMetrics>>,
    store: Store,
    health: Option<HealthFeed>,
    stop: CancellationToken,
) {
    let mut next_report = tokio::time::Instant::now();
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
        if let Some(h) = &health
            && tokio::time::Instant::now() >= next_report
        {
            next_report += h.every;
            let _ = h.tx.send(Some(h.report.payload(&store, &poller)));
        }
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
