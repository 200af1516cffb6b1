//! Scoring alerts as events, against the simulator's ground truth.
//!
//! - **Episode kinds** (a fault scenario expects one alert kind): an episode is detected when
//!   an alert of its kind is raised between its start and `GRACE_MS` after its end; the delay
//!   is the first such raise minus the episode start. A raise of that kind outside every
//!   episode of a run that expects it is false; inside an episode of another fault it is
//!   "off target" (a symptom of the other fault, not a false alarm on a healthy line).
//! - **Batch kinds** (`out_of_range_batch`, `yield_low`): the events are the batches the
//!   simulator graded `reject` / weighed at or below [`YIELD_LOW_PCT`]. A batch is flagged
//!   when its alert is open right after the agent judged it; a raise on a good batch is false.
//! - **Normal running**: every raise in a `normal` run is false, except batch alerts raised on
//!   a batch that really was bad. Reported per 24 h.
//! - **Alarm-management figures** (ISA-18.2 / EEMUA 191): raises per hour, the most raises
//!   in any 10 minutes, chattering (re-raised within 60 s of its clear), standing (still open
//!   when the run ends) and the longest time an alert stayed open.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::run::RunOutcome;
use crate::domain::{Alert, AlertKind, AlertState};
use crate::simulate::Scenario;

/// Time after an episode's end in which a raise still counts as detecting it: bloom labels
/// outlive the fault by minutes and a drift window reports when it closes.
pub const GRACE_MS: i64 = 30 * 60_000;
/// A batch at or below this yield is a low-yield batch (`[alerts.yield_low]` default).
pub const YIELD_LOW_PCT: f64 = 75.0;
/// A re-raise this soon after the clear of the same alert is chattering.
pub const CHATTER_MS: i64 = 60_000;
/// Window of the alert-flood figure.
pub const FLOOD_WINDOW_MS: i64 = 10 * 60_000;

/// The alert kind a fault scenario must raise.
pub fn expected(s: Scenario) -> Option<AlertKind> {
    match s {
        Scenario::Normal => None,
        Scenario::FatBloom => Some(AlertKind::FatBloomRisk),
        Scenario::SugarBloom => Some(AlertKind::SugarBloomRisk),
        Scenario::Gritty => Some(AlertKind::Gritty),
        Scenario::SensorStuck | Scenario::SensorDropout => Some(AlertKind::DataQuality),
        Scenario::Drift => Some(AlertKind::Drift),
        Scenario::CoolingFailure | Scenario::ConcheOverheat | Scenario::WrongRecipe => {
            Some(AlertKind::Anomaly)
        }
    }
}

/// Figures of one alert kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KindFigures {
    /// Fault episodes (episode kinds) or bad batches (batch kinds).
    pub events: u64,
    /// Events detected / flagged.
    pub detected: u64,
    /// Events missed.
    pub missed: u64,
    /// Raised events of this kind, all runs.
    pub raises: u64,
    /// Raises that detected (or repeated inside) an event of their kind.
    pub true_raises: u64,
    /// Raises on a healthy line or a good batch.
    pub false_raises: u64,
    /// Raises inside an episode of another fault.
    pub off_target: u64,
    /// true / (true + false); 1 without raises.
    pub precision: f64,
    /// detected / events; 1 without events.
    pub recall: f64,
    /// Detection delay, minutes: median (episode kinds).
    pub delay_p50_min: Option<f64>,
    /// Detection delay, minutes: 95th percentile (nearest rank).
    pub delay_p95_min: Option<f64>,
}

/// ISA-18.2 / EEMUA 191 style figures over all runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlarmFigures {
    /// Raises per hour of simulated time.
    pub raises_per_hour: f64,
    /// Most raises in any 10 minutes of one run.
    pub peak_raises_10min: u64,
    /// Raises within 60 s of the clear of the same alert (kind and scope).
    pub chattering: u64,
    /// Alerts still open when their run ended.
    pub standing_at_end: u64,
    /// Longest time an alert stayed open, minutes.
    pub longest_open_min: f64,
}

/// Everything `evaluate` reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Runs scored.
    pub runs: u64,
    /// Samples pushed through the pipeline.
    pub samples: u64,
    /// Inference failures (must be 0).
    pub infer_errors: u64,
    /// Days of `normal` running.
    pub normal_days: f64,
    /// False raises on normal running, per kind.
    pub normal_false: BTreeMap<String, u64>,
    /// All false raises on normal running per 24 h.
    pub normal_false_per_day: f64,
    /// Per alert kind (snake_case name).
    pub kinds: BTreeMap<String, KindFigures>,
    /// Alarm-management figures.
    pub alarms: AlarmFigures,
}

fn raises(run: &RunOutcome) -> impl Iterator<Item = &Alert> {
    run.alerts.iter().filter(|a| a.state == AlertState::Raised)
}

fn inside(t: i64, episodes: &[(i64, i64)]) -> bool {
    episodes.iter().any(|(s, e)| t >= *s && t < e + GRACE_MS)
}

/// Whether `kind`'s alert is open just after `t` (events at `t` included).
fn open_at(alerts: &[Alert], kind: AlertKind, t: i64) -> bool {
    let mut open = false;
    for a in alerts.iter().filter(|a| a.kind == kind && a.ts.0 <= t) {
        open = a.state == AlertState::Raised;
    }
    open
}

fn bad(kind: AlertKind, grade: &str, yield_pct: f64) -> bool {
    match kind {
        AlertKind::OutOfRangeBatch => grade == "reject",
        _ => yield_pct <= YIELD_LOW_PCT,
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

fn episode_kind(runs: &[RunOutcome], kind: AlertKind) -> KindFigures {
    let mut f = KindFigures::default();
    let mut delays = Vec::new();
    for run in runs {
        let own = expected(run.plan.scenario) == Some(kind);
        let kind_raises: Vec<i64> = raises(run)
            .filter(|a| a.kind == kind)
            .map(|a| a.ts.0)
            .collect();
        f.raises += kind_raises.len() as u64;
        for t in &kind_raises {
            match (own, inside(*t, &run.episodes)) {
                (true, true) => f.true_raises += 1,
                (false, true) => f.off_target += 1,
                (_, false) => f.false_raises += 1,
            }
        }
        if !own {
            continue;
        }
        for (s, e) in &run.episodes {
            f.events += 1;
            match kind_raises.iter().find(|t| **t >= *s && **t < e + GRACE_MS) {
                Some(t) => {
                    f.detected += 1;
                    delays.push((t - s) as f64 / 60_000.0);
                }
                None => f.missed += 1,
            }
        }
    }
    delays.sort_by(f64::total_cmp);
    f.delay_p50_min = percentile(&delays, 50.0);
    f.delay_p95_min = percentile(&delays, 95.0);
    f
}

fn batch_kind(runs: &[RunOutcome], kind: AlertKind) -> KindFigures {
    let mut f = KindFigures::default();
    for run in runs {
        for b in &run.batches {
            let Some(t) = b.judged_at else { continue };
            let is_bad = bad(kind, b.grade, b.yield_pct);
            let flagged = open_at(&run.alerts, kind, t.0);
            if is_bad {
                f.events += 1;
                if flagged {
                    f.detected += 1;
                } else {
                    f.missed += 1;
                }
            }
        }
        for a in raises(run).filter(|a| a.kind == kind) {
            f.raises += 1;
            let good = run
                .batches
                .iter()
                .find(|b| Some(&b.id) == a.batch.batch_id.as_ref())
                .is_some_and(|b| !bad(kind, b.grade, b.yield_pct));
            if good {
                f.false_raises += 1;
            } else {
                f.true_raises += 1;
            }
        }
    }
    f
}

fn finish(mut f: KindFigures) -> KindFigures {
    let judged = f.true_raises + f.false_raises;
    f.precision = if judged == 0 {
        1.0
    } else {
        f.true_raises as f64 / judged as f64
    };
    f.recall = if f.events == 0 {
        1.0
    } else {
        f.detected as f64 / f.events as f64
    };
    f
}

/// The `scope` field of an alert id `site:line:kind:scope:raised-at-ms`.
fn scope(a: &Alert) -> &str {
    a.id.rsplit(':').nth(1).unwrap_or("")
}

fn alarm_figures(runs: &[RunOutcome]) -> AlarmFigures {
    let mut f = AlarmFigures::default();
    let mut hours = 0.0;
    let mut total = 0u64;
    for run in runs {
        hours += run.span_ms() as f64 / 3_600_000.0;
        let ts: Vec<i64> = raises(run).map(|a| a.ts.0).collect();
        total += ts.len() as u64;
        for (i, t) in ts.iter().enumerate() {
            let n = ts[i..]
                .iter()
                .take_while(|u| **u < t + FLOOD_WINDOW_MS)
                .count();
            f.peak_raises_10min = f.peak_raises_10min.max(n as u64);
        }
        let mut open: BTreeMap<(AlertKind, &str), i64> = BTreeMap::new();
        let mut cleared: BTreeMap<(AlertKind, &str), i64> = BTreeMap::new();
        let end = super::run::START.0 + run.span_ms();
        for a in &run.alerts {
            let key = (a.kind, scope(a));
            match a.state {
                AlertState::Raised => {
                    if cleared.get(&key).is_some_and(|c| a.ts.0 - c <= CHATTER_MS) {
                        f.chattering += 1;
                    }
                    open.insert(key, a.ts.0);
                }
                AlertState::Cleared => {
                    if let Some(s) = open.remove(&key) {
                        let min = (a.ts.0 - s) as f64 / 60_000.0;
                        f.longest_open_min = f.longest_open_min.max(min);
                    }
                    cleared.insert(key, a.ts.0);
                }
            }
        }
        for s in open.values() {
            f.standing_at_end += 1;
            f.longest_open_min = f.longest_open_min.max((end - s) as f64 / 60_000.0);
        }
    }
    f.raises_per_hour = if hours > 0.0 {
        total as f64 / hours
    } else {
        0.0
    };
    f
}

/// Score every run.
pub fn score(runs: &[RunOutcome]) -> Summary {
    let mut s = Summary {
        runs: runs.len() as u64,
        ..Summary::default()
    };
    for run in runs {
        s.samples += run.counts.samples;
        s.infer_errors += run.counts.infer_errors;
        if run.plan.scenario != Scenario::Normal {
            continue;
        }
        s.normal_days += run.span_ms() as f64 / 86_400_000.0;
        for a in raises(run) {
            let justified = matches!(a.kind, AlertKind::OutOfRangeBatch | AlertKind::YieldLow)
                && run
                    .batches
                    .iter()
                    .find(|b| Some(&b.id) == a.batch.batch_id.as_ref())
                    .is_some_and(|b| bad(a.kind, b.grade, b.yield_pct));
            if !justified {
                *s.normal_false
                    .entry(a.kind.as_str().to_string())
                    .or_default() += 1;
            }
        }
    }
    let false_total: u64 = s.normal_false.values().sum();
    s.normal_false_per_day = if s.normal_days > 0.0 {
        false_total as f64 / s.normal_days
    } else {
        0.0
    };
    for kind in [
        AlertKind::FatBloomRisk,
        AlertKind::SugarBloomRisk,
        AlertKind::Gritty,
        AlertKind::DataQuality,
        AlertKind::Drift,
        AlertKind::Anomaly,
        AlertKind::LowConfidence,
    ] {
        s.kinds
            .insert(kind.as_str().into(), finish(episode_kind(runs, kind)));
    }
    for kind in [AlertKind::OutOfRangeBatch, AlertKind::YieldLow] {
        s.kinds
            .insert(kind.as_str().into(), finish(batch_kind(runs, kind)));
    }
    s.alarms = alarm_figures(runs);
    s
}
