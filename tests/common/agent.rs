//! The live agent's test harness: `config/demo.toml` pointed at a test's ports, models and
//! data dir; the line simulator as a real Modbus TCP server; a tiny HTTP client for
//! `/metrics`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chocoline::domain::TimestampMs;
use chocoline::simulate::server::{RegisterMap, SimService, drive, serve_tcp};
use chocoline::simulate::source::SignalSource;
use chocoline::simulate::{LineSim, Scenario};
use tokio_util::sync::CancellationToken;

pub const PREFIX: &str = "chocoline/demo/line-1";

pub struct Ports {
    pub modbus: u16,
    pub mqtt: u16,
    pub metrics: u16,
}

impl Ports {
    /// Free ports for the simulator and `/metrics`, and the broker on `mqtt`.
    pub fn on(mqtt: u16) -> Ports {
        Ports {
            modbus: super::free_port(),
            mqtt,
            metrics: super::free_port(),
        }
    }
}

/// config/demo.toml pointed at this test's ports, models and data dir.
pub fn write_config(dir: &Path, p: &Ports) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("config/demo.toml"))
        .unwrap()
        .replace(
            "tcp://127.0.0.1:5020",
            &format!("tcp://127.0.0.1:{}", p.modbus),
        )
        .replace(
            "mqtt://127.0.0.1:1883",
            &format!("mqtt://127.0.0.1:{}", p.mqtt),
        )
        .replace(
            "dir = \"../models\"",
            &format!("dir = \"{}\"", root.join("models").display()),
        )
        .replace(
            "/tmp/chocoline-demo",
            &dir.join("data").display().to_string(),
        )
        .replace("127.0.0.1:9898", &format!("127.0.0.1:{}", p.metrics));
    assert!(
        text.contains(&format!(":{}", p.modbus)),
        "demo.toml changed shape"
    );
    let path = dir.join("chocoline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// [`write_config`] with its own copy of the committed models (in `dir/models`, which the
/// test may edit) and `[models] watch = false`: the configuration's path and the models' dir.
pub fn write_config_with_model_copy(dir: &Path, p: &Ports) -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let models = dir.join("models");
    for m in ["quality", "yield", "bloom", "anomaly"] {
        let to = models.join(m);
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(root.join("models").join(m)).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    let path = write_config(dir, p);
    let text = std::fs::read_to_string(&path).unwrap().replace(
        &format!("dir = \"{}\"", root.join("models").display()),
        &format!("dir = \"{}\"\nwatch = false", models.display()),
    );
    assert!(text.contains("watch = false"), "models section moved");
    std::fs::write(&path, &text).unwrap();
    (path, models)
}

/// Serve the line simulator for every device of `cfg` on `port` (1 s of line per 1 s).
pub async fn simulator(cfg: &chocoline::config::Config, port: u16, stop: CancellationToken) {
    simulator_at(cfg, port, stop, 1.0).await;
}

/// [`simulator`] running `speed` simulated seconds per second (a batch lasts 2–4 simulated
/// hours).
pub async fn simulator_at(
    cfg: &chocoline::config::Config,
    port: u16,
    stop: CancellationToken,
    speed: f64,
) {
    let sim = LineSim::new(Scenario::Normal, 7, TimestampMs::now());
    serve_source(cfg, port, stop, speed, sim).await;
}

/// Serve `source` for every device of `cfg` on `port`, `speed` simulated seconds per second
/// (a test that reads the simulator while it runs passes a shared handle to it).
pub async fn serve_source<S: SignalSource>(
    cfg: &chocoline::config::Config,
    port: u16,
    stop: CancellationToken,
    speed: f64,
    source: S,
) {
    let map = RegisterMap::from_devices(&cfg.devices, &cfg.features.signal_map).unwrap();
    let service = SimService::new(map, source);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(drive(
        service.clone(),
        Duration::from_millis(100),
        speed,
        stop.clone(),
    ));
    tokio::spawn(serve_tcp(listener, service, stop));
}

/// [`write_config`] with `[capture] enabled = true`: the configuration's path.
pub fn write_capture_config(dir: &Path, p: &Ports) -> PathBuf {
    let path = write_config(dir, p);
    let text = std::fs::read_to_string(&path).unwrap() + "\n[capture]\nenabled = true\n";
    std::fs::write(&path, text).unwrap();
    path
}

pub async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// Value of the first series line starting with `prefix`.
pub fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Send SIGTERM to the agent process and wait (up to 30 s) for it to exit: its exit status
/// and how long the stop took.
pub async fn sigterm_and_wait(
    child: &mut std::process::Child,
) -> (std::process::ExitStatus, Duration) {
    let t0 = std::time::Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "agent still running 30 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    (status, t0.elapsed())
}

// ---------------------------------------------------------------------------------------------
// The agent binary with JSON logs on stderr, driven by signals.

/// Lines collected from a reader thread.
pub type Lines = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// The lines collected so far.
pub fn collect(lines: &Lines) -> Vec<String> {
    lines.lock().unwrap().clone()
}

/// `chocoline --log-format json run --config <path>` with `env` set, its stderr lines
/// collected.
pub fn spawn_agent(path: &Path, env: &[(&str, &Path)]) -> (std::process::Child, Lines) {
    use std::io::BufRead;
    let mut cmd = super::cli::chocoline();
    cmd.args(["--log-format", "json", "run", "--config"])
        .arg(path)
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let log: Lines = Lines::default();
    let sink = log.clone();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(err).lines() {
            let Ok(line) = line else { return };
            sink.lock().unwrap().push(line);
        }
    });
    (child, log)
}

/// Wait until `pred` holds for what `sub` received; on timeout panic with the agent's exit
/// status (if it exited) and its log, so that a failure on a CI machine says what the agent
/// was doing rather than only "got 0 messages".
pub async fn wait_published(
    sub: &super::Subscriber,
    agent: &mut std::process::Child,
    log: &Lines,
    secs: u64,
    what: &str,
    pred: impl Fn(&[super::Got]) -> bool,
) {
    if sub.wait_until(secs, pred).await {
        return;
    }
    panic!(
        "timed out after {secs} s waiting for {what}; {} messages received; agent {}; log:\n{}",
        sub.messages().len(),
        match agent.try_wait() {
            Ok(Some(status)) => format!("exited ({status})"),
            Ok(None) => "still running".to_string(),
            Err(e) => format!("status unknown ({e})"),
        },
        collect(log).join("\n")
    );
}

/// The agent's JSON log records so far.
pub fn records(log: &Lines) -> Vec<serde_json::Value> {
    collect(log)
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Wait until a log record satisfies `pred`; returns it.
pub async fn wait_log(
    log: &Lines,
    secs: u64,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(r) = records(log).into_iter().find(|r| pred(r)) {
            return r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}; log:\n{}",
            collect(log).join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The n-th (0-based) reload summary line (applied, partial or refused).
pub async fn summary(log: &Lines, n: usize) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let s: Vec<serde_json::Value> = records(log)
            .into_iter()
            .filter(|r| {
                r["message"].as_str().is_some_and(|m| {
                    m.starts_with("reload: configuration") || m.starts_with("reload refused")
                })
            })
            .collect();
        if let Some(v) = s.get(n) {
            return v.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reload summary #{n}; log:\n{}",
            collect(log).join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Send SIGHUP to the agent.
pub fn hup(child: &std::process::Child) {
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// The demo agent on `ports` (simulator started), with `mqtt` lines added to its `[mqtt]`
/// section and, if `tls`, a `mqtts://` url; JSON logs collected. Cancel the token to stop the
/// simulator.
pub async fn start_agent(
    dir: &Path,
    ports: &Ports,
    mqtt: &str,
    tls: bool,
) -> (std::process::Child, Lines, CancellationToken) {
    let path = write_config(dir, ports);
    let mut text = std::fs::read_to_string(&path).unwrap().replace(
        &format!("topic_prefix = \"{PREFIX}\"\n"),
        &format!("topic_prefix = \"{PREFIX}\"\n{mqtt}"),
    );
    assert!(text.contains(mqtt), "demo.toml [mqtt] moved");
    if tls {
        text = text.replace("url = \"mqtt://", "url = \"mqtts://");
    }
    std::fs::write(&path, &text).unwrap();
    let cfg = chocoline::config::load(&path).unwrap().config;
    let stop_sim = CancellationToken::new();
    simulator(&cfg, ports.modbus, stop_sim.clone()).await;
    let (child, log) = spawn_agent(&path, &[]);
    (child, log, stop_sim)
}

/// How many messages so far on `{PREFIX}/predictions/bloom`.
pub fn bloom_count(got: &[super::Got]) -> usize {
    let bloom = format!("{PREFIX}/predictions/bloom");
    got.iter().filter(|g| g.topic == bloom).count()
}

/// The whole agent of `cfg` in-process (no supervision, no reload source) until `shutdown`.
pub fn spawn_in_process(
    cfg: &chocoline::config::Config,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<
    Result<chocoline::pipeline::live::Report, chocoline::pipeline::agent::AgentError>,
> {
    use chocoline::pipeline::agent::{self, Supervision};
    let (cfg, shutdown) = (cfg.clone(), shutdown.clone());
    tokio::spawn(async move { agent::run(&cfg, Supervision::none(), None, shutdown).await })
}
