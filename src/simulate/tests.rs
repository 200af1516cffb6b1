//! Process-model tests: determinism, healthy ranges (docs/domain.md) and the visibility of
//! every scenario's fault in its signal.

use std::time::Duration;

use super::export::{ExportOptions, export_csv, samples_header};
use super::*;
use crate::domain::TimestampMs;

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

#[test]
fn same_seed_same_line_whatever_the_step_size() {
    let mut a = LineSim::new(Scenario::FatBloom, 7, START);
    let mut b = LineSim::new(Scenario::FatBloom, 7, START);
    let mut c = LineSim::new(Scenario::FatBloom, 8, START);
    let mut differs = false;
    for k in 1..=2000 {
        a.step(Duration::from_millis(7000));
        // b takes uneven sub-steps that add up to the same 7 s.
        b.step(Duration::from_millis(2500));
        b.step(Duration::from_millis(1));
        b.step(Duration::from_millis(4499));
        c.step(Duration::from_millis(7000));
        assert_eq!(a.now(), b.now());
        assert_eq!(a.now().0, START.0 + k * 7000);
        for s in LineSim::signals() {
            assert_eq!(a.value(s), b.value(s), "{s} at step {k}");
            differs |= a.value(s) != c.value(s);
        }
        assert_eq!(a.bloom_label(), b.bloom_label());
    }
    assert!(differs, "another seed must give another line");
    assert_eq!(a.take_closed_batches(), b.take_closed_batches());
}

#[test]
fn unknown_signal_is_none() {
    let sim = LineSim::new(Scenario::Normal, 1, START);
    assert_eq!(sim.value("nope"), None);
    assert!(!sim.is_dropped("nope"));
    assert_eq!(sim.fault_window(), None);
    for s in LineSim::signals() {
        assert!(sim.value(s).is_some_and(f64::is_finite), "{s}");
        assert!(device_of(s).is_some(), "{s}");
    }
}

#[test]
fn normal_run_stays_in_domain_ranges() {
    for seed in [1, 2, 3] {
        let mut sim = LineSim::new(Scenario::Normal, seed, START);
        let mut last_batch = v(&sim, "batch_id");
        let mut kinds = std::collections::BTreeSet::new();
        run_until(&mut sim, START.0 + 36 * 3_600_000, |sim| {
            let r = sim.recipe();
            let [lo, hi] = r.working_band;
            let t = v(sim, "temperature");
            assert!(
                t > lo - 0.6 && t < hi + 0.6,
                "temperature {t} for {}",
                r.code
            );
            let ranges = [
                ("tunnel_temp", 10.0, 16.0),
                ("humidity", 42.0, 68.0),
                ("particle_size", 17.0, 25.0),
                ("moisture", 0.9, 2.1),
                ("ph", 4.95, 5.6),
                ("conche_temp", 43.0, 80.0),
                ("roast_time", 10.0, 35.0),
                ("fermentation_index", 0.8, 1.4),
                ("bean_quality", 40.0, 95.0),
                ("cocoa_pct", 25.0, 80.0),
            ];
            for (s, lo, hi) in ranges {
                let x = v(sim, s);
                assert!(
                    x >= lo && x <= hi,
                    "{s} = {x} outside [{lo}, {hi}] (seed {seed})"
                );
            }
            assert_eq!(sim.bloom_label(), BloomLabel::None);
            let b = v(sim, "batch_id");
            assert!(b == last_batch || b == last_batch + 1.0, "batch id jumped");
            last_batch = b;
            kinds.insert(r.kind.name());
            assert!(!sim.is_dropped("moisture"));
            assert_eq!(sim.active_fault(), None);
        });
        let batches = sim.take_closed_batches();
        assert!(
            batches.len() >= 9,
            "36 h of 2–4 h batches, got {}",
            batches.len()
        );
        for b in &batches {
            let hours = (b.end_ms - b.start_ms) as f64 / 3_600_000.0;
            assert!(
                (2.0..=4.0).contains(&hours),
                "batch {} lasted {hours} h",
                b.batch_id
            );
            assert!(
                matches!(b.defect, Defect::None | Defect::OffFlavour),
                "{b:?}"
            );
            assert!((55.0..=95.0).contains(&b.yield_pct), "{b:?}");
        }
        assert!(kinds.len() >= 2, "recipe mix: {kinds:?}");
    }
}

#[test]
fn moisture_decays_over_a_batch() {
    let mut sim = LineSim::new(Scenario::Normal, 5, START);
    let first = v(&sim, "batch_id");
    let early = v(&sim, "moisture");
    let mut late = early;
    run_until(&mut sim, START.0 + 4 * 3_600_000, |sim| {
        if v(sim, "batch_id") == first {
            late = v(sim, "moisture");
        }
    });
    assert!(early - late > 0.3, "moisture {early} → {late}");
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

#[test]
fn scenarios_draw_from_their_own_streams() {
    // The same seed in two scenarios must not be the same line with a fault added: the
    // training set would hold copies of one physical batch in two runs.
    let mut lines: Vec<LineSim> = Scenario::ALL
        .iter()
        .map(|s| LineSim::new(*s, 7, START))
        .collect();
    for sim in &mut lines {
        run_until(sim, START.0 + 20 * 60_000, |_| {});
    }
    for (i, a) in lines.iter().enumerate() {
        for b in &lines[i + 1..] {
            let same = ["humidity", "particle_size", "bean_quality", "tunnel_temp"]
                .iter()
                .all(|s| a.value(s) == b.value(s));
            assert!(!same, "{} and {} share draws", a.scenario(), b.scenario());
        }
    }
    // Normal keeps its streams (stream 0): the twin constructor gives the same line.
    let mut n = LineSim::new(Scenario::Normal, 7, START);
    let mut t = twin(Scenario::Normal, 7, FaultPlan::default());
    run_until(&mut n, START.0 + 3_600_000, |_| {});
    run_until(&mut t, START.0 + 3_600_000, |_| {});
    for s in LineSim::signals() {
        assert_eq!(n.value(s), t.value(s), "{s}");
    }
}

#[test]
fn recurring_fault_windows_follow_the_period() {
    let plan = FaultPlan {
        warmup: Duration::from_secs(1800),
        duration: Duration::from_secs(3600),
        every: Some(Duration::from_secs(4 * 3600)),
    };
    let mut sim = LineSim::with_plan(Scenario::Gritty, 5, START, plan);
    let mut starts = Vec::new();
    let mut inside = 0;
    let mut was = false;
    run_until(&mut sim, START.0 + 24 * 3_600_000, |sim| {
        let on = sim.active_fault().is_some();
        if on && !was {
            starts.push((sim.now().0 - START.0) / 60_000);
        }
        inside += usize::from(on);
        was = on;
    });
    assert_eq!(starts, vec![30, 270, 510, 750, 990, 1230]);
    assert_eq!(inside, 6 * 3600);
    // A period not longer than the fault is ignored: one episode.
    let once = FaultPlan {
        every: Some(Duration::from_secs(3600)),
        ..plan
    };
    let mut sim = LineSim::with_plan(Scenario::Gritty, 5, START, once);
    let mut n = 0;
    run_until(&mut sim, START.0 + 6 * 3_600_000, |sim| {
        n += usize::from(sim.active_fault().is_some());
    });
    assert_eq!(n, 3600);
}

#[test]
fn poor_lots_give_low_yield_batches() {
    let mut low = 0;
    let mut poor = 0;
    let mut total = 0;
    for seed in 1..=20 {
        let mut sim = LineSim::new(Scenario::Normal, seed, START);
        run_until(&mut sim, START.0 + 24 * 3_600_000, |_| {});
        for b in sim.take_closed_batches() {
            total += 1;
            if b.yield_pct <= 75.0 {
                low += 1;
            }
            if b.yield_pct < 72.0 {
                poor += 1;
            }
        }
    }
    // 5 % of lots are poor (2–4 batches each): a few per cent of batches.
    assert!(total > 150, "{total}");
    assert!(low >= 3 && low * 10 < total, "{low} low-yield of {total}");
    assert!(poor >= 1, "no batch far below the alarm threshold");
}

#[test]
fn fault_window_follows_the_plan() {
    let sim = LineSim::new(Scenario::Gritty, 3, START);
    let (s, e) = sim.fault_window().unwrap();
    assert_eq!(s.0 - START.0, 30 * 60_000);
    assert_eq!(e.0 - s.0, 2 * 3_600_000);
}

#[test]
fn fat_bloom_raises_working_temperature_then_recovers() {
    let seed = 11;
    let hot = mean_over(Scenario::FatBloom, seed, "temperature", 1.0, 2.0);
    let base = mean_over(Scenario::Normal, seed, "temperature", 1.0, 2.0);
    assert!(
        hot - base > 1.8 && hot - base < 3.1,
        "offset {}",
        hot - base
    );
    let after = mean_over(Scenario::FatBloom, seed, "temperature", 3.0, 3.5);
    let base_after = mean_over(Scenario::Normal, seed, "temperature", 3.0, 3.5);
    assert!(
        (after - base_after).abs() < 1e-9,
        "recovered: {after} vs {base_after}"
    );
    // Before the fault the line is the normal one.
    let pre = mean_over(Scenario::FatBloom, seed, "temperature", 0.0, 0.5);
    let base_pre = mean_over(Scenario::Normal, seed, "temperature", 0.0, 0.5);
    assert_eq!(pre, base_pre);

    let mut sim = twin(Scenario::FatBloom, seed, FaultPlan::default());
    let mut fat = 0;
    run_until(&mut sim, START.0 + 3 * 3_600_000, |sim| {
        fat += usize::from(sim.bloom_label() == BloomLabel::FatBloom);
    });
    assert!(fat > 3000, "fat bloom labelled for {fat} s");
}

#[test]
fn sugar_bloom_raises_humidity_and_moisture() {
    let seed = 12;
    let h = mean_over(Scenario::SugarBloom, seed, "humidity", 1.5, 2.3);
    assert!(h > 83.0, "humidity {h}");
    let m = mean_over(Scenario::SugarBloom, seed, "moisture", 1.5, 2.3);
    let m0 = mean_over(Scenario::Normal, seed, "moisture", 1.5, 2.3);
    assert!(m - m0 > 0.6, "moisture {m} vs {m0}");
    let mut sim = twin(Scenario::SugarBloom, seed, FaultPlan::default());
    let mut sugar = 0;
    run_until(&mut sim, START.0 + 3 * 3_600_000, |sim| {
        sugar += usize::from(sim.bloom_label() == BloomLabel::SugarBloom);
    });
    assert!(sugar > 3000, "sugar bloom labelled for {sugar} s");
}

#[test]
fn gritty_pushes_particle_size_over_30() {
    let p = mean_over(Scenario::Gritty, 13, "particle_size", 1.0, 2.2);
    assert!(p > 31.0, "particle {p}");
    let after = mean_over(Scenario::Gritty, 13, "particle_size", 2.5, 3.0);
    assert!(after < 25.0, "recovered {after}");
}

#[test]
fn sensor_stuck_freezes_temperature_only_in_window() {
    let mut sim = LineSim::new(Scenario::SensorStuck, 14, START);
    let (s, e) = sim.fault_window().unwrap();
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    run_until(&mut sim, e.0 + 1_800_000, |sim| {
        let t = v(sim, "temperature");
        if sim.now() >= s && sim.now() < e {
            inside.push(t);
        } else {
            outside.push(t);
        }
    });
    assert!(inside.len() > 7000);
    assert!(
        inside.iter().all(|x| *x == inside[0]),
        "stuck value must not change"
    );
    let distinct: std::collections::BTreeSet<u64> = outside.iter().map(|x| x.to_bits()).collect();
    assert!(distinct.len() > 50, "a live sensor varies");
}

#[test]
fn sensor_dropout_drops_the_conche_device_for_the_window() {
    let mut sim = LineSim::new(Scenario::SensorDropout, 15, START);
    let (s, e) = sim.fault_window().unwrap();
    assert!(!sim.is_dropped("moisture"));
    let mut dropped = 0;
    run_until(&mut sim, e.0 + 600_000, |sim| {
        let inside = sim.now() >= s && sim.now() < e;
        assert_eq!(sim.is_dropped("moisture"), inside);
        assert_eq!(sim.is_dropped("ph"), inside);
        assert!(!sim.is_dropped("temperature"));
        assert!(!sim.is_dropped("batch_id"));
        dropped += usize::from(inside);
    });
    assert_eq!(dropped, 7200);
}

#[test]
fn drift_shifts_ph_slowly() {
    let seed = 16;
    let early = mean_over(Scenario::Drift, seed, "ph", 0.6, 0.7)
        - mean_over(Scenario::Normal, seed, "ph", 0.6, 0.7);
    let late = mean_over(Scenario::Drift, seed, "ph", 2.3, 2.45)
        - mean_over(Scenario::Normal, seed, "ph", 2.3, 2.45);
    assert!(early < 0.1, "early shift {early}");
    assert!(late > 0.4, "late shift {late}");
}

#[test]
fn long_faults_produce_their_batch_defects() {
    let plan = FaultPlan {
        warmup: Duration::from_secs(1800),
        duration: Duration::from_secs(10 * 3600),
        every: None,
    };
    for (scenario, defect) in [
        (Scenario::FatBloom, Defect::FatBloom),
        (Scenario::SugarBloom, Defect::SugarBloom),
        (Scenario::Gritty, Defect::Gritty),
    ] {
        let mut sim = LineSim::with_plan(scenario, 21, START, plan);
        run_until(&mut sim, START.0 + 12 * 3_600_000, |_| {});
        let batches = sim.take_closed_batches();
        let hits = batches.iter().filter(|b| b.defect == defect).count();
        assert!(hits >= 2, "{scenario}: {batches:?}");
        assert!(
            batches
                .iter()
                .filter(|b| b.defect == defect)
                .all(|b| b.quality_grade == "reject")
        );
    }
}

#[test]
fn export_writes_documented_schema() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ExportOptions {
        scenario: Scenario::SensorDropout,
        seed: 3,
        start: START,
        duration: Duration::from_secs(3 * 3600),
        interval: Duration::from_secs(10),
        plan: FaultPlan::default(),
    };
    let summary = export_csv(dir.path(), &opts).unwrap();
    assert_eq!(summary.samples, 1080);
    let text = std::fs::read_to_string(dir.path().join("samples.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header, samples_header());
    assert_eq!(&header[..3], &["ts_ms", "batch_id", "recipe"]);
    assert_eq!(header.len(), 3 + 11 + 3);
    let mi = header.iter().position(|h| *h == "moisture").unwrap();
    let fi = header.iter().position(|h| *h == "fault").unwrap();
    let mut empty = 0;
    for line in lines {
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols.len(), header.len());
        let faulty = cols[fi] == "sensor-dropout";
        assert_eq!(cols[mi].is_empty(), faulty, "{line}");
        empty += usize::from(faulty);
    }
    assert_eq!(empty, 720);
    let batches = std::fs::read_to_string(dir.path().join("batches.csv")).unwrap();
    assert!(batches.starts_with(export::BATCHES_HEADER));
    assert_eq!(batches.lines().count() as u64, summary.batches + 1);
    // Interval 0 is refused with a clear error.
    let bad = ExportOptions {
        interval: Duration::ZERO,
        ..opts
    };
    assert!(
        export_csv(dir.path(), &bad)
            .unwrap_err()
            .to_string()
            .contains("interval")
    );
}

/// Every signal's mean over hours 1–2 (the default fault at full strength) in `scenario`
/// minus the same in its `normal` twin; one pass over each line.
fn shifts(scenario: Scenario, seed: u64) -> Vec<(&'static str, f64)> {
    let means = |sc: Scenario| {
        let mut sim = twin(sc, seed, FaultPlan::default());
        let mut sum = vec![0.0; LineSim::signals().len()];
        let mut n = 0.0;
        run_until(&mut sim, START.0 + 2 * 3_600_000, |sim| {
            if sim.now().0 >= START.0 + 3_600_000 {
                for (acc, s) in sum.iter_mut().zip(LineSim::signals()) {
                    *acc += v(sim, s);
                }
                n += 1.0;
            }
        });
        sum.into_iter().map(move |x| x / n)
    };
    LineSim::signals()
        .iter()
        .copied()
        .zip(
            means(scenario)
                .zip(means(Scenario::Normal))
                .map(|(a, b)| a - b),
        )
        .collect()
}

fn shift(sh: &[(&'static str, f64)], signal: &str) -> f64 {
    sh.iter()
        .find(|(s, _)| *s == signal)
        .map_or(f64::NAN, |(_, d)| *d)
}

#[test]
fn unseen_faults_move_only_their_own_signals() {
    for seed in [21, 22, 23] {
        let sh = shifts(Scenario::CoolingFailure, seed);
        let t = shift(&sh, "tunnel_temp");
        assert!((3.9..7.1).contains(&t), "seed {seed}: tunnel +{t}");
        for (s, d) in &sh {
            assert!(
                *s == "tunnel_temp" || *d == 0.0,
                "seed {seed}: {s} moved {d}"
            );
        }

        let sh = shifts(Scenario::ConcheOverheat, seed);
        let c = shift(&sh, "conche_temp");
        assert!((7.9..14.1).contains(&c), "seed {seed}: conche +{c}");
        let m = shift(&sh, "moisture");
        assert!((-0.18..-0.09).contains(&m), "seed {seed}: moisture {m}");
        for (s, d) in &sh {
            assert!(
                matches!(*s, "conche_temp" | "moisture") || *d == 0.0,
                "seed {seed}: {s} moved {d}"
            );
        }

        // The registers keep reporting the product made; the set points are another's.
        let sh = shifts(Scenario::WrongRecipe, seed);
        for s in [
            "recipe",
            "cocoa_pct",
            "batch_id",
            "humidity",
            "ph",
            "particle_size",
        ] {
            assert_eq!(shift(&sh, s), 0.0, "seed {seed}: {s}");
        }
        let c = shift(&sh, "conche_temp");
        assert!(c.abs() > 4.9, "seed {seed}: conche {c}");
    }
}

#[test]
fn unseen_faults_are_marked_and_parse() {
    let unseen: Vec<_> = Scenario::ALL.iter().filter(|s| s.is_unseen()).collect();
    assert_eq!(unseen.len(), 3);
    for s in unseen {
        assert_eq!(s.name().parse::<Scenario>(), Ok(*s));
    }
    assert!(!Scenario::Drift.is_unseen() && !Scenario::Normal.is_unseen());
}
