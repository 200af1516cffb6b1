//! A full disk is a state, not a crash: the store on a real small filesystem (tmpfs, 8 MiB)
//! with a budget larger than the filesystem, the publisher on rumqttd behind a gate.
//!
//! The cycle: fill the disk → alerts keep being accepted and published from memory (other
//! records dropped, counted) → broker down and up → free space → the held alerts are on disk,
//! `store_full` clears → fill again → stop (as on SIGTERM) → start on the full disk → free
//! space. Every alert appended anywhere in the cycle must reach the subscriber.
//!
//! Mounting needs root. Without it the test is skipped with a message, unless
//! `CHOCOLINE_INTEROP=1` (CI), where it is mandatory.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chocoline::config::ByteSize;
use chocoline::domain::AlertKind;
use chocoline::publish::Publisher;
use chocoline::store::config::StoreConfig;
use chocoline::store::{Outbox, Store};
use common::publisher::{envelope, mqtt_cfg, store_cfg};
use common::*;
use tokio_util::sync::CancellationToken;

const PREFIX: &str = "plant/full";

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(test: &str, size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let opts = format!("size={size},mode=1777");
        let ok = privileged(&["mount", "-t", "tmpfs", "-o", &opts, "tmpfs"], dir.path());
        if ok {
            return Some(Tmpfs { dir });
        }
        assert!(
            !interop(),
            "CHOCOLINE_INTEROP=1 but a tmpfs cannot be mounted (needs root or sudo -n)"
        );
        eprintln!("SKIPPED: {test}: cannot mount a tmpfs (needs root)");
        None
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // sled's threads may still hold a file for a moment: retry, then detach lazily so no
        // mount outlives the test.
        for _ in 0..20 {
            if privileged(&["umount"], self.dir.path()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        privileged(&["umount", "-l"], self.dir.path());
    }
}

/// Run `args` + `path` as root: directly when we are root, else through `sudo -n` (CI runs as
/// a user with password-less sudo). True on success.
fn privileged(args: &[&str], path: &Path) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let mut cmd = if root {
        let mut c = Command::new(args[0]);
        c.args(&args[1..]);
        c
    } else {
        let mut c = Command::new("sudo");
        c.arg("-n").args(args);
        c
    };
    cmd.arg(path)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Fill the filesystem to the last byte; returns the filler's path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    for size in [256 * 1024, 4096, 512] {
        let chunk = vec![0x5au8; size];
        while f.write_all(&chunk).is_ok() {}
    }
    let _ = f.sync_all();
    assert!(fs2::available_space(dir).unwrap() < 4096);
    path
}

/// A budget larger than the filesystem, as in the field report.
fn full_disk_cfg(data: &Path, reserve: ByteSize) -> StoreConfig {
    StoreConfig {
        max_bytes: ByteSize::mib(64),
        reserve_bytes: reserve,
        ..store_cfg(data)
    }
}

fn open(cfg: &StoreConfig) -> Store {
    chocoline::store::open(cfg, envelope(PREFIX)).expect("the store must open, full disk or not")
}

struct Running {
    store: Store,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<
        Result<chocoline::publish::PublishStats, chocoline::publish::PublishError>,
    >,
}

fn start(store: Store, port: u16) -> Running {
    let mqtt = mqtt_cfg(&format!("mqtt://127.0.0.1:{port}"), PREFIX);
    let publisher = Publisher::new(&mqtt, Outbox::new(store.clone())).unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(publisher.run(stop.clone()));
    Running { store, stop, task }
}

/// Append `n` rounds of one alert and one prediction; every call must succeed. Returns the
/// alert message ids.
async fn feed(store: &Store, from: u64, n: u64) -> Vec<String> {
    let mut ids = vec![];
    for i in from..from + n {
        let t0 = Instant::now();
        let done = store
            .append(&[
                alert(i, AlertKind::Gritty),
                prediction(i, 1_700_000_000_000 + i as i64),
            ])
            .await
            .unwrap_or_else(|e| panic!("append {i} failed: {e}"));
        assert!(t0.elapsed() < Duration::from_secs(2), "append {i} stalled");
        ids.extend(
            done.iter()
                .filter(|a| a.topic.ends_with("/alerts/gritty"))
                .map(|a| a.id.clone()),
        );
    }
    ids
}

fn ids_of(got: &[Got], kind: &str, state: &str) -> Vec<String> {
    got.iter()
        .filter(|g| g.payload["kind"] == kind && g.payload["state"] == state)
        .map(|g| g.payload["id"].as_str().unwrap_or("").to_string())
        .collect()
}

/// How the alerts the first run left open ended after the restart.
#[derive(Debug, PartialEq)]
enum Closed {
    /// Cleared with reason `restart`.
    ByRestart,
    /// sled had torn its log on ENOSPC: the database was moved aside (`store_corrupt`), and the
    /// open-alert records with it.
    DatabaseQuarantined,
}

#[expect(
    clippy::too_many_lines,
    clippy::cognitive_complexity,
    reason = "test scenario: fill, refuse, recover and drain, read top to bottom"
)]
async fn cycle(reserve: ByteSize, test: &str) -> Option<Closed> {
    let fs = Tmpfs::mount(test, "8m")?;
    let data = fs.path().join("data");
    let cfg = full_disk_cfg(&data, reserve);
    let broker = rumqttd();
    let gate = Gate::new(broker.port());
    gate.open().await;
    let sub = Subscriber::connect(broker.port(), PREFIX).await;
    let mut expected = vec![];

    let a = start(open(&cfg), gate.port);
    expected.extend(feed(&a.store, 0, 10).await);
    // Full: alerts go on, from memory.
    let filler = fill(fs.path());
    expected.extend(feed(&a.store, 100, 10).await);
    // Without a reserve sled may still write into space its files already hold for a while.
    let mut i = 110;
    while !a.store.is_volatile() && i < 1000 {
        expected.extend(feed(&a.store, i, 1).await);
        i += 1;
    }
    assert!(a.store.is_volatile(), "the store must run from memory");
    assert!(a.store.counters().disk_full_dropped > 0);
    // Broker down and up while full.
    gate.close().await;
    expected.extend(feed(&a.store, 1200, 10).await);
    gate.open().await;
    sub.wait_for(30, "every alert sent while the disk was full", |g| {
        expected
            .iter()
            .all(|id| g.iter().any(|m| m.payload["id"] == id.as_str()))
    })
    .await;
    // One raise (at least once: a resend after the broker came back has the same id).
    let mut raised = ids_of(&sub.messages(), "store_full", "raised");
    raised.sort();
    raised.dedup();
    assert_eq!(raised.len(), 1, "one store_full while full: {raised:?}");
    // Room again.
    std::fs::remove_file(&filler).unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    expected.extend(feed(&a.store, 1300, 10).await);
    assert!(!a.store.is_volatile(), "the store must write again");
    sub.wait_for(30, "store_full cleared", |g| {
        !ids_of(g, "store_full", "cleared").is_empty()
    })
    .await;
    // Full again, then stop as on SIGTERM: the publisher must return promptly.
    let filler = fill(fs.path());
    expected.extend(feed(&a.store, 1400, 5).await);
    let t0 = Instant::now();
    a.stop.cancel();
    let stats = a.task.await.unwrap().unwrap();
    let stopped = t0.elapsed();
    drop(a.store);
    // Restart on the full disk.
    let b = start(open(&cfg), gate.port);
    expected.extend(feed(&b.store, 1500, 10).await);
    assert!(b.store.is_volatile(), "started on a full disk: from memory");
    std::fs::remove_file(&filler).unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    expected.extend(feed(&b.store, 1600, 10).await);
    assert!(
        !b.store.is_volatile(),
        "the store must open its database once there is room"
    );
    sub.wait_for(30, "every alert of the cycle", |g| {
        expected
            .iter()
            .all(|id| g.iter().any(|m| m.payload["id"] == id.as_str()))
    })
    .await;
    let got = sub.messages();
    let restart_clears = got
        .iter()
        .filter(|m| m.payload["evidence"]["cleared_reason"] == "restart")
        .count();
    eprintln!(
        "{test}: {} alerts, all delivered; stop took {stopped:?}; restart clears {restart_clears}; \
         first publisher {stats:?}; dropped while full {}",
        expected.len(),
        b.store.counters().disk_full_dropped
    );
    assert!(stopped < Duration::from_secs(10), "stop took {stopped:?}");
    let quarantined = !ids_of(&got, "store_corrupt", "raised").is_empty();
    b.stop.cancel();
    b.task.await.unwrap().unwrap();
    sub.stop().await;
    match (restart_clears > 0, quarantined) {
        (true, _) => Some(Closed::ByRestart),
        (false, true) => Some(Closed::DatabaseQuarantined),
        (false, false) => panic!("{test}: alerts left open were neither cleared nor reported"),
    }
}

/// The free-space guard: the store stops writing before sled meets ENOSPC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_cycle_with_a_reserve_loses_no_alert() {
    let closed = cycle(
        ByteSize::mib(1),
        "full_disk_cycle_with_a_reserve_loses_no_alert",
    )
    .await;
    // With a reserve sled never meets ENOSPC, so its records are intact.
    assert!(
        matches!(closed, None | Some(Closed::ByRestart)),
        "{closed:?}"
    );
}

/// No reserve: sled itself meets ENOSPC (and keeps the error for good); the store closes the
/// database, runs from memory and opens it again once there is room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_cycle_when_sled_fails_loses_no_alert() {
    let closed = cycle(
        ByteSize(0),
        "full_disk_cycle_when_sled_fails_loses_no_alert",
    )
    .await;
    eprintln!("without a reserve: {closed:?}");
}

/// The agent binary on a full disk, as systemd runs it: it starts (no exit 2), keeps polling,
/// raises `store_full`, writes again once there is room, and stops on SIGTERM with exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_binary_starts_runs_and_stops_on_a_full_disk() {
    use common::agent::{PREFIX as DEMO, Ports, http_get, metric, sigterm_and_wait, simulator};
    let Some(fs) = Tmpfs::mount("agent_binary_starts_runs_and_stops_on_a_full_disk", "16m") else {
        return;
    };
    let broker = rumqttd();
    let ports = Ports::on(broker.port());
    let path = common::agent::write_config(fs.path(), &ports);
    let cfg = chocoline::config::load(&path).unwrap().config;
    std::fs::create_dir_all(fs.path().join("data")).unwrap();
    let stop_sim = CancellationToken::new();
    simulator(&cfg, ports.modbus, stop_sim.clone()).await;
    let sub = Subscriber::connect(ports.mqtt, DEMO).await;
    let filler = fill(fs.path());

    let mut child = common::cli::chocoline()
        .args(["run", "--config"])
        .arg(&path)
        // The default reserve (16 MiB) is as large as this filesystem.
        .env("CHOCOLINE__STORE__RESERVE_BYTES", "2MiB")
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    sub.wait_for(60, "store_full raised on a full disk", |g| {
        !ids_of(g, "store_full", "raised").is_empty()
    })
    .await;
    assert!(child.try_wait().unwrap().is_none(), "the agent exited");
    // Polling goes on while the disk is full.
    let samples = |text: &str| metric(text, "chocoline_samples_total ").unwrap_or(0.0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let first = samples(&http_get(ports.metrics, "/metrics").await);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let health = http_get(ports.metrics, "/healthz").await;
    let second = samples(&http_get(ports.metrics, "/metrics").await);
    assert!(second > first, "polling stalled: {first} → {second}");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    // Room again: store_full clears, predictions flow.
    std::fs::remove_file(&filler).unwrap();
    sub.wait_for(60, "store_full cleared once there is room", |g| {
        !ids_of(g, "store_full", "cleared").is_empty()
    })
    .await;
    let topic = format!("{DEMO}/predictions/bloom");
    sub.wait_for(60, "predictions again", |g| {
        g.iter().any(|m| m.topic == topic)
    })
    .await;
    let (status, took) = sigterm_and_wait(&mut child).await;
    eprintln!("full disk: samples {first} → {second}; SIGTERM → exit took {took:?}");
    assert_eq!(status.code(), Some(0), "{status:?}");
    stop_sim.cancel();
    sub.stop().await;
}
