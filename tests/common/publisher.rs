//! A store + publisher pair as the agent runs them, against a given broker, and the delivery
//! report the broker tests share.

use std::time::Duration;

use std::sync::Arc;

use chocoline::domain::{AlertKind, Quality, Reading, TimestampMs};
use chocoline::publish::config::MqttConfig;
use chocoline::publish::{PublishError, PublishStats, Publisher};
use chocoline::store::config::StoreConfig;
use chocoline::store::{Envelope, Outbox, Store};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Delivery, free_port};

pub struct Agent {
    pub store: Store,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<Result<PublishStats, PublishError>>,
    pub _dir: tempfile::TempDir,
}

impl Agent {
    pub async fn stop(self) -> PublishStats {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap()
    }
}

pub fn mqtt_cfg(url: &str, prefix: &str) -> MqttConfig {
    let mut m = MqttConfig {
        url: url.into(),
        client_id: format!("chocoline-test-{}", free_port()),
        topic_prefix: prefix.into(),
        ..MqttConfig::default()
    };
    m.reconnect_min = chocoline::config::Duration::from_millis(50);
    m.reconnect_max = chocoline::config::Duration::from_millis(400);
    m
}

/// The envelope the store tests use: site `site`, line `line`, default topics and size limit.
pub fn envelope(prefix: &str) -> Envelope {
    Envelope {
        site: "site".into(),
        line: "line".into(),
        topic_prefix: prefix.into(),
        topics: Default::default(),
        max_message_bytes: chocoline::publish::config::DEFAULT_MAX_MESSAGE_BYTES,
    }
}

/// `[store]` defaults on `dir`.
pub fn store_cfg(dir: &std::path::Path) -> StoreConfig {
    StoreConfig {
        data_dir: dir.to_path_buf(),
        ..StoreConfig::default()
    }
}

/// Every durable outbox message, oldest first.
pub fn outbox_of(store: &Store) -> Vec<(u64, chocoline::store::OutboxMessage)> {
    Outbox::new(store.clone()).read(0, usize::MAX).unwrap()
}

pub fn open_store(dir: &std::path::Path, mqtt: &MqttConfig) -> Store {
    let env = Envelope {
        topics: mqtt.topics.clone(),
        max_message_bytes: mqtt.max_message_bytes.get() as usize,
        ..envelope(&mqtt.topic_prefix)
    };
    chocoline::store::open(&store_cfg(dir), env).unwrap()
}

pub fn agent(mqtt: MqttConfig) -> Agent {
    agent_with(mqtt, |_| {})
}

/// [`agent`], with `attach` applied to the publisher before it runs (signals, health).
pub fn agent_with(mqtt: MqttConfig, attach: impl FnOnce(&mut Publisher)) -> Agent {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path(), &mqtt);
    let mut publisher = Publisher::new(&mqtt, Outbox::new(store.clone())).unwrap();
    attach(&mut publisher);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(publisher.run(shutdown.clone()));
    Agent {
        store,
        shutdown,
        task,
        _dir: dir,
    }
}

pub fn ids(appended: &[chocoline::store::Appended]) -> Vec<String> {
    appended.iter().map(|a| a.id.clone()).collect()
}

pub async fn wait_depth_zero(store: &Store, secs: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while store.outbox_depth() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "outbox still holds {}",
            store.outbox_depth()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn report(name: &str, d: &Delivery) {
    eprintln!(
        "{name}: expected={} received={} unique={} duplicates={} lost={} out_of_order={}",
        d.expected,
        d.received,
        d.unique,
        d.duplicates,
        d.lost.len(),
        d.out_of_order.len()
    );
    assert!(
        d.lost.is_empty(),
        "{name}: lost {:?}",
        &d.lost[..d.lost.len().min(10)]
    );
    assert!(
        d.out_of_order.is_empty(),
        "{name}: out of order {:?}",
        &d.out_of_order[..d.out_of_order.len().min(10)]
    );
}

/// Ten registers of a line, for outage tests that push an hour of readings.
pub const LINE_REGISTERS: [&str; 10] = [
    "temperature",
    "tunnel_temp",
    "humidity",
    "particle_size",
    "moisture",
    "ph",
    "conche_temp",
    "batch_id",
    "recipe",
    "lot",
];

/// Start of the outage tests' hour, ms since the epoch.
pub const HOUR_T0: i64 = 1_700_000_000_000;

/// Register `name` of device `line` at second `i` of the hour, value `i`.
pub fn line_reading(name: &str, i: i64) -> Reading {
    Reading {
        device: Arc::from("line"),
        name: Arc::from(name),
        value: i as f64,
        unit: Arc::from("°C"),
        raw: vec![],
        ts: TimestampMs(HOUR_T0 + i * 1000),
        quality: Quality::Good,
    }
}

/// An hour of the line at 1 Hz while the broker is unreachable: every reading of
/// [`LINE_REGISTERS`] handed to `push`, and an alert (gritty and fat bloom in turn) stored
/// every 12 s. Returns the stored alerts' ids, in order (300).
pub async fn an_hour_of_outage(store: &Store, mut push: impl FnMut(Reading)) -> Vec<String> {
    let mut expected = Vec::new();
    for i in 0..3600 {
        for name in LINE_REGISTERS {
            push(line_reading(name, i));
        }
        if i % 12 == 0 {
            let kind = [AlertKind::Gritty, AlertKind::FatBloomRisk][(i / 12) as usize % 2];
            let done = store.append(&[super::alert(i as u64, kind)]).await.unwrap();
            expected.extend(ids(&done));
        }
    }
    expected
}
