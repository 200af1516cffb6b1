//! The binary's commands end to end: `check-config` on the samples (summary, environment
//! override, exit codes), `run` (refuses bad configs with 2; logs that the pipeline is not
//! wired yet), `--version`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name)
}

fn chocoline(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = common::cli::chocoline();
    cmd.args(args).envs(env.iter().copied());
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

#[test]
fn check_config_accepts_the_reference_sample_with_a_summary() {
    let path = sample("chocoline.toml");
    let out = chocoline(&["check-config", "--config", path.to_str().unwrap()], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout,
        text(&out.stderr)
    );
    for needle in [
        "configuration OK",
        "tempering  tcp://10.20.3.21:502  slave 1  3 registers  every 1s",
        "conche     file:///dev/ttyUSB0  slave 3  3 registers  every 2s",
        "plc        tcp://10.20.3.10:502  slave 1  6 registers",
        "DARK70 (recipe 1, dark), DARK55 (recipe 2, dark), MILK35 (recipe 3, milk), WHITE30 (recipe 4, white)",
        "enabled: quality, yield, bloom, anomaly",
        "mqtt://broker.bruges.local:1883",
        "client_id chocoline-bruges-line-3",
        "topic_prefix chocoline/bruges/line-3",
        "TLS no",
        "auth none",
        "/var/lib/chocoline",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    assert!(
        stdout.lines().count() <= 24,
        "more than one screen:\n{stdout}"
    );
}

#[test]
fn environment_override_shows_in_the_summary() {
    let path = sample("chocoline.toml");
    let out = chocoline(
        &["check-config", "--config", path.to_str().unwrap()],
        &[("CHOCOLINE__MQTT__CLIENT_ID", "x")],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("client_id x "), "{stdout}");
    // A numeric-looking string stays a string (no try_parsing): "007" is not 7.
    let out = chocoline(
        &["check-config", "--config", path.to_str().unwrap()],
        &[
            ("CHOCOLINE__MQTT__CLIENT_ID", "007"),
            ("CHOCOLINE__MQTT__INFLIGHT", "8"),
        ],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("client_id 007 "), "{stdout}");
}

#[test]
fn demo_config_passes() {
    let path = sample("demo.toml");
    let out = chocoline(&["check-config", "--config", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("tcp://127.0.0.1:5020  slave 4"));
}

#[test]
fn missing_file_is_bad_input() {
    let out = chocoline(
        &["check-config", "--config", "/nonexistent/chocoline.toml"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/chocoline.toml: cannot read"));
}

/// Starts `run`, returns its stderr lines up to (and including) the first containing `until`,
/// then kills it (`run` runs until a stop signal).
fn run_until(args: &[&str], until: &str) -> Vec<String> {
    use std::io::BufRead;
    let mut cmd = common::cli::chocoline();
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy()
            .to_uppercase()
            .starts_with("CHOCOLINE__")
        {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("RUST_LOG")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    // A generous safety net against a hang (the agent may log on and on, so a per-line timeout
    // alone would never fire), not a timing assertion.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        let Ok(l) = rx.recv_timeout(left) else { break };
        let done = l.contains(until);
        lines.push(l);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        lines.iter().any(|l| l.contains(until)),
        "no {until:?} in:\n{}",
        lines.join("\n")
    );
    lines
}

#[test]
fn run_validates_then_logs_in_the_chosen_format() {
    let path = sample("demo.toml");
    let lines = run_until(
        &["run", "--config", path.to_str().unwrap()],
        "configuration loaded",
    );
    assert!(lines.iter().any(|l| l.contains("INFO")), "{lines:?}");

    // JSON logs: every stderr line is one JSON object.
    let lines = run_until(
        &[
            "run",
            "--log-format",
            "json",
            "--config",
            path.to_str().unwrap(),
        ],
        "configuration loaded",
    );
    assert!(!lines.is_empty(), "{lines:?}");
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v.get("level").is_some(), "{l}");
    }
}

#[test]
fn run_refuses_a_bad_config_with_exit_2() {
    let bad = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bad-configs/enum-byte-order.toml");
    let out = chocoline(&["run", "--config", bad.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("devices[0].registers[0].byte_order"));
}

#[test]
fn version_is_printed() {
    let out = chocoline(&["--version"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout).trim(),
        format!("chocoline {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_subcommand_is_bad_input() {
    let out = chocoline(&["no-such-command"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn evaluate_prints_figures_and_fails_only_on_a_worse_baseline() {
    let cfg = sample("demo.toml");
    let cfg = cfg.to_str().unwrap();
    let args = [
        "evaluate",
        "--config",
        cfg,
        "--seeds",
        "9002",
        "--days",
        "0.05",
        "--scenarios",
        "normal,gritty",
    ];
    let md = chocoline(&args, &[]);
    assert_eq!(md.status.code(), Some(0), "{}", text(&md.stderr));
    let table = text(&md.stdout);
    assert!(table.contains("| `gritty` |"), "{table}");
    assert!(table.contains("Normal running: 0.1 days"), "{table}");
    assert!(
        text(&md.stderr).contains("2/2 runs"),
        "{}",
        text(&md.stderr)
    );

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let js = chocoline(&json_args, &[]);
    assert_eq!(js.status.code(), Some(0));
    let summary: serde_json::Value = serde_json::from_slice(&js.stdout).unwrap();
    assert_eq!(summary["runs"], 2);
    assert_eq!(summary["samples"], 2 * 4320);

    // The same run against itself: nothing worse. Against a baseline claiming fewer false
    // alerts on normal running than any run can have: worse, exit 1.
    let dir = tempfile::tempdir().unwrap();
    let same = dir.path().join("same.json");
    std::fs::write(&same, &js.stdout).unwrap();
    let mut base_args = json_args.clone();
    base_args.extend(["--baseline", same.to_str().unwrap()]);
    let ok = chocoline(&base_args, &[]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stderr).contains("no figure worse than the baseline"));
    let mut better = summary.clone();
    better["normal_false_per_day"] = serde_json::json!(-1.0);
    let strict = dir.path().join("strict.json");
    std::fs::write(&strict, better.to_string()).unwrap();
    let mut strict_args = json_args.clone();
    strict_args.extend(["--baseline", strict.to_str().unwrap()]);
    let worse = chocoline(&strict_args, &[]);
    assert_eq!(worse.status.code(), Some(1));
    assert!(
        text(&worse.stderr).contains("worse than the baseline: normal running"),
        "{}",
        text(&worse.stderr)
    );
}

#[test]
fn evaluate_refuses_bad_input_with_2() {
    let cfg = sample("demo.toml");
    let cfg = cfg.to_str().unwrap();
    for (args, want) in [
        (vec!["--seeds", "5..3"], "expected A..B"),
        (vec!["--days", "0"], "must be a number > 0"),
        (vec!["--scenarios", "melting"], "unknown scenario"),
        (
            vec!["--baseline", "/nonexistent/base.json"],
            "/nonexistent/base.json",
        ),
    ] {
        let mut all = vec!["evaluate", "--config", cfg];
        all.extend(args.iter().copied());
        let out = chocoline(&all, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(want),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[agent]\nsite = 3\n").unwrap();
    let out = chocoline(&["evaluate", "--config", bad.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{").unwrap();
    let out = chocoline(
        &[
            "evaluate",
            "--config",
            cfg,
            "--baseline",
            junk.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not an evaluate --json output"));
}
