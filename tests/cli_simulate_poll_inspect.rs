//! Subcommands through the real binary, on the paths the other CLI tests leave out: the CSV
//! export of `simulate` (contract columns, fault window, bad arguments, unwritable target),
//! `simulate --listen` started and stopped with Ctrl-C, `poll` in table format with a device
//! filter and its input errors, and `inspect` on an empty or missing data directory.
//!
//! Children are stopped with SIGINT / SIGTERM, never SIGKILL, so that they exit through their
//! normal path (and an instrumented build writes its coverage profile).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::cli::run as chocoline;

use common::cli::stderr;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn csv_rows(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    (header, rows)
}

#[test]
fn export_writes_the_contract_columns_and_marks_the_fault_window() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = chocoline(&[
        "simulate",
        "--export-csv",
        out.to_str().unwrap(),
        "--scenario",
        "fat-bloom",
        "--seed",
        "3",
        "--duration",
        "20m",
        "--interval",
        "10s",
        "--fault-start",
        "5m",
        "--fault-duration",
        "5m",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("wrote 120 samples"), "{}", stderr(&o));

    let (header, rows) = csv_rows(&out.join("samples.csv"));
    let mut want = vec!["ts_ms", "batch_id", "recipe"];
    want.extend(
        chocoline::simulate::LineSim::signals()
            .iter()
            .copied()
            .filter(|s| !["batch_id", "recipe"].contains(s)),
    );
    want.extend(["scenario", "fault", "bloom_label"]);
    assert_eq!(header, want);
    assert_eq!(rows.len(), 120, "20 min every 10 s");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (ts, scenario, fault) = (col("ts_ms"), col("scenario"), col("fault"));
    let start: i64 = rows[0][ts].parse().unwrap();
    assert_eq!(
        start,
        chocoline::cli::simulate::DEFAULT_EXPORT_START_MS,
        "default start"
    );
    for r in &rows {
        let t: i64 = r[ts].parse().unwrap();
        assert_eq!(r[scenario], "fat-bloom");
        let in_window = (start + 300_000..start + 600_000).contains(&t);
        assert_eq!(
            r[fault] == "fat-bloom",
            in_window,
            "fault column at t+{} s",
            (t - start) / 1000
        );
        assert!(r[fault].is_empty() || r[fault] == "fat-bloom");
    }
    let (bh, _) = csv_rows(&out.join("batches.csv"));
    assert_eq!(
        bh,
        [
            "batch_id",
            "recipe",
            "product",
            "chocolate",
            "start_ms",
            "end_ms",
            "bean_lot",
            "quality_grade",
            "yield_pct",
            "defect"
        ]
    );
}

#[test]
fn export_is_a_pure_function_of_its_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        let o = chocoline(&[
            "simulate",
            "--export-csv",
            out.to_str().unwrap(),
            "--seed",
            seed,
            "--duration",
            "5m",
            "--start-ms",
            "1700000000000",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        std::fs::read(out.join("samples.csv")).unwrap()
    };
    let a = run("a", "9");
    assert_eq!(a, run("b", "9"), "same seed, same bytes");
    assert_ne!(a, run("c", "10"), "another seed, another line");
    let text = String::from_utf8(a).unwrap();
    assert!(text.lines().nth(1).unwrap().starts_with("1700000000000,"));
}

#[test]
fn simulate_argument_errors_are_bad_input_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let out = out.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["simulate"], "nothing to do"),
        (
            &["simulate", "--export-csv", out, "--interval", "0s"],
            "interval must be at least 1 ms",
        ),
        (
            &["simulate", "--export-csv", out, "--scenario", "mould"],
            "fat-bloom",
        ),
        (
            &["simulate", "--export-csv", out, "--speed", "0"],
            "must be a number > 0",
        ),
        (
            &["simulate", "--export-csv", out, "--duration", "a while"],
            "--duration",
        ),
        (
            &["simulate", "--export-csv", out, "--listen", "127.0.0.1:1"],
            "cannot be used with",
        ),
    ];
    for (args, needle) in cases {
        let o = chocoline(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(needle),
            "{args:?}: want {needle:?} in {}",
            stderr(&o)
        );
    }
    assert!(!Path::new(out).exists(), "nothing written on bad input");
}

#[test]
fn export_into_an_unwritable_place_is_a_runtime_failure() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let target = file.join("run");
    let o = chocoline(&[
        "simulate",
        "--export-csv",
        target.to_str().unwrap(),
        "--duration",
        "1m",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("a-file"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a directory");
}

use common::free_port;

/// Two simulated devices on one port; the PLC's batch counter is read as a 32-bit value.
fn config(dir: &Path, port: u16, extra_register: &str) -> PathBuf {
    let text = format!(
        r#"
[features]
batch_id_signal = "batch_id"
product_signal = "recipe"

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
{extra_register}

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
"#
    );
    let p = dir.join("line.toml");
    std::fs::write(&p, text).unwrap();
    p
}

struct Sim(Option<Child>);

impl Sim {
    fn start(cfg: &Path, port: u16) -> Sim {
        let child = common::cli::chocoline()
            .args(["simulate", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--config")
            .arg(cfg)
            .args(["--speed", "60", "--scenario", "gritty"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let end = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < end, "simulator did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Sim(Some(child))
    }

    /// Ctrl-C, as a technician would stop it: exit 0 and the log it wrote.
    fn interrupt(mut self) -> (Option<i32>, String) {
        let child = self.0.take().unwrap();
        signal(&child, "-INT");
        let out = child.wait_with_output().unwrap();
        (out.status.code(), stderr(&out))
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            signal(c, "-TERM");
            let _ = c.wait();
        }
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn poll_table_for_one_device_then_simulator_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // `flow` is no simulated signal: the simulator warns and answers exception 4 for it.
    let cfg = config(
        dir.path(),
        port,
        "[[devices.registers]]\nname = \"flow\"\naddress = 10",
    );
    let sim = Sim::start(&cfg, port);

    let o = chocoline(&[
        "poll",
        "--config",
        cfg.to_str().unwrap(),
        "--device",
        "plc",
        "--count",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let mut lines = text.lines();
    let head = lines.next().unwrap();
    for col in ["TIME", "DEVICE", "NAME", "RAW", "VALUE", "UNIT", "QUALITY"] {
        assert!(head.contains(col), "{head}");
    }
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "two cycles of the one plc register: {text}");
    for r in &rows {
        let f: Vec<&str> = r.split_whitespace().collect();
        assert!(f.contains(&"plc") && f.contains(&"batch_id"), "{r}");
        assert!(!text.contains("tempering"), "filtered out: {text}");
        assert_eq!(*f.last().unwrap(), "good", "{r}");
        // UINT32: two raw words, and the value they encode.
        // TIME DEVICE NAME RAW(2 words) VALUE QUALITY: batch_id has no unit.
        assert_eq!(f.len(), 7, "{r}");
        let hi = u32::from_str_radix(f[3].trim_start_matches("0x"), 16).unwrap();
        let lo = u32::from_str_radix(f[4].trim_start_matches("0x"), 16).unwrap();
        let value: f64 = f[5].parse().unwrap();
        assert_eq!(value, f64::from((hi << 16) | lo), "{r}");
    }

    // The unsimulated register makes the tempering cycle fail: exit 1, reading comm_error.
    let o = chocoline(&[
        "poll",
        "--config",
        cfg.to_str().unwrap(),
        "--device",
        "tempering",
        "--once",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let flow = rows.iter().find(|r| r["name"] == "flow").unwrap();
    assert_eq!(flow["quality"], "comm_error");
    assert!(flow["value"].is_null(), "NaN is written as null: {flow}");

    let (code, log) = sim.interrupt();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("not a simulated signal"), "{log}");
}

#[test]
fn poll_input_errors_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), free_port(), "");
    let o = chocoline(&[
        "poll",
        "--config",
        cfg.to_str().unwrap(),
        "--device",
        "conche",
        "--once",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(r#"unknown device(s) ["conche"]"#)
            && stderr(&o).contains(r#"["tempering", "plc"]"#),
        "{}",
        stderr(&o)
    );
    let o = chocoline(&["poll", "--config", "/nonexistent/line.toml", "--once"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("/nonexistent/line.toml"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn poll_with_nothing_listening_exits_1_with_comm_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), free_port(), "");
    let o = chocoline(&[
        "poll",
        "--config",
        cfg.to_str().unwrap(),
        "--once",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!rows.is_empty());
    assert!(
        rows.iter().all(|r| r["quality"] == "comm_error"),
        "{rows:?}"
    );
}

#[test]
fn simulate_refuses_a_port_in_use_and_a_config_it_cannot_serve() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let cfg = config(dir.path(), port, "");
    let o = chocoline(&[
        "simulate",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot listen on"), "{}", stderr(&o));

    // The reference sample reuses slave id 1 on several controllers.
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/config/chocoline.toml");
    let o = chocoline(&["simulate", "--listen", "127.0.0.1:0", "--config", sample]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("chocoline.toml"), "{}", stderr(&o));
}

#[test]
fn inspect_an_empty_and_a_missing_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let o = chocoline(&["inspect", "--data-dir", dir.path().to_str().unwrap()]);
    let missing = dir.path().join("absent");
    let m = chocoline(&["inspect", "--data-dir", missing.to_str().unwrap()]);
    assert_eq!(m.status.code(), Some(2), "{}", stderr(&m));
    assert!(stderr(&m).contains("absent"), "{}", stderr(&m));
    assert!(!missing.exists(), "inspect must not create a data dir");
    // An empty directory holds no database either.
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

fn copy_model(from: &str, to: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(from);
    std::fs::create_dir_all(to).unwrap();
    for f in ["manifest.json", "model.onnx", "golden.csv"] {
        std::fs::copy(src.join(f), to.join(f)).unwrap();
    }
}

#[test]
fn model_list_from_a_config_flags_enabled_tampered_and_invalid_models() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    copy_model("quality", &models.join("quality"));
    copy_model("yield", &models.join("yield"));
    copy_model("bloom", &models.join("bloom"));
    // A flipped byte in yield's ONNX file, and a manifest that is not JSON for bloom.
    let onnx = models.join("yield/model.onnx");
    let mut bytes = std::fs::read(&onnx).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&onnx, bytes).unwrap();
    std::fs::write(models.join("bloom/manifest.json"), "{ not json").unwrap();
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[models]\ndir = \"{}\"\nenabled = [\"quality\"]\n",
            models.display()
        ),
    )
    .unwrap();

    let o = chocoline(&["model", "list", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no line for {name}: {out}"))
            .to_string()
    };
    let q = line("quality");
    assert!(
        q.contains("(Classifier, batch, enabled)") && q.contains("ok;"),
        "{q}"
    );
    assert!(q.contains("Classifier") && q.contains("batch"), "{q}");
    let y = line("yield");
    assert!(
        y.contains("batch, disabled)") && y.contains("sha256 MISMATCH"),
        "{y}"
    );
    assert!(line("bloom").contains("INVALID"), "{out}");
}

#[test]
fn model_list_config_errors_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.toml");
    let o = chocoline(&["model", "list", "--config", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("absent.toml"), "{}", stderr(&o));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[models]\ndir = [1, 2]\n").unwrap();
    let o = chocoline(&["model", "list", "--config", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("models.dir"), "{}", stderr(&o));

    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[models\n").unwrap();
    let o = chocoline(&["model", "list", "--config", broken.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("broken.toml"), "{}", stderr(&o));

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = chocoline(&["model", "list", "--dir", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no model folders"), "{}", stderr(&o));
    let o = chocoline(&["model", "verify", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no manifest.json"), "{}", stderr(&o));
}

#[test]
fn model_list_and_verify_report_a_missing_model_file_and_a_missing_dir() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    copy_model("quality", &models.join("quality"));
    std::fs::remove_file(models.join("quality/model.onnx")).unwrap();
    let o = chocoline(&["model", "list", "--dir", models.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("model file unreadable"),
        "{}",
        stdout(&o)
    );

    let o = chocoline(&["model", "verify", models.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("FAILED to load"), "{}", stderr(&o));

    let absent = dir.path().join("absent");
    let o = chocoline(&["model", "verify", absent.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("absent"), "{}", stderr(&o));
}
