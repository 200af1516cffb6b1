//! The capture stage: a tap between acquire and features (after the signal tap when that is
//! on). Every sample goes on unchanged and in order; each is written as a `sample` line, and
//! a batch it closes as a `batch` line. Writing never fails the stage: a line that cannot be
//! written is skipped and counted. The buffer is flushed once a second, the segment fsynced
//! when the stage ends.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::batch::BatchTracker;
use super::line::{Line, SampleLine};
use super::writer::Writer;
use crate::domain::Sample;
use crate::health::Heartbeat;

/// What the stage writes with.
pub struct Capture {
    /// The segment writer.
    pub writer: Writer,
    /// The batch running.
    pub batches: BatchTracker,
}

/// Run until `rx` closes (or features is gone); returns the samples passed on.
pub async fn run(
    mut c: Capture,
    mut rx: mpsc::Receiver<Sample>,
    tx: mpsc::Sender<Sample>,
    heartbeat: Arc<Heartbeat>,
) -> u64 {
    let mut passed = 0;
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            s = rx.recv() => {
                let Some(sample) = s else { break };
                let _busy = heartbeat.busy();
                take(&mut c, &sample);
                if tx.send(sample).await.is_err() {
                    break;
                }
                passed += 1;
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
