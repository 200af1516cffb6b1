//! The health window of a version deployed over MQTT: for `[fleet] health_window` after it
//! starts serving, its prediction counts are judged against its predecessor's
//! (`crate::fleet::health::judge`) twice a second; a regression rolls it back by itself, and
//! the end of the window is reported `healthy`.
//!
//! A reload that rebuilds the same version (SIGHUP re-verifies every model) carries the counts
//! over; a different version serving (another deploy, a rollback by hand) ends the window.
//! The window lives in memory only: an agent restarted during it serves the new version
//! without a watch (the kill leaves one complete version serving, old or new).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Controller;
use super::deploy::Request;
use crate::domain::DeployStep;
use crate::fleet::health::{Regression, judge};
use crate::infer::registry::{OutcomeCounts, Served};

/// How often open windows are judged.
pub const HEALTH_TICK: Duration = Duration::from_millis(500);

/// One open health window.
pub(super) struct Watch {
    req: Request,
    /// The version under watch, as the registry serves it.
    new: Arc<Served>,
    /// Counts of earlier builds of the same version (before a SIGHUP rebuilt it).
    carried: OutcomeCounts,
    /// Its predecessor, with its counts over its whole run.
    old: Option<Arc<Served>>,
    until: Instant,
}

enum Verdict {
    Open,
    Regressed(Regression),
    Healthy(OutcomeCounts),
    Superseded,
}

impl Controller {
    /// Start watching `model`, which now serves the deployed version of `req`.
    pub(super) fn watch(&mut self, req: &Request, model: &str, old: Option<Arc<Served>>) {
        let window = self.running.fleet.health_window.get();
        let Ok(new) = self.models.get(model) else {
            return;
        };
        if window.is_zero() {
            return;
        }
        let w = Watch {
            req: req.clone(),
            new,
            carried: OutcomeCounts::default(),
            old,
            until: Instant::now() + window,
        };
        self.watches.insert(model.to_owned(), w);
    }

    /// Judge every open window once.
    pub(super) async fn check_health(&mut self) {
        let names: Vec<String> = self.watches.keys().cloned().collect();
        for model in names {
            let verdict = self.verdict(&model);
            if matches!(verdict, Verdict::Open) {
                continue;
            }
            let Some(w) = self.watches.remove(&model) else {
                continue;
            };
            match verdict {
                Verdict::Regressed(r) => {
                    let reason = format!("health window: {}", r.message);
                    self.roll_back(&w.req, &model, r.kind, &reason).await;
                    self.follow_manifest(Some(&w.new), &model).await;
                }
                Verdict::Healthy(c) => {
                    let before = w.old.map(|o| o.outcomes.counts().mean_confidence);
                    let msg = format!(
                        "passed its health window: {} predictions, {} vectors not scored, mean \
                         confidence {:.3} (before: {})",
                        c.ok,
                        c.errors,
                        c.mean_confidence,
                        before.map_or_else(|| "none".to_owned(), |b| format!("{b:.3}"))
                    );
                    self.deploy_event(&w.req, DeployStep::Healthy, None, msg)
                        .await;
                }
                Verdict::Superseded => {
                    tracing::info!(model = %model, request = %w.req.id,
                        "health window ended: another version serves");
                }
                Verdict::Open => {}
            }
        }
    }

    fn verdict(&mut self, model: &str) -> Verdict {
        let serving = self.models.get(model).ok();
        let cfg = &self.running.fleet;
        let Some(w) = self.watches.get_mut(model) else {
            return Verdict::Open;
        };
        match serving {
            Some(s) if Arc::ptr_eq(&s, &w.new) => {}
            // The same version rebuilt (SIGHUP): carry its counts over.
            Some(s) if s.dir == w.new.dir => {
                w.carried = plus(w.carried, w.new.outcomes.counts());
                w.new = s;
            }
            _ => return Verdict::Superseded,
        }
        let counts = plus(w.carried, w.new.outcomes.counts());
        if let Some(r) = judge(counts, w.old.as_ref().map(|o| o.outcomes.counts()), cfg) {
            return Verdict::Regressed(r);
        }
        if Instant::now() >= w.until {
            return Verdict::Healthy(counts);
        }
        Verdict::Open
    }
}

/// Two runs' counts together.
fn plus(a: OutcomeCounts, b: OutcomeCounts) -> OutcomeCounts {
    let ok = a.ok + b.ok;
    let mean = if ok == 0 {
        0.0
    } else {
        (a.mean_confidence * a.ok as f64 + b.mean_confidence * b.ok as f64) / ok as f64
    };
    OutcomeCounts {
        ok,
        errors: a.errors + b.errors,
        mean_confidence: mean,
    }
}
