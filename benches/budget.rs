//! Benchmark (not a test): the end-to-end resource budget of issue #9, each figure printed
//! with its target and the ratio figure / target.
//!
//! - **latency**: a Modbus answer carrying a fault → alert durable in sled → PUBACK from a
//!   loopback broker, p50 / p99 (target p99 ≤ 10 ms). Real components in this process: the
//!   line simulator as a tokio-modbus server, the whole agent (`pipeline::agent::run`, every
//!   stage) and rumqttd (`chocoline::broker`). The working temperature register is toggled out
//!   of its `valid_range` and back; with `[alerts] share_window = 1` and a `data_quality`
//!   rule of `consecutive = 1`, each toggle raises or clears one `data_quality` alert. The
//!   start timestamp is taken inside the simulator when it reads the toggled value to build
//!   its answer; the end timestamp when the publisher logs the PUBACK of that alert's outbox
//!   message (its trace-level `publishing` / `acknowledged (PUBACK)` events, captured by a
//!   tracing layer installed here).
//! - **idle**: RSS of `chocoline run` (the release binary, its own process) with the committed
//!   models loaded and config/demo.toml's devices polled every 10 s (target ≤ 20 MB).
//! - **load500**: `chocoline run` with 500 devices × ~4 registers at 1 Hz (config/demo.toml's
//!   four line devices, served by the line simulator, plus 496 auxiliary devices of 4
//!   registers, each its own TCP endpoint): CPU % of one core (≤ 10 %) and RSS (≤ 40 MB),
//!   read from the agent's /proc only. The simulators and the broker run in this process.
//!
//! Run: `cargo bench --bench budget`. Environment: `BUDGET_PARTS` (comma list of latency,
//! idle, load500; default all), `BUDGET_EDGES` (toggles, default 400), `BUDGET_IDLE_SECS`
//! (default 30), `BUDGET_LOAD_SECS` (measured span, default 60), `BUDGET_DEVICES` (default 500),
//! `BUDGET_AGENT` (agent binary to measure, default the one cargo built for the bench).
//! The 1-hour time-compressed soak is `scripts/soak` (see docs/budget.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chocoline::domain::TimestampMs;
use chocoline::pipeline::agent::{self, Supervision};
use chocoline::simulate::server::{RegisterMap, SimService, serve_tcp};
use chocoline::simulate::source::{FixedSource, SignalSource};
use chocoline::simulate::{LineSim, Scenario};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[path = "common/agent.rs"]
mod agent_proc;
use agent_proc::*;

const P99_TARGET_MS: f64 = 10.0;
const IDLE_RSS_TARGET_MB: f64 = 20.0;
const LOAD_CPU_TARGET_PCT: f64 = 10.0;
const LOAD_RSS_TARGET_MB: f64 = 40.0;
/// Working temperature outside config/demo.toml's `valid_range = [10.0, 60.0]`.
const BAD_TEMPERATURE: f64 = 75.0;

// ---------------------------------------------------------------------------------------------
// latency

/// The toggle's shared state, under one lock so that the answer stamped is always one that
/// carries the new value (two separate atomics let a poll read "pending" and the old value).
#[derive(Default)]
struct Toggle {
    bad: bool,
    pending: bool,
    answered: Option<Instant>,
}

/// The line simulator with the working temperature forced out of range while `bad` is set;
/// notes when it first serves a value after a toggle (the "Modbus answer" timestamp).
struct Toggled {
    line: LineSim,
    toggle: Arc<Mutex<Toggle>>,
}

impl SignalSource for Toggled {
    fn value(&self, signal: &str) -> Option<f64> {
        if signal != "temperature" {
            return self.line.value(signal);
        }
        let Ok(mut t) = self.toggle.lock() else {
            return self.line.value(signal);
        };
        if t.pending {
            t.pending = false;
            t.answered = Some(Instant::now());
        }
        if t.bad {
            Some(BAD_TEMPERATURE)
        } else {
            self.line.value(signal)
        }
    }
    fn is_dropped(&self, signal: &str) -> bool {
        self.line.is_dropped(signal)
    }
    fn step(&mut self, dt: Duration) {
        self.line.step(dt);
    }
}

/// What the bench's tracing layer reports from the agent's trace events.
enum Ev {
    /// The validate stage refused a vector (its flags, Debug-formatted).
    Refused(Instant, String),
    /// PUBACK of an alert whose topic ends with the suffix: (publishing began, PUBACK).
    Acked(Instant, Instant),
}

/// Tracing layer on the publisher's and validate stage's trace events: remembers each outbox
/// sequence's topic and publish instant, reports every PUBACK of a message whose topic ends
/// with `suffix`, and every refused vector.
struct AckLayer {
    suffix: &'static str,
    topics: Mutex<HashMap<u64, (String, Instant)>>,
    tx: std::sync::mpsc::Sender<Ev>,
}

#[derive(Default)]
struct Fields {
    message: String,
    seq: Option<u64>,
    topic: String,
    flags: String,
}

impl tracing::field::Visit for Fields {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "seq" {
            self.seq = Some(value);
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "topic" => self.topic = format!("{value:?}"),
            "flags" => self.flags = format!("{value:?}"),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for AckLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let now = Instant::now();
        let target = event.metadata().target();
        let mut f = Fields::default();
        if target == "chocoline::validate::validator" {
            event.record(&mut f);
            let _ = self.tx.send(Ev::Refused(now, f.flags));
            return;
        }
        if target != "chocoline::publish::publisher" {
            return;
        }
        event.record(&mut f);
        let (Some(seq), Ok(mut topics)) = (f.seq, self.topics.lock()) else {
            return;
        };
        if f.message == "publishing" {
            topics.insert(seq, (f.topic, now));
        } else if f.message.starts_with("acknowledged")
            && let Some((topic, sent)) = topics.remove(&seq)
            && topic.ends_with(self.suffix)
        {
            let _ = self.tx.send(Ev::Acked(sent, now));
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[expect(
    clippy::too_many_lines,
    reason = "bench part: set up the agent, toggle, collect and print the latency split in one sequence"
)]
fn latency(mqtt: u16) {
    let edges = env_u64("BUDGET_EDGES", 400);
    let (tx, acks) = std::sync::mpsc::channel();
    let layer = AckLayer {
        suffix: "/alerts/data_quality",
        topics: Mutex::new(HashMap::new()),
        tx,
    };
    let filter = tracing_subscriber::filter::Targets::new()
        .with_target("chocoline::publish::publisher", tracing::Level::TRACE)
        .with_target("chocoline::validate::validator", tracing::Level::TRACE);
    tracing_subscriber::registry()
        .with(tracing_subscriber::Layer::with_filter(layer, filter))
        .init();

    let dir = tempfile::tempdir().expect("tempdir");
    let modbus = free_port();
    // Every line device polled at 50 ms; stuck and spike checks off so that only the toggled
    // register changes the data-quality verdict; a one-vector share window and a one-step
    // rule, so each toggle raises or clears exactly one data_quality alert.
    let extra = "\n[features]\nstuck_samples = 0\nspike_k = 1000000.0\n\n[alerts]\nshare_window = 1\n\n\
                 [alerts.data_quality]\nseverity = \"warning\"\nraise = 0.5\nclear = 0.0\nconsecutive = 1\n";
    let text = line_config(
        modbus,
        mqtt,
        free_port(),
        &dir.path().join("store"),
        "50ms",
        "40ms",
        extra,
    );
    let path = dir.path().join("latency.toml");
    std::fs::write(&path, text).expect("write config");
    let cfg = load_config(&path);

    let toggle = Arc::new(Mutex::new(Toggle::default()));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (lat_raise, lat_clear, seg, slow, misses) = rt.block_on(async {
        let stop = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", modbus))
            .await
            .expect("bind modbus");
        let source = Toggled {
            line: LineSim::new(Scenario::Normal, 7, TimestampMs::now()),
            toggle: toggle.clone(),
        };
        serve_line(&cfg, listener, source, &stop);
        let shutdown = CancellationToken::new();
        let agent_task = {
            let cfg = cfg.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move { agent::run(&cfg, Supervision::none(), None, shutdown).await })
        };
        // Warm-up: windows fill, start-up data-quality alerts raise and clear.
        tokio::time::sleep(Duration::from_secs(5)).await;
        while acks.try_recv().is_ok() {}
        let (mut raise, mut clear, mut misses) = (Vec::new(), Vec::new(), 0u32);
        // Raise edges split in three: answer → vector refused (acquire, features, validate),
        // refused → publishing (alert engine, sled append + fsync, durable watch),
        // publishing → PUBACK (rumqttc, broker, back).
        let mut seg: [Vec<f64>; 3] = Default::default();
        // Clear edges slower than 10 ms: the flags of the vectors refused after the answer.
        let mut slow: HashMap<String, u32> = HashMap::new();
        let ms = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64() * 1000.0;
        for k in 0..edges {
            let to_bad = k % 2 == 0;
            if let Ok(mut t) = toggle.lock() {
                *t = Toggle {
                    bad: to_bad,
                    pending: true,
                    answered: None,
                };
            }
            let deadline = Instant::now() + Duration::from_secs(3);
            let (mut got, mut refused) = (None, Vec::new());
            while Instant::now() < deadline {
                match acks.try_recv() {
                    Ok(Ev::Acked(sent, t)) => {
                        got = Some((sent, t));
                        break;
                    }
                    Ok(Ev::Refused(t, flags)) => refused.push((t, flags)),
                    Err(_) => tokio::time::sleep(Duration::from_micros(500)).await,
                }
            }
            let start = toggle.lock().ok().and_then(|t| t.answered);
            match (start, got) {
                (Some(s), Some((sent, t))) if t >= s => {
                    let after: Vec<_> = refused.into_iter().filter(|(r, _)| *r >= s).collect();
                    if to_bad {
                        raise.push(ms(s, t));
                        if let Some((r, _)) = after.first() {
                            seg[0].push(ms(s, *r));
                            seg[1].push(ms(*r, sent));
                            seg[2].push(ms(sent, t));
                        }
                    } else {
                        clear.push(ms(s, t));
                        if ms(s, t) > P99_TARGET_MS {
                            for (_, f) in after {
                                *slow.entry(f).or_default() += 1;
                            }
                        }
                    }
                }
                _ => {
                    misses += 1;
                    // Resynchronise: let the state settle and forget stray acks.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    while acks.try_recv().is_ok() {}
                }
            }
            // Let the other devices' vectors pass before the next toggle.
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        shutdown.cancel();
        let report = agent_task.await;
        stop.cancel();
        if let Ok(Ok(r)) = &report {
            println!(
                "  agent: {} samples, {} predictions, {} records, publish {:?}",
                r.samples, r.predictions, r.records, r.publish
            );
        }
        (raise, clear, seg, slow, misses)
    });
    let mut all: Vec<f64> = lat_raise.iter().chain(&lat_clear).copied().collect();
    all.sort_by(f64::total_cmp);
    let show = |name: &str, v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        let p99 = percentile(&v, 99.0);
        println!(
            "  {name:<8} n={:<4} p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (p99 target {P99_TARGET_MS} ms, ratio {:.2})",
            v.len(),
            percentile(&v, 50.0),
            percentile(&v, 90.0),
            p99,
            v.last().copied().unwrap_or(f64::NAN),
            p99 / P99_TARGET_MS
        );
    };
    println!(
        "latency: Modbus answer → data_quality alert durable in sled → PUBACK (rumqttd in-process), {edges} toggles, {misses} unmatched"
    );
    show("raised", &lat_raise);
    show("cleared", &lat_clear);
    show("all", &all);
    for (name, v) in [
        "raise: answer → refused",
        "raise: refused → publishing",
        "raise: publishing → PUBACK",
    ]
    .iter()
    .zip(&seg)
    {
        let mut v = v.clone();
        v.sort_by(f64::total_cmp);
        println!(
            "    {name:<30} p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            percentile(&v, 50.0),
            percentile(&v, 90.0),
            percentile(&v, 99.0),
            v.last().copied().unwrap_or(f64::NAN)
        );
    }
    let mut slow: Vec<_> = slow.into_iter().collect();
    slow.sort_by_key(|b| std::cmp::Reverse(b.1));
    for (flags, n) in slow.iter().take(8) {
        println!("    clear > {P99_TARGET_MS} ms, vectors refused after the answer: {n} × {flags}");
    }
}

// ---------------------------------------------------------------------------------------------
// agent as a child process

fn idle(mqtt: u16) {
    let secs = env_u64("BUDGET_IDLE_SECS", 30);
    let dir = tempfile::tempdir().expect("tempdir");
    let (modbus, metrics) = (free_port(), free_port());
    let text = line_config(
        modbus,
        mqtt,
        metrics,
        &dir.path().join("store"),
        "10s",
        "1s",
        "",
    );
    let path = dir.path().join("idle.toml");
    std::fs::write(&path, text).expect("write config");
    let cfg = load_config(&path);
    let (rt, stop) = start_line(&cfg, modbus);
    let mut child = spawn_agent(&path, &dir.path().join("agent.log"));
    let pid = child.id();
    wait_metrics(metrics, &mut child, &dir.path().join("agent.log"));
    std::thread::sleep(Duration::from_secs(secs));
    let rss = status_mb(pid, "VmRSS");
    let mem = memory_line(pid);
    stop_agent(child);
    stop.cancel();
    drop(rt);
    println!(
        "idle: `chocoline run`, 4 models loaded, 4 line devices polled every 10 s, after {secs} s"
    );
    println!(
        "  RSS {rss:.1} MB  (target {IDLE_RSS_TARGET_MB} MB, ratio {:.2}); {mem}",
        rss / IDLE_RSS_TARGET_MB
    );
}

/// Four auxiliary registers of device `i` (not model inputs: they stop at the feature stage).
fn aux_device_toml(i: usize, port: u16) -> String {
    format!(
        "\n[[devices]]\nname = \"aux{i}\"\ncontroller = \"tcp://127.0.0.1:{port}\"\nslave_id = 1\npoll_interval = \"1s\"\ntimeout = \"500ms\"\n\
         [[devices.registers]]\nname = \"aux{i}_temp\"\naddress = 0\ndata_type = \"FLOAT32\"\nunit = \"°C\"\nvalid_range = [0.0, 100.0]\n\
         [[devices.registers]]\nname = \"aux{i}_hum\"\naddress = 2\nscale = 0.1\n\
         [[devices.registers]]\nname = \"aux{i}_count\"\naddress = 3\ndata_type = \"INT32\"\nbyte_order = \"CDAB\"\n\
         [[devices.registers]]\nname = \"aux{i}_state\"\naddress = 10\n"
    )
}

#[expect(
    clippy::too_many_lines,
    reason = "bench part: 500 devices set up, measured and printed in one sequence"
)]
fn load500(mqtt: u16) {
    let n = env_u64("BUDGET_DEVICES", 500).max(5) as usize;
    let secs = env_u64("BUDGET_LOAD_SECS", 60);
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics = free_port();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let stop = CancellationToken::new();
    let path = dir.path().join("load500.toml");
    rt.block_on(async {
        // The line's listener is bound first so that no auxiliary listener can take its port.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let modbus = l.local_addr().expect("addr").port();
        let mut listeners = Vec::new();
        for _ in 4..n {
            listeners.push(
                tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind"),
            );
        }
        // Every device at 1 Hz (config/demo.toml polls the refiner and conche every 2 s).
        let mut text = line_config(
            modbus,
            mqtt,
            metrics,
            &dir.path().join("store"),
            "1s",
            "500ms",
            "",
        );
        for (k, l) in listeners.iter().enumerate() {
            let port = l.local_addr().expect("addr").port();
            text.push_str(&aux_device_toml(k, port));
        }
        std::fs::write(&path, &text).expect("write config");
        let cfg = load_config(&path);
        let line: Vec<_> = cfg.devices.iter().take(4).cloned().collect();
        let line_cfg = chocoline::config::Config {
            devices: line,
            ..cfg.clone()
        };
        serve_line(
            &line_cfg,
            l,
            LineSim::new(Scenario::Normal, 7, TimestampMs::now()),
            &stop,
        );
        for ((k, l), d) in listeners
            .into_iter()
            .enumerate()
            .zip(cfg.devices.iter().skip(4))
        {
            let map = RegisterMap::from_devices(std::slice::from_ref(d), &Default::default())
                .expect("map");
            let src = FixedSource::new([
                (format!("aux{k}_temp"), 31.5),
                (format!("aux{k}_hum"), 55.0),
                (format!("aux{k}_count"), k as f64),
                (format!("aux{k}_state"), 1.0),
            ]);
            tokio::spawn(serve_tcp(l, SimService::new(map, src), stop.clone()));
        }
    });
    let mut child = spawn_agent(&path, &dir.path().join("agent.log"));
    let pid = child.id();
    wait_metrics(metrics, &mut child, &dir.path().join("agent.log"));
    // Connect and fill the feature windows before measuring.
    std::thread::sleep(Duration::from_secs(10));
    let s0 = scrape(metrics, "chocoline_samples_total").unwrap_or(f64::NAN);
    let (c0, t0) = (cpu_secs(pid), Instant::now());
    let mut rss_max: f64 = 0.0;
    while t0.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_secs(1));
        rss_max = rss_max.max(status_mb(pid, "VmRSS"));
    }
    let (c1, t1) = (cpu_secs(pid), t0.elapsed());
    let s1 = scrape(metrics, "chocoline_samples_total").unwrap_or(f64::NAN);
    let preds: f64 = ["bloom", "anomaly", "quality", "yield"]
        .iter()
        .filter_map(|m| {
            scrape(
                metrics,
                &format!("chocoline_predictions_total{{model=\"{m}\"}}"),
            )
        })
        .sum();
    let mem = memory_line(pid);
    let rss = status_mb(pid, "VmRSS");
    stop_agent(child);
    stop.cancel();
    drop(rt);
    let cpu = 100.0 * (c1 - c0) / t1.as_secs_f64();
    let regs = 13 + 4 * (n - 4);
    println!(
        "load500: `chocoline run`, {n} TCP devices ({regs} registers) at 1 Hz, full pipeline, measured {secs} s after 10 s warm-up"
    );
    println!(
        "  samples/s {:.1} (expected ~{:.0}); predictions so far {preds:.0}",
        (s1 - s0) / t1.as_secs_f64(),
        n as f64
    );
    println!(
        "  CPU {cpu:.2} % of one core  (target {LOAD_CPU_TARGET_PCT} %, ratio {:.2})",
        cpu / LOAD_CPU_TARGET_PCT
    );
    println!(
        "  RSS {rss:.1} MB, max sampled {rss_max:.1} MB  (target {LOAD_RSS_TARGET_MB} MB, ratio {:.2}); {mem}",
        rss_max / LOAD_RSS_TARGET_MB
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: only measure when asked.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("budget: run with `cargo bench --bench budget`");
        return;
    }
    let parts = std::env::var("BUDGET_PARTS").unwrap_or_else(|_| "latency,idle,load500".into());
    let mqtt = free_port();
    chocoline::broker::spawn(mqtt).expect("embedded broker");
    println!(
        "budget: rumqttd in-process on 127.0.0.1:{mqtt}; agent binary {}; GLIBC_TUNABLES {}",
        agent_binary(),
        glibc_tunables().unwrap_or_else(|| "(none)".into())
    );
    for part in parts.split(',').map(str::trim) {
        match part {
            "latency" => latency(mqtt),
            "idle" => idle(mqtt),
            "load500" => load500(mqtt),
            other => eprintln!("budget: unknown part {other:?} (latency, idle, load500)"),
        }
    }
}
