//! Lab labels over MQTT (issue #18; docs/capture.md, "Labels over MQTT") with real
//! components: the line simulator as a Modbus server (time-compressed, so batches close within
//! the test), the whole agent in-process with `[capture]` on, rumqttd, sled and the capture
//! and label files on disk.
//!
//! Checked: a label for a batch the capture has closed is stored (source `mqtt`, read back
//! with the labels API) and answered `ok` with its `request_id`; a label for the batch still
//! running, for an unknown batch, a payload that is not JSON, a bad grade, an unknown key and
//! an oversized payload are each answered with the CLI's message and leave the journal
//! byte-identical; every reply fits `chocoline.label_result/1`, every request sent is valid
//! or invalid by `chocoline.label/1` as the agent judged it; `chocoline_labels_total` counts
//! them. And the publisher's side alone: the subscription is renewed after a lost connection
//! and carried over to a replacement publisher; payloads over 64 KiB are handed on without
//! their bytes; a label that finds the desk's queue full is answered `busy`.

mod common;

use std::path::Path;
use std::time::Duration;

use chocoline::capture::batch::id_text;
use chocoline::capture::line::Line;
use chocoline::capture::read::{batches, lines};
use chocoline::domain::{Record, TimestampMs};
use chocoline::labels::LabelSource;
use chocoline::labels::desk::MAX_PAYLOAD;
use chocoline::labels::journal::journal_path;
use chocoline::publish::{CommandFeed, Publisher};
use chocoline::store::Outbox;
use chocoline::wire::Inbound;
use common::agent::{PREFIX, Ports, http_get, simulator_at};
use common::publisher::{Agent, mqtt_cfg, open_store};
use common::{Gate, Got, Subscriber, rumqttd, schema};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn results(got: &[Got]) -> Vec<Value> {
    let topic = format!("{PREFIX}/cmd/label/result");
    (got.iter())
        .filter(|g| g.topic == topic)
        .map(|g| g.payload.clone())
        .collect()
}

/// Publish `payload` on `{prefix}/cmd/label` and wait for the next reply (replies arrive in
/// order); the reply is checked against its schema.
async fn ask(sub: &Subscriber, payload: impl Into<Vec<u8>>) -> Value {
    let before = results(&sub.messages()).len();
    sub.publish(&format!("{PREFIX}/cmd/label"), payload.into(), false)
        .await;
    sub.wait_for(20, "a label result", |g| results(g).len() > before)
        .await;
    let all = results(&sub.messages());
    assert_eq!(all.len(), before + 1, "one reply per label: {all:?}");
    let r = all[before].clone();
    let doc = schema::load(&schema::file_for("chocoline.label_result/1"));
    schema::validate(&doc, &r).unwrap_or_else(|e| panic!("{r}: {e:?}"));
    r
}

/// Whether the request schema accepts `request`.
fn valid_request(request: &Value) -> bool {
    let doc = schema::load(&schema::file_for("chocoline.label/1"));
    schema::validate(&doc, request).is_ok()
}

/// The batch id of the newest captured sample that has one: the batch still running.
fn running_batch(data_dir: &Path) -> Option<String> {
    let mut id = None;
    for line in lines(data_dir).ok()?.only("sample") {
        if let Ok(Line::Sample(s)) = line
            && let Some(Some(v)) = s.values.get("batch_id")
        {
            id = Some(id_text(*v));
        }
    }
    id
}

/// Wait (up to 90 s) until the capture has closed a batch; its id.
async fn first_closed_batch(data_dir: &Path) -> String {
    for _ in 0..900 {
        if let Some(id) = batches(data_dir).ok().and_then(|b| b.into_keys().next()) {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no batch closed in 90 s");
}

/// Value of `chocoline_labels_total{…outcome="…"…}`.
fn labels_total(metrics: &str, outcome: &str) -> Option<f64> {
    let want = format!("outcome=\"{outcome}\"");
    (metrics.lines())
        .find(|l| {
            l.starts_with("chocoline_labels_total{")
                && l.contains(&want)
                && l.contains("source=\"mqtt\"")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// The label for the batch still running is refused like the CLI refuses it; should the
/// batch have closed meanwhile (a loaded machine), it is stored and the check is skipped.
async fn the_running_batch_is_not_known_yet(sub: &Subscriber, data_dir: &Path) {
    let Some(running) = running_batch(data_dir) else {
        panic!("no sample with a batch id captured");
    };
    let r = ask(
        sub,
        json!({"batch_id": running, "grade": "A", "request_id": "t-running"}).to_string(),
    )
    .await;
    if r["ok"] == true && batches(data_dir).unwrap().contains_key(&running) {
        eprintln!("SKIPPED running-batch check: batch {running} closed meanwhile");
        return;
    }
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error_kind"], "unknown_batch", "{r}");
    let e = r["error"].as_str().unwrap();
    assert!(e.starts_with(&format!("unknown batch {running}: ")), "{e}");
}

/// Each bad label is refused with its message; how many were sent.
async fn bad_labels_are_refused(sub: &Subscriber, known: &str) -> usize {
    unknown_batches_and_non_json_are_refused(sub).await;
    bad_values_keys_and_sizes_are_refused(sub, known).await;
    6
}

/// A batch the capture never saw; a payload that is not JSON.
async fn unknown_batches_and_non_json_are_refused(sub: &Subscriber) {
    let unknown = json!({"batch_id": "424242", "grade": "B", "request_id": "t-unknown"});
    let r = ask(sub, unknown.to_string()).await;
    assert_eq!(
        (&r["ok"], &r["error_kind"], &r["request_id"], &r["batch_id"]),
        (
            &json!(false),
            &json!("unknown_batch"),
            &json!("t-unknown"),
            &json!("424242")
        ),
        "{r}"
    );
    let e = r["error"].as_str().unwrap();
    assert!(
        e.starts_with("unknown batch 424242: no batch line with that id in "),
        "{e}"
    );
    assert!(valid_request(&unknown), "well-formed, only unknown");

    let r = ask(sub, "grade B for batch 1001, yield 81 %").await;
    assert_eq!(
        (&r["error_kind"], &r["request_id"]),
        (&json!("payload"), &Value::Null)
    );
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .starts_with("payload: not JSON: "),
        "{r}"
    );
}

/// A bad grade, an unknown key, a yield out of range, a payload over 64 KiB.
async fn bad_values_keys_and_sizes_are_refused(sub: &Subscriber, known: &str) {
    let grade = json!({"batch_id": known, "grade": "C", "request_id": "t-grade"});
    let r = ask(sub, grade.to_string()).await;
    assert_eq!(
        r["error"], r#"grade: "C" is not one of A, B, reject"#,
        "{r}"
    );
    assert_eq!(
        (&r["error_kind"], &r["request_id"]),
        (&json!("invalid"), &json!("t-grade"))
    );
    assert!(!valid_request(&grade));

    let extra = json!({"batch_id": known, "grade": "A", "colour": "brown", "request_id": "t-key"});
    let r = ask(sub, extra.to_string()).await;
    assert_eq!(
        (&r["error_kind"], &r["request_id"]),
        (&json!("payload"), &json!("t-key"))
    );
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .starts_with("payload: unknown field `colour`"),
        "{r}"
    );
    assert!(!valid_request(&extra));

    let yield_pct = json!({"batch_id": known, "grade": "A", "yield_pct": 120.0});
    let r = ask(sub, yield_pct.to_string()).await;
    assert_eq!(r["error"], "yield_pct: 120 is not in (0, 100]", "{r}");
    assert!(!valid_request(&yield_pct));

    let big = format!(
        r#"{{"batch_id":"{known}","grade":"A","note":"{}"}}"#,
        "x".repeat(70_000)
    );
    let r = ask(sub, big.clone()).await;
    assert_eq!(r["error_kind"], "too_large", "{r}");
    let size = big.len();
    assert_eq!(
        r["error"],
        format!("payload: {size} bytes, more than the 65536 a label may have")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_published_over_mqtt_are_stored_or_refused_and_answered() {
    let broker = rumqttd();
    let ports = Ports::on(broker.port());
    let tmp = tempfile::tempdir().unwrap();
    let path = common::agent::write_capture_config(tmp.path(), &ports);
    let cfg = chocoline::config::load(&path).unwrap().config;
    let data_dir = cfg.store.data_dir.clone();
    let stop_sim = CancellationToken::new();
    // 1200 simulated seconds per second: a 2–4 h batch lasts 6–12 s.
    simulator_at(&cfg, ports.modbus, stop_sim.clone(), 1200.0).await;
    let sub = Subscriber::connect(broker.port(), PREFIX).await;
    let shutdown = CancellationToken::new();
    let agent = common::agent::spawn_in_process(&cfg, &shutdown);
    sub.wait_for(30, "the agent online (and subscribed)", |g| {
        g.iter()
            .any(|m| m.topic.ends_with("/status") && m.payload["state"] == "online")
    })
    .await;
    let known = first_closed_batch(&data_dir).await;
    the_running_batch_is_not_known_yet(&sub, &data_dir).await;

    let good = json!({"schema": "chocoline.label/1", "batch_id": known, "grade": "B",
        "defect": "fat_bloom", "yield_pct": 81.2, "request_id": "t-ok"});
    assert!(valid_request(&good));
    let r = ask(&sub, good.to_string()).await;
    assert_eq!(
        (&r["ok"], &r["request_id"]),
        (&json!(true), &json!("t-ok")),
        "{r}"
    );
    assert_eq!((&r["batch_id"], &r["error"]), (&json!(known), &Value::Null));
    assert_eq!(r["label"]["grade"], "B");
    assert_eq!(
        (&r["label"]["defect"], &r["label"]["yield_pct"]),
        (&json!("fat_bloom"), &json!(81.2))
    );
    let stored = chocoline::labels::latest(&data_dir).unwrap();
    let l = &stored[&known];
    assert_eq!(l.source, LabelSource::Mqtt);
    assert_eq!(
        l.to_string(),
        format!("batch {known} grade B defect fat_bloom yield 81.2")
    );
    assert_eq!(r["label"]["at"], json!(l.at));
    let journal = std::fs::read(journal_path(&data_dir)).unwrap();
    let count = chocoline::labels::read(&data_dir).unwrap().len();

    let refused = bad_labels_are_refused(&sub, &known).await;
    assert_eq!(
        std::fs::read(journal_path(&data_dir)).unwrap(),
        journal,
        "a refused label changed the journal"
    );
    assert_eq!(chocoline::labels::read(&data_dir).unwrap().len(), count);

    let metrics = http_get(ports.metrics, "/metrics").await;
    assert_eq!(
        labels_total(&metrics, "stored"),
        Some(count as f64),
        "{metrics}"
    );
    assert!(
        labels_total(&metrics, "refused") >= Some(refused as f64),
        "{metrics}"
    );
    assert_eq!(labels_total(&metrics, "failed"), Some(0.0), "{metrics}");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), agent)
        .await
        .expect("the agent did not stop within 30 s (label desk wedged?)")
        .unwrap()
        .unwrap();
    stop_sim.cancel();
    sub.stop().await;
}

fn busy(cmd: &Inbound) -> Record {
    Record::Label(chocoline::labels::desk::busy(cmd, TimestampMs::now()))
}

/// The next command handed on by the publisher (within 10 s).
async fn next(rx: &mut mpsc::Receiver<Inbound>) -> Inbound {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no label handed on within 10 s")
        .expect("feed closed")
}

/// How many `online` births the subscriber saw.
fn births(got: &[Got]) -> usize {
    (got.iter())
        .filter(|m| m.topic.ends_with("/status") && m.payload["state"] == "online")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publisher_renews_the_label_subscription_caps_payloads_and_answers_busy() {
    let prefix = "plant/l9";
    let topic = format!("{prefix}/cmd/label");
    let broker = rumqttd();
    let gate = Gate::new(broker.port());
    gate.open().await;
    let sub = Subscriber::connect(broker.port(), prefix).await;
    let mqtt = mqtt_cfg(&format!("mqtt://127.0.0.1:{}", gate.port), prefix);
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), &mqtt);
    let (tx, mut rx) = mpsc::channel(1);
    let feed = CommandFeed {
        topic: topic.clone(),
        cap: MAX_PAYLOAD,
        to: tx,
        busy: std::sync::Arc::new(busy),
    };
    // Set on one publisher, carried over to its replacement (as a reload does).
    let mut first = Publisher::new(&mqtt, Outbox::new(store.clone())).unwrap();
    first.set_labels(feed);
    let publisher = Publisher::new(&mqtt, Outbox::new(store.clone()))
        .unwrap()
        .attach(first.attachments());
    drop(first);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(publisher.run(shutdown.clone()));
    let agent = Agent {
        store,
        shutdown,
        task,
        _dir: dir,
    };
    sub.wait_for(20, "the publisher online", |g| births(g) == 1)
        .await;

    sub.publish(&topic, br#"{"batch_id":"1"}"#.to_vec(), false)
        .await;
    let c = next(&mut rx).await;
    assert_eq!(
        (c.payload.as_slice(), c.retained),
        (&br#"{"batch_id":"1"}"#[..], false)
    );
    sub.publish(&topic, vec![b' '; 70_000], false).await;
    let c = next(&mut rx).await;
    assert!(
        c.payload.is_empty() && c.size == 70_000,
        "{} bytes copied",
        c.payload.len()
    );

    // A lost connection: the new session subscribes again (before its birth).
    gate.close().await;
    gate.open().await;
    sub.wait_for(20, "the publisher online again", |g| births(g) == 2)
        .await;
    sub.publish(&topic, b"after".to_vec(), false).await;
    assert_eq!(next(&mut rx).await.payload, b"after");

    // The queue (one) is full: the next label is answered `busy` through the outbox.
    sub.publish(&topic, b"waits".to_vec(), false).await;
    let busy = json!({"batch_id": "1", "grade": "A", "request_id": "t-busy"});
    sub.publish(&topic, busy.to_string().into_bytes(), false)
        .await;
    let result = format!("{prefix}/cmd/label/result");
    sub.wait_for(20, "the busy reply", |g| {
        g.iter().any(|m| m.topic == result)
    })
    .await;
    let r = (sub.messages().into_iter())
        .find(|m| m.topic == result)
        .unwrap()
        .payload;
    assert_eq!(
        (&r["error_kind"], &r["request_id"], &r["ok"]),
        (&json!("busy"), &json!("t-busy"), &json!(false)),
        "{r}"
    );
    let doc = schema::load(&schema::file_for("chocoline.label_result/1"));
    schema::validate(&doc, &r).unwrap_or_else(|e| panic!("{r}: {e:?}"));
    assert_eq!(next(&mut rx).await.payload, b"waits");
    agent.stop().await;
    sub.stop().await;
}
