//! The disk budget: what is freed, in which order, when an append does not fit in
//! `[store] max_bytes`, and the `store_full` alert that says so.

use std::sync::atomic::Ordering;

use super::append::Slot;
use super::db::{AppendState, Store, cost};
use super::error::StoreError;
use super::message::OutboxMessage;
use crate::domain::{Alert, AlertKind, AlertState, Severity, TimestampMs};
use crate::wire::MessageClass;

/// What space had to be freed for.
#[derive(Default)]
pub(super) struct Freed {
    /// Undelivered non-alert messages were dropped.
    pub outbox: bool,
    /// Undelivered alerts were dropped.
    pub alerts: bool,
}

impl Store {
    /// Free space for `needed` bytes: prediction history, then drift history, then alert
    /// history, then undelivered non-alert messages, and undelivered alerts only as the very
    /// last resort.
    pub(super) fn make_room(&self, needed: u64) -> Result<Freed, StoreError> {
        let inner = &self.inner;
        let max = self.budget();
        let mut freed = Freed::default();
        while inner.used.load(Ordering::Relaxed) + needed > max {
            if self.pop_first(Slot::Predictions)? {
                inner
                    .counters
                    .predictions_pruned
                    .fetch_add(1, Ordering::Relaxed);
            } else if self.pop_first(Slot::Drift)? {
                inner.counters.drift_pruned.fetch_add(1, Ordering::Relaxed);
            } else if self.pop_first(Slot::Alerts)? {
            } else if self.drop_outbox(false)? {
                inner
                    .counters
                    .outbox_dropped
                    .fetch_add(1, Ordering::Relaxed);
                freed.outbox = true;
            } else if self.drop_outbox(true)? {
                inner
                    .counters
                    .alerts_dropped
                    .fetch_add(1, Ordering::Relaxed);
                freed.alerts = true;
            } else {
                return Err(StoreError::TooLarge { size: needed, max });
            }
        }
        if freed.outbox || freed.alerts {
            let c = inner.counters.values();
            tracing::warn!(
                outbox_dropped = c.outbox_dropped,
                alerts_dropped = c.alerts_dropped,
                max_bytes = max,
                "store full: dropped undelivered messages (oldest first)"
            );
        }
        Ok(freed)
    }

    /// Raise, escalate or clear the `store_full` alert.
    pub(super) fn full_transitions(
        &self,
        st: &mut AppendState,
        freed: &Freed,
        now: TimestampMs,
    ) -> Vec<Alert> {
        let wanted = if freed.alerts {
            Some(Severity::Critical)
        } else if freed.outbox {
            Some(Severity::Warning)
        } else {
            None
        };
        let c = self.inner.counters.values();
        let make = |id: &str, severity, state, raised_at| {
            Alert {
            message: match severity {
                Severity::Critical => "store full: undelivered ALERTS are being dropped".into(),
                Severity::Warning => {
                    "store full: undelivered predictions / drift / data-quality messages are being dropped".into()
                }
            },
            evidence: serde_json::json!({
                "max_bytes": self.inner.cfg.max_bytes.get(),
                "used_bytes": self.inner.used.load(Ordering::Relaxed),
                "outbox_dropped": c.outbox_dropped,
                "alerts_dropped": c.alerts_dropped,
                "predictions_pruned": c.predictions_pruned,
            }),
            ..self.notice(AlertKind::StoreFull, severity, state, id, raised_at, now)
        }
        };
        let mut events = Vec::new();
        match (&mut st.full, wanted) {
            (None, Some(sev)) => {
                st.full_count += 1;
                let id = format!("{}-{}", self.notice_id("store-full"), st.next_seq);
                events.push(make(&id, sev, AlertState::Raised, now));
                st.full = Some((id, sev, now));
            }
            (Some((id, cur, raised_at)), Some(sev)) if sev > *cur => {
                *cur = sev;
                events.push(make(id, sev, AlertState::Raised, *raised_at));
            }
            (Some((id, cur, raised_at)), None)
                if self.inner.used.load(Ordering::Relaxed) < self.budget() / 10 * 9 =>
            {
                events.push(make(id, *cur, AlertState::Cleared, *raised_at));
                st.full = None;
            }
            _ => {}
        }
        events
    }

    /// Drop the oldest undelivered message of the given kind; false when there is none. Among
    /// alerts, the store's own `store_full` / `store_corrupt` notices go last: they are the
    /// control room's only evidence that something was lost.
    fn drop_outbox(&self, alerts: bool) -> Result<bool, StoreError> {
        let passes: &[bool] = if alerts { &[false, true] } else { &[true] };
        for &take_protected in passes {
            let outbox = self.tree(Slot::Outbox)?;
            for kv in outbox.iter() {
                let (k, v) = kv?;
                // Deployment and label results are kept like alerts: rare, small, and the only
                // record of what a line controller did with a model or a lab result it was sent.
                let is_alert = matches!(
                    MessageClass::of_encoded(&v),
                    Some(MessageClass::Alert | MessageClass::Deploy | MessageClass::Label)
                );
                if is_alert != alerts {
                    continue;
                }
                if alerts && !take_protected && self.is_store_notice(&k, &v) {
                    continue;
                }
                if outbox.remove(&k)?.is_some() {
                    self.inner.used.fetch_sub(cost(&k, &v), Ordering::Relaxed);
                    self.inner.depth.fetch_sub(1, Ordering::Relaxed);
                }
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn is_store_notice(&self, k: &[u8], v: &[u8]) -> bool {
        OutboxMessage::decode(k, v).is_ok_and(|m| {
            m.topic.ends_with("/alerts/store_full") || m.topic.ends_with("/alerts/store_corrupt")
        })
    }
}
