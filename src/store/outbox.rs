//! The publisher's view of the outbox: read in sequence order up to the durable bound, delete
//! on acknowledgement. Deletes are not flushed one by one: a delete lost in a crash only means
//! one more (de-duplicable) resend, never a lost message.

use std::sync::atomic::Ordering;

use tokio::sync::watch;

use super::db::{Store, cost};
use super::error::StoreError;
use super::keys;
use super::message::OutboxMessage;

/// Handle the publish stage drains.
#[derive(Clone)]
pub struct Outbox {
    store: Store,
}

impl Outbox {
    /// The outbox of an open store.
    pub fn new(store: Store) -> Self {
        Outbox { store }
    }

    /// The store behind it (for status payloads and shutdown flushes).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A receiver that changes whenever new messages become durable.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.store.durable()
    }

    /// Up to `max` durable messages with sequence ≥ `from`, oldest first. An entry that cannot
    /// be decoded is removed and counted (it would otherwise block the queue forever).
    pub fn read(&self, from: u64, max: usize) -> Result<Vec<(u64, OutboxMessage)>, StoreError> {
        let bound = *self.store.inner.durable.borrow();
        let mut out = Vec::with_capacity(max.min(256));
        if from >= bound || max == 0 {
            return Ok(out);
        }
        for kv in self
            .store
            .inner
            .outbox
            .range(keys::seq_key(from)..keys::seq_key(bound))
        {
            let (k, v) = kv?;
            let Some(seq) = keys::seq_of(&k) else {
                continue;
            };
            match OutboxMessage::decode(&k, &v) {
                Ok(m) => out.push((seq, m)),
                Err(e) => {
                    tracing::error!(error = %e, "dropping undecodable outbox entry");
                    self.remove(seq)?;
                    self.store
                        .inner
                        .counters
                        .undecodable
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
            if out.len() >= max {
                break;
            }
        }
        Ok(out)
    }

    /// Delete a delivered message. Returns false when it was already gone (dropped because the
    /// store was full, or acknowledged twice).
    pub fn ack(&self, seq: u64) -> Result<bool, StoreError> {
        if let Some(l) = &self.store.inner.ledger {
            l.note_acked(seq);
        }
        self.remove(seq)
    }

    fn remove(&self, seq: u64) -> Result<bool, StoreError> {
        let key = keys::seq_key(seq);
        match self.store.inner.outbox.remove(key)? {
            Some(old) => {
                self.store
                    .inner
                    .used
                    .fetch_sub(cost(&key, &old), Ordering::Relaxed);
                self.store.inner.depth.fetch_sub(1, Ordering::Relaxed);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Undelivered messages.
    pub fn depth(&self) -> u64 {
        self.store.outbox_depth()
    }

    /// The oldest undelivered message.
    pub fn oldest(&self) -> Result<Option<OutboxMessage>, StoreError> {
        match self.store.inner.outbox.first()? {
            Some((k, v)) => Ok(Some(OutboxMessage::decode(&k, &v)?)),
            None => Ok(None),
        }
    }
}
