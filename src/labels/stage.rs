//! The label desk's loop (docs/capture.md, "Labels over MQTT"): each command the publisher
//! hands over from `{prefix}/cmd/label` is handled on the blocking pool (capture read, journal
//! append and fsync), one at a time and in arrival order, and its reply goes to `reply` (the
//! pipeline writes it to the store, which publishes it on `{prefix}/cmd/label/result` through
//! the outbox). Ends when the publisher, and with it the sender, is gone.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::desk::Desk;
use crate::domain::{LabelResult, Record, TimestampMs};
use crate::metrics::{Counter, Registry};
use crate::wire::Inbound;

/// `chocoline_labels_total{source="mqtt", outcome}`: stored, refused (the request was wrong:
/// bad payload or value, unknown batch, busy), failed (the capture or the journal could not be
/// read or written).
#[derive(Clone)]
pub struct Counters {
    stored: Counter,
    refused: Counter,
    failed: Counter,
}

impl Counters {
    /// The counters, registered in `metrics`.
    pub fn new(metrics: &Registry) -> Counters {
        let counter = |outcome| {
            metrics.counter(
                "chocoline_labels_total",
                "Lab labels received over MQTT by outcome: stored (in the journal), refused (bad payload or value, unknown batch, busy), failed (capture or journal unreadable or unwritable).",
                &[("source", "mqtt"), ("outcome", outcome)],
            )
        };
        Counters {
            stored: counter("stored"),
            refused: counter("refused"),
            failed: counter("failed"),
        }
    }

    /// Count one reply.
    pub fn count(&self, r: &LabelResult) {
        let c = match (&r.stored, r.error_kind.as_deref()) {
            (Some(_), _) => &self.stored,
            (None, Some("capture" | "io")) => &self.failed,
            (None, _) => &self.refused,
        };
        c.inc();
    }
}

/// Handle the commands from `rx` until it closes; each reply is counted, logged and handed to
/// `reply`. Returns the commands answered.
pub async fn run<F, Fut>(
    desk: Desk,
    mut rx: mpsc::Receiver<Inbound>,
    counters: Counters,
    mut reply: F,
) -> u64
where
    F: FnMut(Record) -> Fut,
    Fut: Future<Output = ()>,
{
    let desk = Arc::new(Mutex::new(desk));
    let mut answered = 0;
    while let Some(cmd) = rx.recv().await {
        let Some(result) = handle(&desk, cmd).await else {
            continue;
        };
        counters.count(&result);
        log(&result);
        reply(Record::Label(result)).await;
        answered += 1;
    }
    answered
}

/// One command on the blocking pool; None when it is not answered (empty payload) or the
/// task failed (logged).
async fn handle(desk: &Arc<Mutex<Desk>>, cmd: Inbound) -> Option<LabelResult> {
    let desk = Arc::clone(desk);
    let at = TimestampMs::now();
    let task = tokio::task::spawn_blocking(move || {
        // A panic in an earlier command leaves the desk as it was: go on with it.
        let mut desk = desk
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        desk.handle(&cmd, at)
    });
    match task.await {
        Ok(result) => result,
        Err(e) => {
            tracing::error!(error = %e, "label desk task failed: no reply");
            None
        }
    }
}

/// One log line per label received.
fn log(r: &LabelResult) {
    match (&r.stored, &r.error) {
        (Some(s), _) => tracing::info!(request_id = ?r.request_id, batch_id = ?r.batch_id,
            grade = %s.grade, defect = s.defect.as_str(), yield_pct = ?s.yield_pct,
            "label stored (mqtt)"),
        (None, error) => tracing::warn!(request_id = ?r.request_id, batch_id = ?r.batch_id,
            error_kind = ?r.error_kind, error = ?error, "label refused (mqtt)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::line::{BatchLine, Line, encode, segment_name};
    use crate::capture::read::capture_dir;

    #[tokio::test]
    async fn the_loop_answers_each_command_in_order_counts_them_and_ends_with_its_feed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = capture_dir(tmp.path());
        std::fs::create_dir_all(&dir).unwrap();
        let batch = encode(&Line::Batch(BatchLine {
            ts: 2,
            batch_id: "1001".into(),
            product: None,
            lot: None,
            start_ms: 0,
            end_ms: 1,
            samples: 1,
        }));
        std::fs::write(dir.join(segment_name(0, 1)), batch).unwrap();
        let metrics = Registry::new();
        let (tx, rx) = mpsc::channel(8);
        let cap = |t: &str| Inbound::capped(t.as_bytes(), super::super::desk::MAX_PAYLOAD, false);
        for t in [
            r#"{"batch_id":"1001","grade":"A","request_id":"1"}"#,
            "",
            r#"{"batch_id":"1002","grade":"A","request_id":"2"}"#,
            r#"{"batch_id":"1001","grade":"Z","request_id":"3"}"#,
        ] {
            tx.send(cap(t)).await.unwrap();
        }
        drop(tx);
        let replies = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&replies);
        let reply = move |r: Record| {
            let sink = Arc::clone(&sink);
            async move { sink.lock().unwrap().push(r) }
        };
        let desk = Desk::new(tmp.path());
        let answered = run(desk, rx, Counters::new(&metrics), reply).await;
        assert_eq!(answered, 3, "the empty payload is not answered");
        let got: Vec<(Option<String>, bool)> = (replies.lock().unwrap().iter())
            .map(|r| match r {
                Record::Label(l) => (l.request_id.clone(), l.stored.is_some()),
                other => panic!("{other:?}"),
            })
            .collect();
        let want =
            [("1", true), ("2", false), ("3", false)].map(|(id, ok)| (Some(id.to_string()), ok));
        assert_eq!(got, want);
        let text = metrics.render();
        for (outcome, n) in [("stored", 1), ("refused", 2), ("failed", 0)] {
            let series =
                format!("chocoline_labels_total{{outcome=\"{outcome}\",source=\"mqtt\"}} {n}");
            let alt =
                format!("chocoline_labels_total{{source=\"mqtt\",outcome=\"{outcome}\"}} {n}");
            assert!(text.contains(&series) || text.contains(&alt), "{text}");
        }
    }
}
