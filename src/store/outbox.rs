//! The publisher's view of the outbox: read in sequence order up to the durable bound, delete
//! on acknowledgement. Deletes are not flushed one by one: a delete lost in a crash only means
//! one more (de-duplicable) resend, never a lost message.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use tokio::sync::watch;

use super::append::Slot;
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

    /// Up to `max` durable messages with sequence ≥ `from`, oldest first — from sled and, while
    /// the disk is full, from the alerts held in memory. An entry that cannot be decoded is
    /// removed and counted (it would otherwise block the queue forever).
    pub fn read(&self, from: u64, max: usize) -> Result<Vec<(u64, OutboxMessage)>, StoreError> {
        let bound = *self.store.inner.durable.borrow();
        let mut out = Vec::with_capacity(max.min(256));
        if from >= bound || max == 0 {
            return Ok(out);
        }
        let (held, acked): (Vec<(u64, OutboxMessage)>, BTreeSet<u64>) = {
            let v = self.store.lock_volatile()?;
            let held = v
                .messages
                .range(from..bound)
                .take(max)
                .map(|(s, m)| (*s, m.clone()))
                .collect();
            (held, v.pending_acks.clone())
        };
        if let Ok(outbox) = self.store.tree(Slot::Outbox)
            && let Err(e) = self.read_sled(&outbox, from, bound, max, &acked, &mut out)
        {
            // A failing database must not stop what memory can still deliver.
            tracing::warn!(error = %e, "outbox read failed; publishing what is held in memory");
            out.clear();
        }
        if !held.is_empty() {
            out.extend(held);
            out.sort_by_key(|(s, _)| *s);
            out.dedup_by_key(|(s, _)| *s);
            out.truncate(max);
        }
        Ok(out)
    }

    fn read_sled(
        &self,
        outbox: &sled::Tree,
        from: u64,
        bound: u64,
        max: usize,
        acked: &BTreeSet<u64>,
        out: &mut Vec<(u64, OutboxMessage)>,
    ) -> Result<(), StoreError> {
        for kv in outbox.range(keys::seq_key(from)..keys::seq_key(bound)) {
            let (k, v) = kv?;
            let Some(seq) = keys::seq_of(&k) else {
                continue;
            };
            if acked.contains(&seq) {
                continue;
            }
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
        Ok(())
    }

    /// Delete a delivered message. Returns false when it was already gone (dropped because the
    /// store was full, or acknowledged twice). While the store cannot write, the delete of a
    /// message in sled is remembered and applied once there is room.
    pub fn ack(&self, seq: u64) -> Result<bool, StoreError> {
        if let Some(l) = &self.store.inner.ledger {
            l.note_acked(seq);
        }
        {
            let mut v = self.store.lock_volatile()?;
            let held = v.messages.remove(&seq).is_some();
            if v.active {
                // Also deleted from sled once it can be written (a salvaged alert is in both).
                let new = v.pending_acks.insert(seq);
                return Ok(held || new);
            }
            if held {
                return Ok(true);
            }
        }
        match self.remove(seq) {
            Ok(gone) => Ok(gone),
            Err(e) => {
                tracing::warn!(error = %e, seq, "outbox delete failed: kept until the store can write");
                self.store.lock_volatile()?.pending_acks.insert(seq);
                Ok(true)
            }
        }
    }

    pub(super) fn remove(&self, seq: u64) -> Result<bool, StoreError> {
        let key = keys::seq_key(seq);
        match self.store.tree(Slot::Outbox)?.remove(key)? {
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

    /// The oldest undelivered message (in sled or held in memory).
    pub fn oldest(&self) -> Result<Option<OutboxMessage>, StoreError> {
        Ok(self.read(0, 1)?.into_iter().next().map(|(_, m)| m))
    }
}
