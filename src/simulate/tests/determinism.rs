//! Determinism: the same seed gives the same line whatever the step size (and another seed
//! another line), every signal has a value and a device, and each scenario draws from its
//! own random streams.

use super::*;

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
