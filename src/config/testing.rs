//! Configurations for unit tests: one with every optional setting filled in (to list the
//! schema's keys) and one minimal valid configuration to break one setting at a time.

use std::collections::BTreeMap;

use super::*;

fn register(name: &str, address: u16, data_type: DataType) -> RegisterConfig {
    RegisterConfig {
        name: name.into(),
        register: RegisterKind::Holding,
        address,
        data_type,
        byte_order: ByteOrder::ABCD,
        scale: 1.0,
        offset: 0.0,
        unit: String::new(),
        valid_range: None,
    }
}

fn device(name: &str, registers: Vec<RegisterConfig>) -> DeviceConfig {
    DeviceConfig {
        name: name.into(),
        controller: "tcp://127.0.0.1:5020".into(),
        slave_id: 1,
        poll_interval: Duration::from_secs(1),
        timeout: Duration::from_millis(500),
        baud_rate: 19200,
        data_bits: 8,
        parity: Parity::Even,
        stop_bits: 1,
        pause_between_requests: Duration::from_millis(0),
        max_word_registers_per_request: 125,
        registers,
    }
}

fn dark() -> ProductConfig {
    ProductConfig {
        code: "dark-70".into(),
        recipe_id: 1,
        chocolate: Chocolate::Dark,
        working_temp: None,
        moisture_pct: [1.0, 2.0],
        ph: [5.0, 5.5],
        particle_size_max_um: 25.0,
        cocoa_pct: None,
    }
}

/// A minimal valid configuration: one device with `batch_id`, `recipe` and `temperature`,
/// one product, models dir = the system temp dir; everything else default.
pub(crate) fn valid() -> Config {
    Config {
        agent: AgentConfig::default(),
        devices: vec![device(
            "plc",
            vec![
                register("batch_id", 0, DataType::Uint32),
                register("recipe", 2, DataType::Uint16),
                register("temperature", 3, DataType::Float32),
            ],
        )],
        products: vec![dark()],
        features: FeaturesConfig::default(),
        models: ModelsConfig {
            dir: std::env::temp_dir(),
            ..ModelsConfig::default()
        },
        fleet: Default::default(),
        drift: DriftConfig::default(),
        alerts: AlertsConfig::default(),
        store: StoreConfig {
            data_dir: std::env::temp_dir().join("chocoline-unit-test-store"),
            ..StoreConfig::default()
        },
        mqtt: MqttConfig::default(),
        log: LogConfig::default(),
        metrics: MetricsConfig::default(),
        sparkplug: Default::default(),
        capture: Default::default(),
    }
}

/// Every optional setting present (`Some`, non-empty), so that serialising it lists every key
/// of the schema. Free-form maps (`signal_map`) stay empty: their keys are data, not schema.
pub(crate) fn fully_populated() -> Config {
    let mut c = valid();
    c.agent.product = Some("dark-70".into());
    c.devices[0].registers[0].valid_range = Some([0.0, 1e9]);
    c.products[0].working_temp = Some([31.0, 32.0]);
    c.products[0].cocoa_pct = Some(70.0);
    c.features.signal_map = BTreeMap::new();
    c.models.installed_dir = Some("installed".into());
    c.models.per_model.insert(
        "bloom".into(),
        crate::infer::config::ModelSettings {
            folder: Some("bloom-2.0.0".into()),
            candidate: Some("bloom-2.1.0".into()),
        },
    );
    c.fleet.trusted_keys = vec![format!("ed25519:{}", "ab".repeat(32))];
    c.fleet.group_deploy_topic = Some("chocoline/fleet/dark-lines/cmd/deploy".into());
    c.drift.window_samples = Some(100);
    c.drift.psi_threshold = Some(0.2);
    c.drift.js_threshold = Some(0.1);
    c.drift.w1_threshold = Some(0.1);
    c.mqtt.username = Some("u".into());
    c.mqtt.password_file = Some("pw".into());
    c.mqtt.ca_file = Some("ca.pem".into());
    c.mqtt.client_cert_file = Some("cert.pem".into());
    c.mqtt.client_key_file = Some("key.pem".into());
    // The sample's example deadbands (map keys are register names, not schema keys).
    c.mqtt.topics.signals.deadbands = [("temperature".into(), 0.1), ("ph".into(), 0.01)].into();
    c.sparkplug.edge_node_id = Some("line-3".into());
    c.sparkplug.primary_host_id = Some("scada1".into());
    c
}
