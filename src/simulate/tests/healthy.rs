//! A normal run against docs/domain.md: every signal in its healthy range, batches of
//! 2–4 h with no fault defect, moisture falling over a batch, and a few low-yield batches
//! from poor bean lots.

use super::*;

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
