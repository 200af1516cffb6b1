//! A broker outage the length of an hour with the agent in Sparkplug mode, with real
//! components: rumqttd behind a gate that cuts the TCP connections, sled on disk, the JSON
//! publisher and the edge node on their own connections.
//!
//! While the broker is unreachable: an hour of readings of ten registers at 1 Hz reach the
//! edge node's ring, and an alert is stored every 12 s. When it is back: every alert arrives on
//! the JSON topics once and in order (the outbox does not care that Sparkplug is on), the edge
//! node sends its births (carrying the newest values) and then the newest readings the ring
//! kept, each once, marked `is_historical`; the older ones were dropped and counted.

mod common;

use std::sync::{Arc, Mutex};

use chocoline::metrics::Registry;
use chocoline::publish::edge_node::EdgeNode;
use chocoline::signals::queue::Ring;
use chocoline::sparkplug::config::SparkplugConfig;
use chocoline::sparkplug::map::{self, Register};
use chocoline::sparkplug::proto::metric::Value;
use chocoline::store::Outbox;
use common::publisher::*;
use common::spb::{Seen, host};
use common::*;
use tokio_util::sync::CancellationToken;

fn historical(seen: &Seen) -> Vec<(u64, u64)> {
    (seen.lock().unwrap().iter())
        .filter(|(t, _)| t.contains("/DDATA/"))
        .flat_map(|(_, p)| p.metrics.iter())
        .filter(|m| m.is_historical == Some(true))
        .map(|m| (m.alias.unwrap(), m.timestamp.unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "test scenario: outage, reconnect, then alerts and Sparkplug checked, top to bottom"
)]
async fn an_hour_outage_in_sparkplug_mode_loses_no_alert_and_replays_as_historical() {
    const QUEUE: usize = 1000;
    let broker = rumqttd();
    let prefix = "outage";
    let gate = Gate::new(broker.port());
    let got = Arc::new(Mutex::new(Vec::new()));
    let sub = Subscriber::connect_with(broker.port(), prefix, got.clone()).await;
    let (_host, seen) = host(broker.port()).await;
    let mqtt = mqtt_cfg(&format!("mqtt://127.0.0.1:{}", gate.port), prefix);
    let a = agent(mqtt.clone());

    let metrics = Registry::new();
    let counter = |o| metrics.counter("spb_readings", "test", &[("outcome", o)]);
    let ring = Ring::with_counters(QUEUE, counter("published"), counter("dropped"));
    let regs: Vec<_> = (LINE_REGISTERS.iter())
        .map(|name| Register {
            device: "line",
            name,
            unit: "",
            boolean: false,
        })
        .collect();
    let catalogue = map::catalogue(&regs, &["gritty", "fat_bloom_risk"], &["bloom"]);
    let spb = SparkplugConfig {
        enabled: true,
        group_id: "plant1".into(),
        ..Default::default()
    };
    let edge = EdgeNode::new(
        &mqtt,
        &spb,
        "line-1",
        catalogue,
        ring.clone(),
        Outbox::new(a.store.clone()),
    );
    let stop_edge = CancellationToken::new();
    let edge = tokio::spawn(edge.run(stop_edge.clone()));

    // The broker is unreachable: an hour of readings, an alert every 12 s.
    let expected = an_hour_of_outage(&a.store, |r| ring.push(r)).await;
    assert_eq!(ring.len(), QUEUE);
    assert_eq!(
        ring.dropped(),
        36_000 - QUEUE as u64,
        "oldest dropped, counted"
    );
    assert!(seen.lock().unwrap().is_empty());
    gate.open().await;

    let ok = sub
        .wait_until(60, |g| {
            g.iter().filter(|m| m.topic.contains("/alerts/")).count() >= expected.len()
                && historical(&seen).len() >= QUEUE
        })
        .await;
    assert!(
        ok,
        "alerts {} historical {}",
        sub.messages().len(),
        historical(&seen).len()
    );
    wait_depth_zero(&a.store, 10).await;
    let d = analyse(&expected, &sub.messages());
    report("alerts through an hour's outage in Sparkplug mode", &d);
    assert!(d.lost.is_empty() && d.out_of_order.is_empty(), "{d:?}");
    assert_eq!(d.unique, expected.len());

    // Births first, carrying the newest values; then the kept readings, each once, newest
    // 1000 (the last 100 s of the hour), marked historical.
    let s = seen.lock().unwrap().clone();
    assert!(s[0].0.ends_with("/NBIRTH/line-1") && s[1].0.ends_with("/DBIRTH/line-1/line"));
    let temperature = (s[1].1.metrics.iter())
        .find(|m| m.name.as_deref() == Some("temperature"))
        .unwrap();
    assert_eq!(temperature.value, Some(Value::DoubleValue(3599.0)));
    let mut h = historical(&seen);
    let n = h.len();
    h.sort_unstable();
    h.dedup();
    assert_eq!((n, h.len()), (QUEUE, QUEUE), "each kept reading once");
    let oldest = h.iter().map(|(_, ts)| *ts).min().unwrap();
    assert_eq!(
        (oldest as i64 - HOUR_T0) / 1000,
        3500,
        "older readings went out"
    );
    eprintln!(
        "sparkplug outage: {} alerts in order, {} historical readings, {} dropped",
        expected.len(),
        n,
        ring.dropped()
    );
    stop_edge.cancel();
    edge.await.unwrap().unwrap();
    a.stop().await;
    sub.stop().await;
    gate.close().await;
}
