//! The health window's judgement: does a newly deployed version do worse on this line than the
//! one it replaced? A pure function of the two versions' prediction counts, so each rule is
//! tested on its own; the reload controller (`crate::pipeline::reload`) applies it.

use super::config::FleetConfig;
use crate::infer::registry::OutcomeCounts;

/// Why a deployed version is judged a regression.
#[derive(Debug, Clone, PartialEq)]
pub struct Regression {
    /// Machine-readable reason: `health_errors` or `health_confidence`.
    pub kind: &'static str,
    /// One line with the figures.
    pub message: String,
}

/// Judges the new version's counts (`new`, since it started serving) against its
/// predecessor's (`old`, over the predecessor's whole run; None when nothing served before or
/// it made no prediction). None: no regression seen (yet).
pub fn judge(
    new: OutcomeCounts,
    old: Option<OutcomeCounts>,
    cfg: &FleetConfig,
) -> Option<Regression> {
    let attempts = new.ok + new.errors;
    if attempts < cfg.health_min_predictions.max(1) {
        return None;
    }
    let error_share = new.errors as f64 / attempts as f64;
    if error_share > cfg.health_max_error_share {
        return Some(Regression {
            kind: "health_errors",
            message: format!(
                "{} of {attempts} vectors could not be scored ({:.0} %, limit {:.0} %)",
                new.errors,
                error_share * 100.0,
                cfg.health_max_error_share * 100.0
            ),
        });
    }
    let old = old.filter(|o| o.ok >= cfg.health_min_predictions.max(1))?;
    if new.ok < cfg.health_min_predictions.max(1) {
        return None;
    }
    let drop = old.mean_confidence - new.mean_confidence;
    (drop > cfg.health_max_confidence_drop).then(|| Regression {
        kind: "health_confidence",
        message: format!(
            "mean confidence {:.3} over {} predictions, {:.3} before (drop {drop:.3}, limit {:.3})",
            new.mean_confidence, new.ok, old.mean_confidence, cfg.health_max_confidence_drop
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(ok: u64, errors: u64, mean_confidence: f64) -> OutcomeCounts {
        OutcomeCounts {
            ok,
            errors,
            mean_confidence,
        }
    }

    #[test]
    fn nothing_is_judged_before_the_minimum_number_of_vectors() {
        let cfg = FleetConfig::default();
        assert_eq!(
            judge(counts(0, 2, 0.0), Some(counts(100, 0, 0.9)), &cfg),
            None
        );
        assert!(judge(counts(0, 3, 0.0), None, &cfg).is_some());
    }

    #[test]
    fn an_error_share_over_the_limit_is_a_regression_even_with_no_predecessor() {
        let cfg = FleetConfig::default();
        let r = judge(counts(90, 10, 0.9), None, &cfg).unwrap();
        assert_eq!(r.kind, "health_errors");
        assert!(r.message.contains("10 of 100"), "{}", r.message);
        assert_eq!(
            judge(counts(96, 4, 0.9), None, &cfg),
            None,
            "4 % is under 5 %"
        );
    }

    #[test]
    fn a_confidence_drop_over_the_limit_is_a_regression_against_the_predecessor_only() {
        let cfg = FleetConfig::default();
        let r = judge(counts(50, 0, 0.34), Some(counts(1000, 0, 0.93)), &cfg).unwrap();
        assert_eq!(r.kind, "health_confidence");
        assert_eq!(
            judge(counts(50, 0, 0.80), Some(counts(1000, 0, 0.93)), &cfg),
            None
        );
        assert_eq!(
            judge(counts(50, 0, 0.34), None, &cfg),
            None,
            "nothing to compare with"
        );
        assert_eq!(
            judge(counts(50, 0, 0.34), Some(counts(2, 0, 0.93)), &cfg),
            None,
            "too little before"
        );
    }
}
