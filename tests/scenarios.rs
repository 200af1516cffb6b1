//! Time-compressed scenario tests: the simulator (`LineSim`, deterministic seeds) drives the
//! whole offline pipeline — features, validate, the real exported models through infer,
//! drift monitor, alert rules — one sample per simulated second.
//!
//! Bounds stated here: a fault scenario must raise its alert kind within 45 simulated minutes
//! of the fault window's start, and clear it (same id) within 60 minutes of the window's end
//! (the fault ramps in and out over 15 minutes). `drift` is judged once per one-hour drift
//! window and its pH shift grows linearly over the 2 h fault, so its bounds are 120 minutes
//! for both (at most two windows). `normal` over 24 simulated hours may raise at most one
//! alert. Each run prints its alerts and detection delays.
//!
//! `CHOCOLINE_SCENARIO_SEEDS=7,8,9` runs the normal day for more seeds (default: 7).

use std::collections::HashMap;
use std::time::Duration;

use chocoline::alert::config::{Chocolate, ProductConfig};
use chocoline::config::Config;
use chocoline::domain::{Alert, AlertKind, AlertState, Record, TimestampMs};
use chocoline::pipeline::replay::{SampleBuilder, build};
use chocoline::simulate::{ChocolateKind, LineSim, RECIPES, Scenario};

const START: TimestampMs = TimestampMs(1_767_225_600_000);

fn config() -> Config {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml");
    let mut cfg: Config = chocoline::config::load(&path)
        .expect("config/demo.toml")
        .config;
    cfg.models.watch = false;
    cfg.models.verify_golden = false;
    // The simulator's own recipes, so that the product bands are the ones it runs.
    cfg.products = RECIPES
        .iter()
        .map(|r| ProductConfig {
            code: r.code.to_string(),
            recipe_id: r.id,
            chocolate: match r.kind {
                ChocolateKind::Dark => Chocolate::Dark,
                ChocolateKind::Milk => Chocolate::Milk,
                ChocolateKind::White => Chocolate::White,
            },
            working_temp: Some(r.working_band),
            moisture_pct: [1.0, 2.0],
            ph: [5.0, 5.5],
            particle_size_max_um: 25.0,
            cocoa_pct: Some(r.cocoa_pct),
        })
        .collect();
    cfg
}

struct Run {
    alerts: Vec<Alert>,
    window: Option<(TimestampMs, TimestampMs)>,
}

fn run(scenario: Scenario, seed: u64, span: Duration) -> Run {
    let cfg = config();
    let mut p = build(&cfg).expect("pipeline from the repository's models");
    let mut sim = LineSim::new(scenario, seed, START);
    let names: Vec<String> = LineSim::signals().iter().map(|s| s.to_string()).collect();
    let builder = SampleBuilder::new(&names, HashMap::new());
    let mut out = Vec::new();
    let mut alerts = Vec::new();
    let mut values = Vec::with_capacity(names.len());
    for _ in 0..span.as_secs() {
        values.clear();
        values.extend(names.iter().map(|s| {
            if sim.is_dropped(s) {
                None
            } else {
                sim.value(s)
            }
        }));
        p.push(&builder.build(sim.now(), &values), &mut out)
            .expect("pipeline");
        alerts.extend(out.drain(..).filter_map(|r| match r {
            Record::Alert(a) => Some(a),
            _ => None,
        }));
        sim.step(Duration::from_secs(1));
    }
    let c = p.counts();
    eprintln!(
        "{}: {} samples, {} vectors ({} refused), {} predictions, {} drift windows",
        scenario.name(),
        c.samples,
        c.vectors,
        c.refused,
        c.predictions,
        c.drift_windows
    );
    for a in &alerts {
        eprintln!(
            "  {:?} {} {:?} at +{} min  {}",
            a.state,
            a.kind,
            a.severity,
            (a.ts.0 - START.0) / 60_000,
            a.message
        );
    }
    Run {
        alerts,
        window: sim.fault_window(),
    }
}

/// Detection bounds in minutes: (raise after fault start, clear after fault end).
const FAULT_BOUNDS: (f64, f64) = (45.0, 60.0);
const DRIFT_BOUNDS: (f64, f64) = (120.0, 120.0);

fn check_fault(scenario: Scenario, kind: AlertKind) {
    check_fault_within(scenario, kind, FAULT_BOUNDS, Duration::from_secs(4 * 3600));
}

fn check_fault_within(
    scenario: Scenario,
    kind: AlertKind,
    (raise_bound, clear_bound): (f64, f64),
    span: Duration,
) {
    let r = run(scenario, 7, span);
    let (start, end) = r.window.expect("fault scenarios have a window");
    let raised = r
        .alerts
        .iter()
        .find(|a| a.kind == kind && a.state == AlertState::Raised && a.ts >= start)
        .unwrap_or_else(|| {
            panic!(
                "{}: no {kind} raised after the fault start",
                scenario.name()
            )
        });
    let delay_min = (raised.ts.0 - start.0) as f64 / 60_000.0;
    let cleared = r
        .alerts
        .iter()
        .find(|a| a.id == raised.id && a.state == AlertState::Cleared)
        .unwrap_or_else(|| panic!("{}: {kind} {} never cleared", scenario.name(), raised.id));
    let clear_min = (cleared.ts.0 - end.0) as f64 / 60_000.0;
    eprintln!(
        "{}: {kind} raised {delay_min:.1} min after fault start, cleared {clear_min:.1} min after fault end",
        scenario.name()
    );
    assert!(
        delay_min <= raise_bound,
        "{}: raised after {delay_min:.1} min",
        scenario.name()
    );
    assert!(
        clear_min <= clear_bound,
        "{}: cleared {clear_min:.1} min after the end",
        scenario.name()
    );
}

#[test]
fn fat_bloom_raises_and_clears() {
    check_fault(Scenario::FatBloom, AlertKind::FatBloomRisk);
}

#[test]
fn sugar_bloom_raises_and_clears() {
    check_fault(Scenario::SugarBloom, AlertKind::SugarBloomRisk);
}

#[test]
fn gritty_raises_and_clears() {
    check_fault(Scenario::Gritty, AlertKind::Gritty);
}

#[test]
fn sensor_stuck_raises_data_quality_and_clears() {
    check_fault(Scenario::SensorStuck, AlertKind::DataQuality);
}

#[test]
fn sensor_dropout_raises_data_quality_and_clears() {
    check_fault(Scenario::SensorDropout, AlertKind::DataQuality);
}

/// The pH of the mass rises by 0.5–0.8 over the 2 h fault: the anomaly detector's `ph_mean_60`
/// leaves the range of normal hours (manifest thresholds calibrated on healthy one-hour
/// windows, docs/manifest.md). 5 h: the window after the fault must close clean.
// KNOWN FAILURE (issue #6 open), measured in release on 2026-11-27: no drift window of seed 7
// crosses the recalibrated thresholds (anomaly alerts dominate instead). Run with
// `cargo test --release --test scenarios -- --ignored`.
#[test]
#[ignore = "known failure: drift not raised for seed 7 after recalibration (issue #6 open)"]
fn drift_raises_and_clears() {
    check_fault_within(
        Scenario::Drift,
        AlertKind::Drift,
        DRIFT_BOUNDS,
        Duration::from_secs(5 * 3600),
    );
}

// KNOWN FAILURE (issue #6 open): 58 raised in 24 h (seed 7, release), mostly anomaly and
// bloom low_confidence on whole batches (from +2 min on): the models do not generalise to
// seed 7's batches (training holds 3 distinct healthy seeds), not window straddling.
#[test]
#[ignore = "known failure: 58 false alarms in a normal day (issue #6 open)"]
fn normal_day_has_at_most_one_false_alarm() {
    let seeds: Vec<u64> = std::env::var("CHOCOLINE_SCENARIO_SEEDS")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![7]);
    for seed in seeds {
        let r = run(Scenario::Normal, seed, Duration::from_secs(24 * 3600));
        let raised: Vec<_> = r
            .alerts
            .iter()
            .filter(|a| a.state == AlertState::Raised)
            .collect();
        eprintln!("normal 24 h, seed {seed}: {} false alarms", raised.len());
        assert!(
            raised.len() <= 1,
            "seed {seed}: {} false alarms in 24 h of normal operation",
            raised.len()
        );
    }
}
