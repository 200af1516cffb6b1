//! The two stages a reload restarts rather than updates: the poller and the publisher, each
//! run under a small supervisor that swaps in the replacement the reload controller built.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::reload::Restart;
use crate::acquire::{Acquire, AcquireMetrics};
use crate::domain::Sample;
use crate::publish::{PublishStats, Publisher};

/// Run the poller until `shutdown`, restarting it with each replacement the reload controller
/// sends. Returns the samples sent over all runs.
pub(super) async fn supervise_acquire(
    mut acquire: Acquire,
    tx: mpsc::Sender<Sample>,
    shutdown: CancellationToken,
    mut restarts: mpsc::Receiver<Restart<Acquire>>,
    metrics: watch::Sender<Arc<AcquireMetrics>>,
) -> u64 {
    use std::sync::atomic::Ordering;
    let mut emitted = 0;
    loop {
        let counters = acquire.metrics();
        metrics.send_replace(counters.clone());
        let stop = shutdown.child_token();
        let mut task = tokio::spawn(acquire.run(tx.clone(), stop.clone()));
        let next = tokio::select! {
            r = &mut task => {
                log_join_error(r);
                None
            }
            Some(r) = restarts.recv() => Some(r),
        };
        let Some(Restart { next, done }) = next else {
            return emitted + counters.samples.load(Ordering::Relaxed);
        };
        // The old poller finishes its current cycle; what it read is already in the channel.
        stop.cancel();
        log_join_error(task.await);
        emitted += counters.samples.load(Ordering::Relaxed);
        tracing::info!(
            samples_so_far = emitted,
            "acquire restarting with the new devices"
        );
        acquire = next;
        let _ = done.send(());
    }
}

/// Log a poller task that panicked.
fn log_join_error<T>(r: Result<T, tokio::task::JoinError>) {
    if let Err(e) = r {
        tracing::error!(error = %e, "acquire task failed");
    }
}

/// Run the publisher until `stop`, restarting it with each replacement the reload controller
/// sends. Returns the last run's counters.
pub(super) async fn supervise_publisher(
    mut publisher: Publisher,
    stop: CancellationToken,
    mut restarts: mpsc::Receiver<Restart<Publisher>>,
) -> Option<PublishStats> {
    let finished = |r: Result<
        Result<PublishStats, crate::publish::PublishError>,
        tokio::task::JoinError,
    >| match r {
        Ok(Ok(stats)) => Some(stats),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "publisher failed");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "publisher task failed");
            None
        }
    };
    loop {
        let own = stop.child_token();
        let attached = publisher.attachments();
        let mut task = tokio::spawn(publisher.run(own.clone()));
        let next = tokio::select! {
            r = &mut task => return finished(r),
            Some(r) = restarts.recv() => r,
        };
        // The old session publishes `offline` and disconnects; whatever it had not delivered
        // stays in the outbox and goes out through the new one.
        own.cancel();
        let stats = finished(task.await);
        tracing::info!(previous = ?stats, "publisher restarting with the new broker settings");
        // The deploy subscription, health report and signals go on with the new session.
        publisher = next.next.attach(attached);
        let _ = next.done.send(());
    }
}
