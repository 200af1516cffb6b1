//! `chocoline replay` through the binary: a simulated fat-bloom run exported as CSV and replayed
//! with the demo configuration and the committed models must give the four JSONL outputs with
//! the counts the closing line reports, and bad inputs must exit 2 (1 for an unwritable output)
//! naming what is wrong.

mod common;

use std::path::{Path, PathBuf};

use common::cli::run as chocoline;

use common::cli::stderr;

fn demo_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml")
}

fn export(dir: &Path) -> PathBuf {
    let out = dir.join("run");
    let o = chocoline(&[
        "simulate",
        "--export-csv",
        out.to_str().unwrap(),
        "--scenario",
        "fat-bloom",
        "--seed",
        "7",
        "--duration",
        "40m",
        "--fault-start",
        "5m",
        "--fault-duration",
        "30m",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    out.join("samples.csv")
}

fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The number before `label` in the closing line, e.g. `42 predictions`.
fn count(line: &str, label: &str) -> usize {
    let words: Vec<&str> = line.split_whitespace().collect();
    let i = words
        .iter()
        .position(|w| w.trim_end_matches([',', ';']) == label)
        .unwrap_or_else(|| panic!("no {label} in {line}"));
    words[i - 1].trim_start_matches('(').parse().unwrap()
}

#[test]
fn replay_of_a_fat_bloom_run_writes_what_it_counts() {
    let dir = tempfile::tempdir().unwrap();
    let input = export(dir.path());
    let out = dir.path().join("out");
    let o = chocoline(&[
        "replay",
        "--config",
        demo_config().to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let line = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(line.starts_with("replayed 2400 samples"), "{line}");
    // Progress goes to stderr (not a terminal here: whole lines), ending at 100 %.
    assert!(stderr(&o).contains("100.0%"), "{}", stderr(&o));

    let predictions = jsonl(&out.join("predictions.jsonl"));
    assert_eq!(predictions.len(), count(&line, "predictions"), "{line}");
    assert!(!predictions.is_empty());
    let models: std::collections::BTreeSet<&str> = predictions
        .iter()
        .map(|p| p["model"].as_str().unwrap())
        .collect();
    assert!(models.contains("bloom"), "{models:?}");

    let alerts = jsonl(&out.join("alerts.jsonl"));
    assert_eq!(alerts.len(), count(&line, "alert"), "{line}");
    let drift = jsonl(&out.join("drift.jsonl"));
    assert_eq!(drift.len(), count(&line, "drift"), "{line}");
    // The fault raises fat-bloom risk while it lasts.
    assert!(
        alerts.iter().any(|a| a["kind"] == "fat_bloom_risk"),
        "{alerts:?}"
    );
    assert!(out.join("data_quality.jsonl").is_file());
}

#[test]
fn replay_input_errors_exit_2_and_an_unwritable_output_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = demo_config();
    let cfg = cfg.to_str().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();

    let missing = dir.path().join("absent.csv");
    let o = chocoline(&[
        "replay",
        "--config",
        cfg,
        "--input",
        missing.to_str().unwrap(),
        "--output",
        out,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));

    let no_ts = dir.path().join("no_ts.csv");
    std::fs::write(&no_ts, "time,temperature\n1,30.0\n").unwrap();
    let o = chocoline(&[
        "replay",
        "--config",
        cfg,
        "--input",
        no_ts.to_str().unwrap(),
        "--output",
        out,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("ts_ms"), "{}", stderr(&o));

    let bad_ts = dir.path().join("bad_ts.csv");
    std::fs::write(&bad_ts, "ts_ms,temperature\n1000,30.0\nlater,30.1\n").unwrap();
    let o = chocoline(&[
        "replay",
        "--config",
        cfg,
        "--input",
        bad_ts.to_str().unwrap(),
        "--output",
        out,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("bad_ts.csv"), "{}", stderr(&o));

    let bad_cfg = dir.path().join("bad.toml");
    std::fs::write(&bad_cfg, "[store\n").unwrap();
    let o = chocoline(&[
        "replay",
        "--config",
        bad_cfg.to_str().unwrap(),
        "--input",
        bad_ts.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("bad.toml"), "{}", stderr(&o));

    // The output directory cannot be created under a regular file.
    let good = dir.path().join("good.csv");
    std::fs::write(&good, "ts_ms,temperature\n1000,30.0\n").unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let o = chocoline(&[
        "replay",
        "--config",
        cfg,
        "--input",
        good.to_str().unwrap(),
        "--output",
        file.join("out").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot write to"), "{}", stderr(&o));
}
