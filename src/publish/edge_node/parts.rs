//! The pieces of the edge node that hold no state of its own: one MQTT connection and how it
//! ends, what the node metrics of the models are, what a host STATE means, the log lines.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, QoS};

use super::PublishError;
use crate::domain::TimestampMs;
use crate::sparkplug::host::{self, PrimaryHost, Verdict};
use crate::sparkplug::map::{drift_metric, model, model_metric};
use crate::sparkplug::node::Session;
use crate::sparkplug::value::Val;

/// How a connection ended.
pub(super) enum End {
    Lost,
    Shutdown,
}

/// One MQTT connection of the edge node.
pub(super) struct Connection {
    pub(super) client: AsyncClient,
    pub(super) events: rumqttc::EventLoop,
    pub(super) session: Session,
    pub(super) bd_seq: u8,
    /// NDEATH topic and payload (also the will).
    pub(super) death: (String, Vec<u8>),
    /// `spBv1.0/{group}/NCMD/{edge_node}`.
    pub(super) ncmd: String,
    /// `spBv1.0/STATE/{primary_host_id}` and what this session saw of it, when a primary
    /// host is configured.
    pub(super) host: Option<(String, PrimaryHost)>,
    /// ConnAck received.
    pub(super) connected: bool,
    /// The births of this session are out: data may flow.
    pub(super) born: bool,
}

impl Connection {
    /// Shutdown: NDEATH published by hand (a clean DISCONNECT suppresses the will), stamped
    /// now rather than at the CONNECT like the will, then the DISCONNECT, given up to 2 s to
    /// be written.
    pub(super) async fn goodbye(&mut self) {
        let (topic, payload) =
            (self.session.death(now_ms())).unwrap_or_else(|_| self.death.clone());
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

/// The model and drift node metrics of `latest` (a value a model does not have, such as a
/// regressor's label, is NaN and goes out as null).
pub(super) fn model_values(latest: &crate::store::latest::Latest) -> Vec<(String, Val)> {
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

/// What a primary host's STATE payload means for this session; None (logged) when it is not
/// one.
pub(super) fn host_verdict(c: &mut Connection, payload: &[u8]) -> Option<Verdict> {
    let state = (host::parse(payload))
        .map_err(|e| tracing::warn!(error = %e, "Sparkplug: primary host STATE ignored"))
        .ok()?;
    c.host.as_mut().map(|(_, h)| h.on_state(state))
}

pub(super) fn log_verdict(v: Verdict) {
    match v {
        Verdict::Birth => tracing::info!("Sparkplug: primary host online; births"),
        Verdict::Die => tracing::warn!("Sparkplug: primary host offline; NDEATH, new session"),
        Verdict::Ignore => {}
    }
}

pub(super) fn refused(why: &dyn std::fmt::Display) {
    tracing::warn!(error = %why, "Sparkplug NCMD refused; nothing changed");
}

pub(super) fn flag(on: bool) -> Val {
    Val::Number(f64::from(u8::from(on)))
}

pub(super) fn inconsistent(e: crate::sparkplug::TopicError) -> PublishError {
    PublishError::Inconsistent(e.to_string())
}

pub(super) fn now_ms() -> u64 {
    u64::try_from(TimestampMs::now().0).unwrap_or(0)
}
