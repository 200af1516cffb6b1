//! Tests of the output checks: `[store]`, `[mqtt]` (with `[mqtt.topics.signals]`), `[log]`.

use super::tests::{assert_one, run};
use super::*;
use crate::config::Duration;
use crate::config::testing::valid;

#[test]
fn store_limits() {
    let mut c = valid();
    c.store.max_bytes = crate::config::ByteSize(10);
    assert_one(&run(store, &c), "store.max_bytes", "1MiB");
    let mut c = valid();
    c.store.drift_history_max = 0;
    c.store.snapshot_interval = Duration::from_millis(0);
    assert_eq!(run(store, &c).len(), 2);
    let f = tempfile::NamedTempFile::new().unwrap();
    let mut c = valid();
    c.store.data_dir = f.path().to_path_buf();
    assert_one(&run(store, &c), "store.data_dir", "not a directory");
}

#[test]
fn mqtt_url_scheme_and_host() {
    for (url, needle) in [
        ("http://broker:1883", "unsupported scheme"),
        ("mqtt://", "no host"),
        ("broker:1883", "unsupported scheme"),
        ("mqtt://u:secret@broker", "credentials"),
        ("mqtt://broker/x", "only host and port"),
    ] {
        let mut c = valid();
        c.mqtt.url = url.into();
        assert_one(&run(mqtt, &c), "mqtt.url", needle);
    }
    let mut c = valid();
    c.mqtt.url = "mqtt://u:secret@broker".into();
    let mut out = Vec::new();
    mqtt(&c, &mut out);
    assert!(!out[0].show_value, "a URL with a password is never shown");
}

#[test]
fn mqtt_tls_files_and_limits() {
    let mut c = valid();
    c.mqtt.url = "mqtts://broker:8883".into();
    assert_one(&run(mqtt, &c), "mqtt.ca_file", "required with mqtts://");
    c.mqtt.ca_file = Some("/nonexistent/ca.pem".into());
    assert_one(&run(mqtt, &c), "mqtt.ca_file", "does not exist");
    let mut c = valid();
    c.mqtt.password_file = Some("/nonexistent/pw".into());
    let got = run(mqtt, &c);
    assert!(got.iter().any(|g| g.contains("needs username")), "{got:?}");
    let mut c = valid();
    c.mqtt.topics.alerts.qos = 2;
    c.mqtt.keep_alive = Duration::from_millis(500);
    c.mqtt.reconnect_max = Duration::from_millis(100);
    assert_eq!(run(mqtt, &c).len(), 3);
    let mut c = valid();
    c.mqtt.topic_prefix = "plant/#".into();
    assert_one(&run(mqtt, &c), "mqtt.topic_prefix", "no + or #");
}

#[cfg(unix)]
#[test]
fn mqtt_password_file_must_be_private() {
    use std::os::unix::fs::PermissionsExt;
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut c = valid();
    c.mqtt.username = Some("line3".into());
    c.mqtt.password_file = Some(f.path().to_path_buf());
    assert_one(&run(mqtt, &c), "mqtt.password_file", "readable by everyone");
    std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(run(mqtt, &c).is_empty());
}

#[test]
fn log_level_is_a_filter() {
    let mut c = valid();
    c.log.level = "verbose!!".into();
    assert_one(&run(log, &c), "log.level", "expected error, warn, info");
    c.log.level = "info,chocoline::acquire=debug".into();
    assert!(run(log, &c).is_empty());
}

#[test]
fn signal_settings_name_registers_and_sane_numbers() {
    let mut c = valid();
    c.mqtt.topics.signals.enabled = true;
    assert!(run(mqtt, &c).is_empty());
    let first = c.devices[0].registers[0].name.clone();
    c.mqtt.topics.signals.deadbands.insert(first.clone(), 0.1);
    c.mqtt.topics.signals.include = vec![first.clone()];
    assert!(run(mqtt, &c).is_empty(), "known registers are fine");
    c.mqtt
        .topics
        .signals
        .deadbands
        .insert("tempertaure".into(), 0.1);
    assert_one(
        &run(mqtt, &c),
        "mqtt.topics.signals.deadbands.tempertaure",
        "no register is named \"tempertaure\"",
    );
    let mut c = valid();
    c.mqtt.topics.signals.include = vec!["nope".into()];
    assert_one(
        &run(mqtt, &c),
        "mqtt.topics.signals.include[0]",
        "no register",
    );
    let mut c = valid();
    c.mqtt.topics.signals.deadband = -1.0;
    c.mqtt.topics.signals.queue = 0;
    let got = run(mqtt, &c);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].starts_with("mqtt.topics.signals.deadband: "),
        "{got:?}"
    );
    assert!(got[1].starts_with("mqtt.topics.signals.queue: "), "{got:?}");
    let mut c = valid();
    c.mqtt.topics.signals.deadbands.insert(first, f64::NAN);
    assert_eq!(run(mqtt, &c).len(), 1);
}

#[test]
fn sparkplug_ids_are_topic_levels() {
    let mut c = valid();
    c.sparkplug.enabled = true;
    assert!(run(sparkplug, &c).is_empty());
    c.sparkplug.group_id = "plant/1".into();
    assert_one(&run(sparkplug, &c), "sparkplug.group_id", "no +, / or #");
    let mut c = valid();
    c.sparkplug.edge_node_id = Some(String::new());
    assert_one(&run(sparkplug, &c), "sparkplug.edge_node_id", "non-empty");
    let mut c = valid();
    c.sparkplug.enabled = true;
    c.sparkplug.primary_host_id = Some("scada1".into());
    assert!(run(sparkplug, &c).is_empty());
    c.sparkplug.primary_host_id = Some("scada#1".into());
    assert_one(
        &run(sparkplug, &c),
        "sparkplug.primary_host_id",
        "no +, / or #",
    );
}
