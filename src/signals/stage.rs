//! The signals stage: a tap between acquire and features. Every sample goes on to features
//! unchanged and in order; each of its readings that the [`Filter`] lets through becomes a
//! message in the [`SignalQueue`]. Pushing never waits (a full ring drops its oldest), so a
//! broker outage cannot slow the line's pipeline down. Ends when its input closes or features
//! is gone.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::queue::Ring;
use super::{Filter, SignalQueue};
use crate::domain::{Reading, Sample};
use crate::health::Heartbeat;
use crate::metrics::Counter;
use crate::wire::signals;

/// Where the stage's signals go and how they are counted.
pub struct Tap {
    /// Report-by-exception state.
    pub filter: Filter,
    /// `[mqtt] topic_prefix`.
    pub prefix: String,
    /// The JSON publisher's ring, when `[mqtt.topics.signals]` is on.
    pub queue: Option<SignalQueue>,
    /// The Sparkplug edge node's ring, when `[sparkplug]` is on.
    pub sparkplug: Option<Ring<Reading>>,
    /// `chocoline_signals_total{outcome="suppressed"}`.
    pub suppressed: Counter,
}

/// Run the tap until `rx` closes; returns the samples passed on.
pub async fn run(
    mut tap: Tap,
    mut rx: mpsc::Receiver<Sample>,
    tx: mpsc::Sender<Sample>,
    heartbeat: Arc<Heartbeat>,
) -> u64 {
    let mut passed = 0;
    while let Some(sample) = rx.recv().await {
        let _busy = heartbeat.busy();
        offer(&mut tap, &sample);
        if tx.send(sample).await.is_err() {
            break;
        }
        passed += 1;
    }
    passed
}

/// Queue the readings of `sample` the filter lets through.
fn offer(tap: &mut Tap, sample: &Sample) {
    let before = tap.filter.suppressed;
    for r in &sample.readings {
        if tap.filter.pass(r) {
            if let Some(q) = &tap.queue {
                q.push(signals::message(&tap.prefix, r));
            }
            if let Some(q) = &tap.sparkplug {
                q.push(r.clone());
            }
        }
    }
    tap.suppressed.add(tap.filter.suppressed - before);
}
