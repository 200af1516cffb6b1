//! The demo's line: one scenario after another, each a [`LineSim`] with a short, time-compressed
//! fault plan (healthy warm-up, fault, recovery), so that a newcomer sees normal running, a
//! fault being raised and its clearing within a couple of minutes.

use std::time::Duration;

use crate::domain::TimestampMs;
use crate::simulate::source::SignalSource;
use crate::simulate::{FaultPlan, LineSim, Scenario};

/// Scenario phases, in simulated time.
#[derive(Debug, Clone, Copy)]
pub struct Phase {
    /// Fault start and length inside each phase.
    pub plan: FaultPlan,
    /// Healthy running after the fault, before the next scenario starts.
    pub recovery: Duration,
}

impl Phase {
    /// Length of one phase.
    pub fn length(&self) -> Duration {
        self.plan.warmup + self.plan.duration + self.recovery
    }
}

/// Scenarios shown in turn (normal running is the warm-up and recovery of each).
pub const ORDER: [Scenario; 4] = [
    Scenario::FatBloom,
    Scenario::SugarBloom,
    Scenario::Gritty,
    Scenario::SensorDropout,
];

/// A signal source that rotates through scenarios.
pub struct Rotation {
    order: Vec<Scenario>,
    next: usize,
    seed: u64,
    phase: Phase,
    sim: LineSim,
    phase_end: TimestampMs,
}

impl Rotation {
    /// Start with `order[0]` at `start`.
    pub fn new(order: Vec<Scenario>, seed: u64, phase: Phase, start: TimestampMs) -> Self {
        let first = order.first().copied().unwrap_or(Scenario::Normal);
        let sim = LineSim::with_plan(first, seed, start, phase.plan);
        Rotation {
            next: 1 % order.len().max(1),
            order,
            seed,
            phase,
            phase_end: end_of(start, phase),
            sim,
        }
    }

    /// The scenario running now.
    pub fn scenario(&self) -> Scenario {
        self.sim.scenario()
    }
}

fn end_of(start: TimestampMs, phase: Phase) -> TimestampMs {
    let ms = i64::try_from(phase.length().as_millis()).unwrap_or(i64::MAX);
    TimestampMs(start.0.saturating_add(ms))
}

impl SignalSource for Rotation {
    fn value(&self, signal: &str) -> Option<f64> {
        self.sim.value(signal)
    }

    fn is_dropped(&self, signal: &str) -> bool {
        self.sim.is_dropped(signal)
    }

    fn step(&mut self, dt: Duration) {
        self.sim.step(dt);
        let now = self.sim.now();
        if now >= self.phase_end {
            let scenario = self
                .order
                .get(self.next)
                .copied()
                .unwrap_or(Scenario::Normal);
            self.next = (self.next + 1) % self.order.len().max(1);
            self.seed = self.seed.wrapping_add(1);
            self.sim = LineSim::with_plan(scenario, self.seed, now, self.phase.plan);
            self.phase_end = end_of(now, self.phase);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_through_the_order_and_wraps() {
        let phase = Phase {
            plan: FaultPlan {
                warmup: Duration::from_secs(60),
                duration: Duration::from_secs(60),
                every: None,
            },
            recovery: Duration::from_secs(60),
        };
        let mut r = Rotation::new(
            vec![Scenario::FatBloom, Scenario::Gritty],
            1,
            phase,
            TimestampMs(0),
        );
        let mut seen = vec![r.scenario()];
        for _ in 0..(3 * 180) {
            r.step(Duration::from_secs(1));
            if seen.last() != Some(&r.scenario()) {
                seen.push(r.scenario());
            }
        }
        assert_eq!(
            seen,
            vec![
                Scenario::FatBloom,
                Scenario::Gritty,
                Scenario::FatBloom,
                Scenario::Gritty
            ]
        );
    }
}
