//! Messages a broker will not take, against real brokers:
//!
//! - **oversize**: mosquitto with `message_size_limit` acknowledges a larger message and drops
//!   it (MQTT 3.1.1 has no reason code), so the agent must never send one: alerts are trimmed to
//!   `[mqtt] max_message_bytes` and all arrive; another message over it is dead-lettered,
//!   counted and announced with `publish_rejected`;
//! - **poison**: a broker that closes the connection on a too-large packet (mosquitto
//!   `max_packet_size`, rumqttd `max_payload_size`). The message is dead-lettered after
//!   `max_refusals` broken connections, and the alert behind it arrives without another one.
//!
//! rumqttd runs in-process (always); mosquitto is mandatory with `CHOCOLINE_INTEROP=1`.

mod common;

use std::sync::Arc;
use std::time::Instant;

use chocoline::config::ByteSize;
use chocoline::domain::{AlertKind, Record};
use common::publisher::*;
use common::*;
use serde_json::{Value, json};

const PREFIX: &str = "plant/limits";

/// An alert whose evidence alone is about `bytes` long (as a model's top signals and rule
/// details can make it).
fn big_alert(i: u64, bytes: usize) -> Record {
    let mut r = alert(i, AlertKind::FatBloomRisk);
    if let Record::Alert(a) = &mut r {
        a.evidence = json!({
            "p_bloom": 0.93,
            "top_signals": "temperature z=5.1; ".repeat(bytes / 20),
            "rule": {"raise": 0.8, "clear": 0.6, "consecutive": 2},
        });
    }
    r
}

/// A prediction with enough features to weigh about `bytes`.
fn big_prediction(i: u64, bytes: usize) -> Record {
    let mut r = prediction(i, 1_700_000_000_000 + i as i64);
    if let Record::Prediction(p) = &mut r {
        let n = bytes / 24;
        p.features.names = Arc::from(
            (0..n)
                .map(|k| format!("feature_number_{k:05}"))
                .collect::<Vec<_>>(),
        );
        p.features.values = vec![1.0; n];
    }
    r
}

fn kind(g: &Got) -> &str {
    g.payload["kind"].as_str().unwrap_or("")
}

async fn oversize(broker: &Broker, limit: u64) {
    let sub = Subscriber::connect(broker.port(), PREFIX).await;
    let mut mqtt = mqtt_cfg(&format!("mqtt://127.0.0.1:{}", broker.port()), PREFIX);
    mqtt.max_message_bytes = ByteSize(limit);
    let a = agent(mqtt);
    let mut records: Vec<Record> = (0..10).map(|i| big_alert(i, 1500)).collect();
    records.push(big_prediction(50, 3000));
    records.push(prediction(51, 1_700_000_000_051));
    let done = a.store.append(&records).await.unwrap();
    // The big prediction is dead-lettered when stored: it never enters the outbox.
    assert_eq!(
        done.len(),
        12,
        "10 alerts, 1 small prediction, and the publish_rejected warning"
    );
    assert!(done[11].topic.ends_with("/alerts/publish_rejected"));
    assert_eq!(a.store.counters().dead_letters, 1);
    let dead = a.store.dead_letters(10).unwrap();
    assert_eq!(dead[0].reason, "too_large");
    assert!(dead[0].topic.ends_with("/predictions/bloom"));

    sub.wait_for(
        20,
        "10 alerts, the small prediction, publish_rejected",
        |g| {
            let alerts = g.iter().filter(|m| kind(m) == "fat_bloom_risk").count();
            let rejected = g.iter().any(|m| kind(m) == "publish_rejected");
            let preds = g
                .iter()
                .filter(|m| m.topic.contains("/predictions/"))
                .count();
            alerts >= 10 && rejected && preds >= 1
        },
    )
    .await;
    let got = sub.messages();
    let schema = schema::load(&schema::file_for("chocoline.alert/1"));
    for m in got.iter().filter(|m| m.topic.contains("/alerts/")) {
        let bytes = serde_json::to_vec(&m.payload).unwrap().len();
        assert!(bytes as u64 <= limit, "{} bytes over {limit}", bytes);
        schema::validate(&schema, &m.payload).unwrap();
    }
    for m in got.iter().filter(|m| kind(m) == "fat_bloom_risk") {
        let ev = &m.payload["evidence"];
        assert_eq!(ev["trimmed"], json!(["top_signals"]), "{ev}");
        assert_eq!(ev["p_bloom"], 0.93, "small evidence is kept");
    }
    let rejected: Vec<&Got> = got
        .iter()
        .filter(|m| kind(m) == "publish_rejected")
        .collect();
    assert_eq!(rejected.len(), 1, "one warning per episode");
    assert_eq!(rejected[0].payload["evidence"]["reason"], "too_large");
    assert!(
        got.iter()
            .filter(|m| m.topic.contains("/predictions/"))
            .all(|m| m.payload["features"].as_object().unwrap().len() < 10),
        "the oversize prediction must not be sent"
    );
    let stats = a.stop().await;
    sub.stop().await;
    eprintln!("oversize (limit {limit}): {stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_alerts_are_trimmed_and_others_dead_lettered_rumqttd() {
    oversize(&rumqttd(), 700).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_alerts_all_arrive_through_mosquitto_message_size_limit() {
    let Some(b) = mosquitto(
        "oversize_alerts_all_arrive_through_mosquitto_message_size_limit",
        "message_size_limit 700\n",
        None,
    ) else {
        return;
    };
    oversize(&b, 700).await;
}

async fn poison(broker: &Broker) {
    let sub = Subscriber::connect(broker.port(), PREFIX).await;
    // The default max_refusals (2): one refusal in the window, one as a lone probe.
    let mqtt = mqtt_cfg(&format!("mqtt://127.0.0.1:{}", broker.port()), PREFIX);
    let backoff_max = mqtt.reconnect_max.get();
    let a = agent(mqtt);
    a.store
        .append(&[alert(0, AlertKind::Gritty)])
        .await
        .unwrap();
    sub.wait_for(20, "first alert", |g| g.iter().any(|m| kind(m) == "gritty"))
        .await;
    let t0 = Instant::now();
    a.store
        .append(&[big_prediction(1, 4000), alert(2, AlertKind::Anomaly)])
        .await
        .unwrap();
    sub.wait_for(20, "the alert behind the poison message", |g| {
        g.iter().any(|m| kind(m) == "anomaly")
    })
    .await;
    let took = t0.elapsed();
    sub.wait_for(20, "publish_rejected", |g| {
        g.iter().any(|m| kind(m) == "publish_rejected")
    })
    .await;
    let dead = a.store.dead_letters(10).unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].reason, "refused");
    let got = sub.messages();
    let rejected = got.iter().find(|m| kind(m) == "publish_rejected").unwrap();
    assert_eq!(rejected.payload["evidence"]["reason"], "refused");
    let stats = a.stop().await;
    sub.stop().await;
    eprintln!(
        "poison: the next alert arrived {took:?} after the poison message \
         (reconnect_max {backoff_max:?}); {stats:?}"
    );
    // Two broken connections (max_refusals), then the next connection delivers: the alert
    // waited two backoff periods, and the publisher did not spin.
    assert_eq!(stats.disconnects, 2, "{stats:?}");
    assert_eq!(stats.dead_lettered, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_message_is_dead_lettered_and_the_next_alert_arrives_rumqttd() {
    poison(&rumqttd_limited(2048)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_message_is_dead_lettered_and_the_next_alert_arrives_mosquitto() {
    let Some(b) = mosquitto(
        "poison_message_is_dead_lettered_and_the_next_alert_arrives_mosquitto",
        "max_packet_size 2048\n",
        None,
    ) else {
        return;
    };
    poison(&b).await;
}

/// The trimming never changes an alert that fits, so a subscriber sees the same bytes as
/// before this limit existed.
#[tokio::test]
async fn alerts_that_fit_are_not_touched() {
    let dir = tempfile::tempdir().unwrap();
    let mqtt = mqtt_cfg("mqtt://127.0.0.1:1", PREFIX);
    let store = open_store(dir.path(), &mqtt);
    store.append(&[alert(3, AlertKind::Gritty)]).await.unwrap();
    let m = &chocoline::store::Outbox::new(store.clone())
        .read(0, 10)
        .unwrap()[0]
        .1;
    let v: Value = serde_json::from_slice(&m.payload).unwrap();
    assert_eq!(v["evidence"], json!({"p_bloom": 0.91, "threshold": 0.8}));
}
