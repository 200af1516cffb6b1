//! The reload controller's shadow candidates (`[models.<name>] candidate`, docs/shadow.md):
//! reloaded after the serving models on SIGHUP and when their files change, logged and
//! counted. A candidate refused is a log line (`candidate_unavailable`) and a gauge at 0, never
//! an alert: it concerns no one in the control room, and what serves is untouched.

use std::sync::Arc;

use super::Controller;
use crate::infer::registry::CandidateEvent;

impl Controller {
    /// Reload (or drop) every candidate from the folders the registry was last configured
    /// with; returns "name version" / "name refused (kind)" / "name removed" for the summary
    /// line, and whether one was refused.
    pub(super) async fn swap_candidates(&self, cause: &str) -> (Vec<String>, bool) {
        let reg = Arc::clone(&self.models);
        let events = tokio::task::spawn_blocking(move || reg.reload_candidates())
            .await
            .unwrap_or_default();
        self.candidate_events(&events, cause);
        let refused = events
            .iter()
            .any(|e| matches!(e, CandidateEvent::Refused { .. }));
        (events.iter().map(describe).collect(), refused)
    }

    /// One `[models] watch` tick: reload the candidates whose files changed.
    pub(super) async fn poll_candidates(&self) {
        let reg = Arc::clone(&self.models);
        if let Ok(events) = tokio::task::spawn_blocking(move || reg.poll_candidate_changes()).await
        {
            self.candidate_events(&events, "file change");
        }
    }

    /// Set the candidate gauges from what the registry holds (at start).
    pub(super) fn report_candidates(&self) {
        let names: Vec<String> = self.models.names().map(str::to_owned).collect();
        for name in names {
            if self.models.candidate_folder(&name).is_some() {
                let up = self.models.candidate(&name).is_some();
                self.candidate_gauge(&name).set(if up { 1.0 } else { 0.0 });
            }
        }
    }

    /// Log each event and move the model's gauge.
    fn candidate_events(&self, events: &[CandidateEvent], cause: &str) {
        for e in events {
            e.log(cause);
            let up = matches!(e, CandidateEvent::Loaded { .. });
            self.candidate_gauge(e.name())
                .set(if up { 1.0 } else { 0.0 });
        }
    }

    fn candidate_gauge(&self, name: &str) -> crate::metrics::Gauge {
        self.metrics.gauge(
            "chocoline_shadow_candidate_loaded",
            "1 while the model's shadow candidate ([models.<name>] candidate) is loaded, 0 when it was refused or removed.",
            &[("model", name)],
        )
    }
}

/// One event for the reload summary line.
fn describe(e: &CandidateEvent) -> String {
    match e {
        CandidateEvent::Loaded { name, to, .. } => format!("{name} {to}"),
        CandidateEvent::Refused { name, error, .. } => {
            format!("{name} refused ({})", error.kind())
        }
        CandidateEvent::Removed { name, .. } => format!("{name} removed"),
    }
}
