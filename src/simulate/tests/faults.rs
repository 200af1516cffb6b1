//! The trained faults: windows that follow the plan (once or recurring), each scenario's
//! fault visible in its signal and gone after recovery, and long faults turning into their
//! batch defects.

use super::*;

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
