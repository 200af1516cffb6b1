//! One evaluation run: a simulated line (one scenario, one seed) pushed through the offline
//! pipeline second by second, with the simulator's ground truth kept beside the alerts.

use std::collections::HashMap;
use std::time::Duration;

use crate::config::Config;
use crate::domain::{Alert, FeatureLevel, Record, TimestampMs};
use crate::pipeline::build::BuildError;
use crate::pipeline::replay::{ReplayCounts, SampleBuilder, build};
use crate::simulate::{FaultPlan, LineSim, Scenario};

/// Samples per pipeline chunk (as `replay`).
const CHUNK: usize = 256;

/// Simulated start of every run: 2026-01-01T00:00Z (as `simulate --export-csv`).
pub const START: TimestampMs = TimestampMs(1_767_225_600_000);

/// What to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunPlan {
    /// Scenario.
    pub scenario: Scenario,
    /// Seed of the line.
    pub seed: u64,
    /// Simulated span.
    pub span: Duration,
    /// When the scenario's fault happens (ignored for `normal`).
    pub plan: FaultPlan,
}

/// A closed batch as the simulator labelled it, and when the agent judged it.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchTruth {
    /// Batch id.
    pub id: String,
    /// Sensory grade: `A`, `B` or `reject`.
    pub grade: &'static str,
    /// Yield, %.
    pub yield_pct: f64,
    /// Data time of the agent's first batch-level prediction for it, if any.
    pub judged_at: Option<TimestampMs>,
}

/// The result of one run: ground truth and every alert event.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The plan that produced it.
    pub plan: RunPlan,
    /// Fault episodes `[start, end)`, ms (empty for `normal`).
    pub episodes: Vec<(i64, i64)>,
    /// Closed batches.
    pub batches: Vec<BatchTruth>,
    /// Alert events in data-time order.
    pub alerts: Vec<Alert>,
    /// The pipeline's counters (samples, vectors, refusals, predictions, inference
    /// failures…).
    pub counts: ReplayCounts,
}

impl RunOutcome {
    /// Simulated span, ms.
    pub fn span_ms(&self) -> i64 {
        i64::try_from(self.plan.span.as_millis()).unwrap_or(i64::MAX)
    }
}

/// Tracks fault episodes from the simulator's active fault, second by second.
#[derive(Default)]
struct Episodes {
    open: Option<i64>,
    done: Vec<(i64, i64)>,
}

impl Episodes {
    fn observe(&mut self, t: i64, active: bool) {
        match (self.open, active) {
            (None, true) => self.open = Some(t),
            (Some(s), false) => {
                self.done.push((s, t));
                self.open = None;
            }
            _ => {}
        }
    }

    fn finish(mut self, t: i64) -> Vec<(i64, i64)> {
        if let Some(s) = self.open.take() {
            self.done.push((s, t));
        }
        self.done
    }
}

/// Simulate `plan` and push every second through the pipeline `cfg` describes.
pub fn run_one(cfg: &Config, plan: &RunPlan) -> Result<RunOutcome, BuildError> {
    let mut pipeline = build(cfg)?;
    let mut sim = LineSim::with_plan(plan.scenario, plan.seed, START, plan.plan);
    let names: Vec<String> = LineSim::signals().iter().map(|s| s.to_string()).collect();
    let builder = SampleBuilder::new(&names, HashMap::new());
    let mut episodes = Episodes::default();
    let mut batches = Vec::new();
    let mut judged: HashMap<String, TimestampMs> = HashMap::new();
    let mut alerts = Vec::new();
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut out = Vec::new();
    let mut values = Vec::with_capacity(names.len());
    let seconds = plan.span.as_secs();
    for k in 0..seconds {
        values.clear();
        values.extend(names.iter().map(|s| {
            if sim.is_dropped(s) {
                None
            } else {
                sim.value(s)
            }
        }));
        episodes.observe(sim.now().0, sim.active_fault().is_some());
        chunk.push(builder.build(sim.now(), &values));
        if chunk.len() == CHUNK || k + 1 == seconds {
            pipeline.push_chunk(&chunk, &mut out);
            chunk.clear();
            for r in out.drain(..) {
                match r {
                    Record::Alert(a) => alerts.push(a),
                    Record::Prediction(p)
                        if p.features.level == FeatureLevel::Batch && !p.shadow =>
                    {
                        if let Some(id) = p.batch.batch_id.clone() {
                            judged.entry(id).or_insert(p.ts);
                        }
                    }
                    _ => {}
                }
            }
        }
        sim.step(Duration::from_secs(1));
        batches.extend(sim.take_closed_batches().into_iter().map(|b| BatchTruth {
            id: b.batch_id.to_string(),
            grade: b.quality_grade,
            yield_pct: b.yield_pct,
            judged_at: None,
        }));
    }
    for b in &mut batches {
        b.judged_at = judged.get(&b.id).copied();
    }
    Ok(RunOutcome {
        plan: *plan,
        episodes: episodes.finish(sim.now().0),
        batches,
        alerts,
        counts: pipeline.counts().clone(),
    })
}
