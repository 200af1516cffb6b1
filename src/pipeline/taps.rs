//! The taps between acquire and features, chained in this order: the raw-signal tap
//! (`[mqtt.topics.signals]` / `[sparkplug]`, built in `outputs.rs`) and capture
//! (`[capture]`, docs/capture.md). Each passes every sample on unchanged and in order; each
//! ends when its input closes, so the drain joins them in the same order.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::capture::batch::{BatchRegisters, BatchTracker};
use crate::capture::stage::Capture;
use crate::capture::writer::{LineCounters, Writer};
use crate::config::Config;
use crate::domain::Sample;
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
    let dir = cfg.store.data_dir.join("capture");
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

/// Spawn the taps that are on between `rx` (from acquire) and the receiver returned (for
/// features); the tasks in chain order.
pub(super) fn spawn(
    taps: Taps,
    mut rx: mpsc::Receiver<Sample>,
    liveness: &Liveness,
) -> (Vec<(&'static str, JoinHandle<u64>)>, mpsc::Receiver<Sample>) {
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
        let hb = liveness.register("capture", STALL, None);
        tasks.push((
            "capture",
            tokio::spawn(crate::capture::stage::run(c, rx, tx, hb)),
        ));
        rx = next;
    }
    (tasks, rx)
}
