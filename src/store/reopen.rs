//! Closing a database that sled failed on and opening it again once there is room
//! (`volatile.rs` decides when). sled keeps the first I/O error it meets for good, so a database
//! that met a full disk is never written again: it is closed, its undelivered alerts are copied
//! to memory first, and it is reopened — or, if it does not open although there is room (sled can
//! tear its log on ENOSPC), moved aside and reported like a corrupt one at start.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::db::{Store, Trees};
use super::error::StoreError;
use super::keys;
use super::message::OutboxMessage;
use super::open::{DB_DIR, open_and_scan, quarantine};
use super::recovery::notices;
use super::volatile::{REOPEN_EVERY, REOPEN_MIN_FREE};
use crate::domain::Record;
use crate::wire::MessageClass;

impl Store {
    /// Close the database (sled closes once the last handle is dropped).
    pub(super) fn close_db(&self) {
        if let Ok(mut t) = self.inner.trees.write() {
            t.take();
        }
    }

    /// sled failed (it keeps an I/O error for good): close the database, run from memory, and
    /// open it again once there is room.
    pub(super) fn close_failed(&self, error: &str) {
        let old = self.inner.trees.write().ok().and_then(|mut t| t.take());
        if let Some(t) = old {
            self.salvage(&t);
        }
        self.enter_volatile(format!("store database failed: {error}"));
    }

    /// Before a failed database is closed: its durable, undelivered alerts are copied to memory
    /// so they are still published before there is room (other messages wait for the reopen).
    fn salvage(&self, t: &Trees) {
        let bound = *self.inner.durable.borrow();
        let Ok(mut v) = self.inner.volatile.lock() else {
            return;
        };
        let mut n = 0;
        for kv in t.outbox.range(..keys::seq_key(bound)) {
            let Ok((k, val)) = kv else {
                break;
            };
            let Some(seq) = keys::seq_of(&k) else {
                continue;
            };
            match OutboxMessage::decode(&k, &val) {
                Ok(m) if m.class == MessageClass::Alert && !v.pending_acks.contains(&seq) => {
                    v.messages.insert(seq, m);
                    n += 1;
                }
                _ => {}
            }
        }
        if n > 0 {
            tracing::warn!(
                alerts = n,
                "undelivered alerts of the failed database are published from memory"
            );
        }
    }

    /// Try to open the database again (at most every [`REOPEN_EVERY`] after a failed try).
    pub(super) fn try_reopen(&self, lead: &mut Vec<Record>) -> Result<bool, StoreError> {
        if self
            .lock_volatile()?
            .last_reopen
            .is_some_and(|t| t.elapsed() < REOPEN_EVERY)
        {
            return Ok(false);
        }
        let path = self.inner.cfg.data_dir.join(DB_DIR);
        let (db, scan) = match open_and_scan(&path, &self.inner.cfg) {
            Ok(ok) => ok,
            Err(e) => {
                // With room on the disk, a database that does not open is damaged (sled can
                // tear its log when it meets ENOSPC): moved aside, reported, started fresh.
                // sled's own file lock is held until the closed instance's last handle is
                // gone: that is "not yet", never damage.
                let locked = e.contains("could not acquire lock");
                match self
                    .free_bytes()
                    .filter(|f| *f >= REOPEN_MIN_FREE && !locked)
                {
                    Some(_) => {
                        let cfg = &self.inner.cfg;
                        let (db, scan, q) = quarantine(&cfg.data_dir, cfg, e)?;
                        lead.extend(notices(self, q, None));
                        (db, scan)
                    }
                    None => {
                        tracing::warn!(error = %e, "store database cannot be opened yet");
                        self.lock_volatile()?.last_reopen = Some(Instant::now());
                        return Ok(false);
                    }
                }
            }
        };
        let trees = Trees::of(db)?;
        let i = &self.inner;
        i.used.store(scan.used, Ordering::Relaxed);
        i.depth.store(scan.outbox, Ordering::Relaxed);
        i.predictions_len.store(scan.predictions, Ordering::Relaxed);
        i.drift_len.store(scan.drift, Ordering::Relaxed);
        i.alerts_len.store(scan.alerts, Ordering::Relaxed);
        if let Ok(mut t) = i.trees.write() {
            *t = Some(Arc::new(trees));
        }
        tracing::info!(outbox = scan.outbox, "store database open again");
        Ok(true)
    }
}
