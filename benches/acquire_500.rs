//! Benchmark (not a test): the acquire stage polling ≥ 500 Modbus TCP devices × 4 registers at
//! 1 Hz, each device its own TCP endpoint (500 connections).
//!
//! To measure the poller alone, the 500 simulated devices run in a child process (this same
//! binary re-executed with `ACQUIRE_BENCH_ROLE=servers`); the parent runs only the acquire
//! stage and a consumer that counts samples, and reads its own CPU time (`/proc/self/stat`,
//! user + system) and peak RSS (`VmHWM` in `/proc/self/status`). CPU is reported as % of one
//! core over the steady state (after the first 5 s of connecting) and over the whole run.
//!
//! Run: `cargo bench --bench acquire_500` (release). Environment: `ACQUIRE_BENCH_SECS`
//! (default 60), `ACQUIRE_BENCH_DEVICES` (default 500). Targets: ≤ 10 % of one core, ≤ 40 MB.

use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chocoline::acquire::Acquire;
use chocoline::acquire::config::DeviceConfig;
use chocoline::config::Config;
use chocoline::simulate::server::{RegisterMap, SimService, serve_tcp};
use chocoline::simulate::source::FixedSource;
use tokio_util::sync::CancellationToken;

const CPU_TARGET_PCT: f64 = 10.0;
const RSS_TARGET_MB: f64 = 40.0;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One device's 4 registers: FLOAT32, UINT16, INT32 (CDAB), UINT16 after a small hole — the
/// planner merges them into one read of 11 words.
fn device_toml(i: usize, port: u16) -> String {
    format!(
        "[[devices]]\nname = \"dev{i}\"\ncontroller = \"tcp://127.0.0.1:{port}\"\nslave_id = 1\npoll_interval = \"1s\"\ntimeout = \"500ms\"\n\
         [[devices.registers]]\nname = \"temp{i}\"\naddress = 0\ndata_type = \"FLOAT32\"\nunit = \"°C\"\nvalid_range = [0.0, 100.0]\n\
         [[devices.registers]]\nname = \"hum{i}\"\naddress = 2\nscale = 0.1\n\
         [[devices.registers]]\nname = \"count{i}\"\naddress = 3\ndata_type = \"INT32\"\nbyte_order = \"CDAB\"\n\
         [[devices.registers]]\nname = \"state{i}\"\naddress = 10\n"
    )
}

fn devices(ports: &[u16]) -> Vec<DeviceConfig> {
    let text: String = ports
        .iter()
        .enumerate()
        .map(|(i, p)| device_toml(i, *p))
        .collect();
    let cfg: Config = toml_edit::de::from_str(&text).expect("bench config");
    cfg.devices
}

/// Child: one Modbus TCP server per device; prints the ports, then serves until stdin closes.
fn servers(n: usize) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let token = CancellationToken::new();
        let mut listeners = Vec::new();
        for _ in 0..n {
            listeners.push(
                tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind"),
            );
        }
        let ports: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().expect("addr").port())
            .collect();
        let devs = devices(&ports);
        let mut out = std::io::stdout().lock();
        for (i, (l, d)) in listeners.into_iter().zip(&devs).enumerate() {
            let map = RegisterMap::from_devices(std::slice::from_ref(d), &Default::default())
                .expect("map");
            let src = FixedSource::new([
                (format!("temp{i}"), 31.5),
                (format!("hum{i}"), 55.0),
                (format!("count{i}"), i as f64),
                (format!("state{i}"), 1.0),
            ]);
            tokio::spawn(serve_tcp(l, SimService::new(map, src), token.clone()));
            let _ = writeln!(out, "{}", ports[i]);
        }
        let _ = writeln!(out, "READY");
        let _ = out.flush();
        drop(out);
        // Parent gone (stdin closed) → exit.
        let _ = tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await;
        token.cancel();
    });
}

/// CPU seconds (user + system) of this process.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the ")" that closes the command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // CLK_TCK is 100 on Linux x86_64 and aarch64.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident set size, MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[expect(
    clippy::too_many_lines,
    reason = "bench main: set up, measure, print in one sequence"
)]
fn main() {
    let n = env_u64("ACQUIRE_BENCH_DEVICES", 500) as usize;
    if std::env::var("ACQUIRE_BENCH_ROLE").as_deref() == Ok("servers") {
        servers(n);
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful: only run
    // the full measurement when asked to benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("acquire_500: run with `cargo bench --bench acquire_500`");
        return;
    }
    let secs = env_u64("ACQUIRE_BENCH_SECS", 60);
    let exe = std::env::current_exe().expect("current exe");
    let mut child = Command::new(exe)
        .env("ACQUIRE_BENCH_ROLE", "servers")
        .env("ACQUIRE_BENCH_DEVICES", n.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn servers");
    let mut ports = Vec::new();
    let stdout = child.stdout.take().expect("child stdout");
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read ports");
        if line == "READY" {
            break;
        }
        ports.push(line.parse::<u16>().expect("port"));
    }
    assert_eq!(ports.len(), n, "servers did not start");
    let devs = devices(&ports);

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (samples, readings_good, metrics) = rt.block_on(async move {
        let acquire = Acquire::from_config(&devs).expect("acquire");
        let metrics = acquire.metrics();
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let token = CancellationToken::new();
        let stage = tokio::spawn(acquire.run(tx, token.clone()));
        let consumer = tokio::spawn(async move {
            let (mut samples, mut good) = (0u64, 0u64);
            while let Some(s) = rx.recv().await {
                samples += 1;
                good += s
                    .readings
                    .iter()
                    .filter(|r| r.quality == chocoline::domain::Quality::Good)
                    .count() as u64;
            }
            (samples, good)
        });
        let warmup = Duration::from_secs(5.min(secs / 4));
        tokio::time::sleep(warmup).await;
        let (c0, t0) = (cpu_secs(), Instant::now());
        tokio::time::sleep(Duration::from_secs(secs).saturating_sub(warmup)).await;
        let (c1, t1) = (cpu_secs(), Instant::now());
        token.cancel();
        let _ = stage.await;
        let (samples, good) = consumer.await.unwrap_or((0, 0));
        let steady = 100.0 * (c1 - c0) / (t1 - t0).as_secs_f64();
        (samples, good, (metrics, steady))
    });
    let (m, steady_cpu) = metrics;
    let total_cpu = 100.0 * cpu_secs() / secs as f64;
    let rss = peak_rss_mb();
    drop(child.stdin.take());
    let _ = child.wait();

    let expected = (n as u64) * secs;
    let cycles = m.cycles.load(Ordering::Relaxed).max(1);
    println!(
        "acquire_500: {n} TCP devices x 4 registers at 1 Hz for {secs} s (poller process only)"
    );
    println!(
        "  samples {samples} (expected ~{expected}), good readings {readings_good}, comm errors {}, missed cycles {}",
        m.comm_error.load(Ordering::Relaxed),
        m.missed_cycles.load(Ordering::Relaxed)
    );
    println!(
        "  poll start jitter: mean {:.2} ms, max {:.2} ms",
        m.jitter_sum_us.load(Ordering::Relaxed) as f64 / cycles as f64 / 1000.0,
        m.jitter_max_us.load(Ordering::Relaxed) as f64 / 1000.0
    );
    println!(
        "  CPU (steady state, % of one core): {steady_cpu:.2} %  (target {CPU_TARGET_PCT} %, ratio {:.2})",
        steady_cpu / CPU_TARGET_PCT
    );
    println!("  CPU (whole run incl. connect):      {total_cpu:.2} %");
    println!(
        "  peak RSS: {rss:.1} MB  (target {RSS_TARGET_MB} MB, ratio {:.2})",
        rss / RSS_TARGET_MB
    );
}
