//! What the store tells the control room about itself when it opens:
//!
//! - the database was unreadable and moved aside (`store_corrupt`, as before), now with the
//!   number of undelivered messages the ledger says it held;
//! - the database opened but its log **rolled back** (sled truncated a torn log on open): the
//!   ledger's durable bound is ahead of what sled recovered. `store_corrupt` names the lost
//!   sequence range and how many of those messages were never delivered;
//! - alerts that were raised and not cleared when the previous run stopped (kill -9, SIGTERM,
//!   power loss) are **closed with reason `restart`** under their own id. The alert engine starts
//!   with no memory of them; if the condition persists it raises it again under a new id. Either
//!   way the control room never holds an alert that nothing will clear.
//!
//! Both `store_corrupt` notices are raised and cleared at once: the condition (an unreadable or
//! rolled-back log) is over when the store has opened; the raised event carries the evidence.

use serde_json::{Value, json};

use super::db::Store;
use super::error::StoreError;
use super::ledger::Recorded;
use super::open::Quarantine;
use crate::domain::{Alert, AlertKind, AlertState, Record, Severity, TimestampMs};

/// A rollback of the log: the ledger recorded a higher durable bound than sled recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollback {
    /// The bound sled recovered (exclusive).
    pub recovered_next: u64,
    /// The bound the ledger recorded (exclusive).
    pub recorded_next: u64,
    /// Highest sequence the broker acknowledged before the stop.
    pub acked_max: Option<u64>,
}

impl Rollback {
    /// `Some` when sled came back behind the ledger.
    pub fn check(recorded: Recorded, recovered_next: u64) -> Option<Rollback> {
        (recorded.next_seq > recovered_next).then_some(Rollback {
            recovered_next,
            recorded_next: recorded.next_seq,
            acked_max: recorded.acked_max,
        })
    }

    /// Messages in the lost range that the broker had not acknowledged: lost undelivered.
    pub fn lost_undelivered(&self) -> u64 {
        let delivered_below = self.acked_max.map_or(0, |a| a + 1);
        self.recorded_next
            .saturating_sub(self.recovered_next.max(delivered_below))
    }

    fn evidence(&self) -> Value {
        json!({
            "recovered_next_seq": self.recovered_next,
            "recorded_next_seq": self.recorded_next,
            "acked_max_seq": self.acked_max,
            "lost_seq_range": [self.recovered_next, self.recorded_next],
            "lost_undelivered": self.lost_undelivered(),
        })
    }
}

/// Queue the `store_corrupt` notice for a quarantined or rolled-back database, if any.
pub(super) fn report(
    store: &Store,
    quarantine: Option<Quarantine>,
    rollback: Option<Rollback>,
) -> Result<(), StoreError> {
    let notices = notices(store, quarantine, rollback);
    if !notices.is_empty() {
        store.append_blocking(&notices)?;
    }
    Ok(())
}

/// The raised and cleared `store_corrupt` events for a quarantined or rolled-back database.
pub(super) fn notices(
    store: &Store,
    quarantine: Option<Quarantine>,
    rollback: Option<Rollback>,
) -> Vec<Record> {
    let (message, evidence) = match (&quarantine, &rollback) {
        (None, None) => return Vec::new(),
        (Some(q), _) => {
            let moved = q
                .moved_aside
                .as_ref()
                .map(|p| format!(" to {}", p.display()))
                .unwrap_or_default();
            let lost = rollback.map(|r| r.lost_undelivered());
            (
                format!(
                    "store database was unreadable and has been moved aside{moved}; started \
                     empty: {} undelivered messages are in the moved copy only",
                    lost.map_or_else(|| "any".to_string(), |n| n.to_string())
                ),
                json!({
                    "error": q.reason,
                    "moved_to": q.moved_aside.as_ref().map(|p| p.display().to_string()),
                    "ledger": rollback.map(|r| r.evidence()),
                    "lost_undelivered": lost,
                }),
            )
        }
        (None, Some(r)) => {
            tracing::error!(
                recovered = r.recovered_next,
                recorded = r.recorded_next,
                lost_undelivered = r.lost_undelivered(),
                "store log rolled back on open (torn log): messages lost"
            );
            (
                format!(
                    "store log rolled back on open (torn after an abrupt stop): messages \
                     {}..{} are gone, {} of them never delivered",
                    r.recovered_next,
                    r.recorded_next,
                    r.lost_undelivered()
                ),
                r.evidence(),
            )
        }
    };
    let now = TimestampMs::now();
    let id = store.notice_id("store-corrupt");
    let alert = |state| {
        Record::Alert(Alert {
            message: message.clone(),
            evidence: evidence.clone(),
            ..store.notice(
                AlertKind::StoreCorrupt,
                Severity::Critical,
                state,
                &id,
                now,
                now,
            )
        })
    };
    vec![alert(AlertState::Raised), alert(AlertState::Cleared)]
}

/// Close, with reason `restart`, every alert the previous run left raised.
pub(super) fn close_left_open(store: &Store) -> Result<usize, StoreError> {
    let now = TimestampMs::now();
    let closes: Vec<Record> = store
        .open_alerts()?
        .into_iter()
        .map(|a| Record::Alert(closed_by_restart(a, now)))
        .collect();
    if !closes.is_empty() {
        tracing::info!(
            alerts = closes.len(),
            "closing alerts left open by the previous run (reason: restart)"
        );
        store.append_blocking(&closes)?;
    }
    Ok(closes.len())
}

/// The `cleared` event that ends `a` because the agent restarted.
pub fn closed_by_restart(a: Alert, now: TimestampMs) -> Alert {
    let evidence = match a.evidence {
        Value::Object(mut m) => {
            m.insert("cleared_reason".into(), Value::from("restart"));
            Value::Object(m)
        }
        other => json!({"cleared_reason": "restart", "raised_evidence": other}),
    };
    Alert {
        state: AlertState::Cleared,
        ts: now,
        message: format!(
            "closed because the agent restarted (raised as: {}); raised again under a new id \
             if the condition persists",
            a.message
        ),
        evidence,
        ..a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::BatchContext;

    #[test]
    fn lost_count_excludes_what_was_acknowledged() {
        let r = |next, acked| Recorded {
            generation: 3,
            next_seq: next,
            acked_max: acked,
        };
        assert_eq!(Rollback::check(r(140, Some(39)), 140), None);
        assert_eq!(Rollback::check(r(140, Some(39)), 150), None);
        let rb = Rollback::check(r(140, Some(39)), 100).unwrap();
        assert_eq!(rb.lost_undelivered(), 40);
        // Rolled back below what was delivered: only the undelivered tail counts.
        let rb = Rollback::check(r(140, Some(39)), 10).unwrap();
        assert_eq!(rb.lost_undelivered(), 100);
        let rb = Rollback::check(r(140, None), 0).unwrap();
        assert_eq!(rb.lost_undelivered(), 140);
    }

    #[test]
    fn a_restart_close_keeps_the_id_and_says_why() {
        let a = Alert {
            id: "s:l:gritty:line:5".into(),
            kind: AlertKind::Gritty,
            severity: Severity::Warning,
            state: AlertState::Raised,
            site: "s".into(),
            line: "l".into(),
            batch: BatchContext::default(),
            raised_at: TimestampMs(5),
            ts: TimestampMs(5),
            message: "particle size 31 µm".into(),
            evidence: json!({"value": 31}),
        };
        let c = closed_by_restart(a.clone(), TimestampMs(99));
        assert_eq!(c.id, a.id);
        assert_eq!(c.state, AlertState::Cleared);
        assert_eq!(c.raised_at, TimestampMs(5));
        assert_eq!(c.evidence["cleared_reason"], "restart");
        assert_eq!(c.evidence["value"], 31);
        let odd = closed_by_restart(
            Alert {
                evidence: json!(3),
                ..a
            },
            TimestampMs(99),
        );
        assert_eq!(odd.evidence["raised_evidence"], 3);
    }
}
