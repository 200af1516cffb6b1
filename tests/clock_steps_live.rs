//! Clock steps through the live agent (issue #22 point 1): the real pipeline (Modbus
//! simulator, committed models, sled store, rumqttd) on the system's clocks with a wall-clock
//! offset the test steps by +1 year and then −1 h mid-run. Predictions keep coming on each new
//! timeline, the steps are counted in /metrics, no prediction history is expired by them and
//! everything stored is delivered.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chocoline::clock::{self, OffsetSource};
use chocoline::domain::TimestampMs;
use common::agent::{PREFIX, Ports, http_get, metric, simulator, write_config};
use common::{Subscriber, rumqttd};
use tokio_util::sync::CancellationToken;

const YEAR_MS: i64 = 365 * 24 * 3_600_000;
const HOUR_MS: i64 = 3_600_000;

/// Wait for a bloom prediction stamped in `[from, to)`.
async fn prediction_between(sub: &Subscriber, from: i64, to: i64, what: &str) {
    let topic = format!("{PREFIX}/predictions/bloom");
    sub.wait_for(60, what, |got| {
        got.iter().any(|g| {
            g.topic == topic
                && g.payload["ts"]
                    .as_i64()
                    .is_some_and(|t| (from..to).contains(&t))
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_agent_rides_out_a_year_forward_and_an_hour_back() {
    let src = Arc::new(OffsetSource::new());
    clock::process().set_source(src.clone());
    let broker = rumqttd();
    let ports = Ports::on(broker.port());
    let tmp = tempfile::tempdir().unwrap();
    let cfg = chocoline::config::load(&write_config(tmp.path(), &ports))
        .unwrap()
        .config;
    let stop_sim = CancellationToken::new();
    simulator(&cfg, ports.modbus, stop_sim.clone()).await;
    let sub = Subscriber::connect(ports.mqtt, PREFIX).await;
    let shutdown = CancellationToken::new();
    let agent = common::agent::spawn_in_process(&cfg, &shutdown);

    let t0 = TimestampMs::now().0;
    prediction_between(
        &sub,
        t0 - 60_000,
        t0 + HOUR_MS,
        "prediction before the steps",
    )
    .await;
    src.step(YEAR_MS);
    let t1 = TimestampMs::now().0;
    prediction_between(&sub, t1, t1 + HOUR_MS, "prediction after +1 year").await;
    src.step(-HOUR_MS);
    let t2 = TimestampMs::now().0;
    prediction_between(&sub, t2, t1, "prediction after -1 h").await;

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let text = http_get(ports.metrics, "/metrics").await;
    assert_eq!(
        metric(&text, "chocoline_clock_steps_total "),
        Some(2.0),
        "{text}"
    );
    // Measured from millisecond reads of two clocks: within a few ms of the step.
    let last = metric(&text, "chocoline_clock_last_step_seconds ").unwrap_or(0.0);
    assert!((last + 3600.0).abs() < 0.01, "{last}\n{text}");

    // The status birth (published at connect, before the steps) shows the clock.
    let status = format!("{PREFIX}/status");
    let birth = sub
        .messages()
        .into_iter()
        .find(|g| g.topic == status)
        .expect("status birth");
    assert_eq!(birth.payload["clock"]["steps"], 0, "{}", birth.payload);
    let schema = common::schema::load(&common::schema::file_for("chocoline.status/1"));
    common::schema::validate(&schema, &birth.payload).unwrap();

    shutdown.cancel();
    let report = tokio::time::timeout(Duration::from_secs(30), agent)
        .await
        .expect("agent stops")
        .unwrap()
        .unwrap();
    assert!(report.predictions > 0, "{report:?}");
    let store = chocoline::store::readonly::open_existing(&tmp.path().join("data")).unwrap();
    assert_eq!(store.outbox_depth(), 0, "everything stored was delivered");
    // Before: the +1 year step expired every prediction stored until then.
    assert_eq!(store.counters().predictions_pruned, 0);
    stop_sim.cancel();
    sub.stop().await;
}
