//! Benchmark (not a test): what raw signals, the Sparkplug edge node and capture cost the
//! agent (issue #19: "raw signals at 1 Hz for the demo line add ≤ 1 % of one core"; the edge
//! node is held to the same 1 %; issue #18: "capture overhead at 1 Hz on the demo line ≤ 1 %
//! of one core and bounded disk (bytes per hour, and the cap holding over a time-compressed
//! week)").
//!
//! `chocoline run` (the release binary, its own process) on config/demo.toml with every line
//! device polled at 1 Hz, the line simulator and rumqttd in this process. The same agent runs
//! alternately without signals (the anchor) and with `[mqtt.topics.signals]` on and
//! `report_by_exception = false` — every reading of every register published, the most
//! signals the setting can produce — and a third time as a Sparkplug edge node (`[sparkplug]`
//! on, JSON signals off, every reading in a DDATA, node metrics checked once a second). Each
//! run — and a fourth time with `[capture]` on (every poll cycle, batch and prediction in
//! segment files; the bytes it writes per hour are measured from the folder). Each
//! run: 10 s warm-up, then the agent's own CPU time (utime + stime from /proc) over
//! `SIGNALS_SECS` (default 60). Printed: each run, the median of each arm, the difference to
//! the anchor in % of one core and its ratio to the 1 % target.
//!
//! Run: `cargo bench --bench signals`. Environment: `SIGNALS_ROUNDS` (pairs, default 3),
//! `SIGNALS_SECS`, `BUDGET_AGENT` (agent binary, default the one cargo built for the bench).

#[path = "common/agent.rs"]
mod agent_proc;
use agent_proc::*;

use std::time::{Duration, Instant};

const TARGET_PCT: f64 = 1.0;

const SIGNALS_ON: &str = r#"
[mqtt.topics.signals]
enabled = true
report_by_exception = false
"#;

const SPARKPLUG_ON: &str = r#"
[mqtt.topics.signals]
report_by_exception = false

[sparkplug]
enabled = true
"#;

const CAPTURE_ON: &str = r#"
[capture]
enabled = true
"#;

/// Published-readings counter of each output.
const SIGNALS_PUBLISHED: &str = "chocoline_signals_total{outcome=\"published\"}";
const SPARKPLUG_PUBLISHED: &str = "chocoline_sparkplug_readings_total{outcome=\"published\"}";
const CAPTURE_WRITTEN: &str = "chocoline_capture_lines_total{outcome=\"written\"}";

/// Bytes of the files in `dir` (0 when it does not exist).
fn folder_bytes(dir: &std::path::Path) -> u64 {
    (std::fs::read_dir(dir).into_iter().flatten().flatten())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// One measured run: CPU % of one core, what `counter` counted per second, and the bytes
/// per hour written into the capture folder.
fn run(mqtt: u16, extra: &str, secs: u64, counter: &str) -> (f64, f64, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (modbus, metrics) = (free_port(), free_port());
    let text = line_config(
        modbus,
        mqtt,
        metrics,
        &dir.path().join("store"),
        "1s",
        "500ms",
        extra,
    );
    let path = dir.path().join("signals.toml");
    std::fs::write(&path, text).expect("write config");
    let cfg = load_config(&path);
    let (rt, stop) = start_line(&cfg, modbus);
    let log = dir.path().join("agent.log");
    let mut child = spawn_agent(&path, &log);
    let pid = child.id();
    wait_metrics(metrics, &mut child, &log);
    std::thread::sleep(Duration::from_secs(10));
    let published = || scrape(metrics, counter).unwrap_or(0.0);
    let capture = dir.path().join("store").join("capture");
    let (p0, c0, t0, b0) = (
        published(),
        cpu_secs(pid),
        Instant::now(),
        folder_bytes(&capture),
    );
    std::thread::sleep(Duration::from_secs(secs));
    let (p1, c1, t1) = (published(), cpu_secs(pid), t0.elapsed().as_secs_f64());
    let b1 = folder_bytes(&capture);
    stop_agent(child);
    stop.cancel();
    drop(rt);
    let per_hour = (b1.saturating_sub(b0)) as f64 / t1 * 3600.0;
    ((c1 - c0) / t1 * 100.0, (p1 - p0) / t1, per_hour)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: only measure when asked.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("signals: run with `cargo bench --bench signals`");
        return;
    }
    let rounds = env_u64("SIGNALS_ROUNDS", 3).max(1);
    let secs = env_u64("SIGNALS_SECS", 60).max(5);
    let mqtt = free_port();
    chocoline::broker::spawn(mqtt).expect("embedded broker");
    println!(
        "signals: demo line at 1 Hz, {secs} s per run, {rounds} rounds; agent binary {}",
        agent_binary()
    );
    let (mut off, mut on, mut spb) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cap, mut cap_bytes) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let (cpu, _, _) = run(mqtt, "", secs, SIGNALS_PUBLISHED);
        println!("  round {round}: signals off  CPU {cpu:.3} % of one core");
        off.push(cpu);
        let (cpu, rate, _) = run(mqtt, SIGNALS_ON, secs, SIGNALS_PUBLISHED);
        println!(
            "  round {round}: signals on   CPU {cpu:.3} % of one core, {rate:.1} signals/s published"
        );
        assert!(rate > 1.0, "signals on, but none were published");
        on.push(cpu);
        let (cpu, rate, _) = run(mqtt, SPARKPLUG_ON, secs, SPARKPLUG_PUBLISHED);
        println!(
            "  round {round}: sparkplug    CPU {cpu:.3} % of one core, {rate:.1} readings/s in DDATA"
        );
        assert!(rate > 1.0, "sparkplug on, but no reading went out");
        spb.push(cpu);
        let (cpu, rate, per_hour) = run(mqtt, CAPTURE_ON, secs, CAPTURE_WRITTEN);
        println!(
            "  round {round}: capture      CPU {cpu:.3} % of one core, {rate:.1} lines/s, {:.2} MB/h",
            per_hour / 1e6
        );
        assert!(
            rate > 1.0 && per_hour > 0.0,
            "capture on, but nothing was written"
        );
        cap.push(cpu);
        cap_bytes.push(per_hour);
    }
    let (a, b, c, d) = (median(off), median(on), median(spb), median(cap));
    println!(
        "  median: off {a:.3} %, signals {b:.3} %, sparkplug {c:.3} %, capture {d:.3} % (anchor: the same agent with none of them)"
    );
    for (what, cost) in [("signals", b - a), ("sparkplug", c - a), ("capture", d - a)] {
        println!(
            "  {what} cost {cost:.3} % of one core  (target ≤ {TARGET_PCT} %, ratio {:.2})",
            cost / TARGET_PCT
        );
    }
    week(median(cap_bytes));
}

/// A week of capture at `per_hour` bytes an hour, time-compressed: lines of the demo line's
/// size written straight through the capture writer into a 64 MiB cap; the folder is
/// measured after every simulated hour and must never exceed the cap.
fn week(per_hour: f64) {
    use chocoline::capture::config::CaptureConfig;
    use chocoline::capture::line::{Line, SampleLine};
    use chocoline::capture::writer::{LineCounters, Writer};
    use chocoline::settings::units::ByteSize;
    let cap = ByteSize::mib(64);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = CaptureConfig {
        enabled: true,
        max_bytes: cap,
        segment_bytes: ByteSize::mib(8),
        keep_free: ByteSize(0),
        ..CaptureConfig::default()
    };
    let counters = LineCounters::default();
    let mut w = Writer::open(dir.path(), cfg, counters.clone()).expect("writer");
    let line = |ts: i64| {
        Line::Sample(SampleLine {
            ts,
            device: "tempering".into(),
            values: [
                ("temperature".into(), Some(31.25)),
                ("humidity".into(), Some(55.5)),
            ]
            .into(),
            quality: [
                ("temperature".into(), chocoline::domain::Quality::Good),
                ("humidity".into(), chocoline::domain::Quality::Good),
            ]
            .into(),
        })
    };
    let size = chocoline::capture::line::encode(&line(1_796_000_000_000)).len() as f64;
    let per_sim_hour = (per_hour / size).ceil().max(1.0) as i64;
    let (mut largest, mut written) = (0, 0u64);
    let t0 = 1_796_000_000_000_i64;
    for hour in 0..(7 * 24) {
        for i in 0..per_sim_hour {
            w.write(&line(t0 + hour * 3_600_000 + i * 3_600_000 / per_sim_hour));
            written += size as u64;
        }
        w.flush();
        largest = largest.max(folder_bytes(dir.path()));
    }
    w.close().expect("close");
    println!(
        "  capture over a compressed week: {:.0} MB written at {:.2} MB/h, folder at most {:.1} MiB (cap {} MiB), {} segments pruned",
        written as f64 / 1e6,
        per_hour / 1e6,
        largest as f64 / (1 << 20) as f64,
        cap.get() >> 20,
        counters.pruned.get()
    );
    assert!(largest <= cap.get(), "the capture folder went over its cap");
}
