//! The live agent end to end: a real Modbus simulator (in-process tokio-modbus server over the
//! line simulator), a real MQTT broker (rumqttd in-process), the committed models, a temporary
//! sled store. A control-room subscriber must receive predictions; `/metrics` must show the
//! series of every stage; the binary must stop on SIGTERM with exit 0.

mod common;

use std::time::{Duration, Instant};

use common::agent::{PREFIX, Ports, http_get, metric, sigterm_and_wait, simulator, write_config};
use common::{Subscriber, rumqttd};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "test scenario: the whole agent from start to ordered stop, read top to bottom"
)]
async fn agent_publishes_predictions_serves_metrics_and_stops_in_order() {
    let broker = rumqttd();
    let ports = Ports::on(broker.port());
    let tmp = tempfile::tempdir().unwrap();
    let path = write_config(tmp.path(), &ports);
    let plan = chocoline::config::load(&path).unwrap();
    let cfg = plan.config;
    let stop_sim = CancellationToken::new();
    simulator(&cfg, ports.modbus, stop_sim.clone()).await;
    let sub = Subscriber::connect(ports.mqtt, PREFIX).await;

    let shutdown = CancellationToken::new();
    let agent = common::agent::spawn_in_process(&cfg, &shutdown);

    // Sample-level models predict every poll.
    for model in ["bloom", "anomaly"] {
        let topic = format!("{PREFIX}/predictions/{model}");
        sub.wait_for(60, &topic, |got| got.iter().any(|g| g.topic == topic))
            .await;
    }
    let msgs = sub.messages();
    let bloom = msgs
        .iter()
        .find(|g| g.topic.ends_with("/predictions/bloom"))
        .unwrap();
    assert_eq!(bloom.payload["model"], "bloom");
    assert!(
        bloom.payload["model_version"].is_string(),
        "{}",
        bloom.payload
    );
    assert_eq!(bloom.payload["site"], "demo");

    // Metrics: wait for a refresh, then scrape.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let health = http_get(ports.metrics, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let text = http_get(ports.metrics, "/metrics").await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    for device in ["tempering", "refiner", "conche", "plc"] {
        let polls = metric(
            &text,
            &format!("chocoline_polls_total{{device=\"{device}\"}}"),
        );
        assert!(
            polls.is_some_and(|n| n >= 1.0),
            "{device}: {polls:?}\n{text}"
        );
    }
    let bloom_count = metric(&text, "chocoline_inference_seconds_count{model=\"bloom\"}");
    assert!(bloom_count.is_some_and(|n| n >= 1.0), "{text}");
    assert!(
        metric(&text, "chocoline_predictions_total{model=\"anomaly\"}").is_some_and(|n| n >= 1.0)
    );
    assert!(text.contains("chocoline_build_info{version=\""), "{text}");
    assert!(
        text.contains("chocoline_model_info{model=\"bloom\",version=\""),
        "{text}"
    );
    assert!(text.contains("chocoline_outbox_depth "), "{text}");
    assert!(
        text.contains("chocoline_outbox_oldest_age_seconds "),
        "{text}"
    );
    assert!(
        metric(&text, "chocoline_samples_total ").is_some_and(|n| n >= 4.0),
        "{text}"
    );

    // Graceful stop: the source stops, everything drains, the publisher says offline.
    let t0 = Instant::now();
    shutdown.cancel();
    let report = tokio::time::timeout(Duration::from_secs(30), agent)
        .await
        .expect("agent stops")
        .unwrap()
        .unwrap();
    eprintln!("in-process stop took {:?}", t0.elapsed());
    assert!(report.samples > 0 && report.predictions > 0, "{report:?}");
    let publish = report.publish.expect("publisher stats");
    assert!(publish.acked > 0, "{publish:?}");
    let status = format!("{PREFIX}/status");
    sub.wait_for(10, "offline status", |got| {
        got.iter()
            .rev()
            .find(|g| g.topic == status)
            .is_some_and(|g| g.payload.to_string().contains("offline"))
    })
    .await;
    // Everything stored was delivered before the publisher stopped.
    let store = chocoline::store::readonly::open_existing(&tmp.path().join("data")).unwrap();
    assert_eq!(store.outbox_depth(), 0);
    stop_sim.cancel();
    sub.stop().await;
}

/// Through the binary, under a fake systemd: READY=1 once the first poll cycle ran,
/// WATCHDOG=1 pings (WATCHDOG_USEC set), SIGTERM → STOPPING=1, `offline` published, exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_notifies_systemd_and_stops_on_sigterm() {
    use std::os::unix::net::UnixDatagram;
    let broker = rumqttd();
    let ports = Ports::on(broker.port());
    let tmp = tempfile::tempdir().unwrap();
    let path = write_config(tmp.path(), &ports);
    let cfg = chocoline::config::load(&path).unwrap().config;
    let stop_sim = CancellationToken::new();
    simulator(&cfg, ports.modbus, stop_sim.clone()).await;
    let sub = Subscriber::connect(ports.mqtt, PREFIX).await;
    let sock_path = tmp.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();

    let mut child = common::cli::chocoline()
        .args(["run", "--config"])
        .arg(&path)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "600000")
        .env_remove("WATCHDOG_PID")
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let recv = |sock: &UnixDatagram| {
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    // READY comes after the models loaded and a poll cycle ran; watchdog pings start at once
    // (period / 3), so skip those until READY.
    let mut seen = Vec::new();
    while !seen.iter().any(|s| s == "READY=1") {
        seen.push(recv(&sock));
        assert!(seen.len() < 200, "{seen:?}");
    }
    let mut pings = 0;
    while pings < 3 {
        if recv(&sock) == "WATCHDOG=1" {
            pings += 1;
        }
    }
    let topic = format!("{PREFIX}/predictions/bloom");
    sub.wait_for(60, &topic, |got| got.iter().any(|g| g.topic == topic))
        .await;

    let (status, took) = sigterm_and_wait(&mut child).await;
    eprintln!("SIGTERM → exit took {took:?} (target: 5 s)");
    assert_eq!(status.code(), Some(0), "{status:?}");
    sock.set_nonblocking(true).unwrap();
    let mut rest = Vec::new();
    let mut buf = [0u8; 256];
    while let Ok(n) = sock.recv(&mut buf) {
        rest.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(rest.iter().any(|s| s == "STOPPING=1"), "{rest:?}");
    let status_topic = format!("{PREFIX}/status");
    sub.wait_for(10, "offline status", |got| {
        got.iter()
            .rev()
            .find(|g| g.topic == status_topic)
            .is_some_and(|g| g.payload.to_string().contains("offline"))
    })
    .await;
    stop_sim.cancel();
    sub.stop().await;
}
