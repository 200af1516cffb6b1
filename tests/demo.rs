//! Acceptance test of `chocoline demo`: run it headless for two minutes and check, from what
//! the control-room subscriber received through the embedded broker, that a fat-bloom alert
//! was raised and then cleared (same alert id), that the agent said `offline` at the end, and
//! that the log shows no ERROR line.

#![cfg(feature = "embedded-broker")]

mod common;

use std::collections::HashMap;
use std::time::Instant;

use serde_json::Value;

/// The demo prefers fixed ports (5020, 1883, 9898) so the README's commands work; two demos
/// started at the same instant both find them free and then collide. The tests of this file
/// run one demo at a time.
static ONE_DEMO: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn demo_raises_and_clears_a_fat_bloom_alert_within_two_minutes() {
    let _one = ONE_DEMO.lock().unwrap_or_else(|e| e.into_inner());
    let t0 = Instant::now();
    let out = common::cli::chocoline()
        .args(["demo", "--duration", "120s", "--headless"])
        .output()
        .unwrap();
    eprintln!("demo ran {:?}", t0.elapsed());
    assert!(
        out.status.success(),
        "{:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // A newcomer's first run must not show alarming log lines (rumqttd used to log its
    // readiness probe and the agent's disconnect at shutdown as ERRORs).
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(
        errors.is_empty(),
        "ERROR lines in the demo's log: {errors:#?}"
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.iter().any(|m| m["topic"]
            .as_str()
            .is_some_and(|t| t.ends_with("/predictions/bloom"))),
        "no bloom predictions reached the subscriber"
    );
    // alert id → (time raised, time cleared)
    let mut alerts: HashMap<String, (Option<f64>, Option<f64>)> = HashMap::new();
    for m in &lines {
        let topic = m["topic"].as_str().unwrap_or("");
        if !topic.ends_with("/alerts/fat_bloom_risk") {
            continue;
        }
        let p = &m["payload"];
        assert_eq!(p["kind"], "fat_bloom_risk");
        let id = p["alert_id"].as_str().unwrap().to_string();
        let t = m["t"].as_f64().unwrap();
        let e = alerts.entry(id).or_default();
        match p["state"].as_str() {
            Some("raised") => e.0 = e.0.or(Some(t)),
            Some("cleared") => e.1 = Some(t),
            other => panic!("state {other:?}"),
        }
    }
    let cycles: Vec<(f64, f64)> = alerts
        .values()
        .filter_map(|(r, c)| Some((r.as_ref().copied()?, c.as_ref().copied()?)))
        .filter(|(r, c)| c > r)
        .collect();
    eprintln!("fat_bloom_risk raised → cleared (s after start): {cycles:?}");
    assert!(
        !cycles.is_empty(),
        "no fat_bloom_risk alert was raised and then cleared: {alerts:?}"
    );
    let last_status = lines
        .iter()
        .rev()
        .find(|m| m["topic"].as_str().is_some_and(|t| t.ends_with("/status")))
        .unwrap();
    assert_eq!(last_status["payload"]["state"], "offline");
}

/// `--models` given relative to the working directory (how a technician types it) must be
/// found: the generated config lives in a temporary directory, against which the config loader
/// would otherwise resolve it.
#[test]
fn demo_finds_a_relative_models_dir() {
    let _one = ONE_DEMO.lock().unwrap_or_else(|e| e.into_inner());
    let out = common::cli::chocoline()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "demo",
            "--duration",
            "3s",
            "--headless",
            "--models",
            "models",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
