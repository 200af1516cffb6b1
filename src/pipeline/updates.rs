//! The update channels between the reload controller ([`super::reload`]) and the stages: one
//! typed channel per stage, taken by a stage between two items ([`next`]); acquire and the
//! publisher are restarted by their supervisors ([`Restart`], [`restart`]).

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::acquire::Acquire;
pub use crate::alert::stage::AlertRules;
use crate::features::FeatureEngine;
pub use crate::flow::{Next, next};
use crate::monitor::Monitor;
use crate::publish::Publisher;

/// Longest wait for a stage supervisor to confirm a restart.
const RESTART_WAIT: Duration = Duration::from_secs(15);

/// A replacement for a supervised stage; `done` fires once the new one runs.
pub struct Restart<T> {
    /// The new stage, already built.
    pub next: T,
    /// Confirmation to the controller.
    pub done: oneshot::Sender<()>,
}

/// The controller's ends of the update channels.
#[derive(Clone)]
pub struct Updates {
    /// Feature engine replacements.
    pub features: mpsc::Sender<FeatureEngine>,
    /// Drift monitor replacements.
    pub monitor: mpsc::Sender<Monitor>,
    /// Alert rules.
    pub alerts: mpsc::Sender<AlertRules>,
    /// Acquire restarts.
    pub acquire: mpsc::Sender<Restart<Acquire>>,
    /// Publisher restarts.
    pub publisher: mpsc::Sender<Restart<Publisher>>,
}

/// The stages' ends of the update channels.
pub struct UpdateReceivers {
    /// Feature engine replacements.
    pub features: mpsc::Receiver<FeatureEngine>,
    /// Drift monitor replacements.
    pub monitor: mpsc::Receiver<Monitor>,
    /// Alert rules.
    pub alerts: mpsc::Receiver<AlertRules>,
    /// Acquire restarts.
    pub acquire: mpsc::Receiver<Restart<Acquire>>,
    /// Publisher restarts.
    pub publisher: mpsc::Receiver<Restart<Publisher>>,
}

/// A connected pair of update channel sets.
pub fn updates() -> (Updates, UpdateReceivers) {
    let (features, features_rx) = mpsc::channel(1);
    let (monitor, monitor_rx) = mpsc::channel(1);
    let (alerts, alerts_rx) = mpsc::channel(1);
    let (acquire, acquire_rx) = mpsc::channel(1);
    let (publisher, publisher_rx) = mpsc::channel(1);
    (
        Updates {
            features,
            monitor,
            alerts,
            acquire,
            publisher,
        },
        UpdateReceivers {
            features: features_rx,
            monitor: monitor_rx,
            alerts: alerts_rx,
            acquire: acquire_rx,
            publisher: publisher_rx,
        },
    )
}

/// Ask a supervisor to restart its stage with `next` and wait for the confirmation.
pub(crate) async fn restart<T>(
    tx: &mpsc::Sender<Restart<T>>,
    next: T,
    what: &str,
    stop: &CancellationToken,
) -> Result<(), String> {
    let (done, confirmed) = oneshot::channel();
    if tx.send(Restart { next, done }).await.is_err() {
        return Err(format!("{what}: stage has stopped"));
    }
    tokio::select! {
        () = stop.cancelled() => Err(format!("{what}: shutting down")),
        r = tokio::time::timeout(RESTART_WAIT, confirmed) => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(format!("{what}: restart not confirmed")),
            Err(_) => Err(format!("{what}: restart not confirmed within {RESTART_WAIT:?}")),
        },
    }
}
