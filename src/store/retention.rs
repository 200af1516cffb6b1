//! History retention: the count bound and the age bound of the prediction and drift rings,
//! age measured so that a wall-clock step does not expire the history wholesale.

use std::sync::atomic::Ordering;

use super::append::Slot;
use super::db::Store;
use super::error::StoreError;
use super::keys;
use crate::domain::TimestampMs;

impl Store {
    /// Age and count retention of a history ring.
    pub(super) fn prune(
        &self,
        slot: Slot,
        cutoff: Option<TimestampMs>,
        max_len: u64,
    ) -> Result<(), StoreError> {
        let counter = match slot {
            Slot::Predictions => Some(&self.inner.counters.predictions_pruned),
            Slot::Drift => Some(&self.inner.counters.drift_pruned),
            _ => None,
        };
        loop {
            let too_many = self.len_of(slot).load(Ordering::Relaxed) > max_len;
            let too_old = match (cutoff, self.tree(slot)?.first()?) {
                (Some(c), Some((k, _))) => keys::ts_of(&k).is_some_and(|t| expired(t, c)),
                _ => false,
            };
            if !(too_many || too_old) || !self.pop_first(slot)? {
                return Ok(());
            }
            if let Some(c) = counter {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Whether a history entry stamped `t` is older than `cutoff`. Its stamp is first moved by the
/// forward wall-clock steps detected since it was written ([`crate::clock::Clock::forward_skew_ms`]),
/// so that a clock stepped a year ahead does not make the whole history a year old at once:
/// entries written before a step expire after `prediction_retention` of monotonic time.
fn expired(t: TimestampMs, cutoff: TimestampMs) -> bool {
    let skew = crate::clock::process().forward_skew_ms(t);
    t.0.saturating_add(skew) < cutoff.0
}
