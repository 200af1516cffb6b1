//! The state machine of one rule for one scope: consecutive counts, raise and clear
//! thresholds (hysteresis), at most one open alert.

use super::config::RuleConfig;

/// Which side of the thresholds is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Higher is worse: raise at `v ≥ raise`, clear at `v ≤ clear`.
    Above,
    /// Lower is worse: raise at `v ≤ raise`, clear at `v ≥ clear`.
    Below,
}

/// What one evaluation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing changed.
    Hold,
    /// The alert opens now.
    Raise,
    /// The open alert ends now.
    Clear,
}

/// One rule's state for one scope.
#[derive(Debug, Clone)]
pub struct Hysteresis {
    rule: RuleConfig,
    dir: Direction,
    streak: u32,
    open: bool,
}

impl Hysteresis {
    /// A closed tracker.
    pub fn new(rule: RuleConfig, dir: Direction) -> Self {
        Hysteresis {
            rule,
            dir,
            streak: 0,
            open: false,
        }
    }

    /// Is an alert open?
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// The rule.
    pub fn rule(&self) -> &RuleConfig {
        &self.rule
    }

    /// Replace the rule (a configuration reload), keeping the open state and the current run
    /// so that an open alert still clears under its id.
    pub fn set_rule(&mut self, rule: RuleConfig) {
        self.rule = rule;
    }

    /// Evaluate one value. Non-finite values and disabled rules change nothing.
    pub fn observe(&mut self, v: f64) -> Step {
        if !self.rule.enabled || !v.is_finite() {
            return Step::Hold;
        }
        let (bad, good) = match self.dir {
            Direction::Above => (v >= self.rule.raise, v <= self.rule.clear),
            Direction::Below => (v <= self.rule.raise, v >= self.rule.clear),
        };
        let need = self.rule.consecutive.max(1);
        // While closed we count evaluations on the raise side, while open on the clear side;
        // anything else (between the thresholds, or back on the other side) resets the run.
        let towards = if self.open { good } else { bad };
        self.streak = if towards { self.streak + 1 } else { 0 };
        if self.streak < need {
            return Step::Hold;
        }
        self.streak = 0;
        self.open = !self.open;
        if self.open { Step::Raise } else { Step::Clear }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Severity;
    use Step::{Clear as C, Hold as H, Raise as R};

    fn run(dir: Direction, raise: f64, clear: f64, n: u32, values: &[f64]) -> Vec<Step> {
        let mut h = Hysteresis::new(RuleConfig::new(Severity::Warning, raise, clear, n), dir);
        values.iter().map(|v| h.observe(*v)).collect()
    }

    #[test]
    #[expect(
        clippy::too_many_lines,
        reason = "test table: one row per raise/clear case"
    )]
    fn table() {
        use Direction::{Above, Below};
        type Case<'a> = (&'a str, Direction, f64, f64, u32, &'a [f64], &'a [Step]);
        let cases: &[Case] = &[
            (
                "single crossing raises",
                Above,
                0.6,
                0.4,
                1,
                &[0.1, 0.7, 0.8],
                &[H, R, H],
            ),
            (
                "needs 3 consecutive",
                Above,
                0.6,
                0.4,
                3,
                &[0.7, 0.7, 0.7, 0.7],
                &[H, H, R, H],
            ),
            (
                "a dip resets the count",
                Above,
                0.6,
                0.4,
                3,
                &[0.7, 0.7, 0.5, 0.7, 0.7, 0.7],
                &[H, H, H, H, H, R],
            ),
            (
                "between thresholds holds open",
                Above,
                0.6,
                0.4,
                1,
                &[0.7, 0.5, 0.45, 0.59],
                &[R, H, H, H],
            ),
            (
                "clear at or below clear",
                Above,
                0.6,
                0.4,
                1,
                &[0.7, 0.4, 0.7],
                &[R, C, R],
            ),
            (
                "clear needs consecutive too",
                Above,
                0.6,
                0.4,
                2,
                &[0.7, 0.7, 0.3, 0.5, 0.3, 0.3],
                &[H, R, H, H, H, C],
            ),
            (
                "dedup: stays raised once",
                Above,
                0.6,
                0.4,
                1,
                &[0.9, 0.9, 0.9, 0.9],
                &[R, H, H, H],
            ),
            (
                "below: low confidence",
                Below,
                0.5,
                0.6,
                2,
                &[0.9, 0.4, 0.3, 0.55, 0.65, 0.7],
                &[H, H, R, H, H, C],
            ),
            (
                "NaN changes nothing",
                Above,
                0.6,
                0.4,
                2,
                &[0.7, f64::NAN, 0.7],
                &[H, H, R],
            ),
            (
                "equal raise and clear",
                Above,
                0.5,
                0.5,
                1,
                &[1.0, 1.0, 0.2, 0.6],
                &[R, H, C, R],
            ),
        ];
        for (name, dir, raise, clear, n, values, want) in cases {
            assert_eq!(&run(*dir, *raise, *clear, *n, values), want, "{name}");
        }
    }

    #[test]
    fn disabled_rule_never_fires() {
        let mut r = RuleConfig::new(Severity::Warning, 0.6, 0.4, 1);
        r.enabled = false;
        let mut h = Hysteresis::new(r, Direction::Above);
        assert!((0..10).all(|_| h.observe(1.0) == Step::Hold));
    }
}
