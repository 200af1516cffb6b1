//! Process-model tests: determinism, healthy ranges (docs/domain.md) and the visibility of
//! every scenario's fault in its signal.
//!
//! This file holds the helpers every topic shares (a fixed start, second-by-second runs,
//! means over a stretch of a scenario's `normal` twin); the tests sit beside it by topic:
//!
//! - `determinism`: same seed, same line whatever the step size; each scenario its own
//!   random streams;
//! - `healthy`: a normal run stays in the documented ranges, with batches and lots that
//!   behave;
//! - `faults`: fault windows and each trained scenario's fault in its signals and labels;
//! - `unseen`: the faults held out of training move only their own signals;
//! - `csv_export`: the CSV export's schema.

use std::time::Duration;

use super::*;
use crate::domain::TimestampMs;

mod csv_export;
mod determinism;
mod faults;
mod healthy;
mod unseen;

const START: TimestampMs = TimestampMs(1_767_225_600_000);
const SEC: Duration = Duration::from_secs(1);

/// Step `sim` second by second until `until_ms`, calling `f` after each step.
fn run_until(sim: &mut LineSim, until_ms: i64, mut f: impl FnMut(&LineSim)) {
    while sim.now().0 < until_ms {
        sim.step(SEC);
        f(sim);
    }
}

fn v(sim: &LineSim, s: &str) -> f64 {
    sim.value(s).unwrap()
}

/// Mean of `signal` over `[from, to)` ms after START, for a scenario run on the random
/// streams of `normal` (its twin until the fault starts).
fn mean_over(scenario: Scenario, seed: u64, signal: &str, from_h: f64, to_h: f64) -> f64 {
    let mut sim = twin(scenario, seed, FaultPlan::default());
    let (a, b) = (
        START.0 + (from_h * 3.6e6) as i64,
        START.0 + (to_h * 3.6e6) as i64,
    );
    let (mut sum, mut n) = (0.0, 0.0);
    run_until(&mut sim, b, |sim| {
        if sim.now().0 >= a {
            sum += v(sim, signal);
            n += 1.0;
        }
    });
    sum / n
}

/// `scenario` on the random streams of `normal`.
fn twin(scenario: Scenario, seed: u64, plan: FaultPlan) -> LineSim {
    LineSim::with_streams(scenario, seed, START, plan, Scenario::Normal)
}
