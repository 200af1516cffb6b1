//! Plumbing every stage loop shares, at the ground floor so that stages need nothing from the
//! pipeline that wires them.
//!
//! A stage loop (`features::stage::run`, `validate::stage::run`, …) takes items from its input
//! channel and, between two items, updates from the reload controller ([`next`]). It marks
//! itself busy on its [`Heartbeat`] while it works on one item, so a wedged stage shows in the
//! agent's liveness check, and it updates its Prometheus series in the agent's [`Registry`].
//! [`StageContext`] carries those three. Outside a running agent (tools, tests),
//! [`StageContext::standalone`] gives a stage its own heartbeat and registry and an update
//! channel whose sender the caller may keep or drop.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::health::{Heartbeat, Liveness};
use crate::metrics::Registry;

/// Longest time one stage may work on one item before the watchdog calls it stuck.
pub const STALL: Duration = Duration::from_secs(30);

/// What a stage loop gets next.
pub enum Next<T, U> {
    /// An item of its input.
    Item(T),
    /// An update from the controller.
    Update(U),
    /// The input closed: the stage ends.
    Closed,
}

/// The next item or update, updates first. A closed update channel is simply never ready.
pub async fn next<T, U>(
    items: &mut mpsc::Receiver<T>,
    updates: &mut mpsc::Receiver<U>,
) -> Next<T, U> {
    tokio::select! {
        biased;
        Some(u) = updates.recv() => Next::Update(u),
        item = items.recv() => item.map_or(Next::Closed, Next::Item),
    }
}

/// What a stage loop gets from the agent besides its data channels: its heartbeat, its
/// update channel (`U`: what a reload hands this stage) and the metrics registry.
pub struct StageContext<U> {
    /// Marked busy while the stage works on one item.
    pub heartbeat: Arc<Heartbeat>,
    /// Updates from the reload controller, taken between two items.
    pub updates: mpsc::Receiver<U>,
    /// Where the stage's series live.
    pub metrics: Registry,
}

impl<U> StageContext<U> {
    /// A context inside the agent: the stage's heartbeat, its end of the update channel and
    /// the agent's registry.
    pub fn new(heartbeat: Arc<Heartbeat>, updates: mpsc::Receiver<U>, metrics: &Registry) -> Self {
        StageContext {
            heartbeat,
            updates,
            metrics: metrics.clone(),
        }
    }

    /// A context outside a running agent: a heartbeat of its own, a fresh registry, and the
    /// sender of the update channel (drop it when no updates will come).
    pub fn standalone(name: &'static str) -> (Self, mpsc::Sender<U>) {
        let (tx, updates) = mpsc::channel(1);
        let ctx = StageContext {
            heartbeat: Liveness::new().register(name, STALL, None),
            updates,
            metrics: Registry::new(),
        };
        (ctx, tx)
    }
}
