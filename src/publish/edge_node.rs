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
//! With `primary_host_id`, the births wait until the host's STATE says online, and the
//! session ends (NDEATH, new connection, new `bdSeq`) when it says offline (`host.rs`).
//! Readings that arrive while no births are out (broker unreachable, host offline) wait in a
//! bounded ring, oldest dropped, and go out after the next births marked `is_historical`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, Incoming, LastWill, QoS};
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::config::MqttConfig;
use super::error::PublishError;
use super::options::mqtt_options;
use crate::domain::Reading;
use crate::signals::queue::Ring;
use crate::sparkplug::config::SparkplugConfig;
use crate::sparkplug::host::{PrimaryHost, Verdict};
use crate::sparkplug::map::{OUTBOX_DEPTH, alert_active};
use crate::sparkplug::node::{BdSeqFile, Catalogue, Change, Session, command};
use crate::sparkplug::topic::state_topic;
use crate::sparkplug::value::Val;
use crate::store::Outbox;

mod parts;
use parts::{
    Connection, End, flag, host_verdict, inconsistent, log_verdict, model_values, now_ms, refused,
};

/// Most values in one DDATA: what was kept through an outage goes out in several, so that no
/// broker's message-size limit refuses it (100 values are a few kB).
const MAX_PER_DATA: usize = 100;

/// The edge-node task; see the module docs.
pub struct EdgeNode {
    mqtt: MqttConfig,
    group: String,
    edge_node: String,
    primary_host: Option<String>,
    catalogue: Catalogue,
    bd_seq: BdSeqFile,
    readings: Ring<Reading>,
    outbox: Outbox,
    /// Last value of every metric, by alias, for the births.
    latest: HashMap<u64, Val>,
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
            primary_host: spb.primary_host_id.clone(),
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
                    Ok(ev) => {
                        if let Some(end) = self.on_event(&mut c, ev).await {
                            return Ok(end);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Sparkplug connection lost");
                        return Ok(End::Lost);
                    }
                },
                () = self.readings.pushed(), if c.born => {
                    let live = self.take_readings();
                    self.device_data(&c.client, &mut c.session, live, false);
                }
                _ = tick.tick(), if c.born => self.node_state(&c.client, &mut c.session),
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
            host: match &self.primary_host {
                Some(id) => Some((
                    state_topic(id).map_err(inconsistent)?,
                    PrimaryHost::default(),
                )),
                None => None,
            },
            connected: false,
            born: false,
        })
    }

    /// ConnAck: subscribe to NCMD (and the primary host's STATE), then the births (once the
    /// host is online); an NCMD: rebirth, or a logged refusal; a STATE: births, or the end of
    /// the session. Returns how the session ends, when it does.
    async fn on_event(&mut self, c: &mut Connection, ev: Event) -> Option<End> {
        match ev {
            Event::Incoming(Incoming::ConnAck(_)) => self.on_connected(c),
            Event::Incoming(Incoming::Publish(p)) if p.topic == c.ncmd => {
                self.on_command(c, &p.payload);
            }
            Event::Incoming(Incoming::Publish(p))
                if c.host.as_ref().is_some_and(|(t, _)| *t == p.topic) =>
            {
                return self.on_host_state(c, &p.payload).await;
            }
            _ => {}
        }
        None
    }

    fn on_connected(&mut self, c: &mut Connection) {
        tracing::info!(bd_seq = c.bd_seq, edge_node = %self.edge_node, "Sparkplug edge node connected");
        c.connected = true;
        let _ = c.client.try_subscribe(c.ncmd.as_str(), QoS::AtLeastOnce);
        match &c.host {
            Some((topic, _)) => {
                tracing::info!(state = %topic, "Sparkplug: births wait for the primary host to be online");
                let _ = c.client.try_subscribe(topic.as_str(), QoS::AtLeastOnce);
            }
            None => self.birth(c),
        }
    }

    /// The births, then what was kept while there were none (`is_historical`): the births
    /// carry the newest of those values, the DDATA all of them in order.
    fn birth(&mut self, c: &mut Connection) {
        let kept = self.take_readings();
        self.node_changes();
        self.births(&c.client, &mut c.session);
        c.born = true;
        self.device_data(&c.client, &mut c.session, kept, true);
    }

    async fn on_host_state(&mut self, c: &mut Connection, payload: &[u8]) -> Option<End> {
        let verdict = host_verdict(c, payload)?;
        log_verdict(verdict);
        match verdict {
            Verdict::Birth => {
                self.birth(c);
                None
            }
            Verdict::Die => {
                c.goodbye().await;
                Some(End::Lost)
            }
            Verdict::Ignore => None,
        }
    }

    fn on_command(&mut self, c: &mut Connection, payload: &[u8]) {
        match (command(payload), c.born) {
            (Ok(_), true) => {
                tracing::info!("Sparkplug NCMD: rebirth");
                self.births(&c.client, &mut c.session);
            }
            (Ok(_), false) => refused(&"the primary host is offline: births wait for it"),
            (Err(e), _) => refused(&e),
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

    /// The readings waiting in the ring, oldest first, remembered as the newest values.
    fn take_readings(&mut self) -> Vec<(u64, Reading)> {
        let mut out = Vec::new();
        while let Some(r) = self.readings.pop() {
            if let Some(alias) = self.catalogue.alias(Some(&r.device), &r.name) {
                self.latest.insert(alias, Val::Number(r.value));
                out.push((alias, r));
            }
        }
        out
    }

    /// DDATA per device of `readings` (with their aliases); `historical`: kept while no
    /// births were out.
    fn device_data(
        &mut self,
        client: &AsyncClient,
        s: &mut Session,
        readings: Vec<(u64, Reading)>,
        historical: bool,
    ) {
        let mut by_device: BTreeMap<String, Vec<Change>> = BTreeMap::new();
        for (alias, r) in readings {
            by_device
                .entry(r.device.to_string())
                .or_default()
                .push(Change {
                    alias,
                    value: Val::Number(r.value),
                    ts: u64::try_from(r.ts.0).unwrap_or(0),
                    historical,
                });
        }
        let chunks =
            (by_device.iter()).flat_map(|(d, c)| c.chunks(MAX_PER_DATA).map(move |c| (d, c)));
        for (device, changes) in chunks {
            match s.data(&self.catalogue, Some(device), now_ms(), changes) {
                Ok((topic, payload)) => {
                    if client
                        .try_publish(topic, QoS::AtMostOnce, false, payload)
                        .is_ok()
                    {
                        self.readings.published_n(changes.len() as u64);
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
