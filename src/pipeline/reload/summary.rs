//! The one summary line every reload ends with: what changed and where it went.

use std::time::Instant;

use super::Outcome;
use super::changes::Changes;
use super::models::ModelSwap;

/// What one reload did, gathered for its summary line.
pub(super) struct Summary<'a> {
    /// The configuration changes and where they went.
    pub changes: &'a Changes,
    /// What the model reload did.
    pub models: ModelSwap,
    /// Parts that could not be applied (a stage gone, `RUST_LOG` overriding the level).
    pub problems: Vec<String>,
}

impl Summary<'_> {
    /// The reload's outcome: applied unless something needs a restart, was refused or failed.
    pub fn outcome(&self) -> Outcome {
        if self.changes.need_restart.is_empty()
            && self.models.refused.is_empty()
            && !self.models.candidate_refused
            && self.problems.is_empty()
        {
            Outcome::Applied
        } else {
            Outcome::Partial
        }
    }

    /// Log the summary line and return the outcome.
    pub fn log(self, t0: Instant) -> Outcome {
        let outcome = self.outcome();
        let c = self.changes;
        tracing::info!(
            result = outcome.as_str(),
            took_ms = t0.elapsed().as_millis() as u64,
            live = %list(c.live()),
            restarted = %list(c.restarted()),
            secrets_changed = %list(c.secrets.clone()),
            models = %list(self.models.changed),
            models_refused = %list(self.models.refused),
            shadow_candidates = %list(self.models.candidates),
            needs_restart = %list(c.need_restart.clone()),
            problems = %list(self.problems),
            "reload: {}",
            if c.is_empty() { "configuration unchanged" } else { "configuration changed" }
        );
        outcome
    }
}

/// "a, b, c", or "none" for an empty list.
fn list<S: AsRef<str>>(v: Vec<S>) -> String {
    if v.is_empty() {
        return "none".to_string();
    }
    v.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(", ")
}
