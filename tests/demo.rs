//! Acceptance test of `chocoline demo`: run it headless for two minutes and check, from what
//! the control-room subscriber received through the embedded broker, that a fat-bloom alert
//! was raised and then cleared (same alert id), that the agent said `offline` at the end, and
//! that the log shows no ERROR line. With `--sparkplug`, that the Sparkplug births, data and
//! death reach it too, decoded and named.

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

/// `demo --sparkplug` (issue #19): the control room also subscribes to `spBv1.0/#` and
/// decodes what the agent's edge node sends. Checked from the headless lines: an NBIRTH with
/// a bdSeq, one DBIRTH per `[[devices]]` of `config/demo.toml` holding exactly its registers
/// (with their units), DDATA whose metrics — sent by alias only — the view named as registers
/// of that device, and the NDEATH of the same bdSeq at shutdown, after everything else.
#[test]
fn demo_sparkplug_shows_births_data_and_death() {
    let _one = ONE_DEMO.lock().unwrap_or_else(|e| e.into_inner());
    let out = common::cli::chocoline()
        .args(["demo", "--sparkplug", "--headless", "--duration", "20s"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::cli::stderr(&out));
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml");
    let devices = chocoline::config::load(&demo).unwrap().config.devices;
    let spb: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|m| m.get("sparkplug").is_some())
        .collect();

    let nbirth = of(&spb, "NBIRTH");
    assert_eq!(nbirth.len(), 1, "{nbirth:?}");
    let bd_seq = nbirth[0]["bdSeq"].as_u64().expect("NBIRTH without bdSeq");
    assert_eq!(nbirth[0]["seq"], 0);
    assert!(names(nbirth[0]).iter().any(|n| n == "Node Control/Rebirth"));
    check_device_births(&of(&spb, "DBIRTH"), &devices);
    check_device_data(&of(&spb, "DDATA"), &devices);
    let last = spb.last().unwrap();
    assert_eq!(
        last["sparkplug"], "NDEATH",
        "the last Sparkplug line: {last}"
    );
    assert_eq!(last["bdSeq"], bd_seq);
    assert_eq!(last["seq"], Value::Null);
}

/// The headless Sparkplug lines of one message type.
fn of<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|m| m["sparkplug"] == kind).collect()
}

/// The metric names of a Sparkplug line ("<unnamed>" where the view could not name one).
fn names(line: &Value) -> Vec<String> {
    (line["metrics"].as_array().unwrap().iter())
        .map(|x| x["name"].as_str().unwrap_or("<unnamed>").to_string())
        .collect()
}

/// One DBIRTH per device: its registers in config order, each with an alias and its unit.
fn check_device_births(dbirths: &[&Value], devices: &[chocoline::config::DeviceConfig]) {
    assert_eq!(
        dbirths.len(),
        devices.len(),
        "one DBIRTH per device: {dbirths:?}"
    );
    for d in devices {
        let birth = (dbirths.iter())
            .find(|m| m["device"] == d.name.as_str())
            .unwrap_or_else(|| panic!("no DBIRTH of {}", d.name));
        let registers: Vec<String> = d.registers.iter().map(|r| r.name.clone()).collect();
        assert_eq!(names(birth), registers, "DBIRTH of {}", d.name);
        let metrics = birth["metrics"].as_array().unwrap();
        for (m, r) in metrics.iter().zip(&d.registers) {
            assert!(m["alias"].is_u64(), "{m}");
            if !r.unit.is_empty() {
                assert_eq!(m["unit"], r.unit.as_str(), "{}/{}", d.name, r.name);
            }
        }
    }
}

/// DDATA of every device, each metric named (from the births) as one of its registers.
fn check_device_data(ddata: &[&Value], devices: &[chocoline::config::DeviceConfig]) {
    for d in devices {
        let of_device: Vec<&&Value> = ddata
            .iter()
            .filter(|m| m["device"] == d.name.as_str())
            .collect();
        assert!(!of_device.is_empty(), "no DDATA of {}", d.name);
        for m in of_device {
            for name in names(m) {
                assert!(
                    d.registers.iter().any(|r| r.name == name),
                    "DDATA of {} names {name}, not one of its registers",
                    d.name
                );
            }
        }
    }
    let known = |m: &&Value| devices.iter().any(|d| m["device"] == d.name.as_str());
    assert!(ddata.iter().all(known), "DDATA of an unknown device");
}
