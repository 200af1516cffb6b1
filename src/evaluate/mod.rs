//! Evaluate: simulate and replay, in process, every scenario over a range of seeds, and score
//! each alert kind against the simulator's ground truth as events — fault episodes and
//! batches, not rows — the way a process engineer would judge the alerts on a line the code
//! was never tuned on (`chocoline evaluate`, docs/evaluation.md).
//!
//! - [`run`]: one (scenario, seed) through the offline pipeline, with its ground truth;
//! - [`score`]: matching alerts to events, per-kind figures, normal-running false alerts,
//!   alarm-management figures;
//! - [`report`]: the Markdown table and the no-regression check used by CI.

pub mod report;
pub mod run;
pub mod score;

use std::time::Duration;

use crate::config::Config;
use crate::pipeline::build::BuildError;
use crate::simulate::{FaultPlan, Scenario};

pub use run::{RunOutcome, RunPlan, run_one};
pub use score::{Summary, score};

/// The fault plan of an evaluation run of `scenario`: a healthy hour, then an episode every
/// 6 hours (four a day, each with fresh magnitudes, falling on whatever product runs) —
/// 90 minutes long, and 2 hours for `drift`, whose pH ramps over the whole episode: the
/// 2-hour ramp the alerts' delay target names (a 90-minute ramp is steeper, easier).
pub fn fault_plan(scenario: Scenario) -> FaultPlan {
    let minutes = if scenario == Scenario::Drift { 120 } else { 90 };
    FaultPlan {
        warmup: Duration::from_secs(3600),
        duration: Duration::from_secs(minutes * 60),
        every: Some(Duration::from_secs(6 * 3600)),
    }
}

/// One plan per (seed, scenario), seeds outer, scenarios in [`Scenario::ALL`] order.
pub fn plans(
    seeds: std::ops::RangeInclusive<u64>,
    span: Duration,
    scenarios: &[Scenario],
) -> Vec<RunPlan> {
    seeds
        .flat_map(|seed| {
            scenarios.iter().map(move |s| RunPlan {
                scenario: *s,
                seed,
                span,
                plan: fault_plan(*s),
            })
        })
        .collect()
}

/// Run every plan (calling `progress(done, total)` after each) and score them.
pub fn evaluate(
    cfg: &Config,
    plans: &[RunPlan],
    mut progress: impl FnMut(usize, usize),
) -> Result<(Summary, Vec<RunOutcome>), BuildError> {
    let mut runs = Vec::with_capacity(plans.len());
    for (i, p) in plans.iter().enumerate() {
        runs.push(run_one(cfg, p)?);
        progress(i + 1, plans.len());
    }
    Ok((score(&runs), runs))
}

#[cfg(test)]
mod tests;
