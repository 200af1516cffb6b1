//! What the publisher does beside draining the outbox: the `{prefix}/cmd/deploy` and
//! `{prefix}/cmd/label` subscriptions (renewed on every connection) and the retained
//! `{prefix}/health` report. None goes through the outbox: a bundle or a label is handed on as
//! it arrives, and of the health report only the latest matters (it is retained, and sent
//! again on every connection).

use rumqttc::QoS;
use tokio::sync::{mpsc, watch};

use super::{Publisher, Queued, Session};
use crate::domain::{DeployEvent, DeployStep, Record, TimestampMs};
use crate::fleet::bundle;
use crate::signals::SignalQueue;
use crate::wire::Inbound;
use crate::wire::inbound::Busy;

/// A command topic whose payloads are capped and handed on as [`Inbound`] (the lab labels on
/// `{prefix}/cmd/label`).
#[derive(Clone)]
pub struct CommandFeed {
    /// The topic subscribed to (QoS 1).
    pub topic: String,
    /// Largest payload copied; a larger one is handed on without its bytes.
    pub cap: usize,
    /// Where commands go; when it is full, `busy` answers instead.
    pub to: mpsc::Sender<Inbound>,
    /// The reply to a command that found `to` full, written to the store.
    pub busy: Busy,
}

/// What the agent attached to a publisher beside its outbox (deploy subscription, health
/// report, raw signals). A publisher that a reload builds anew gets the same attachments from
/// the one it replaces ([`Publisher::attachments`], [`Publisher::attach`]).
#[derive(Clone, Default)]
pub struct Attachments {
    deploy: Option<(Vec<String>, mpsc::Sender<Vec<u8>>)>,
    labels: Option<CommandFeed>,
    health: Option<(String, watch::Receiver<Option<Vec<u8>>>)>,
    signals: Option<(SignalQueue, bool)>,
}

impl Publisher {
    /// This publisher's attachments, for its replacement.
    pub fn attachments(&self) -> Attachments {
        Attachments {
            deploy: self.deploy.clone(),
            labels: self.labels.clone(),
            health: (self.health.clone()).map(|rx| (self.health_topic.clone(), rx)),
            signals: self.signals.clone(),
        }
    }

    /// Take over `a`: the deploy and label subscriptions, the health report and the signals
    /// of the publisher this one replaces.
    pub fn attach(mut self, a: Attachments) -> Self {
        if let Some((topics, to)) = a.deploy {
            self = self.with_deploy(topics, to);
        }
        if let Some(feed) = a.labels {
            self.set_labels(feed);
        }
        if let Some((topic, rx)) = a.health {
            self.set_health(topic, rx);
        }
        if let Some((queue, retain)) = a.signals {
            self.set_signals(queue, retain);
        }
        self
    }

    /// Subscribe to `topics` (QoS 1) on every connection and hand each payload received on
    /// them to `to`. Raises the incoming packet limit to hold the largest model bundle.
    pub fn with_deploy(mut self, topics: Vec<String>, to: mpsc::Sender<Vec<u8>>) -> Self {
        let incoming =
            usize::try_from(crate::fleet::bundle::MAX_BUNDLE).unwrap_or(usize::MAX) + 64 * 1024;
        self.options.set_max_packet_size(incoming, 1024 * 1024);
        self.deploy = Some((topics, to));
        self
    }

    /// Subscribe to `feed.topic` (QoS 1) on every connection and hand each message received
    /// on it to `feed.to`, its payload capped at `feed.cap`.
    pub fn set_labels(&mut self, feed: CommandFeed) {
        self.labels = Some(feed);
    }

    /// Publish each new health payload from `rx` retained on `topic`, and the latest one on
    /// every connection.
    pub fn set_health(&mut self, topic: String, rx: watch::Receiver<Option<Vec<u8>>>) {
        self.health_topic = topic;
        self.health = Some(rx);
    }

    /// Renew the deploy and label subscriptions (a clean session forgot them).
    pub(super) fn subscribe(&self, s: &Session) {
        let deploy = self.deploy.iter().flat_map(|(topics, _)| topics);
        for topic in deploy.chain(self.labels.iter().map(|f| &f.topic)) {
            if let Err(e) = s.client.try_subscribe(topic.as_str(), QoS::AtLeastOnce) {
                tracing::warn!(topic = %topic, error = %e, "cannot subscribe to a command topic");
            }
        }
    }

    /// A message on a subscribed topic: a label goes to the label desk, a bundle to the deploy
    /// controller; a busy one (its queue full) refuses it, and says so.
    pub(super) fn on_command(&self, p: &rumqttc::Publish) {
        if let Some(feed) = self.labels.as_ref().filter(|f| f.topic == p.topic) {
            self.on_label(feed, p);
            return;
        }
        let Some((topics, to)) = &self.deploy else {
            return;
        };
        if !topics.contains(&p.topic) {
            return;
        }
        tracing::info!(topic = %p.topic, bytes = p.payload.len(), retained = p.retain, "deploy bundle received");
        if to.try_send(p.payload.to_vec()).is_err() {
            tracing::warn!(topic = %p.topic, "deploy controller busy or stopped: bundle dropped");
            self.report_busy(&p.payload);
        }
    }

    /// A label goes to the desk, capped; one that cannot wait gets its `busy` reply.
    fn on_label(&self, feed: &CommandFeed, p: &rumqttc::Publish) {
        tracing::debug!(topic = %p.topic, bytes = p.payload.len(), retained = p.retain, "label received");
        let cmd = Inbound::capped(&p.payload, feed.cap, p.retain);
        let Err(e) = feed.to.try_send(cmd) else {
            return;
        };
        tracing::warn!(topic = %p.topic, "label desk busy or stopped: label dropped");
        let cmd = match e {
            mpsc::error::TrySendError::Full(c) | mpsc::error::TrySendError::Closed(c) => c,
        };
        let record = (feed.busy)(&cmd);
        let store = self.outbox.store().clone();
        tokio::spawn(async move {
            if let Err(e) = store.append(&[record]).await {
                tracing::error!(error = %e, "cannot store a label result");
            }
        });
    }

    /// A bundle that could not wait still gets its result: `refused`, `busy`.
    fn report_busy(&self, payload: &[u8]) {
        let header = bundle::read_header(payload).ok();
        let event = DeployEvent {
            ts: TimestampMs::now(),
            request: bundle::request_id(payload),
            model: header.as_ref().map(|h| h.model.clone()),
            version: header.as_ref().map(|h| h.version),
            step: DeployStep::Refused,
            error_kind: Some("busy".to_owned()),
            message: "four bundles were already waiting; this one was dropped: publish it again"
                .to_owned(),
        };
        let store = self.outbox.store().clone();
        tokio::spawn(async move {
            if let Err(e) = store.append(&[Record::Deploy(event)]).await {
                tracing::error!(error = %e, "cannot store a deploy result");
            }
        });
    }

    /// Send the latest health report, retained, if there is one.
    pub(super) fn publish_health(&self, s: &mut Session) {
        let Some(rx) = &self.health else {
            return;
        };
        let Some(payload) = rx.borrow().clone() else {
            return;
        };
        if s.client
            .try_publish(self.health_topic.as_str(), QoS::AtLeastOnce, true, payload)
            .is_ok()
        {
            s.queued.push_back(Queued::Status);
        }
    }
}

/// Resolves when a new health payload is there; pending forever once its sender is gone (or
/// when health reports are off).
pub(super) async fn health_changed(rx: &mut Option<watch::Receiver<Option<Vec<u8>>>>) {
    match rx.as_mut() {
        Some(r) => {
            if r.changed().await.is_err() {
                *rx = None;
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}
