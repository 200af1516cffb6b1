//! How a connection ends: a broken one casts suspicion on the oldest unacknowledged message
//! (dead-lettered after `max_refusals` breaks in a row); a shutdown publishes the retained
//! `offline` status and disconnects; between sessions the task waits out the backoff.

use std::time::Duration;

use rumqttc::{Event, Outgoing, QoS};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Publisher, Queued, Session};
use crate::domain::TimestampMs;
use crate::publish::backoff::Backoff;
use crate::publish::error::PublishError;
use crate::store::dead_letter::Rejection;

impl Publisher {
    /// A connection broke: the oldest message written and not acknowledged is suspected; one
    /// suspected `max_refusals` times in a row is dead-lettered.
    pub(super) fn after_loss(
        &mut self,
        s: &Session,
        backoff: &mut Backoff,
    ) -> Result<(), PublishError> {
        if s.connected_at
            .is_some_and(|t| t.elapsed() >= self.cfg.reconnect_max.get())
        {
            backoff.reset();
        }
        let Some(oldest) = s.inflight.values().flatten().min().copied() else {
            return Ok(());
        };
        let times = match self.suspect {
            Some((seq, n)) if seq == oldest => n + 1,
            _ => 1,
        };
        if times >= self.cfg.max_refusals {
            tracing::error!(
                seq = oldest,
                times,
                "message refused by the broker every time: dead-lettered"
            );
            if self
                .outbox
                .store()
                .dead_letter(oldest, Rejection::Refused { times })?
            {
                self.stats.dead_lettered += 1;
            }
            self.suspect = None;
        } else {
            tracing::warn!(
                seq = oldest,
                times,
                "connection broke with this message unacknowledged: sending it alone next"
            );
            self.suspect = Some((oldest, times));
        }
        Ok(())
    }

    /// Graceful end: keep draining for up to `drain_timeout`, then publish the retained
    /// `offline` status and disconnect.
    pub(super) async fn goodbye(
        &mut self,
        s: &mut Session,
        events: &mut rumqttc::EventLoop,
    ) -> Result<(), PublishError> {
        let deadline = Instant::now() + self.cfg.drain_timeout.get();
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(1));
        s.draining = true;
        self.fill(s)?;
        while !(s.queued.is_empty() && s.inflight.is_empty() && self.outbox.depth() == 0) {
            match tokio::time::timeout_at(deadline, events.poll()).await {
                Ok(Ok(ev)) => self.on_event(s, ev, &mut backoff)?,
                Ok(Err(_)) | Err(_) => {
                    tracing::warn!(
                        outbox = self.outbox.depth(),
                        "shutdown: outbox not fully drained; it stays on disk"
                    );
                    return Ok(());
                }
            }
        }
        let env = self.outbox.store().envelope();
        let bye = env.status_payload(false, &self.cfg.client_id, TimestampMs::now());
        if s.client
            .try_publish(env.status_topic(), QoS::AtLeastOnce, true, bye)
            .is_ok()
        {
            s.queued.push_back(Queued::Status);
        }
        let _ = s.client.try_disconnect();
        let until = Instant::now() + Duration::from_secs(2);
        loop {
            match tokio::time::timeout_at(until, events.poll()).await {
                Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(_)) => {}
            }
        }
        tracing::info!("MQTT disconnected (offline status published)");
        Ok(())
    }
}

/// Wait out the reconnect backoff; false if shutdown came first.
pub(super) async fn wait_to_reconnect(shutdown: &CancellationToken, backoff: &mut Backoff) -> bool {
    let delay = backoff.next_delay();
    tracing::debug!(?delay, "backoff");
    tracing::info!(retry_in = ?delay, "MQTT reconnecting");
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}
