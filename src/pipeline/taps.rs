//! The taps between acquire and features, chained in this order: the raw-signal tap
//! (`[mqtt.topics.signals]` / `[sparkplug]`, built in `outputs.rs`) and capture
//! (`[capture]`, docs/capture.md), which also taps the predictions between infer and
//! monitor. Each passes everything on unchanged and in order, and ends when its inputs
//! close, so the drain joins them in the same order.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::capture::batch::{BatchRegisters, BatchTracker};
use crate::capture::stage::{Capture, Through};
use crate::capture::writer::{LineCounters, Writer};
use crate::config::Config;
use crate::domain::{Prediction, Sample};
use crate::flow::STALL;
use crate::health::Liveness;
use crate::metrics::Registry;
use crate::signals::stage::Tap;

use super::live::CHANNEL;

/// The taps that are on.
pub(super) struct Taps {
    /// The raw-signal tap.
    pub signals: Option<Tap>,
    /// Capture.
    pub capture: Option<Capture>,
}

/// Capture, when `[capture]` is on: segments in `<data_dir>/capture/`. A folder that cannot
/// be opened is logged and the agent runs without capture: it must not stop the alerts.
pub(super) fn capture(cfg: &Config, metrics: &Registry) -> Option<Capture> {
    if !cfg.capture.enabled {
        return None;
    }
    let dir = crate::capture::read::capture_dir(&cfg.store.data_dir);
    let counter = |outcome| {
        metrics.counter(
            "chocoline_capture_lines_total",
            "Capture lines by outcome: written (to a segment), skipped (less free space than [capture] keep_free, or a write failed).",
            &[("outcome", outcome)],
        )
    };
    let counters = LineCounters {
        written: counter("written"),
        skipped: counter("skipped"),
        pruned: metrics.counter(
            "chocoline_capture_segments_pruned_total",
            "Capture segments deleted for [capture] max_bytes or max_age.",
            &[],
        ),
    };
    let writer = match Writer::open(&dir, cfg.capture.clone(), counters) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(error = %e, dir = %dir.display(), "capture off: its folder cannot be opened");
            return None;
        }
    };
    let f = &cfg.features;
    let batches = BatchTracker::new(BatchRegisters {
        batch_id: f.register_of(&f.batch_id_signal).to_string(),
        product: f.register_of(&f.product_signal).to_string(),
        lot: (f.lot_signals.iter())
            .map(|s| f.register_of(s).to_string())
            .collect(),
    });
    tracing::info!(dir = %dir.display(), max_bytes = cfg.capture.max_bytes.get(), "capture on");
    Some(Capture { writer, batches })
}

/// The taps' tasks in chain order, and the receivers that features and monitor read.
pub(super) struct Spawned {
    /// Tasks, by name.
    pub tasks: Vec<(&'static str, JoinHandle<u64>)>,
    /// For features.
    pub samples: mpsc::Receiver<Sample>,
    /// For monitor.
    pub predictions: mpsc::Receiver<Prediction>,
}

/// Spawn the taps that are on between `rx` (from acquire) and the sample receiver returned
/// (for features), and between `predictions` (from infer) and the prediction receiver
/// returned (for monitor); the tasks in chain order.
pub(super) fn spawn(
    taps: Taps,
    mut rx: mpsc::Receiver<Sample>,
    mut predictions: mpsc::Receiver<Prediction>,
    liveness: &Liveness,
) -> Spawned {
    let mut tasks = Vec::new();
    if let Some(tap) = taps.signals {
        let (tx, next) = mpsc::channel::<Sample>(CHANNEL);
        let hb = liveness.register("signals", STALL, None);
        tasks.push((
            "signals",
            tokio::spawn(crate::signals::stage::run(tap, rx, tx, hb)),
        ));
        rx = next;
    }
    if let Some(c) = taps.capture {
        let (tx, next) = mpsc::channel::<Sample>(CHANNEL);
        let (ptx, pnext) = mpsc::channel::<Prediction>(CHANNEL);
        let hb = liveness.register("capture", STALL, None);
        let samples = Through { rx, tx };
        let preds = Through {
            rx: predictions,
            tx: ptx,
        };
        let task = crate::capture::stage::run(c, samples, preds, hb);
        tasks.push(("capture", tokio::spawn(task)));
        (rx, predictions) = (next, pnext);
    }
    Spawned {
        tasks,
        samples: rx,
        predictions,
    }
}
