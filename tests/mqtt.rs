//! Store + publish against real brokers: rumqttd in-process (always) and mosquitto (interop:
//! mandatory with CHOCOLINE_INTEROP=1, otherwise skipped when not installed), including TLS
//! with a CA generated here, and the fault tests: broker down at start, broker restarted
//! mid-stream, and chocoline SIGKILLed while publishing and restarted (≥ 20 rounds).

mod common;

use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chocoline::domain::AlertKind;
use chocoline::publish::Publisher;
use chocoline::store::Outbox;
use common::publisher::*;
use common::tls::{chmod, make_ca, make_cert};
use common::*;

// -------------------------------------------------------------------------------------------

async fn payloads_match_schemas(broker: &Broker) {
    let prefix = "plant/l1";
    let sub = Subscriber::connect(broker.port(), prefix).await;
    let a = agent(mqtt_cfg(
        &format!("mqtt://127.0.0.1:{}", broker.port()),
        prefix,
    ));
    let mut records = vec![];
    for i in 0..4 {
        records.push(alert(
            i,
            [AlertKind::FatBloomRisk, AlertKind::Gritty][i as usize % 2],
        ));
    }
    for i in 0..3 {
        records.push(prediction(i, 1_700_000_000_000 + i as i64));
    }
    records.push(drift(0));
    records.push(drift(1));
    records.push(data_quality(0));
    records.push(data_quality(1));
    records.extend(label_results());
    let done = a.store.append(&records).await.unwrap();
    let expected = ids(&done);
    sub.wait_for(20, "all records", |g| {
        g.iter().filter(|m| !m.topic.ends_with("/status")).count() >= expected.len()
    })
    .await;
    wait_depth_zero(&a.store, 10).await;
    let stats = a.stop().await;
    assert_eq!(stats.acked, expected.len() as u64);
    sub.wait_for(10, "offline status", |g| {
        g.iter()
            .any(|m| m.topic == "plant/l1/status" && m.payload["state"] == "offline")
    })
    .await;

    let got = sub.messages();
    report("schemas", &analyse(&expected, &got));
    let mut topics = std::collections::BTreeSet::new();
    for m in &got {
        let name = m.payload["schema"]
            .as_str()
            .unwrap_or_else(|| panic!("no schema in {}", m.payload));
        let schema = schema::load(&schema::file_for(name));
        if let Err(e) = schema::validate(&schema, &m.payload) {
            panic!(
                "{} payload on {} violates {name}: {e:?}\n{}",
                m.topic, m.topic, m.payload
            );
        }
        topics.insert(m.topic.clone());
    }
    for t in [
        "plant/l1/alerts/fat_bloom_risk",
        "plant/l1/alerts/gritty",
        "plant/l1/predictions/bloom",
        "plant/l1/drift",
        "plant/l1/data_quality",
        "plant/l1/cmd/label/result",
        "plant/l1/status",
    ] {
        assert!(topics.contains(t), "nothing on {t}: {topics:?}");
    }
    let online = got
        .iter()
        .find(|m| m.payload["state"] == "online")
        .expect("birth message");
    assert_eq!(
        online.payload["versions"]["chocoline"],
        env!("CARGO_PKG_VERSION")
    );
    // The alert links to the alert occurrence and carries its own message id.
    let al = got.iter().find(|m| m.topic.contains("/alerts/")).unwrap();
    assert_eq!(al.payload["alert_id"], "alert-0");
    assert!(al.payload["id"].as_str().unwrap().starts_with("site-line-"));
    sub.stop().await;
}

/// A label stored and a label refused, as the label desk answers them.
fn label_results() -> [chocoline::domain::Record; 2] {
    use chocoline::domain::{Defect, LabelResult, Record, StoredLabel, TimestampMs};
    let ts = TimestampMs(1_700_000_000_000);
    let ok = LabelResult {
        ts,
        request_id: Some("lims-1".into()),
        batch_id: Some("1001".into()),
        stored: Some(StoredLabel {
            grade: "B".into(),
            defect: Defect::FatBloom,
            yield_pct: Some(81.2),
            at: ts,
        }),
        error_kind: None,
        error: None,
    };
    let refused = LabelResult {
        request_id: None,
        stored: None,
        error_kind: Some("invalid".into()),
        error: Some(r#"grade: "C" is not one of A, B, reject"#.into()),
        ..ok.clone()
    };
    [Record::Label(ok), Record::Label(refused)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_match_schemas_rumqttd() {
    payloads_match_schemas(&rumqttd()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_match_schemas_mosquitto() {
    let Some(b) = mosquitto("payloads_match_schemas_mosquitto", "", None) else {
        return;
    };
    payloads_match_schemas(&b).await;
}

// -------------------------------------------------------------------------------------------

async fn broker_down_at_start(mut broker: Broker) {
    let prefix = "down";
    broker.stop();
    let gate = Gate::new(broker.port());
    let a = agent(mqtt_cfg(&format!("mqtt://127.0.0.1:{}", gate.port), prefix));
    let mut expected = vec![];
    for chunk in 0..20 {
        let recs: Vec<_> = (0..10)
            .map(|i| alert(chunk * 10 + i, AlertKind::Anomaly))
            .collect();
        expected.extend(ids(&a.store.append(&recs).await.unwrap()));
    }
    // Several connection attempts fail meanwhile (connection refused); nothing may be lost.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(a.store.outbox_depth(), 200);

    broker.start_again();
    gate.retarget(broker.port());
    let sub = Subscriber::connect(broker.port(), prefix).await;
    gate.open().await;
    sub.wait_for(30, "200 alerts", |g| {
        g.iter().filter(|m| !m.topic.ends_with("status")).count() >= 200
    })
    .await;
    wait_depth_zero(&a.store, 10).await;
    let stats = a.stop().await;
    assert!(
        stats.disconnects >= 2,
        "expected failed attempts before the broker came: {stats:?}"
    );
    report("broker down at start", &analyse(&expected, &sub.messages()));
    sub.stop().await;
    gate.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_at_start_rumqttd() {
    broker_down_at_start(rumqttd()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_at_start_mosquitto() {
    let Some(b) = mosquitto("broker_down_at_start_mosquitto", "", None) else {
        return;
    };
    broker_down_at_start(b).await;
}

// -------------------------------------------------------------------------------------------

async fn broker_restart_mid_stream(mut broker: Broker) {
    let prefix = "restart";
    let gate = Gate::new(broker.port());
    gate.open().await;
    let got = Arc::new(Mutex::new(Vec::new()));
    let sub = Subscriber::connect_with(broker.port(), prefix, got.clone()).await;
    let a = agent(mqtt_cfg(&format!("mqtt://127.0.0.1:{}", gate.port), prefix));
    let store = a.store.clone();
    let total = 3000u64;
    let producer = tokio::spawn(async move {
        let mut ids = vec![];
        for chunk in 0..(total / 10) {
            let recs: Vec<_> = (0..10)
                .map(|i| {
                    let n = chunk * 10 + i;
                    alert(
                        n,
                        [AlertKind::Gritty, AlertKind::Drift, AlertKind::YieldLow][n as usize % 3],
                    )
                })
                .collect();
            ids.extend(store.append(&recs).await.unwrap().into_iter().map(|x| x.id));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        ids
    });
    sub.wait_for(30, "first third", |g| g.len() >= 1000).await;

    // Cut the publisher off, let the broker deliver what it already acknowledged (a broker
    // without persistence loses those on restart — not chocoline's loss), then restart it.
    gate.close().await;
    let acked_below = a
        .store
        .snapshot()
        .unwrap()
        .oldest_undelivered
        .and_then(|u| id_parts(&u.id))
        .map(|p| p.1);
    if let Some(limit) = acked_below {
        sub.wait_for(20, "acknowledged messages", |g| {
            let n = g
                .iter()
                .filter_map(|m| m.payload["id"].as_str().and_then(id_parts))
                .filter(|p| p.1 < limit)
                .count();
            n as u64 >= limit
        })
        .await;
    }
    sub.stop().await;
    broker.stop();
    broker.start_again();
    gate.retarget(broker.port());
    let sub = Subscriber::connect_with(broker.port(), prefix, got.clone()).await;
    gate.open().await;

    let expected = producer.await.unwrap();
    sub.wait_for(60, "all 3000", |g| {
        let ids: std::collections::HashSet<_> =
            g.iter().filter_map(|m| m.payload["id"].as_str()).collect();
        ids.len() as u64 >= total
    })
    .await;
    wait_depth_zero(&a.store, 10).await;
    let stats = a.stop().await;
    eprintln!("broker restart: publisher {stats:?}");
    assert!(stats.connects >= 2);
    report(
        "broker restart mid-stream",
        &analyse(&expected, &sub.messages()),
    );
    sub.stop().await;
    gate.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_stream_rumqttd() {
    broker_restart_mid_stream(rumqttd()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_stream_mosquitto() {
    let Some(b) = mosquitto("broker_restart_mid_stream_mosquitto", "", None) else {
        return;
    };
    broker_restart_mid_stream(b).await;
}

// -------------------------------------------------------------------------------------------

/// Run `chocoline __outbox-feed`; kill it with SIGKILL after `kill_after` (None: let it finish).
fn feed_round(
    data_dir: &std::path::Path,
    port: u16,
    tag: &str,
    count: u64,
    kill_after: Option<Duration>,
) -> Vec<String> {
    let mut child = common::cli::chocoline()
        .args([
            "__outbox-feed",
            "--prefix",
            "kill",
            "--count",
            &count.to_string(),
            "--interval-ms",
            "2",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--url", &format!("mqtt://127.0.0.1:{port}"), "--tag", tag])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect::<Vec<_>>()
    });
    match kill_after {
        Some(d) => {
            std::thread::sleep(d);
            child.kill().unwrap(); // SIGKILL on unix
            child.wait().unwrap();
        }
        None => {
            let status = child.wait().unwrap();
            assert!(status.success(), "final feed run failed: {status}");
        }
    }
    reader.join().unwrap()
}

async fn sigkill_rounds(broker: &Broker) {
    let rounds: u32 = std::env::var("CHOCOLINE_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let sub = Subscriber::connect(broker.port(), "kill").await;
    let dir = tempfile::tempdir().unwrap();
    let port = broker.port();
    let path = dir.path().to_path_buf();
    let expected = tokio::task::spawn_blocking(move || {
        let mut all = vec![];
        for r in 0..rounds {
            // Kill at varying points: during startup, mid-feed, while draining.
            let ms = 30 + (u64::from(r) * 37) % 220;
            all.extend(feed_round(
                &path,
                port,
                &format!("r{r}"),
                60,
                Some(Duration::from_millis(ms)),
            ));
        }
        all.extend(feed_round(&path, port, "final", 10, None));
        all
    })
    .await
    .unwrap();
    assert!(
        expected.len() > rounds as usize,
        "the feed produced almost nothing: {}",
        expected.len()
    );
    sub.wait_for(30, "every generated id", |g| {
        let seen: std::collections::HashSet<_> =
            g.iter().filter_map(|m| m.payload["id"].as_str()).collect();
        expected.iter().all(|id| seen.contains(id.as_str()))
    })
    .await;
    let d = analyse(&expected, &sub.messages());
    eprintln!("sigkill: rounds={rounds}");
    report("sigkill restart", &d);
    sub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_publishing_rumqttd() {
    sigkill_rounds(&rumqttd()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_publishing_mosquitto() {
    let Some(b) = mosquitto("sigkill_while_publishing_mosquitto", "", None) else {
        return;
    };
    sigkill_rounds(&b).await;
}

// -------------------------------------------------------------------------------------------
// TLS (mosquitto only: the in-process rumqttd is built without TLS; certificates: common::tls)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "interop scenario with mosquitto (certificates, password, TLS), read top to bottom"
)]
async fn mutual_tls_with_password_mosquitto() {
    let test = "mutual_tls_with_password_mosquitto";
    let Some(_) = need_program("mosquitto", test) else {
        return;
    };
    let Some(passwd) = need_program("mosquitto_passwd", test) else {
        return;
    };
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let d = dir.path();
    make_ca(d, "ca");
    make_ca(d, "other-ca");
    make_cert(d, "ca", "server", "IP:127.0.0.1,DNS:localhost");
    make_cert(d, "ca", "client", "DNS:chocoline");
    let st = std::process::Command::new(passwd)
        .args(["-b", "-c"])
        .arg(d.join("passwd"))
        .args(["agent", "pa55-word"])
        .status()
        .unwrap();
    assert!(st.success());
    chmod(&d.join("passwd"), 0o600);
    std::fs::write(d.join("client.pw"), "pa55-word\n").unwrap();
    chmod(&d.join("client.pw"), 0o600);
    chmod(&d.join("client.key"), 0o600);

    let tls_port = free_port();
    let extra = format!(
        "listener {tls_port} 127.0.0.1\nallow_anonymous false\npassword_file {pw}\ncafile {ca}\ncertfile {crt}\nkeyfile {key}\nrequire_certificate true\n",
        pw = d.join("passwd").display(),
        ca = d.join("ca.crt").display(),
        crt = d.join("server.crt").display(),
        key = d.join("server.key").display(),
    );
    let Some(broker) = mosquitto_with(
        test,
        "per_listener_settings true\n",
        &extra,
        Some(dir.clone()),
    ) else {
        return;
    };
    let sub = Subscriber::connect(broker.port(), "tls").await;

    let mut cfg = mqtt_cfg(&format!("mqtts://127.0.0.1:{tls_port}"), "tls");
    cfg.ca_file = Some(d.join("ca.crt"));
    cfg.client_cert_file = Some(d.join("client.crt"));
    cfg.client_key_file = Some(d.join("client.key"));
    cfg.username = Some("agent".into());
    cfg.password_file = Some(d.join("client.pw"));

    // A world-readable key is refused before any connection, naming the file, not its content.
    chmod(&d.join("client.key"), 0o644);
    let tmp = tempfile::tempdir().unwrap();
    let s = open_store(tmp.path(), &cfg);
    let err = Publisher::new(&cfg, Outbox::new(s.clone()))
        .err()
        .expect("world-readable key accepted")
        .to_string();
    assert!(
        err.contains("client_key_file") && err.contains("readable by every user"),
        "{err}"
    );
    assert!(!err.contains("BEGIN"), "{err}");
    drop(s);
    chmod(&d.join("client.key"), 0o600);

    // Right CA + client cert + password: delivered.
    let a = agent(cfg.clone());
    let done = a
        .store
        .append(&[alert(1, AlertKind::Gritty), alert(2, AlertKind::Gritty)])
        .await
        .unwrap();
    sub.wait_for(20, "TLS deliveries", |g| {
        g.iter().filter(|m| m.topic.contains("/alerts/")).count() >= 2
    })
    .await;
    report("tls", &analyse(&ids(&done), &sub.messages()));
    a.stop().await;

    // Wrong CA: the broker's certificate is refused, nothing is sent and nothing is lost.
    let mut bad = cfg.clone();
    bad.ca_file = Some(d.join("other-ca.crt"));
    let b = agent(bad);
    b.store
        .append(&[alert(3, AlertKind::Gritty)])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(b.store.outbox_depth(), 1);
    let stats = b.stop().await;
    assert_eq!(
        stats.connects, 0,
        "connected despite an untrusted server certificate"
    );

    // Wrong password: refused by the broker, message kept.
    let wrong = d.join("wrong.pw");
    std::fs::write(&wrong, "nope\n").unwrap();
    chmod(&wrong, 0o600);
    let mut badpw = cfg.clone();
    badpw.password_file = Some(wrong);
    let c = agent(badpw);
    c.store
        .append(&[alert(4, AlertKind::Gritty)])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(c.store.outbox_depth(), 1);
    assert_eq!(c.stop().await.connects, 0);
    sub.stop().await;
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_does_not_block_the_ones_behind_it() {
    let broker = rumqttd();
    let sub = Subscriber::connect(broker.port(), "big").await;
    // A limit above the client's 1 MiB packet limit: the store keeps the 2 MB prediction and
    // the publisher must refuse it itself.
    let mut mqtt = mqtt_cfg(&format!("mqtt://127.0.0.1:{}", broker.port()), "big");
    mqtt.max_message_bytes = chocoline::config::ByteSize::mib(4);
    let a = agent(mqtt);
    let chocoline::domain::Record::Prediction(mut p) = prediction(0, 1_700_000_000_000) else {
        unreachable!()
    };
    let n = 80_000;
    p.features.names = Arc::from(
        (0..n)
            .map(|i| format!("feature_{i:06}"))
            .collect::<Vec<_>>(),
    );
    p.features.values = vec![1.25; n];
    let done = a
        .store
        .append(&[
            chocoline::domain::Record::Prediction(p),
            alert(1, AlertKind::Gritty),
        ])
        .await
        .unwrap();
    sub.wait_for(20, "the alert behind the oversized prediction", |g| {
        g.iter().any(|m| m.payload["id"] == done[1].id.as_str())
    })
    .await;
    wait_depth_zero(&a.store, 10).await;
    assert!(
        !sub.messages()
            .iter()
            .any(|m| m.payload["id"] == done[0].id.as_str()),
        "an over-limit message was published"
    );
    assert_eq!(a.store.dead_letters(5).unwrap()[0].id, done[0].id);
    assert_eq!(a.stop().await.dead_lettered, 1);
    sub.stop().await;
}
