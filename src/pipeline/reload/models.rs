//! The reload controller's model side: log and count what a model reload did.

use super::Controller;
use crate::infer::registry::RegistryEvent;

impl Controller {
    /// Log and count model reload events; returns "name: reason" for each refused model.
    pub(super) fn model_events(&self, events: &[RegistryEvent], cause: &str) -> Vec<String> {
        let mut refused = Vec::new();
        for e in events {
            match e {
                RegistryEvent::Reloaded { name, from, to } => {
                    self.model_series(name, "ok").inc();
                    if from.as_deref() != Some(to.as_str()) {
                        tracing::info!(model = %name, from = ?from, to = %to, cause, "model reloaded");
                        if let Some(old) = from {
                            self.metrics
                                .gauge(
                                    "chocoline_model_info",
                                    "Model versions being served.",
                                    &[("model", name.as_str()), ("version", old.as_str())],
                                )
                                .set(0.0);
                        }
                        self.metrics
                            .gauge(
                                "chocoline_model_info",
                                "Model versions being served.",
                                &[("model", name.as_str()), ("version", to.as_str())],
                            )
                            .set(1.0);
                    }
                }
                RegistryEvent::ReloadFailed { name, error } => {
                    self.model_series(name, "refused").inc();
                    if self.models.get(name).is_ok() {
                        tracing::error!(model = %name, kind = error.kind(), error = %error, cause,
                            "model reload refused; the previous model keeps serving");
                    } else {
                        tracing::error!(model = %name, kind = error.kind(), error = %error, cause,
                            "model reload refused; nothing serves under this name");
                    }
                    refused.push(format!("{name}: {}", error.kind()));
                }
            }
        }
        refused
    }

    fn model_series(&self, name: &str, result: &str) -> crate::metrics::Counter {
        self.metrics.counter(
            "chocoline_model_reloads_total",
            "Model reload attempts per model and result (refused: the previous model kept serving).",
            &[("model", name), ("result", result)],
        )
    }
}
