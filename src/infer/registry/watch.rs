//! A stand-alone watcher of the model files.

use std::sync::Arc;
use std::time::Duration;

use super::{Registry, RegistryEvent};

/// Poll for changed model files every `every` and report what reloads did, until `events`
/// closes (a stand-alone watcher; the agent's reload controller polls by itself). Reloads run
/// on the blocking pool: optimising a model takes milliseconds of CPU.
pub async fn watch(
    registry: Arc<Registry>,
    every: Duration,
    events: tokio::sync::mpsc::Sender<RegistryEvent>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if events.is_closed() {
            return;
        }
        let reg = Arc::clone(&registry);
        let Ok(done) = tokio::task::spawn_blocking(move || reg.poll_changes()).await else {
            continue;
        };
        for e in done {
            log_event(&e);
            if events.send(e).await.is_err() {
                return;
            }
        }
    }
}

/// Log what one reload did.
fn log_event(e: &RegistryEvent) {
    match e {
        RegistryEvent::Reloaded { name, from, to } => {
            tracing::info!(model = %name, from = ?from, to = %to, "model reloaded")
        }
        RegistryEvent::ReloadFailed { name, error } => {
            tracing::error!(model = %name, error = %error, kind = error.kind(), "model reload failed; previous model keeps serving")
        }
    }
}
