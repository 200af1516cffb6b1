//! Tests of the checks, one or more per check.

use super::*;
use crate::config::testing::valid;
use crate::config::{Duration, Parity, RegisterConfig};

/// Runs one check and returns "key: message" lines.
pub(super) fn run(check: Check, cfg: &Config) -> Vec<String> {
    let mut out = Vec::new();
    check(cfg, &mut out);
    out.iter()
        .map(|p| format!("{}: {}", p.path, p.message))
        .collect()
}

pub(super) fn assert_one(got: &[String], key: &str, needle: &str) {
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with(&format!("{key}: ")), "{got:?}");
    assert!(got[0].contains(needle), "{got:?}");
}

#[test]
fn the_valid_fixture_passes_every_check() {
    assert!(validate(&valid()).is_empty(), "{:?}", validate(&valid()));
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let mut c = valid();
    c.devices[0].slave_id = 250;
    c.drift.min_window_samples = 0;
    c.mqtt.inflight = 0;
    assert_eq!(validate(&c).len(), 3);
}

#[test]
fn devices_and_registers_are_required() {
    let mut c = valid();
    c.devices[0].registers.clear();
    assert_one(
        &run(devices_present, &c),
        "devices[0].registers",
        "at least one",
    );
    c.devices.clear();
    assert_one(&run(devices_present, &c), "devices", "at least one");
}

#[test]
fn names_unique_and_clean() {
    let mut c = valid();
    let d = c.devices[0].clone();
    c.devices.push(d);
    c.devices[1].registers.truncate(1);
    let got = run(names, &c);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].starts_with("devices[1].name: duplicate device name (also devices[0])"));
    assert!(got[1].starts_with("devices[1].registers[0].name: duplicate register name"));
    let mut c = valid();
    c.devices[0].name = "a b".into();
    assert_one(&run(names, &c), "devices[0].name", "letters, digits");
}

#[test]
fn device_number_ranges() {
    let mut c = valid();
    c.devices[0].slave_id = 248;
    c.devices[0].data_bits = 9;
    c.devices[0].stop_bits = 3;
    c.devices[0].max_word_registers_per_request = 126;
    c.devices[0].baud_rate = 0;
    let got = run(device_settings, &c);
    assert_eq!(got.len(), 5, "{got:?}");
    c.devices[0] = valid().devices[0].clone();
    c.devices[0].max_word_registers_per_request = 0;
    assert_one(
        &run(device_settings, &c),
        "devices[0].max_word_registers_per_request",
        "1..=125",
    );
}

#[test]
fn slave_id_depends_on_the_transport() {
    let mut c = valid();
    let with = |c: &mut Config, controller: &str, id: u8| {
        c.devices[0].controller = controller.into();
        c.devices[0].slave_id = id;
        run(device_settings, c)
    };
    // Modbus TCP: 0 and 255 address a device by its IP address; 248..=254 are reserved.
    for id in [0, 1, 247, 255] {
        assert!(with(&mut c, "tcp://plc:502", id).is_empty(), "tcp {id}");
    }
    for id in [248, 254] {
        assert_one(
            &with(&mut c, "tcp://plc:502", id),
            "devices[0].slave_id",
            "1..=247",
        );
    }
    // A serial line: 0 is the broadcast no slave answers; 1..=247 only.
    for id in [1, 247] {
        assert!(
            with(&mut c, "file:///dev/ttyAMA0", id).is_empty(),
            "rtu {id}"
        );
    }
    assert_one(
        &with(&mut c, "file:///dev/ttyAMA0", 0),
        "devices[0].slave_id",
        "broadcast",
    );
    assert_one(
        &with(&mut c, "file:///dev/ttyAMA0", 255),
        "devices[0].slave_id",
        "expected 1..=247",
    );
}

#[test]
fn timeout_shorter_than_poll_interval() {
    let mut c = valid();
    c.devices[0].timeout = Duration::from_secs(1);
    c.devices[0].poll_interval = Duration::from_secs(1);
    assert_one(
        &run(device_timing, &c),
        "devices[0].timeout",
        "shorter than poll_interval",
    );
    c.devices[0].timeout = Duration::from_millis(0);
    assert_one(
        &run(device_timing, &c),
        "devices[0].timeout",
        "longer than 0",
    );
    let mut c = valid();
    c.devices[0].poll_interval = Duration::from_millis(0);
    assert_one(
        &run(device_timing, &c),
        "devices[0].poll_interval",
        "longer than 0",
    );
}

#[test]
fn controller_urls() {
    let mut c = valid();
    c.devices[0].controller = "modbus://plc".into();
    assert_one(
        &run(controllers, &c),
        "devices[0].controller",
        "unsupported scheme",
    );
}

#[test]
fn serial_line_settings_agree() {
    let mut c = valid();
    c.devices[0].controller = "file:///dev/ttyUSB0".into();
    let mut d = c.devices[0].clone();
    d.name = "other".into();
    d.slave_id = 2;
    d.parity = Parity::None;
    d.registers.clear();
    c.devices.push(d);
    assert_one(
        &run(serial_buses, &c),
        "devices[1].parity",
        "same serial line",
    );
}

fn register(name: &str, address: u16, data_type: DataType) -> RegisterConfig {
    let mut r = valid().devices[0].registers[0].clone();
    r.name = name.into();
    r.address = address;
    r.data_type = data_type;
    r
}

#[test]
fn register_rules() {
    let mut c = valid();
    c.devices[0].registers[0].register = RegisterKind::Coil;
    c.devices[0].registers[0].data_type = DataType::Uint16;
    assert_one(
        &run(registers, &c),
        "devices[0].registers[0].data_type",
        "BOOL",
    );
    let mut c = valid();
    c.devices[0].registers = vec![register("x", 65535, DataType::Float32)];
    assert_one(
        &run(registers, &c),
        "devices[0].registers[0].address",
        "65535",
    );
    let mut c = valid();
    c.devices[0].max_word_registers_per_request = 2;
    c.devices[0].registers = vec![register("x", 0, DataType::Float64)];
    assert_one(
        &run(registers, &c),
        "devices[0].registers[0].data_type",
        "needs 4 words",
    );
    let mut c = valid();
    c.devices[0].registers[0].scale = 0.0;
    assert_one(
        &run(registers, &c),
        "devices[0].registers[0].scale",
        "non-zero",
    );
    let mut c = valid();
    c.devices[0].registers[0].valid_range = Some([5.0, 5.0]);
    assert_one(
        &run(registers, &c),
        "devices[0].registers[0].valid_range",
        "below max",
    );
}

#[test]
fn overlapping_registers_on_one_slave() {
    let mut c = valid();
    c.devices[0].registers = vec![
        register("a", 10, DataType::Float32), // 10..=11
        register("b", 11, DataType::Uint16),  // overlaps a
        register("c", 12, DataType::Uint16),  // free
    ];
    assert_one(
        &run(overlaps, &c),
        "devices[0].registers[1].address",
        "overlap devices[0].registers[0] \"a\"",
    );
    // Another table or another slave is no overlap.
    c.devices[0].registers[1].register = RegisterKind::Input;
    assert!(run(overlaps, &c).is_empty());
    // Same slave through a second device entry (same controller, default port) is.
    let mut c = valid();
    c.devices[0].controller = "tcp://h".into();
    c.devices[0].registers = vec![register("a", 10, DataType::Float64)];
    let mut d = c.devices[0].clone();
    d.name = "twin".into();
    d.controller = "tcp://h:502".into();
    d.registers = vec![register("b", 13, DataType::Uint16)];
    c.devices.push(d);
    assert_one(
        &run(overlaps, &c),
        "devices[1].registers[0].address",
        "same slave",
    );
}

#[test]
fn product_rules() {
    let mut c = valid();
    let mut p = c.products[0].clone();
    p.ph = [6.0, 5.0];
    p.cocoa_pct = Some(120.0);
    c.products.push(p);
    let got = run(products, &c);
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(got[0].starts_with("products[1].code: duplicate"));
    assert!(got[1].starts_with("products[1].recipe_id: duplicate"));
    assert!(got[2].starts_with("products[1].ph: min (6) must be below max (5)"));
    assert!(got[3].starts_with("products[1].cocoa_pct"));
}

#[test]
fn agent_product_must_exist() {
    let mut c = valid();
    c.agent.product = Some("caramel".into());
    assert_one(&run(agent, &c), "agent.product", "expected one of dark");
}

#[test]
fn feature_signals_refer_to_registers() {
    let mut c = valid();
    c.features.batch_id_signal = "lot".into();
    c.features
        .signal_map
        .insert("temperature".into(), "tempering_temp".into());
    c.features.lot_signals = vec!["batch_id".into(), "bean_lot".into()];
    let got = run(features, &c);
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got[0].starts_with("features.batch_id_signal: no register"));
    assert!(
        got[1].starts_with("features.lot_signals[1]: no register"),
        "{got:?}"
    );
    assert!(got[2].starts_with("features.signal_map.temperature: no register"));
}

#[test]
fn feature_quality_settings() {
    assert!(run(feature_quality, &valid()).is_empty());
    let mut c = valid();
    c.features.spike_k = 0.0;
    c.features.spike_window = 1;
    c.features.stuck_tolerance = -1.0;
    c.features.max_window_samples = 0;
    assert_eq!(run(feature_quality, &c).len(), 4);
}

#[test]
fn alert_settings_and_yield_model() {
    let mut c = valid();
    c.alerts.yield_model = "yield2".into();
    assert_one(
        &run(alert_settings, &c),
        "alerts.yield_model",
        "not in models.enabled",
    );
    c.alerts.yield_low.enabled = false;
    assert!(run(alert_settings, &c).is_empty());
    let mut c = valid();
    c.alerts.share_window = 0;
    c.alerts.temp_band_tolerance_c = f64::NAN;
    assert_eq!(run(alert_settings, &c).len(), 2);
    let mut c = valid();
    c.alerts.humidity_margin_rh = -1.0;
    assert_one(
        &run(alert_settings, &c),
        "alerts.humidity_margin_rh",
        "must be a number ≥ 0",
    );
}

#[test]
fn models_dir_must_exist() {
    let mut c = valid();
    c.models.dir = "/nonexistent/chocoline/models".into();
    assert_one(&run(models, &c), "models.dir", "does not exist");
    let mut c = valid();
    c.models.enabled.push("quality".into());
    assert_one(
        &run(models, &c),
        "models.enabled[4]",
        "listed twice (also enabled[0])",
    );
}

#[test]
fn drift_thresholds() {
    let mut c = valid();
    c.drift.psi_threshold = Some(-0.1);
    c.drift.page_hinkley_lambda = 0.0;
    c.drift.window = Duration::from_millis(0);
    let got = run(drift, &c);
    assert_eq!(got.len(), 3, "{got:?}");
    let mut c = valid();
    c.drift.page_hinkley_feature_delta = f64::NAN;
    assert_one(
        &run(drift, &c),
        "drift.page_hinkley_feature_delta",
        "must be a number ≥ 0",
    );
}

#[test]
fn alert_thresholds_ordered_by_direction() {
    let mut c = valid();
    c.alerts.gritty.clear = 35.0; // above raise 30: higher is worse
    assert_one(
        &run(alerts, &c),
        "alerts.gritty.clear",
        "must not be above raise",
    );
    let mut c = valid();
    c.alerts.yield_low.clear = 70.0; // below raise 75: lower is worse
    assert_one(
        &run(alerts, &c),
        "alerts.yield_low.clear",
        "must not be below raise",
    );
    let mut c = valid();
    c.alerts.fat_bloom_risk.raise = 1.5;
    assert_one(&run(alerts, &c), "alerts.fat_bloom_risk.raise", "[0, 1]");
    let mut c = valid();
    c.alerts.anomaly.consecutive = 0;
    assert_one(&run(alerts, &c), "alerts.anomaly.consecutive", "at least 1");
}
