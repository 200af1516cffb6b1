//! SIGHUP reload and SIGTERM drain, through the real binary: a real Modbus simulator, rumqttd
//! behind a TCP gate (so the test can cut the broker), a copy of the committed models the test
//! edits, a fake systemd notify socket, and the agent's JSON log lines read from stderr.
//!
//! One agent runs through the whole sequence (each step leaves the state the next starts
//! from): a good configuration change (alert threshold + log level), an invalid one, a
//! devices + broker change, a good model, a bad model, a model changed on disk with
//! `[models] watch` on, and finally SIGTERM with the broker cut so that undelivered data is in
//! flight.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::agent::{
    Lines, PREFIX, Ports, collect, http_get, hup, metric, records, sigterm_and_wait, simulator,
    spawn_agent, summary, wait_log, write_config_with_model_copy,
};
use common::{Gate, Subscriber, rumqttd};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Rewrite the bloom manifest's version (and, if given, its model sha256).
fn edit_manifest(models: &Path, version: &str, sha: Option<&str>) {
    let path = models.join("bloom/manifest.json");
    let mut m: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    m["version"] = Value::from(version);
    if let Some(sha) = sha {
        m["onnx"]["sha256"] = Value::from(sha);
    }
    std::fs::write(&path, serde_json::to_string_pretty(&m).unwrap()).unwrap();
}

/// Bloom prediction versions received so far, in order.
fn bloom_versions(sub: &Subscriber) -> Vec<String> {
    sub.messages()
        .iter()
        .filter(|g| g.topic.ends_with("/predictions/bloom"))
        .filter_map(|g| g.payload["model_version"].as_str().map(String::from))
        .collect()
}

fn still_running(child: &mut Child) {
    assert!(
        child.try_wait().unwrap().is_none(),
        "the agent exited after a reload"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "test scenario: five SIGHUP steps on one running agent, each depending on the state the previous left"
)]
async fn sighup_reloads_config_and_models_and_sigterm_drains() {
    let broker = rumqttd();
    let gate = Gate::new(broker.port());
    gate.open().await;
    let ports = Ports::on(gate.port);
    let tmp = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (path, models) = write_config_with_model_copy(tmp.path(), &ports);
    // Raw signals on: they must go on through the publisher that step 3 rebuilds.
    let base =
        std::fs::read_to_string(&path).unwrap() + "\n[mqtt.topics.signals]\nenabled = true\n";
    std::fs::write(&path, &base).unwrap();
    let cfg = chocoline::config::load(&path).unwrap().config;
    let stop_sim = CancellationToken::new();
    simulator(&cfg, ports.modbus, stop_sim.clone()).await;
    let sub = Subscriber::connect(broker.port(), PREFIX).await;

    let sock_path = tmp.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let notes: Lines = Arc::default();
    {
        let notes = notes.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while let Ok(n) = sock.recv(&mut buf) {
                notes
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        });
    }
    let (mut child, log) = spawn_agent(&path, &[("NOTIFY_SOCKET", &sock_path)]);
    let bloom = format!("{PREFIX}/predictions/bloom");
    sub.wait_for(90, "first bloom prediction", |got| {
        got.iter().any(|g| g.topic == bloom)
    })
    .await;
    assert!(collect(&notes).iter().any(|n| n == "READY=1"));
    assert!(
        !records(&log).iter().any(|r| r["message"] == "prediction"),
        "debug lines before the level changed"
    );

    // 1. A good change: a low-confidence rule that fires on any prediction of a deciding
    //    model (raise at confidence ≤ 1; whatever was open before clears and re-raises under
    //    it, so events carrying the new rule must follow), an anomaly rule (the committed
    //    anomaly model is evidence only, so it raises nothing; step 2 breaks it), and debug
    //    logging for the infer stage. They must act without a restart.
    let good = format!(
        "{}\n[alerts]\nshare_window = 5\n\n[alerts.anomaly]\nseverity = \"warning\"\nraise = 0.0\nclear = 0.0\nconsecutive = 1\n\n[alerts.low_confidence]\nseverity = \"warning\"\nraise = 1.0\nclear = 1.0\nconsecutive = 1\n",
        base.replace(
            "level = \"info\"",
            "level = \"info,chocoline::infer::stage=debug\""
        )
    );
    std::fs::write(&path, &good).unwrap();
    let t0 = Instant::now();
    hup(&child);
    let s = summary(&log, 0).await;
    eprintln!("good reload: {s}");
    assert_eq!(s["result"], "applied", "{s}");
    let live = s["live"].as_str().unwrap();
    assert!(live.contains("alerts") && live.contains("log.level"), "{s}");
    assert_eq!(s["restarted"], "none", "{s}");
    sub.wait_for(
        60,
        "a low_confidence alert event under the new rule",
        |got| {
            got.iter().any(|g| {
                g.topic.contains("/alerts/")
                    && g.payload["kind"] == "low_confidence"
                    && g.payload["evidence"]["rule"]["raise"].as_f64() == Some(1.0)
            })
        },
    )
    .await;
    eprintln!(
        "reload → first alert under the new rule: {:?}",
        t0.elapsed()
    );
    wait_log(&log, 30, "a debug prediction line", |r| {
        r["message"] == "prediction"
    })
    .await;
    let notes_now = collect(&notes);
    let reloading = notes_now.iter().position(|n| n == "RELOADING=1");
    assert!(reloading.is_some(), "{notes_now:?}");
    assert!(
        notes_now[reloading.unwrap()..]
            .iter()
            .any(|n| n == "READY=1"),
        "{notes_now:?}"
    );
    let text = http_get(ports.metrics, "/metrics").await;
    assert_eq!(
        metric(&text, "chocoline_reloads_total{result=\"applied\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "chocoline_reload_last_result{result=\"applied\"}"),
        Some(1.0)
    );

    // 2. An invalid change: clear above raise for a higher-is-worse rule. Refused with file,
    //    line and key; the agent keeps running on the previous configuration.
    let bad = good.replace("clear = 0.0", "clear = 0.5");
    let bad_line = bad
        .lines()
        .position(|l| l == "clear = 0.5")
        .map(|i| i + 1)
        .unwrap();
    std::fs::write(&path, &bad).unwrap();
    let before = bloom_versions(&sub).len();
    hup(&child);
    let s = summary(&log, 1).await;
    eprintln!("bad reload: {s}");
    assert!(
        s["message"].as_str().unwrap().starts_with("reload refused"),
        "{s}"
    );
    let want = format!("{}:{bad_line}: alerts.anomaly.clear", path.display());
    wait_log(&log, 5, &want, |r| {
        r["error"].as_str().is_some_and(|e| e.starts_with(&want))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    still_running(&mut child);
    assert!(
        bloom_versions(&sub).len() > before,
        "predictions stopped after a refused reload"
    );
    let text = http_get(ports.metrics, "/metrics").await;
    assert_eq!(
        metric(&text, "chocoline_reloads_total{result=\"refused\"}"),
        Some(1.0),
        "{text}"
    );

    // 3. Devices and broker: acquire and the publisher restart; data keeps flowing through
    //    the new poller and the new MQTT session.
    let moved = good
        .replacen("timeout = \"400ms\"", "timeout = \"350ms\"", 1)
        .replace(
            "client_id = \"chocoline-demo\"",
            "client_id = \"chocoline-reloaded\"",
        );
    std::fs::write(&path, &moved).unwrap();
    hup(&child);
    let s = summary(&log, 2).await;
    eprintln!("devices + mqtt reload: {s}");
    assert_eq!(s["result"], "applied", "{s}");
    assert_eq!(s["restarted"], "acquire, publish", "{s}");
    eprintln!("devices + mqtt reload took {} ms", s["took_ms"]);
    let before = bloom_versions(&sub).len();
    sub.wait_for(30, "predictions after the restarts", |got| {
        got.iter().filter(|g| g.topic == bloom).count() >= before + 3
    })
    .await;
    // The new session takes over what was attached to the old one: after its birth (the new
    // client id) come the retained health report and raw signals.
    sub.wait_for(
        30,
        "health report and signals from the new session",
        |got| {
            let born = got.iter().position(|g| {
                g.topic.ends_with("/status") && g.payload["client_id"] == "chocoline-reloaded"
            });
            born.is_some_and(|i| {
                let after = &got[i..];
                after.iter().any(|g| g.topic == format!("{PREFIX}/health"))
                    && after
                        .iter()
                        .filter(|g| g.topic.contains("/signals/"))
                        .count()
                        >= 3
            })
        },
    )
    .await;

    // 4. A good new model version: served after SIGHUP, its version in the predictions.
    edit_manifest(&models, "2.0.1-test", None);
    hup(&child);
    let s = summary(&log, 3).await;
    eprintln!("model reload: {s}");
    assert_eq!(s["result"], "applied", "{s}");
    assert!(
        s["models"]
            .as_str()
            .unwrap()
            .contains("bloom 2.0.0 → 2.0.1-test"),
        "{s}"
    );
    sub.wait_for(30, "predictions by bloom 2.0.1-test", |got| {
        got.iter()
            .any(|g| g.topic == bloom && g.payload["model_version"] == "2.0.1-test")
    })
    .await;

    // 5. A bad model (sha256 mismatch): refused, reported, the previous one keeps serving.
    edit_manifest(&models, "2.0.2-bad", Some(&"0".repeat(64)));
    hup(&child);
    let s = summary(&log, 4).await;
    eprintln!("bad model reload: {s}");
    assert_eq!(s["result"], "partial", "{s}");
    assert!(
        s["models_refused"].as_str().unwrap().starts_with("bloom:"),
        "{s}"
    );
    wait_log(&log, 5, "model reload refused", |r| {
        r["message"] == "model reload refused; the previous model keeps serving"
            && r["model"] == "bloom"
    })
    .await;
    let n = bloom_versions(&sub).len();
    sub.wait_for(30, "more predictions", |got| {
        got.iter().filter(|g| g.topic == bloom).count() >= n + 3
    })
    .await;
    let after: Vec<String> = bloom_versions(&sub).split_off(n);
    assert!(after.iter().all(|v| v == "2.0.1-test"), "{after:?}");
    let text = http_get(ports.metrics, "/metrics").await;
    assert!(
        metric(
            &text,
            "chocoline_model_reloads_total{model=\"bloom\",result=\"refused\"}"
        )
        .is_some_and(|v| v >= 1.0),
        "{text}"
    );

    // 6. [models] watch on (a live key): a fixed model written to disk is picked up without
    //    a signal.
    std::fs::write(&path, moved.replace("watch = false", "watch = true")).unwrap();
    hup(&child);
    let s = summary(&log, 5).await;
    assert!(s["live"].as_str().unwrap().contains("models.watch"), "{s}");
    let sha = {
        let m: Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("models/bloom/manifest.json")).unwrap(),
        )
        .unwrap();
        m["onnx"]["sha256"].as_str().unwrap().to_string()
    };
    let t_watch = Instant::now();
    edit_manifest(&models, "2.0.3-watch", Some(&sha));
    sub.wait_for(30, "predictions by bloom 2.0.3-watch", |got| {
        got.iter()
            .any(|g| g.topic == bloom && g.payload["model_version"] == "2.0.3-watch")
    })
    .await;
    eprintln!(
        "model file change → first prediction by the new version: {:?}",
        t_watch.elapsed()
    );
    still_running(&mut child);

    // 7. SIGTERM with the broker cut: undelivered data is in flight. It must be drained into
    //    the store, nothing lost between acquire and the pipeline, exit 0 within 5 s.
    gate.close().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = http_get(ports.metrics, "/metrics").await;
        if metric(&text, "chocoline_outbox_depth ").is_some_and(|d| d >= 5.0) {
            break;
        }
        assert!(Instant::now() < deadline, "outbox never filled:\n{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, took) = sigterm_and_wait(&mut child).await;
    eprintln!("SIGTERM (broker cut, outbox non-empty) → exit took {took:?} (target: 5 s)");
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let stopped = wait_log(&log, 5, "the stop summary", |r| r["message"] == "stopped").await;
    eprintln!("stop summary: {stopped}");
    assert!(stopped["samples"].as_u64().unwrap() > 0, "{stopped}");
    assert_eq!(
        stopped["samples"], stopped["samples_emitted"],
        "samples lost between acquire and the pipeline: {stopped}"
    );
    let store = chocoline::store::readonly::open_existing(&tmp.path().join("data")).unwrap();
    let depth = store.outbox_depth();
    eprintln!("undelivered messages kept in the store: {depth}");
    assert!(depth >= 5, "{depth}");
    stop_sim.cancel();
    sub.stop().await;
    drop(gate);
}
