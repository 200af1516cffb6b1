//! The `chocoline` binary end to end: `simulate --listen` serving the process model over real
//! Modbus TCP, `poll --once --format json` reading it back, and a dropout scenario where the
//! conche slave stops answering while the others continue.

mod common;

use std::io::Write as _;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

use common::free_port;

/// Three devices of the demo layout on one endpoint, canonical signal names; `ph` is read
/// under a plant-specific register name mapped back through `[features] signal_map`.
fn demo_config(port: u16) -> String {
    format!(
        r#"
[features]
batch_id_signal = "batch_id"
product_signal = "recipe"
signal_map = {{ ph = "conche_ph" }}

[[devices]]
name = "tempering"
controller = "tcp://127.0.0.1:{port}"
slave_id = 1
poll_interval = "200ms"
timeout = "150ms"
[[devices.registers]]
name = "temperature"
address = 0
data_type = "FLOAT32"
unit = "°C"
valid_range = [20.0, 40.0]

[[devices]]
name = "conche"
controller = "tcp://127.0.0.1:{port}"
slave_id = 3
poll_interval = "200ms"
timeout = "150ms"
[[devices.registers]]
name = "moisture"
address = 0
data_type = "INT32"
byte_order = "CDAB"
scale = 0.001
unit = "%"
[[devices.registers]]
name = "conche_ph"
register = "input"
address = 0
scale = 0.01

[[devices]]
name = "plc"
controller = "tcp://127.0.0.1:{port}"
slave_id = 4
poll_interval = "200ms"
timeout = "150ms"
[[devices.registers]]
name = "batch_id"
address = 0
data_type = "UINT32"
[[devices.registers]]
name = "recipe"
address = 2
"#
    )
}

fn start_sim(cfg: &std::path::Path, port: u16, extra: &[&str]) -> Kill {
    let child = common::cli::chocoline()
        .args([
            "simulate",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--config",
        ])
        .arg(cfg)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until it accepts connections.
    let end = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "simulator did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Kill(child)
}

fn poll_json(cfg: &std::path::Path, extra: &[&str]) -> (i32, Vec<serde_json::Value>) {
    let out = common::cli::chocoline()
        .args(["poll", "--format", "json", "--config"])
        .arg(cfg)
        .args(extra)
        .output()
        .unwrap();
    let rows = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out.status.code().unwrap_or(-1), rows)
}

fn write_cfg(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let p = dir.path().join("demo.toml");
    std::fs::File::create(&p)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    p
}

#[test]
fn simulate_then_poll_once_prints_plausible_readings() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = write_cfg(&dir, &demo_config(port));
    let _sim = start_sim(&cfg, port, &["--seed", "7"]);
    let (code, rows) = poll_json(&cfg, &["--once"]);
    assert_eq!(code, 0, "{rows:?}");
    assert_eq!(rows.len(), 5, "one line per reading: {rows:?}");
    let get = |n: &str| rows.iter().find(|r| r["name"] == n).unwrap().clone();
    for r in &rows {
        assert_eq!(r["quality"], "good", "{r}");
        assert!(r["raw"].as_str().unwrap().starts_with("0x"));
    }
    // Physically plausible values of a normal line (docs/domain.md ranges).
    let t = get("temperature")["value"].as_f64().unwrap();
    assert!((25.0..=35.0).contains(&t), "temperature {t}");
    assert_eq!(get("temperature")["unit"], "°C");
    assert_eq!(get("temperature")["device"], "tempering");
    let m = get("moisture")["value"].as_f64().unwrap();
    assert!((0.3..=5.0).contains(&m), "moisture {m}");
    let ph = get("conche_ph")["value"].as_f64().unwrap();
    assert!(
        (4.5..=6.5).contains(&ph),
        "ph {ph} (served through signal_map)"
    );
    assert!(get("batch_id")["value"].as_f64().unwrap() >= 1.0);
    // --device limits the poll, --count N gives N cycles.
    let (code, rows) = poll_json(&cfg, &["--device", "plc", "--count", "3"]);
    assert_eq!(code, 0);
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r["device"] == "plc"));
    let (code, _) = poll_json(&cfg, &["--device", "nope", "--once"]);
    assert_eq!(code, 2, "unknown device is bad input");
}

#[test]
fn dropout_scenario_silences_only_the_conche() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = write_cfg(&dir, &demo_config(port));
    let _sim = start_sim(
        &cfg,
        port,
        &[
            "--scenario",
            "sensor-dropout",
            "--fault-start",
            "0s",
            "--fault-duration",
            "1h",
        ],
    );
    let (code, rows) = poll_json(&cfg, &["--count", "2"]);
    assert_eq!(code, 1, "a device with comm errors makes poll exit 1");
    for r in &rows {
        let device = r["device"].as_str().unwrap();
        if device == "conche" {
            assert_eq!(r["quality"], "comm_error", "{r}");
            assert!(r["value"].is_null(), "NaN prints as null");
        } else {
            assert_eq!(r["quality"], "good", "{r}");
        }
    }
    assert_eq!(rows.iter().filter(|r| r["device"] == "conche").count(), 4);
}
