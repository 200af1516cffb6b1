//! Store & publish benchmarks (a bench binary: `cargo bench --bench store`). Prints each figure
//! and its ratio to the anchor:
//!
//! 1. outbox append + flush latency, one alert per flush (p50 / p99), and per record when 100
//!    are group-committed by one flush;
//! 2. disk bytes per stored alert (sled size on disk and files on disk, after 10,000 alerts);
//! 3. drain rate after an outage: N alerts queued while no broker runs, then rumqttd starts on
//!    loopback and the publisher drains the outbox (target ≥ 5,000 msg/s).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use chocoline::domain::AlertKind;
use chocoline::publish::Publisher;
use chocoline::publish::config::MqttConfig;
use chocoline::store::config::StoreConfig;
use chocoline::store::{Envelope, Outbox, Store};
use tokio_util::sync::CancellationToken;

/// The store under test: defaults, except `BENCH_CACHE_CAPACITY` (e.g. "2MiB") sets sled's
/// cache, to compare cache sizes with the same binary.
fn open(dir: &std::path::Path) -> Store {
    let mut cfg = StoreConfig {
        data_dir: dir.to_path_buf(),
        ..StoreConfig::default()
    };
    if let Ok(v) = std::env::var("BENCH_CACHE_CAPACITY") {
        cfg.cache_capacity = v
            .parse()
            .expect("BENCH_CACHE_CAPACITY: a size such as 2MiB");
    }
    let env = Envelope {
        site: "site".into(),
        line: "line".into(),
        topic_prefix: "bench".into(),
        topics: Default::default(),
        max_message_bytes: chocoline::publish::config::DEFAULT_MAX_MESSAGE_BYTES,
    };
    chocoline::store::open(&cfg, env).expect("open store")
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn dir_bytes(p: &std::path::Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                n += dir_bytes(&path);
            } else if let Ok(m) = e.metadata() {
                n += m.len();
            }
        }
    }
    n
}

async fn latency() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    for i in 0..50 {
        s.append(&[common::alert(i, AlertKind::Gritty)])
            .await
            .unwrap();
    }
    let n = 2000;
    let mut lat = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let rec = common::alert(i, AlertKind::Gritty);
        let t = Instant::now();
        s.append(&[rec]).await.unwrap();
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "append+flush, 1 alert per flush ({n} runs): p50 {:?}  p99 {:?}  max {:?}",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat[lat.len() - 1]
    );
    let batches = 100;
    let t = Instant::now();
    for b in 0..batches {
        let recs: Vec<_> = (0..100)
            .map(|i| common::alert(b * 100 + i, AlertKind::Gritty))
            .collect();
        s.append(&recs).await.unwrap();
    }
    let per = t.elapsed() / (batches as u32 * 100);
    println!(
        "append+flush, 100 alerts per flush: {per:?} per record ({:.0} records/s)",
        1.0 / per.as_secs_f64()
    );
}

async fn disk() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let before = s.size_on_disk().unwrap();
    let before_files = dir_bytes(dir.path());
    let n = 10_000u64;
    for b in 0..(n / 100) {
        let recs: Vec<_> = (0..100)
            .map(|i| common::alert(b * 100 + i, AlertKind::FatBloomRisk))
            .collect();
        s.append(&recs).await.unwrap();
    }
    s.flush().await.unwrap();
    let payload = chocoline::store::Outbox::new(s.clone()).read(0, 1).unwrap()[0]
        .1
        .payload
        .len();
    let sled_b = s.size_on_disk().unwrap().saturating_sub(before) as f64 / n as f64;
    let files_b = dir_bytes(dir.path()).saturating_sub(before_files) as f64 / n as f64;
    let budget_b = s.used_bytes() as f64 / n as f64;
    println!(
        "disk per stored alert ({n} alerts, payload {payload} B JSON): sled size_on_disk {sled_b:.0} B, files {files_b:.0} B, budget accounting {budget_b:.0} B (ratio files/budget {:.2})",
        files_b / budget_b
    );
}

async fn drain() {
    let n: u64 = std::env::var("DRAIN_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    for b in 0..(n / 100) {
        let recs: Vec<_> = (0..100)
            .map(|i| common::alert(b * 100 + i, AlertKind::Anomaly))
            .collect();
        s.append(&recs).await.unwrap();
    }
    let broker = common::rumqttd();
    for window in [32u16, 256] {
        if s.outbox_depth() == 0 {
            for b in 0..(n / 100) {
                let recs: Vec<_> = (0..100)
                    .map(|i| common::alert(b * 100 + i, AlertKind::Anomaly))
                    .collect();
                s.append(&recs).await.unwrap();
            }
        }
        let mut cfg = MqttConfig {
            url: format!("mqtt://127.0.0.1:{}", broker.port()),
            client_id: format!("bench-{window}"),
            topic_prefix: "bench".into(),
            inflight: window,
            ..MqttConfig::default()
        };
        cfg.reconnect_min = chocoline::config::Duration::from_millis(20);
        let publisher = Publisher::new(&cfg, Outbox::new(s.clone())).unwrap();
        let stop = CancellationToken::new();
        let t = Instant::now();
        let task = tokio::spawn(publisher.run(stop.clone()));
        while s.outbox_depth() > 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let el = t.elapsed();
        stop.cancel();
        let stats = task.await.unwrap().unwrap();
        let rate = n as f64 / el.as_secs_f64();
        println!(
            "drain after outage, window {window}: {n} alerts in {el:?} = {rate:.0} msg/s (anchor 5,000 msg/s: ratio {:.2}) acked={}",
            rate / 5000.0,
            stats.acked
        );
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs it as a quick smoke test.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        latency().await;
        disk().await;
        drain().await;
    });
}
