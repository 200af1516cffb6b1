//! The one support module of the integration tests (every test file says `mod common;`):
//! real brokers (rumqttd in-process, mosquitto as a child process), a TCP gate in front of the
//! broker, a recording subscriber, record factories, the delivery analysis (lost / duplicates
//! / out of order), and [`free_port`] here; the env-clean binary runner ([`cli`]), agents
//! started from a config ([`agent`]), the acquire harness ([`acquire`]), model folders from
//! fixtures ([`models`]), publishers and stores ([`publisher`]), the JSON-schema checker
//! ([`schema`]), the Sparkplug hosts (Rust: [`spb`], pysparkplug: [`sparkplug_host`]) and TLS material ([`tls`])
//! in its submodules.
#![allow(dead_code)]

pub mod acquire;
pub mod agent;
pub mod cli;
pub mod fleet;
pub mod models;
pub mod publisher;
pub mod schema;
pub mod sparkplug_host;
pub mod spb;
pub mod tls;
pub mod training;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chocoline::domain::*;
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A free loopback port (bound then released: another process may still take it before the
/// test binds it, a race accepted in tests), never one this test binary was given before.
pub fn free_port() -> u16 {
    // The kernel may hand the same free port to two successive binds once the first listener
    // is dropped; a test that takes a broker, a Modbus and a metrics port would then start two
    // servers on one port. So a port is handed out at most once per test binary.
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Is the interop suite mandatory?
pub fn interop() -> bool {
    std::env::var("CHOCOLINE_INTEROP").as_deref() == Ok("1")
}

/// Find a program; None (after printing SKIPPED) when absent and interop is not mandatory.
pub fn need_program(name: &str, test: &str) -> Option<PathBuf> {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return Some(p);
        }
    }
    if interop() {
        panic!(
            "CHOCOLINE_INTEROP=1 but {name} is not installed (apt-get install mosquitto mosquitto-clients)"
        );
    }
    eprintln!(
        "SKIPPED: {test}: {name} not installed (set CHOCOLINE_INTEROP=1 to make it mandatory)"
    );
    None
}

// ---------------------------------------------------------------------------------------------
// Brokers

/// A running broker.
pub enum Broker {
    /// rumqttd in a background thread (cannot be stopped: "restart" starts a fresh one on a new
    /// port, with empty state, and the gate is pointed at it).
    Rumqttd { port: u16 },
    /// mosquitto child process (really killed and restarted on the same port).
    Mosquitto {
        port: u16,
        child: Child,
        conf: PathBuf,
        bin: PathBuf,
        _dir: Arc<tempfile::TempDir>,
    },
}

/// Start rumqttd on a random loopback port.
pub fn rumqttd() -> Broker {
    rumqttd_limited(1024 * 1024)
}

/// rumqttd that closes the connection of a client sending a packet over `max_payload_size`
/// bytes (like mosquitto's `max_packet_size`).
pub fn rumqttd_limited(max_payload_size: usize) -> Broker {
    let port = free_port();
    let v4 = rumqttd_listener("v4", port, max_payload_size);
    rumqttd_start(vec![("v4".to_string(), v4)]);
    Broker::Rumqttd { port }
}

/// The settings of one rumqttd MQTT 3.1.1 listener on loopback `port` (no TLS, no auth:
/// set `connections` fields to change that).
pub fn rumqttd_listener(name: &str, port: u16, max_payload_size: usize) -> rumqttd::ServerSettings {
    let listen: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    rumqttd::ServerSettings {
        name: name.into(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: rumqttd::ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size,
            max_inflight_count: 500,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    }
}

/// Start rumqttd with these listeners on a thread of its own; returns once every one of
/// them accepts connections.
pub fn rumqttd_start(listeners: Vec<(String, rumqttd::ServerSettings)>) {
    use rumqttd::{Config, RouterConfig};
    let ports: Vec<u16> = listeners.iter().map(|(_, s)| s.listen.port()).collect();
    let v4: HashMap<_, _> = listeners.into_iter().collect();
    let config = Config {
        id: 0,
        router: RouterConfig {
            max_connections: 100,
            max_outgoing_packet_count: 1000,
            max_segment_size: 100 * 1024 * 1024,
            max_segment_count: 10,
            ..RouterConfig::default()
        },
        v4: Some(v4),
        ..Config::default()
    };
    std::thread::spawn(move || {
        let mut broker = rumqttd::Broker::new(config);
        let _ = broker.start();
    });
    for port in ports {
        wait_listening(port);
    }
}

fn wait_listening(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("broker did not listen on {port}");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

/// Start mosquitto with `extra` config lines appended (None: skipped).
pub fn mosquitto(test: &str, extra: &str, dir: Option<Arc<tempfile::TempDir>>) -> Option<Broker> {
    mosquitto_with(test, "", extra, dir)
}

/// Start mosquitto with `head` lines first (global options), then the plain listener, then
/// `extra`.
pub fn mosquitto_with(
    test: &str,
    head: &str,
    extra: &str,
    dir: Option<Arc<tempfile::TempDir>>,
) -> Option<Broker> {
    let bin = need_program("mosquitto", test)?;
    let dir = dir.unwrap_or_else(|| Arc::new(tempfile::tempdir().unwrap()));
    let port = free_port();
    let conf = dir.path().join(format!("mosquitto-{port}.conf"));
    let mut text = head.to_string();
    if is_root() {
        text += "user root\n";
    }
    text += &format!("persistence false\nlistener {port} 127.0.0.1\nallow_anonymous true\n");
    text += extra;
    std::fs::write(&conf, text).unwrap();
    let child = spawn_mosquitto(&bin, &conf);
    wait_listening(port);
    Some(Broker::Mosquitto {
        port,
        child,
        conf,
        bin,
        _dir: dir,
    })
}

fn spawn_mosquitto(bin: &Path, conf: &Path) -> Child {
    Command::new(bin)
        .arg("-c")
        .arg(conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mosquitto")
}

impl Broker {
    /// Plain-MQTT port.
    pub fn port(&self) -> u16 {
        match self {
            Broker::Rumqttd { port } | Broker::Mosquitto { port, .. } => *port,
        }
    }

    /// Stop the broker (all sessions and connections die). For rumqttd this only forgets it;
    /// callers cut the gate so no client can reach it again.
    pub fn stop(&mut self) {
        if let Broker::Mosquitto { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start again after [`Broker::stop`], with empty state.
    pub fn start_again(&mut self) {
        match self {
            Broker::Rumqttd { port } => {
                let Broker::Rumqttd { port: p } = rumqttd() else {
                    unreachable!()
                };
                *port = p;
            }
            Broker::Mosquitto {
                port,
                child,
                conf,
                bin,
                ..
            } => {
                *child = spawn_mosquitto(bin, conf);
                wait_listening(*port);
            }
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------------
// Gate: a TCP forwarder that the test can close (the port refuses connections and every open
// connection is cut) and reopen, pointing at whichever broker is current.

/// The gate.
pub struct Gate {
    pub port: u16,
    target: Arc<AtomicU16>,
    task: Mutex<Option<JoinHandle<()>>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Gate {
    /// A closed gate on a free port.
    pub fn new(target: u16) -> Gate {
        Gate {
            port: free_port(),
            target: Arc::new(AtomicU16::new(target)),
            task: Mutex::new(None),
            conns: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Point at another broker port.
    pub fn retarget(&self, port: u16) {
        self.target.store(port, Ordering::SeqCst);
    }

    /// Start listening and forwarding.
    pub async fn open(&self) {
        let mut listener = None;
        for _ in 0..100 {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        let listener = listener.expect("gate could not bind its port again");
        let target = self.target.clone();
        let conns = self.conns.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let port = target.load(Ordering::SeqCst);
                let h = tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(("127.0.0.1", port)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                conns.lock().unwrap().push(h);
            }
        });
        *self.task.lock().unwrap() = Some(task);
    }

    /// Stop listening and cut every open connection.
    pub async fn close(&self) {
        let task = self.task.lock().unwrap().take();
        if let Some(t) = task {
            t.abort();
            let _ = t.await;
        }
        let conns: Vec<_> = self.conns.lock().unwrap().drain(..).collect();
        for c in conns {
            c.abort();
            let _ = c.await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Subscriber

/// One received message.
#[derive(Debug, Clone)]
pub struct Got {
    pub topic: String,
    pub payload: serde_json::Value,
    pub retain: bool,
}

/// A subscriber on `{prefix}/#` that records everything.
pub struct Subscriber {
    pub got: Arc<Mutex<Vec<Got>>>,
    client: AsyncClient,
    task: JoinHandle<()>,
}

impl Subscriber {
    /// Connect, subscribe at QoS 1 and wait for the SubAck.
    pub async fn connect(port: u16, prefix: &str) -> Subscriber {
        Self::connect_with(port, prefix, Arc::new(Mutex::new(Vec::new()))).await
    }

    /// Same, appending into an existing record (to survive broker restarts).
    pub async fn connect_with(port: u16, prefix: &str, got: Arc<Mutex<Vec<Got>>>) -> Subscriber {
        let mut o = MqttOptions::new(format!("sub-{}", free_port()), "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(30));
        o.set_max_packet_size(2 * 1024 * 1024, 2 * 1024 * 1024);
        let (client, mut ev) = AsyncClient::new(o, 1000);
        client
            .subscribe(format!("{prefix}/#"), QoS::AtLeastOnce)
            .await
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut tx = Some(tx);
        let sink = got.clone();
        let resubscribe = client.clone();
        let filter = format!("{prefix}/#");
        let task = tokio::spawn(async move {
            loop {
                match ev.poll().await {
                    Ok(Event::Incoming(Incoming::SubAck(_))) => {
                        if let Some(t) = tx.take() {
                            let _ = t.send(());
                        }
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) => {
                        let payload =
                            serde_json::from_slice(&p.payload).unwrap_or(serde_json::Value::Null);
                        sink.lock().unwrap().push(Got {
                            topic: p.topic.clone(),
                            payload,
                            retain: p.retain,
                        });
                    }
                    Ok(_) => {}
                    // Before the SUBACK (a loaded machine can refuse the first connect while
                    // the broker's listener comes up): retry, and ask for the subscription
                    // again since the first request went with the failed connection.
                    Err(_) if tx.is_some() => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        let _ = resubscribe.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                    }
                    Err(_) => return,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .expect("suback")
            .unwrap();
        Subscriber { got, client, task }
    }

    /// Publish `payload` on `topic` at QoS 1 (the broker has it once this returns Ok and the
    /// event loop ran; callers wait for the effect).
    pub async fn publish(&self, topic: &str, payload: Vec<u8>, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .unwrap();
    }

    /// Messages received so far.
    pub fn messages(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Wait until `pred` holds for the messages (panics after `secs`).
    pub async fn wait_for(&self, secs: u64, what: &str, pred: impl Fn(&[Got]) -> bool) {
        if !self.wait_until(secs, pred).await {
            panic!(
                "timed out waiting for {what}; got {} messages",
                self.got.lock().unwrap().len()
            );
        }
    }

    /// Wait until `pred` holds for the messages: false after `secs` without it (for callers
    /// that add their own evidence, e.g. the agent's log, to the failure).
    pub async fn wait_until(&self, secs: u64, pred: impl Fn(&[Got]) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if pred(&self.got.lock().unwrap()) {
                return true;
            }
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stop.
    pub async fn stop(self) {
        let _ = self.client.disconnect().await;
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Delivery analysis

/// What a subscriber saw compared to what was generated.
#[derive(Debug, Default)]
pub struct Delivery {
    pub expected: usize,
    pub received: usize,
    pub unique: usize,
    pub duplicates: usize,
    pub lost: Vec<String>,
    pub out_of_order: Vec<String>,
}

/// Database epoch and sequence number of a message id `{site}-{line}-{epoch}.{generation}-{seq}`.
/// The generation (one per open) is left out: the sequence continues across opens, so order is
/// checked across restarts of one database.
pub fn id_parts(id: &str) -> Option<(String, u64)> {
    let mut it = id.rsplitn(2, '-');
    let seq = it.next()?.parse().ok()?;
    let rest = it.next()?;
    let epoch = rest.rsplit('-').next()?;
    let db_epoch = epoch.split('.').next()?.to_string();
    Some((db_epoch, seq))
}

/// Compare. Order is checked per topic on first arrivals: within one database epoch, the
/// first time each id shows up its sequence must be higher than every earlier first arrival.
pub fn analyse(expected: &[String], got: &[Got]) -> Delivery {
    let mut d = Delivery {
        expected: expected.len(),
        ..Default::default()
    };
    let mut seen = HashSet::new();
    let mut last: HashMap<(String, String), u64> = HashMap::new();
    for g in got.iter().filter(|g| !g.topic.ends_with("/status")) {
        let Some(id) = g.payload.get("id").and_then(|v| v.as_str()) else {
            continue;
        };
        d.received += 1;
        if !seen.insert(id.to_string()) {
            d.duplicates += 1;
            continue;
        }
        if let Some((epoch, seq)) = id_parts(id) {
            let k = (g.topic.clone(), epoch);
            if let Some(prev) = last.get(&k)
                && seq <= *prev
            {
                d.out_of_order
                    .push(format!("{id} after seq {prev} on {}", g.topic));
            }
            last.insert(k, seq);
        }
    }
    d.unique = seen.len();
    d.lost = expected
        .iter()
        .filter(|id| !seen.contains(*id))
        .cloned()
        .collect();
    d
}

// ---------------------------------------------------------------------------------------------
// Records

pub fn alert(i: u64, kind: AlertKind) -> Record {
    Record::Alert(Alert {
        id: format!("alert-{i}"),
        kind,
        severity: if i.is_multiple_of(2) {
            Severity::Warning
        } else {
            Severity::Critical
        },
        state: AlertState::Raised,
        site: "site".into(),
        line: "line".into(),
        batch: BatchContext {
            batch_id: Some(format!("{}", 1000 + i)),
            product: Some("dark70".into()),
            lot: None,
        },
        raised_at: TimestampMs(1_700_000_000_000 + i as i64),
        ts: TimestampMs(1_700_000_000_000 + i as i64),
        message: format!("alert {i}"),
        evidence: serde_json::json!({ "p_bloom": 0.91, "threshold": 0.8 }),
    })
}

pub fn features(model: &str, ts: i64) -> FeatureVector {
    FeatureVector {
        model: model.into(),
        spec_version: 1,
        level: FeatureLevel::Sample,
        names: Arc::from(vec![
            "temper_temp_mean".to_string(),
            "humidity_max".to_string(),
        ]),
        values: vec![29.1, f64::NAN],
        ts: TimestampMs(ts),
        batch: BatchContext::default(),
        flags: Default::default(),
    }
}

pub fn prediction(i: u64, ts: i64) -> Record {
    let output = match i % 3 {
        0 => PredictionOutput::Class {
            label: "none".into(),
            probabilities: vec![
                ("none".into(), 0.7),
                ("fat_bloom".into(), 0.2),
                ("sugar_bloom".into(), 0.1),
            ],
        },
        1 => PredictionOutput::Value { value: 97.5 },
        _ => PredictionOutput::Anomaly {
            score: -0.42,
            decision: 0.03,
            is_anomaly: false,
            contributions: Vec::new(),
        },
    };
    Record::Prediction(Prediction {
        model: "bloom".into(),
        model_version: "1.2.0".into(),
        ts: TimestampMs(ts),
        batch: BatchContext {
            batch_id: Some("77".into()),
            product: None,
            lot: None,
        },
        output,
        confidence: 0.7,
        decides: true,
        shadow: false,
        features: features("bloom", ts),
    })
}

pub fn drift(i: u64) -> Record {
    Record::Drift(DriftWindow {
        model: "bloom".into(),
        model_version: "1.2.0".into(),
        start: TimestampMs(1_700_000_000_000 + i as i64 * 60_000),
        end: TimestampMs(1_700_000_060_000 + i as i64 * 60_000),
        samples: 600,
        features: vec![FeatureDrift {
            feature: "temper_temp_mean".into(),
            psi: 0.31,
            js: 0.12,
            w1_sigma: 0.8,
            thresholds: [0.25, 0.1, 0.5],
            page_hinkley: false,
            drifted: true,
        }],
        drifted_share: 0.5,
    })
}

pub fn data_quality(i: u64) -> Record {
    let mut flags = std::collections::BTreeMap::new();
    flags.insert(
        "conche_temp".to_string(),
        vec![ReasonCode::Stuck, ReasonCode::Stale],
    );
    Record::DataQuality(DataQualityEvent {
        model: "quality".into(),
        ts: TimestampMs(1_700_000_000_000 + i as i64),
        batch: BatchContext::default(),
        flags,
    })
}
