//! Scoring on hand-made runs (each rule of `score` in isolation), and one short run of the
//! real pipeline with the repository's models.

use std::time::Duration;

use super::report::{markdown, regressions};
use super::run::{BatchTruth, RunOutcome, RunPlan, START};
use super::*;
use crate::domain::{Alert, AlertKind, AlertState, BatchContext, Severity, TimestampMs};
use crate::pipeline::replay::ReplayCounts;

const MIN: i64 = 60_000;

fn at(min: i64) -> i64 {
    START.0 + min * MIN
}

/// An alert event of `kind` on `scope` at minute `t` (raised at minute `raised`).
fn alert(
    kind: AlertKind,
    scope: &str,
    state: AlertState,
    raised: i64,
    t: i64,
    batch: &str,
) -> Alert {
    Alert {
        id: format!("s:l:{}:{scope}:{}", kind.as_str(), at(raised)),
        kind,
        severity: Severity::Warning,
        state,
        site: "s".into(),
        line: "l".into(),
        batch: BatchContext {
            batch_id: Some(batch.into()),
            product: None,
            lot: None,
        },
        raised_at: TimestampMs(at(raised)),
        ts: TimestampMs(at(t)),
        message: String::new(),
        evidence: serde_json::Value::Null,
    }
}

fn run(scenario: Scenario, hours: u64, episodes: &[(i64, i64)], alerts: Vec<Alert>) -> RunOutcome {
    RunOutcome {
        plan: RunPlan {
            scenario,
            seed: 1,
            span: Duration::from_secs(hours * 3600),
            plan: fault_plan(scenario),
        },
        episodes: episodes.iter().map(|(s, e)| (at(*s), at(*e))).collect(),
        batches: Vec::new(),
        alerts,
        counts: ReplayCounts {
            samples: hours * 3600,
            ..ReplayCounts::default()
        },
    }
}

fn batch(id: &str, grade: &'static str, yield_pct: f64, judged_min: i64) -> BatchTruth {
    BatchTruth {
        id: id.into(),
        grade,
        yield_pct,
        judged_at: Some(TimestampMs(at(judged_min))),
    }
}

use AlertKind::*;
use AlertState::*;

#[test]
fn episodes_are_detected_within_grace_and_other_raises_are_false_or_off_target() {
    let fat = run(
        Scenario::FatBloom,
        24,
        &[(60, 150), (420, 510), (780, 870)],
        vec![
            alert(FatBloomRisk, "bloom", Raised, 70, 70, "1"), // detects episode 1 after 10 min
            alert(FatBloomRisk, "bloom", Cleared, 70, 160, "1"),
            alert(FatBloomRisk, "bloom", Raised, 530, 530, "2"), // 20 min after the end: in grace
            alert(FatBloomRisk, "bloom", Raised, 300, 300, "3"), // between episodes: false
            alert(Drift, "bloom", Raised, 800, 800, "4"),        // symptom of the fat bloom
        ],
    );
    let drift_day = run(Scenario::Drift, 24, &[(60, 150)], vec![]);
    let s = score(&[fat, drift_day]);
    let f = &s.kinds["fat_bloom_risk"];
    assert_eq!((f.events, f.detected, f.missed), (3, 2, 1));
    assert_eq!((f.raises, f.true_raises, f.false_raises), (3, 2, 1));
    assert_eq!(f.delay_p50_min, Some(10.0));
    assert_eq!(f.delay_p95_min, Some(110.0));
    assert!((f.recall - 2.0 / 3.0).abs() < 1e-12 && (f.precision - 2.0 / 3.0).abs() < 1e-12);
    let d = &s.kinds["drift"];
    assert_eq!(
        (d.events, d.missed, d.off_target, d.false_raises),
        (1, 1, 1, 0)
    );
    assert_eq!(s.normal_days, 0.0);
}

#[test]
fn batch_alerts_are_judged_on_the_open_state_after_each_batch() {
    let mut r = run(
        Scenario::Normal,
        48,
        &[],
        vec![
            alert(OutOfRangeBatch, "line", Raised, 200, 200, "b2"),
            // Still open for b3 (also a reject): flagged without a new raise.
            alert(OutOfRangeBatch, "line", Cleared, 200, 400, "b4"),
            alert(OutOfRangeBatch, "line", Raised, 600, 600, "b6"), // b6 was graded A: false
            alert(YieldLow, "yield", Raised, 200, 200, "b2"),
            alert(Drift, "bloom", Raised, 900, 900, "b7"),
            alert(Drift, "bloom", Cleared, 900, 930, "b7"),
            alert(Drift, "bloom", Raised, 900, 931, "b7"), // re-raised within a minute: chattering
        ],
    );
    r.batches = vec![
        batch("b1", "A", 84.0, 100),
        batch("b2", "reject", 70.0, 200),
        batch("b3", "reject", 80.0, 300),
        batch("b4", "B", 82.0, 400),
        batch("b5", "reject", 81.0, 500),
        batch("b6", "A", 83.0, 600),
    ];
    let s = score(&[r]);
    let o = &s.kinds["out_of_range_batch"];
    assert_eq!((o.events, o.detected, o.missed), (3, 2, 1));
    assert_eq!((o.raises, o.true_raises, o.false_raises), (2, 1, 1));
    let y = &s.kinds["yield_low"];
    assert_eq!((y.events, y.detected, y.false_raises), (1, 1, 0));
    // Normal running: the drift raises and the raise on the good batch b6 are false; the
    // raises on the bad batch b2 are not.
    assert_eq!(s.normal_days, 2.0);
    assert_eq!(s.normal_false.get("drift"), Some(&2));
    assert_eq!(s.normal_false.get("out_of_range_batch"), Some(&1));
    assert_eq!(s.normal_false.get("yield_low"), None);
    assert_eq!(s.normal_false_per_day, 1.5);
    assert_eq!(s.alarms.chattering, 1);
    assert_eq!(
        s.alarms.standing_at_end, 3,
        "b6's out-of-range, b2's yield_low and the re-raised drift"
    );
    assert_eq!(s.alarms.peak_raises_10min, 2);
    let md = markdown(&s, "test");
    assert!(
        md.contains("| `out_of_range_batch` | 3 | 2 | 1 | 0.667 |"),
        "{md}"
    );
    assert!(md.contains("1.50 per 24 h"), "{md}");
}

#[test]
fn a_worse_figure_is_a_regression() {
    let good = run(
        Scenario::Gritty,
        6,
        &[(60, 150)],
        vec![alert(Gritty, "particle_size", Raised, 65, 65, "1")],
    );
    let late = run(
        Scenario::Gritty,
        6,
        &[(60, 150)],
        vec![alert(Gritty, "particle_size", Raised, 90, 90, "1")],
    );
    let missed = run(Scenario::Gritty, 6, &[(60, 150)], vec![]);
    let before = score(std::slice::from_ref(&good));
    assert!(regressions(&before, &score(&[good]), 1.0).is_empty());
    let r = regressions(&before, &score(&[late]), 1.0);
    assert_eq!(r, vec!["gritty: delay p95 30.0 min > 5.0 min".to_string()]);
    let r = regressions(&before, &score(&[missed]), 1.0);
    assert_eq!(r, vec!["gritty: recall 0.000 < 1.000".to_string()]);
    let noisy = run(
        Scenario::Normal,
        24,
        &[],
        vec![alert(Drift, "bloom", Raised, 5, 5, "1")],
    );
    let r = regressions(
        &score(&[run(Scenario::Normal, 24, &[], vec![])]),
        &score(&[noisy]),
        1.0,
    );
    assert_eq!(
        r,
        vec![
            "drift: precision 0.000 < 1.000".to_string(),
            "normal running: 1.00 false alerts per 24 h > 0.00".to_string()
        ]
    );
}

#[test]
fn a_short_fat_bloom_run_through_the_real_models() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml");
    let mut cfg = crate::config::load(&path).expect("config/demo.toml").config;
    cfg.models.watch = false;
    let plans = plans(
        9001..=9001,
        Duration::from_secs(6 * 3600),
        &[Scenario::FatBloom],
    );
    let mut seen = Vec::new();
    let (s, runs) = evaluate(&cfg, &plans, |d, t| seen.push((d, t))).expect("pipeline");
    assert_eq!(seen, vec![(1, 1)]);
    assert_eq!(s.samples, 6 * 3600);
    assert_eq!(s.infer_errors, 0);
    // 90-minute episodes from the first hour, every 6 hours: one in 6 hours.
    assert_eq!(runs[0].episodes, vec![(at(60), at(150))]);
    let f = &s.kinds["fat_bloom_risk"];
    assert_eq!(
        (f.events, f.detected),
        (1, 1),
        "{}",
        markdown(&s, "fat bloom")
    );
    assert!(f.delay_p50_min.is_some_and(|d| d < 30.0), "{f:?}");
    // The batch models judged every closed batch but the first, which the agent cannot know
    // it saw from its start.
    let b = &runs[0].batches;
    assert!(b.len() >= 2, "{b:?}");
    assert!(b[0].judged_at.is_none(), "{b:?}");
    assert!(b[1..].iter().all(|b| b.judged_at.is_some()), "{b:?}");
}

#[test]
fn drift_episodes_are_two_hour_ramps_the_others_ninety_minutes() {
    assert_eq!(
        fault_plan(Scenario::Drift).duration,
        Duration::from_secs(2 * 3600)
    );
    for s in Scenario::ALL.into_iter().filter(|s| *s != Scenario::Drift) {
        assert_eq!(fault_plan(s).duration, Duration::from_secs(90 * 60), "{s}");
        assert_eq!(fault_plan(s).every, fault_plan(Scenario::Drift).every);
    }
}
