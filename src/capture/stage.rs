//! The capture stage: a tap on two channels, between acquire and features (after the signal
//! tap when that is on) and between infer and monitor. Every sample and every prediction goes
//! on unchanged and in order; each sample is written as a `sample` line, a batch it closes as
//! a `batch` line, each prediction (with its feature vector) as a `prediction` line. Writing
//! never fails the stage: a line that cannot be written is skipped and counted. The buffer is
//! flushed once a second, the segment fsynced when the stage ends (both inputs closed).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::batch::BatchTracker;
use super::line::{Line, PredictionLine, SampleLine};
use super::writer::Writer;
use crate::domain::{Prediction, Sample};
use crate::health::Heartbeat;

/// What the stage writes with.
pub struct Capture {
    /// The segment writer.
    pub writer: Writer,
    /// The batch running.
    pub batches: BatchTracker,
}

/// One tapped channel: what comes in, where it goes on.
pub struct Through<T> {
    /// From upstream.
    pub rx: mpsc::Receiver<T>,
    /// To downstream.
    pub tx: mpsc::Sender<T>,
}

/// Run until both inputs close (or a downstream stage is gone); returns the samples passed
/// on.
pub async fn run(
    mut c: Capture,
    samples: Through<Sample>,
    predictions: Through<Prediction>,
    heartbeat: Arc<Heartbeat>,
) -> u64 {
    let mut passed = 0;
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    // An input that closes drops its output at once: features must see the end of the
    // samples for the predictions (which come after it) to end too.
    let (mut s_rx, mut s_tx) = (samples.rx, Some(samples.tx));
    let (mut p_rx, mut p_tx) = (predictions.rx, Some(predictions.tx));
    while s_tx.is_some() || p_tx.is_some() {
        tokio::select! {
            s = s_rx.recv(), if s_tx.is_some() => {
                let (Some(sample), Some(tx)) = (s, &s_tx) else {
                    s_tx = None;
                    continue;
                };
                let _busy = heartbeat.busy();
                take(&mut c, &sample);
                if tx.send(sample).await.is_err() {
                    break;
                }
                passed += 1;
            }
            p = p_rx.recv(), if p_tx.is_some() => {
                let (Some(p), Some(tx)) = (p, &p_tx) else {
                    p_tx = None;
                    continue;
                };
                let _busy = heartbeat.busy();
                c.writer.write(&Line::Prediction(PredictionLine::from(&p)));
                if tx.send(p).await.is_err() {
                    break;
                }
            }
            _ = flush.tick() => c.writer.flush(),
        }
    }
    if let Err(e) = c.writer.close() {
        tracing::warn!(error = %e, "capture: last segment not closed cleanly");
    }
    passed
}

/// Write `s`, and the batch it closed.
fn take(c: &mut Capture, s: &Sample) {
    if let Some(b) = c.batches.on_sample(s) {
        c.writer.write(&Line::Batch(b));
    }
    c.writer.write(&Line::Sample(sample_line(s)));
}

/// A sample as its line: NaN values as null.
pub fn sample_line(s: &Sample) -> SampleLine {
    let values = (s.readings.iter())
        .map(|r| (r.name.to_string(), r.value.is_finite().then_some(r.value)))
        .collect();
    let quality = (s.readings.iter())
        .map(|r| (r.name.to_string(), r.quality))
        .collect();
    SampleLine {
        ts: s.ts.0,
        device: s.device.to_string(),
        values,
        quality,
    }
}
