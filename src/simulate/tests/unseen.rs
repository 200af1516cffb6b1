//! The unseen faults (held out of training): each moves only its own signals against the
//! `normal` twin, and they are marked as unseen and parse by name.

use super::*;

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
