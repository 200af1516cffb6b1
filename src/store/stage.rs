//! The store stage task: receive records, group-commit them, tell the publisher.
//!
//! A record leaves the channel only when the stage is ready to store it; while a write keeps
//! failing (disk error) the stage retries with a capped backoff instead of dropping, so the
//! bounded channel fills and back-pressure reaches the upstream stages — nothing is lost
//! silently. The publisher learns about new messages through the store's durable bound
//! ([`Store::durable`]), which moves only after the flush.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::db::Store;
use crate::domain::Record;

/// Most records committed by one flush.
pub const MAX_BATCH: usize = 1024;

/// Run the store stage until `rx` closes; then write a last snapshot and flush.
pub async fn run(store: Store, mut rx: mpsc::Receiver<Record>) {
    let stop = CancellationToken::new();
    let snapshots = tokio::spawn(snapshot_loop(store.clone(), stop.clone()));
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(record) = rx.recv().await {
        batch.push(record);
        fill_batch(&mut rx, &mut batch);
        append_until_written(&store, &batch).await;
        batch.clear();
    }
    stop.cancel();
    let _ = snapshots.await;
    if let Err(e) = store.flush().await {
        tracing::error!(error = %e, "final store flush failed");
    }
    write_snapshot(&store).await;
}

/// Take whatever else is already queued, up to [`MAX_BATCH`] records.
fn fill_batch(rx: &mut mpsc::Receiver<Record>, batch: &mut Vec<Record>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(r) => batch.push(r),
            Err(_) => break,
        }
    }
}

/// Append a batch, retrying with a capped backoff until it is written: the records are held
/// (and back-pressure reaches the pipeline) rather than dropped.
async fn append_until_written(store: &Store, batch: &[Record]) {
    let mut delay = Duration::from_millis(50);
    while let Err(e) = store.append(batch).await {
        tracing::error!(error = %e, records = batch.len(), retry_in = ?delay,
            "store write failed; holding the records and retrying");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Rewrite the inspect snapshot every `[store] snapshot_interval` until `stop` fires.
pub async fn snapshot_loop(store: Store, stop: CancellationToken) {
    let every = store
        .inner
        .cfg
        .snapshot_interval
        .get()
        .max(Duration::from_millis(100));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => write_snapshot(&store).await,
        }
    }
}

async fn write_snapshot(store: &Store) {
    if store.is_volatile() {
        // Nothing can be written while the disk is full; the store already said so once.
        return;
    }
    let s = store.clone();
    match tokio::task::spawn_blocking(move || s.write_snapshot()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "inspect snapshot not written"),
        Err(e) => tracing::warn!(error = %e, "inspect snapshot task failed"),
    }
}
