//! The agent as a Sparkplug B edge node (`[sparkplug]`, docs/sparkplug.md): its own MQTT
//! connection beside the JSON publisher, because Sparkplug needs the NDEATH as the will of
//! the connection whose NBIRTH carries the same `bdSeq`, and the JSON publisher's will is the
//! retained `offline` status.
//!
//! Per connection: the next `bdSeq` (from a file in the data directory, so it goes on after a
//! restart), the NDEATH registered as will (QoS 1, not retained); on ConnAck the NCMD
//! subscription (QoS 1) and the births. Then DDATA from the signal tap's readings (report by
//! exception), NDATA when the outbox depth changes, a new set of births on an NCMD
//! `Node Control/Rebirth`, a logged refusal for any other NCMD. On shutdown the NDEATH is
//! published before the disconnect (a clean DISCONNECT suppresses the will).
//!
//! Not yet: the primary host's STATE, and readings kept through an outage beyond the ring
//! (`is_historical`).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, Incoming, LastWill, QoS};
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::config::MqttConfig;
use super::error::PublishError;
use super::options::mqtt_options;
use crate::domain::{Reading, TimestampMs};
use crate::signals::queue::Ring;
use crate::sparkplug::config::SparkplugConfig;
use crate::sparkplug::map::{OUTBOX_DEPTH, alert_active, drift_metric, model, model_metric};
use crate::sparkplug::node::{BdSeqFile, Catalogue, Change, Session, command};
use crate::sparkplug::value::Val;
use crate::store::Outbox;

/// The edge-node task; see the module docs.
pub struct EdgeNode {
    mqtt: MqttConfig,
    group: String,
    edge_node: String,
    catalogue: Catalogue,
    bd_seq: BdSeqFile,
    readings: Ring<Reading>,
    outbox: Outbox,
    /// Last value of every metric, by alias, for the births.
    latest: HashMap<u64, Val>,
}

/// How a connection ended.
enum End {
    Lost,
    Shutdown,
}

/// One MQTT connection of the edge node.
struct Connection {
    client: AsyncClient,
    events: rumqttc::EventLoop,
    session: Session,
    bd_seq: u8,
    /// NDEATH topic and payload (also the will).
    death: (String, Vec<u8>),
    /// `spBv1.0/{group}/NCMD/{edge_node}`.
    ncmd: String,
    connected: bool,
}

impl Connection {
    /// Shutdown: NDEATH published by hand (a clean DISCONNECT suppresses the will), then the
    /// DISCONNECT, given up to 2 s to be written.
    async fn goodbye(&mut self) {
        let (topic, payload) = self.death.clone();
        let _ = self
            .client
            .try_publish(topic, QoS::AtLeastOnce, false, payload);
        let _ = self.client.try_disconnect();
        let until = tokio::time::Instant::now() + Duration::from_secs(2);
        loop {
            match tokio::time::timeout_at(until, self.events.poll()).await {
                Ok(Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect))) | Ok(Err(_)) | Err(_) => {
                    break;
                }
                Ok(Ok(_)) => {}
            }
        }
    }
}

impl EdgeNode {
    /// An edge node `edge_node` publishing `catalogue`'s metrics from `readings` through the
    /// broker of `mqtt` (its own client id: `{client_id}-spb`).
    pub fn new(
        mqtt: &MqttConfig,
        spb: &SparkplugConfig,
        edge_node: &str,
        catalogue: Catalogue,
        readings: Ring<Reading>,
        outbox: Outbox,
    ) -> Self {
        let mut mqtt = mqtt.clone();
        mqtt.client_id = format!("{}-spb", mqtt.client_id);
        let bd_seq = BdSeqFile::new(&outbox.store().data_dir().join("sparkplug.bdseq"));
        EdgeNode {
            mqtt,
            group: spb.group_id.clone(),
            edge_node: edge_node.to_owned(),
            catalogue,
            bd_seq,
            readings,
            outbox,
            latest: HashMap::new(),
        }
    }

    /// Run until `shutdown`, reconnecting with backoff.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), PublishError> {
        let mut backoff =
            Backoff::new(self.mqtt.reconnect_min.get(), self.mqtt.reconnect_max.get());
        while !shutdown.is_cancelled() {
            match self.session(&shutdown).await? {
                End::Shutdown => break,
                End::Lost => {
                    let delay = backoff.next_delay();
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        Ok(())
    }

    async fn session(&mut self, shutdown: &CancellationToken) -> Result<End, PublishError> {
        let mut c = self.connect()?;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    if c.connected {
                        c.goodbye().await;
                    }
                    return Ok(End::Shutdown);
                }
                ev = c.events.poll() => match ev {
                    Ok(ev) => self.on_event(&mut c, ev),
                    Err(e) => {
                        tracing::warn!(error = %e, "Sparkplug connection lost");
                        return Ok(End::Lost);
                    }
                },
                () = self.readings.pushed(), if c.connected => {
                    self.device_data(&c.client, &mut c.session);
                }
                _ = tick.tick(), if c.connected => self.node_state(&c.client, &mut c.session),
            }
        }
    }

    /// A new client whose will is the NDEATH of the next `bdSeq`.
    fn connect(&self) -> Result<Connection, PublishError> {
        let bd_seq = self.bd_seq.next().map_err(PublishError::BdSeq)?;
        let session = Session::new(&self.group, &self.edge_node, bd_seq).map_err(inconsistent)?;
        let (death_topic, death) = session.death(now_ms()).map_err(inconsistent)?;
        let mut options = mqtt_options(&self.mqtt, self.outbox.store().envelope(), 16)?;
        let will = LastWill::new(death_topic.clone(), death.clone(), QoS::AtLeastOnce, false);
        options.set_last_will(will);
        let (client, events) = AsyncClient::new(options, 256);
        Ok(Connection {
            client,
            events,
            session,
            bd_seq,
            death: (death_topic, death),
            ncmd: format!("spBv1.0/{}/NCMD/{}", self.group, self.edge_node),
            connected: false,
        })
    }

    /// ConnAck: subscribe to NCMD, then the births; an NCMD: rebirth, or a logged refusal.
    fn on_event(&mut self, c: &mut Connection, ev: Event) {
        match ev {
            Event::Incoming(Incoming::ConnAck(_)) => self.on_connected(c),
            Event::Incoming(Incoming::Publish(p)) if p.topic == c.ncmd => {
                self.on_command(c, &p.payload);
            }
            _ => {}
        }
    }

    fn on_connected(&mut self, c: &mut Connection) {
        tracing::info!(bd_seq = c.bd_seq, edge_node = %self.edge_node, "Sparkplug edge node connected");
        let _ = c.client.try_subscribe(c.ncmd.as_str(), QoS::AtLeastOnce);
        // The births carry the node metrics as they are now.
        self.node_changes();
        self.births(&c.client, &mut c.session);
        c.connected = true;
    }

    fn on_command(&mut self, c: &mut Connection, payload: &[u8]) {
        match command(payload) {
            Ok(_) => {
                tracing::info!("Sparkplug NCMD: rebirth");
                self.births(&c.client, &mut c.session);
            }
            Err(e) => tracing::warn!(error = %e, "Sparkplug NCMD refused; nothing changed"),
        }
    }

    /// NBIRTH and every DBIRTH with the latest values.
    fn births(&self, client: &AsyncClient, s: &mut Session) {
        let latest = &self.latest;
        let cat = &self.catalogue;
        let now = |device: Option<&str>, name: &str| {
            cat.alias(device, name)
                .and_then(|a| latest.get(&a).cloned())
        };
        match s.births(cat, now_ms(), now) {
            Ok(births) => {
                for (topic, payload) in births {
                    let _ = client.try_publish(topic, QoS::AtMostOnce, false, payload);
                }
            }
            Err(e) => tracing::error!(error = %e, "Sparkplug births not built"),
        }
    }

    /// DDATA per device of the readings waiting.
    fn device_data(&mut self, client: &AsyncClient, s: &mut Session) {
        let mut by_device: BTreeMap<String, Vec<Change>> = BTreeMap::new();
        while let Some(r) = self.readings.pop() {
            let Some(alias) = self.catalogue.alias(Some(&r.device), &r.name) else {
                continue;
            };
            self.latest.insert(alias, Val::Number(r.value));
            by_device
                .entry(r.device.to_string())
                .or_default()
                .push(Change {
                    alias,
                    value: Val::Number(r.value),
                    ts: u64::try_from(r.ts.0).unwrap_or(0),
                    historical: false,
                });
        }
        for (device, changes) in by_device {
            match s.data(&self.catalogue, Some(&device), now_ms(), &changes) {
                Ok((topic, payload)) => {
                    if client
                        .try_publish(topic, QoS::AtMostOnce, false, payload)
                        .is_ok()
                    {
                        self.readings.published();
                    }
                }
                Err(e) => tracing::error!(error = %e, "Sparkplug DDATA not built"),
            }
        }
    }

    /// The node metrics as they are now (outbox depth; each alert kind active or not, from
    /// the store's open alerts; each model's newest prediction and drift window), remembered
    /// for the births; those that changed are returned.
    fn node_changes(&mut self) -> Vec<Change> {
        let store = self.outbox.store();
        let mut now = vec![(
            OUTBOX_DEPTH.to_owned(),
            Val::Number(store.outbox_depth() as f64),
        )];
        match store.open_alerts() {
            Ok(open) => {
                for def in self.catalogue.node_metrics() {
                    if let Some(kind) = def.name.strip_prefix("alerts/") {
                        let active = open.iter().any(|a| a.kind.as_str() == kind);
                        now.push((alert_active(kind), flag(active)));
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "Sparkplug: open alerts not readable"),
        }
        now.extend(model_values(&store.latest()));
        let ts = now_ms();
        (now.into_iter())
            .filter_map(|(name, v)| {
                let alias = self.catalogue.alias(None, &name)?;
                let changed = !self.latest.get(&alias).is_some_and(|held| held.same(&v));
                changed.then(|| {
                    self.latest.insert(alias, v.clone());
                    Change {
                        alias,
                        value: v,
                        ts,
                        historical: false,
                    }
                })
            })
            .collect()
    }

    /// One NDATA with the node metrics that changed since the last one.
    fn node_state(&mut self, client: &AsyncClient, s: &mut Session) {
        let changes = self.node_changes();
        if changes.is_empty() {
            return;
        }
        if let Ok((topic, payload)) = s.data(&self.catalogue, None, now_ms(), &changes) {
            let _ = client.try_publish(topic, QoS::AtMostOnce, false, payload);
        }
    }
}

/// The model and drift node metrics of `latest` (a value a model does not have, such as a
/// regressor's label, is NaN and goes out as null).
fn model_values(latest: &crate::store::latest::Latest) -> Vec<(String, Val)> {
    let mut out = Vec::new();
    for (name, m) in &latest.models {
        let label = m.label.as_deref().map_or(Val::Number(f64::NAN), Val::from);
        out.push((model_metric(name, model::LABEL), label));
        out.push((
            model_metric(name, model::VALUE),
            Val::Number(m.value.unwrap_or(f64::NAN)),
        ));
        out.push((
            model_metric(name, model::CONFIDENCE),
            Val::Number(m.confidence),
        ));
        out.push((
            model_metric(name, model::VERSION),
            Val::from(m.version.as_str()),
        ));
    }
    for (name, d) in &latest.drift {
        out.push((
            drift_metric(name, model::DRIFTED_SHARE),
            Val::Number(d.drifted_share),
        ));
        out.push((drift_metric(name, model::DRIFTED), flag(d.drifted)));
    }
    out
}

fn flag(on: bool) -> Val {
    Val::Number(f64::from(u8::from(on)))
}

fn inconsistent(e: crate::sparkplug::TopicError) -> PublishError {
    PublishError::Inconsistent(e.to_string())
}

fn now_ms() -> u64 {
    u64::try_from(TimestampMs::now().0).unwrap_or(0)
}
