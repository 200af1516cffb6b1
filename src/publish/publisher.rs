//! The publish stage: one task that drains the outbox to the broker, in order, with a bounded
//! in-flight window, deleting a message only on its PubAck.
//!
//! rumqttc's `publish()` only queues and does not return the packet id. Requests leave its
//! channel in FIFO order and each QoS 1 publish produces `Event::Outgoing(Outgoing::Publish(pkid))`
//! when it is written, so the n-th such event belongs to the n-th message we queued: that is how
//! a PubAck's pkid is mapped back to an outbox sequence number. (On a packet-id collision
//! rumqttc emits `AwaitAck` first and the `Publish` event later, in the same order.)
//!
//! Every connection gets a fresh client and event loop; on any error both are dropped, the
//! task sleeps (capped exponential backoff with jitter — `poll()` would otherwise reconnect
//! at once) and the next session starts again from the oldest outbox entry. Everything not
//! acknowledged is therefore resent, in sequence order: at least once, in order, duplicates
//! possible and marked by the same message `id`.
//!
//! Beside the outbox: the retained status birth, the retained `{prefix}/health` report, the
//! subscriptions to `{prefix}/cmd/deploy` and `{prefix}/cmd/label` ([`commands`]), and the raw
//! signals (QoS 0, from their own ring in memory: [`signals`]).

mod commands;
mod ending;
mod signals;

pub use commands::{Attachments, CommandFeed};
use ending::wait_to_reconnect;

use std::collections::{HashMap, VecDeque};

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, Outgoing, QoS};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::config::MqttConfig;
use super::error::PublishError;
use super::options::mqtt_options;
use crate::domain::TimestampMs;
use crate::store::dead_letter::Rejection;
use crate::store::fit::fit_alert;
use crate::store::{MessageClass, Outbox, OutboxMessage};

/// Largest topic + payload the publisher sends (the client's packet limit is 1 MiB).
pub const MAX_MESSAGE: usize = 1024 * 1024 - 1024;

/// What a publisher did, returned when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishStats {
    /// Sessions that reached ConnAck.
    pub connects: u64,
    /// Sessions that ended in an error.
    pub disconnects: u64,
    /// Messages handed to the client (including resends).
    pub sent: u64,
    /// Messages sent again after a disconnect (a subscriber may see them twice).
    pub resent: u64,
    /// Messages acknowledged and removed from the outbox.
    pub acked: u64,
    /// Messages moved to the dead-letter tree (too large, or refused `max_refusals` times).
    pub dead_lettered: u64,
}

/// The publisher task's state.
pub struct Publisher {
    cfg: MqttConfig,
    options: MqttOptions,
    outbox: Outbox,
    window: usize,
    stats: PublishStats,
    /// Highest sequence ever handed to a client: anything at or below it is a resend.
    high_water: Option<u64>,
    /// The message that was the oldest unacknowledged one when connections broke, and how many
    /// times in a row. While set, messages are sent one at a time (a probe), so the culprit is
    /// known for sure before it is dead-lettered.
    suspect: Option<(u64, u32)>,
    /// `{prefix}/cmd/deploy` (and a group's deploy topic) and where their payloads go, when
    /// deployment over MQTT is on.
    deploy: Option<(Vec<String>, mpsc::Sender<Vec<u8>>)>,
    /// `{prefix}/cmd/label` and where its payloads go, when `[capture]` is on.
    labels: Option<commands::CommandFeed>,
    /// The latest retained `{prefix}/health` payload, when health reports are on.
    health: Option<watch::Receiver<Option<Vec<u8>>>>,
    /// `{prefix}/health`.
    health_topic: String,
    /// The raw signals' ring and their retain flag, when `[mqtt.topics.signals]` is on.
    signals: Option<(crate::signals::SignalQueue, bool)>,
}

/// What a queued request becomes once rumqttc writes it.
enum Queued {
    Outbox {
        seq: u64,
        qos0: bool,
    },
    Status,
    /// A raw signal (QoS 0): nothing to track once written.
    Signal,
}

/// One connection's bookkeeping.
struct Session {
    client: AsyncClient,
    queued: VecDeque<Queued>,
    /// pkid → outbox sequence (None: the status message).
    inflight: HashMap<u16, Option<u64>>,
    cursor: u64,
    connected: bool,
    /// When ConnAck arrived.
    connected_at: Option<Instant>,
    /// Raw signals handed to the client and not written yet (part of `queued`, but not of
    /// the outbox window).
    signals_queued: usize,
    /// Shutting down: no more signals are handed over, only what is queued drains.
    draining: bool,
}

/// How a session ended.
enum End {
    Lost,
    Shutdown,
}

impl Publisher {
    /// Validate `[mqtt]` (url, TLS files, secrets) and prepare the publisher.
    pub fn new(cfg: &MqttConfig, outbox: Outbox) -> Result<Self, PublishError> {
        let window = cfg.inflight.max(1);
        let options = mqtt_options(cfg, outbox.store().envelope(), window)?;
        Ok(Publisher {
            cfg: cfg.clone(),
            options,
            outbox,
            window: usize::from(window),
            stats: PublishStats::default(),
            high_water: None,
            suspect: None,
            deploy: None,
            labels: None,
            health: None,
            health_topic: String::new(),
            signals: None,
        })
    }

    /// Run until `shutdown` fires; then drain (up to `drain_timeout`), publish the retained
    /// `offline` status, disconnect and flush the store.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<PublishStats, PublishError> {
        let mut backoff = Backoff::new(self.cfg.reconnect_min.get(), self.cfg.reconnect_max.get());
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            match self.session(&shutdown, &mut backoff).await? {
                End::Shutdown => break,
                End::Lost => {
                    self.stats.disconnects += 1;
                    if !wait_to_reconnect(&shutdown, &mut backoff).await {
                        break;
                    }
                }
            }
        }
        self.outbox.store().flush().await?;
        Ok(self.stats)
    }

    async fn session(
        &mut self,
        shutdown: &CancellationToken,
        backoff: &mut Backoff,
    ) -> Result<End, PublishError> {
        let cap = self.window * 2 + 16;
        let (client, mut events) = AsyncClient::new(self.options.clone(), cap);
        let mut s = Session {
            client,
            queued: VecDeque::new(),
            inflight: HashMap::new(),
            cursor: 0,
            connected: false,
            connected_at: None,
            signals_queued: 0,
            draining: false,
        };
        let mut durable = self.outbox.subscribe();
        let mut store_alive = true;
        let mut health = self.health.clone();
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    if s.connected {
                        self.goodbye(&mut s, &mut events).await?;
                    }
                    return Ok(End::Shutdown);
                }
                ev = events.poll() => match ev {
                    Ok(ev) => self.on_event(&mut s, ev, backoff)?,
                    Err(e) => {
                        tracing::warn!(error = %e, in_flight = s.inflight.len(),
                            outbox = self.outbox.depth(), "MQTT connection lost");
                        self.after_loss(&s, backoff)?;
                        return Ok(End::Lost);
                    }
                },
                () = commands::health_changed(&mut health), if s.connected => {
                    self.publish_health(&mut s);
                }
                changed = durable.changed(), if store_alive && s.connected => {
                    if changed.is_err() {
                        store_alive = false;
                    }
                    self.fill(&mut s)?;
                }
                () = signals::pushed(&self.signals), if s.connected => {
                    self.send_signals(&mut s);
                }
            }
        }
    }

    fn on_event(
        &mut self,
        s: &mut Session,
        ev: Event,
        backoff: &mut Backoff,
    ) -> Result<(), PublishError> {
        match ev {
            Event::Incoming(Incoming::ConnAck(_)) => self.on_connected(s)?,
            Event::Incoming(Incoming::Publish(p)) => self.on_command(&p),
            Event::Outgoing(Outgoing::Publish(pkid)) => self.on_written(s, pkid, backoff)?,
            Event::Incoming(Incoming::PubAck(ack)) => {
                if let Some(Some(seq)) = s.inflight.remove(&ack.pkid) {
                    tracing::trace!(seq, "acknowledged (PUBACK)");
                    self.delivered(seq, backoff)?;
                }
                self.fill(s)?;
                // A suspicion lifted by this acknowledgement lets signals go out again.
                self.send_signals(s);
            }
            _ => {}
        }
        Ok(())
    }

    /// Connected: publish the retained `online` birth, then the outbox.
    fn on_connected(&mut self, s: &mut Session) -> Result<(), PublishError> {
        // The backoff is NOT reset here: a broker that accepts the connection and then
        // drops it on a message would otherwise be hammered. It resets on the first
        // acknowledged outbox message (or after a connection that stayed up).
        s.connected = true;
        s.connected_at = Some(Instant::now());
        self.stats.connects += 1;
        tracing::info!(url = %self.cfg.url, outbox = self.outbox.depth(), "MQTT connected");
        self.subscribe(s);
        let env = self.outbox.store().envelope();
        let birth = env.status_payload(true, &self.cfg.client_id, TimestampMs::now());
        if s.client
            .try_publish(env.status_topic(), QoS::AtLeastOnce, true, birth)
            .is_ok()
        {
            s.queued.push_back(Queued::Status);
        }
        self.publish_health(s);
        self.fill(s)?;
        self.send_signals(s);
        Ok(())
    }

    /// The client wrote a publish with packet id `pkid`: match it to the oldest queued
    /// message. QoS 0 has no acknowledgement, so written to the socket is as good as it gets.
    fn on_written(
        &mut self,
        s: &mut Session,
        pkid: u16,
        backoff: &mut Backoff,
    ) -> Result<(), PublishError> {
        match s.queued.pop_front() {
            Some(Queued::Outbox { seq, qos0: true }) => {
                self.delivered(seq, backoff)?;
                self.fill(s)?;
            }
            Some(Queued::Outbox { seq, qos0: false }) => {
                s.inflight.insert(pkid, Some(seq));
            }
            Some(Queued::Status) => {
                s.inflight.insert(pkid, None);
            }
            // A request left the client's queue: room for signals that had to wait.
            Some(Queued::Signal) => {
                s.signals_queued = s.signals_queued.saturating_sub(1);
                self.send_signals(s);
            }
            None => tracing::warn!(pkid, "publish event without a queued message"),
        }
        Ok(())
    }

    /// An outbox message reached the broker: delete it, and a connection that delivers is a
    /// healthy one (backoff reset, suspicion lifted).
    fn delivered(&mut self, seq: u64, backoff: &mut Backoff) -> Result<(), PublishError> {
        if self.outbox.ack(seq)? {
            self.stats.acked += 1;
        }
        backoff.reset();
        if self.suspect.is_some_and(|(sseq, _)| sseq == seq) {
            tracing::info!(
                seq,
                "suspected message acknowledged: back to the full window"
            );
            self.suspect = None;
        }
        Ok(())
    }

    /// Messages the window has room for: one at a time while a message is suspected. Raw
    /// signals waiting in the client's queue do not count: they have their own share of it.
    fn room(&self, s: &Session) -> usize {
        let busy = s.queued.len() - s.signals_queued.min(s.queued.len()) + s.inflight.len();
        if self.suspect.is_some() {
            return usize::from(busy == 0);
        }
        self.window.saturating_sub(busy)
    }

    /// Hand the client as many outbox messages as the window allows.
    fn fill(&mut self, s: &mut Session) -> Result<(), PublishError> {
        if !s.connected {
            return Ok(());
        }
        let room = self.room(s);
        if room == 0 {
            return Ok(());
        }
        for (seq, mut m) in self.outbox.read(s.cursor, room)? {
            if !self.fits(seq, &mut m)? {
                s.cursor = seq + 1;
                continue;
            }
            let qos0 = m.qos == 0;
            let qos = if qos0 {
                QoS::AtMostOnce
            } else {
                QoS::AtLeastOnce
            };
            // Trace-level hooks (off unless asked for): the budget bench times "alert durable
            // → PUBACK" from these two events, matched by `seq`.
            tracing::trace!(seq, topic = %m.topic, id = %m.id, "publishing");
            if let Err(e) = s.client.try_publish(m.topic, qos, m.retain, m.payload) {
                // Only possible if the request channel is full; the next ack refills.
                tracing::debug!(error = %e, "client queue full");
                break;
            }
            s.queued.push_back(Queued::Outbox { seq, qos0 });
            s.cursor = seq + 1;
            self.stats.sent += 1;
            if self.high_water.is_some_and(|h| seq <= h) {
                self.stats.resent += 1;
            } else {
                self.high_water = Some(seq);
            }
        }
        Ok(())
    }

    /// Check a message against `max_message_bytes` (and the client's packet limit) before it
    /// is sent: an alert over it is trimmed (same id), anything else is dead-lettered (false).
    fn fits(&mut self, seq: u64, m: &mut OutboxMessage) -> Result<bool, PublishError> {
        let limit = usize::try_from(self.cfg.max_message_bytes.get())
            .unwrap_or(usize::MAX)
            .min(MAX_MESSAGE.saturating_sub(m.topic.len()));
        if m.payload.len() <= limit {
            return Ok(true);
        }
        if m.class == MessageClass::Alert
            && let Ok(serde_json::Value::Object(body)) = serde_json::from_slice(&m.payload)
        {
            m.payload = fit_alert(body, limit)
                .map_err(|e| PublishError::Store(e.into()))?
                .0;
            tracing::warn!(id = %m.id, "alert evidence trimmed to fit [mqtt] max_message_bytes");
            return Ok(true);
        }
        let why = Rejection::TooLarge {
            bytes: m.payload.len(),
            max: limit,
        };
        if self.outbox.store().dead_letter(seq, why)? {
            self.stats.dead_lettered += 1;
        }
        Ok(false)
    }
}
