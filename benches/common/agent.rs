//! The agent as the resource benches run it: config/demo.toml pointed at the bench's ports,
//! the line simulator serving it, `chocoline run` as its own process, and what /proc and
//! /metrics say about it. Shared by `budget` and `signals` (each includes it as a module).

#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chocoline::simulate::server::{RegisterMap, SimService, drive, serve_tcp};
use chocoline::simulate::source::SignalSource;
use tokio_util::sync::CancellationToken;

pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// config/demo.toml pointed at this bench's ports, models and data dir, with every
/// `poll_interval` / `timeout` of the four line devices replaced, plus `extra` merged in
/// (its tables extend or override demo.toml's: demo.toml has its own `[features]`).
pub fn line_config(
    modbus: u16,
    mqtt: u16,
    metrics: u16,
    data: &Path,
    poll: &str,
    timeout: &str,
    extra: &str,
) -> String {
    let text = std::fs::read_to_string(repo().join("config/demo.toml")).expect("demo.toml");
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        let line = if t.starts_with("poll_interval =") {
            format!("poll_interval = \"{poll}\"")
        } else if t.starts_with("timeout =") {
            format!("timeout = \"{timeout}\"")
        } else {
            line.replace("tcp://127.0.0.1:5020", &format!("tcp://127.0.0.1:{modbus}"))
                .replace("mqtt://127.0.0.1:1883", &format!("mqtt://127.0.0.1:{mqtt}"))
                .replace("127.0.0.1:9898", &format!("127.0.0.1:{metrics}"))
                .replace(
                    "dir = \"../models\"",
                    &format!("dir = {:?}", repo().join("models")),
                )
                .replace("\"/tmp/chocoline-demo\"", &format!("{:?}", data))
                .replace("level = \"info\"", "level = \"warn\"")
        };
        out.push_str(&line);
        out.push('\n');
    }
    merge_toml(&out, extra)
}

/// `base` with every key of `extra` set in it (tables merged key by key, values replaced).
pub fn merge_toml(base: &str, extra: &str) -> String {
    let mut doc: toml_edit::DocumentMut = base.parse().expect("demo.toml parses");
    let add: toml_edit::DocumentMut = extra.parse().expect("bench TOML parses");
    merge_table(doc.as_table_mut(), add.as_table());
    doc.to_string()
}

pub fn merge_table(into: &mut toml_edit::Table, from: &toml_edit::Table) {
    for (key, item) in from.iter() {
        match (
            into.get_mut(key).and_then(|i| i.as_table_mut()),
            item.as_table(),
        ) {
            (Some(dst), Some(src)) => merge_table(dst, src),
            _ => {
                into.insert(key, item.clone());
            }
        }
    }
}

pub fn load_config(path: &Path) -> chocoline::config::Config {
    match chocoline::config::load(path) {
        Ok(p) => p.config,
        Err(e) => panic!("bench config {}: {e}", path.display()),
    }
}

/// The line simulator serving `cfg`'s devices on `listener`, stepped with wall time.
pub fn serve_line<S: SignalSource>(
    cfg: &chocoline::config::Config,
    listener: tokio::net::TcpListener,
    source: S,
    stop: &CancellationToken,
) -> SimService {
    let map = RegisterMap::from_devices(&cfg.devices, &cfg.features.signal_map).expect("map");
    let service = SimService::new(map, source);
    tokio::spawn(drive(
        service.clone(),
        Duration::from_millis(100),
        1.0,
        stop.clone(),
    ));
    tokio::spawn(serve_tcp(listener, service.clone(), stop.clone()));
    service
}

/// The agent binary: `BUDGET_AGENT` when set (e.g. the production build, `cargo build
/// --release --no-default-features`, which this bench cannot build itself: it needs the
/// embedded broker), else the release binary cargo built for this bench.
pub fn agent_binary() -> String {
    std::env::var("BUDGET_AGENT").unwrap_or_else(|_| env!("CARGO_BIN_EXE_chocoline").into())
}

/// `chocoline run` ([`agent_binary`]) on `config`.
pub fn spawn_agent(config: &Path, log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("agent log");
    let mut cmd = Command::new(agent_binary());
    if let Some(t) = glibc_tunables() {
        cmd.env("GLIBC_TUNABLES", t);
    }
    cmd.args(["run", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn chocoline run")
}

/// The malloc settings the agent runs with: `GLIBC_TUNABLES` from the bench's environment if
/// set, else the one systemd/chocoline.service sets, so that the agent is measured as the unit
/// runs it on a controller.
pub fn glibc_tunables() -> Option<String> {
    if let Ok(t) = std::env::var("GLIBC_TUNABLES") {
        return Some(t);
    }
    let unit = std::fs::read_to_string(repo().join("systemd/chocoline.service")).ok()?;
    unit.lines()
        .find_map(|l| l.trim().strip_prefix("Environment=GLIBC_TUNABLES="))
        .map(str::to_owned)
}

pub fn stop_agent(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// A `kB` field of /proc/PID/status, in MB (MiB).
pub fn status_mb(pid: u32, key: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU seconds (user + system) of `pid`.
pub fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // CLK_TCK is 100 on Linux x86_64 and aarch64.
    (ticks(11) + ticks(12)) / 100.0
}

/// One gauge / counter of the agent's /metrics.
pub fn scrape(port: u16, name: &str) -> Option<f64> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

pub fn wait_metrics(port: u16, child: &mut Child, log: &Path) {
    for _ in 0..600 {
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            panic!("agent exited early: {status}; its stderr:\n{text}");
        }
        if scrape(port, "chocoline_samples_total").is_some_and(|v| v > 0.0) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("agent never served /metrics with samples");
}

pub fn memory_line(pid: u32) -> String {
    format!(
        "RssAnon {:.1} MB, RssFile {:.1} MB, VmHWM {:.1} MB",
        status_mb(pid, "RssAnon"),
        status_mb(pid, "RssFile"),
        status_mb(pid, "VmHWM")
    )
}

/// The line simulator (normal scenario, seed 7, stepped with wall time) serving `cfg`'s
/// devices on 127.0.0.1:`modbus`, in a runtime of its own. To stop it: cancel the token, then
/// drop the runtime.
pub fn start_line(
    cfg: &chocoline::config::Config,
    modbus: u16,
) -> (tokio::runtime::Runtime, CancellationToken) {
    use chocoline::domain::TimestampMs;
    use chocoline::simulate::{LineSim, Scenario};
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let stop = CancellationToken::new();
    rt.block_on(async {
        let l = tokio::net::TcpListener::bind(("127.0.0.1", modbus))
            .await
            .expect("bind");
        serve_line(
            cfg,
            l,
            LineSim::new(Scenario::Normal, 7, TimestampMs::now()),
            &stop,
        );
    });
    (rt, stop)
}
