//! Capture (`[capture]`, issue #18; docs/capture.md) with real components: the line simulator
//! as a Modbus server (time-compressed, so batches change within the test), the whole agent
//! in-process, rumqttd, sled and the capture folder on disk.
//!
//! Checked: every device's poll cycles are captured with every register and its quality;
//! batches that close are captured once each, in order, with the batch id, product, start
//! and end, each batch starting where the previous one ended; every enabled model's
//! predictions with their feature vectors; the agent's own outputs still
//! flow (predictions published); after the shutdown the last segment ends with a whole line.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chocoline::capture::line::{self, BatchLine, Line};
use common::agent::{PREFIX, Ports, simulator_at};
use common::*;
use tokio_util::sync::CancellationToken;

/// Every line of every segment in `dir`, in order (a torn line would fail the test).
fn captured(dir: &std::path::Path) -> Vec<Line> {
    let mut names: Vec<_> = (std::fs::read_dir(dir).unwrap())
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| line::segment_number(n).is_some())
        .collect();
    names.sort();
    let mut out = Vec::new();
    for n in names {
        let text = std::fs::read_to_string(dir.join(&n)).unwrap();
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "{n}: torn last line"
        );
        for l in text.lines() {
            out.push(line::decode(l).unwrap_or_else(|| panic!("{n}: undecodable line {l}")));
        }
    }
    out
}

fn batches(lines: &[Line]) -> Vec<BatchLine> {
    (lines.iter())
        .filter_map(|l| match l {
            Line::Batch(b) => Some(b.clone()),
            Line::Sample(_) | Line::Prediction(_) => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "test scenario: one captured run, then each kind of line checked, top to bottom"
)]
async fn the_agent_captures_every_poll_cycle_and_every_closed_batch() {
    let broker = rumqttd();
    let ports = Ports::on(broker.port());
    let tmp = tempfile::tempdir().unwrap();
    let path = common::agent::write_capture_config(tmp.path(), &ports);
    let cfg = chocoline::config::load(&path).unwrap().config;
    let stop_sim = CancellationToken::new();
    // 1200 simulated seconds per second: a 2–4 h batch lasts 6–12 s.
    simulator_at(&cfg, ports.modbus, stop_sim.clone(), 1200.0).await;
    let sub = Subscriber::connect(broker.port(), PREFIX).await;
    let shutdown = CancellationToken::new();
    let agent = common::agent::spawn_in_process(&cfg, &shutdown);
    let dir = cfg.store.data_dir.join("capture");
    let mut closed = 0;
    for _ in 0..900 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if dir.is_dir() {
            closed = batches(&captured(&dir)).len();
        }
        if closed >= 4 {
            break;
        }
    }
    assert!(closed >= 4, "{closed} batches closed in 90 s");
    sub.wait_for(30, "predictions", |g| {
        g.iter().any(|m| m.topic.contains("/predictions/"))
    })
    .await;
    shutdown.cancel();
    // The capture tap sits on two channels: the pipeline must still drain in order.
    tokio::time::timeout(Duration::from_secs(30), agent)
        .await
        .expect("the agent did not stop within 30 s (pipeline drain wedged)")
        .unwrap()
        .unwrap();
    stop_sim.cancel();

    let lines = captured(&dir);
    // Every device's cycles, each with all its registers and a quality for each.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for l in &lines {
        if let Line::Sample(s) = l {
            let d = cfg.devices.iter().find(|d| d.name == s.device).unwrap();
            let want: BTreeSet<&str> = d.registers.iter().map(|r| r.name.as_str()).collect();
            let got: BTreeSet<&str> = s.values.keys().map(String::as_str).collect();
            assert_eq!(got, want, "registers of {}", s.device);
            assert_eq!(s.quality.len(), want.len());
            *seen.entry(s.device.clone()).or_default() += 1;
        }
    }
    let devices: Vec<_> = cfg.devices.iter().map(|d| d.name.clone()).collect();
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>().len(),
        devices.len(),
        "{seen:?}"
    );
    // Batches in order, each once, contiguous, with the product register's value.
    let b = batches(&lines);
    for w in b.windows(2) {
        assert_ne!(w[0].batch_id, w[1].batch_id);
        assert_eq!(w[0].end_ms, w[1].start_ms, "batches contiguous");
    }
    assert!(
        b.iter()
            .all(|x| x.start_ms < x.end_ms && x.samples > 0 && x.product.is_some())
    );
    let ids: BTreeSet<_> = b.iter().map(|x| x.batch_id.clone()).collect();
    assert_eq!(ids.len(), b.len(), "a batch captured twice");
    // Every enabled model's predictions, with the feature vector they came from.
    let mut models: BTreeMap<String, usize> = BTreeMap::new();
    for l in &lines {
        if let Line::Prediction(p) = l {
            assert!(!p.features.is_empty() && !p.version.is_empty(), "{p:?}");
            assert!((0.0..=1.0).contains(&p.confidence));
            *models.entry(p.model.clone()).or_default() += 1;
        }
    }
    for m in &cfg.models.enabled {
        assert!(
            models.contains_key(m),
            "no prediction of {m} captured: {models:?}"
        );
    }
    // Lines are in time order within the capture.
    assert!(lines.windows(2).all(|w| w[0].ts() <= w[1].ts() + 1000));
    eprintln!(
        "capture: {} lines, {} batches, samples per device {seen:?}, predictions {models:?}",
        lines.len(),
        b.len()
    );
    sub.stop().await;
}
