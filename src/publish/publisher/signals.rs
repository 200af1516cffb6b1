//! Raw signals through the publisher (`crate::signals`): QoS 0, from the in-memory ring, never
//! from the outbox, and never at the outbox's expense. The client's request queue holds
//! `2 × inflight + 16` requests; the outbox window takes at most `inflight` of them (queued or
//! unacknowledged), signals at most half of `inflight` more, so neither can starve the other
//! and the outbox's room is counted without the signals.

use rumqttc::QoS;

use super::{Publisher, Queued, Session};
use crate::signals::SignalQueue;

/// Most signals handed to the client in one go, so that acknowledgements and outbox messages
/// are not kept waiting behind a long backlog after an outage.
const BURST: usize = 64;

impl Publisher {
    /// Publish the signals of `queue` (QoS 0, retained if `retain`) whenever connected.
    pub fn set_signals(&mut self, queue: SignalQueue, retain: bool) {
        self.signals = Some((queue, retain));
    }

    /// Hand the client waiting signals while their share of its request queue has room: at
    /// most [`BURST`] at once and `inflight / 2` (at least 1) waiting to be written. None while
    /// a message is suspected (it goes alone, so that a broker that drops the connection on
    /// it is not blamed on a signal, nor a signal's refusal on it) or while shutting down (the
    /// ring is not drained into the goodbye: signals are the latest values, not a backlog).
    pub(super) fn send_signals(&mut self, s: &mut Session) {
        let Some((queue, retain)) = &self.signals else {
            return;
        };
        if !s.connected || s.draining || self.suspect.is_some() {
            return;
        }
        let share = (self.window / 2).max(1);
        for _ in 0..BURST {
            if s.signals_queued >= share {
                break;
            }
            let Some(m) = queue.pop() else {
                break;
            };
            match s.client.try_publish(
                m.topic.as_str(),
                QoS::AtMostOnce,
                *retain,
                m.payload.clone(),
            ) {
                Ok(()) => {
                    s.queued.push_back(Queued::Signal);
                    s.signals_queued += 1;
                    queue.published();
                }
                Err(_) => {
                    queue.put_back(m);
                    break;
                }
            }
        }
    }
}

/// Resolves when a signal was pushed; pending forever when signals are off.
pub(super) async fn pushed(signals: &Option<(SignalQueue, bool)>) {
    match signals {
        Some((q, _)) => q.pushed().await,
        None => std::future::pending().await,
    }
}
