//! Lab labels over MQTT (docs/capture.md, "Labels over MQTT"), wired: with `[capture]` on,
//! the publisher subscribes to `{prefix}/cmd/label` and hands each command to the label desk
//! (`crate::labels::stage`), whose replies go to the store, which publishes them on
//! `{prefix}/cmd/label/result` through the outbox. Without the capture no batch is known, so
//! the agent does not subscribe at all.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::build::Stages;
use crate::config::Config;
use crate::domain::{Record, TimestampMs};
use crate::labels::desk::{self, Desk};
use crate::labels::stage::{self, Counters};
use crate::metrics::Registry;
use crate::publish::CommandFeed;
use crate::wire::Inbound;
use crate::wire::inbound::Busy;

/// Labels waiting for the desk; one arriving when this many wait is answered `busy`.
const QUEUE: usize = 64;

/// Subscribe the publisher to the label topic and spawn the desk, when `[capture]` is on.
/// The task ends once the publisher (the sender) is gone; it returns the labels answered.
pub(super) fn spawn(
    cfg: &Config,
    stages: &mut Stages,
    metrics: &Registry,
) -> Option<JoinHandle<u64>> {
    if !cfg.capture.enabled {
        return None;
    }
    let (tx, rx) = mpsc::channel(QUEUE);
    let topic = stages.store.envelope().label_topic();
    tracing::info!(topic = %topic, "lab labels over MQTT are on");
    let counters = Counters::new(metrics);
    stages.publisher.set_labels(CommandFeed {
        topic,
        cap: desk::MAX_PAYLOAD,
        to: tx,
        busy: busy(counters.clone()),
    });
    let store = stages.store.clone();
    let reply = move |r: Record| {
        let store = store.clone();
        async move {
            if let Err(e) = store.append(&[r]).await {
                tracing::error!(error = %e, "cannot store a label result");
            }
        }
    };
    let desk = Desk::new(&cfg.store.data_dir);
    Some(tokio::spawn(stage::run(desk, rx, counters, reply)))
}

/// The reply to a label that found the desk's queue full, counted as refused.
fn busy(counters: Counters) -> Busy {
    Arc::new(move |cmd: &Inbound| {
        let r = desk::busy(cmd, TimestampMs::now());
        counters.count(&r);
        Record::Label(r)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_the_desk_had_no_room_for_is_answered_busy_and_counted() {
        let metrics = Registry::new();
        let answer = busy(Counters::new(&metrics));
        let cmd = Inbound::capped(br#"{"request_id":"r-9"}"#, desk::MAX_PAYLOAD, false);
        let Record::Label(r) = answer(&cmd) else {
            panic!("not a label result");
        };
        assert_eq!(r.error_kind.as_deref(), Some("busy"));
        assert_eq!(r.request_id.as_deref(), Some("r-9"));
        let text = metrics.render();
        assert!(
            text.lines()
                .any(|l| l.starts_with("chocoline_labels_total{")
                    && l.contains("outcome=\"refused\"")
                    && l.ends_with(" 1")),
            "{text}"
        );
    }
}
