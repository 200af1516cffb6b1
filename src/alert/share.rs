//! A rolling share of "bad" events over the last N events, in constant memory.

use std::collections::VecDeque;

/// Share of `true` among the last `n` observations.
#[derive(Debug, Clone)]
pub struct RollingShare {
    n: usize,
    buf: VecDeque<bool>,
    bad: usize,
}

impl RollingShare {
    /// Over the last `n` (at least 1) observations.
    pub fn new(n: usize) -> Self {
        let n = n.max(1);
        RollingShare {
            n,
            buf: VecDeque::with_capacity(n),
            bad: 0,
        }
    }

    /// Add one observation; returns the share over the window so far.
    pub fn push(&mut self, bad: bool) -> f64 {
        if self.buf.len() == self.n && self.buf.pop_front() == Some(true) {
            self.bad -= 1;
        }
        self.buf.push_back(bad);
        self.bad += usize::from(bad);
        self.share()
    }

    /// True once `n` observations were made: a share over fewer (at start-up) is too noisy
    /// to alarm on — one anomalous vector out of one would be "100 %".
    pub fn is_full(&self) -> bool {
        self.buf.len() == self.n
    }

    /// What a rule evaluates: the share once the window is full, NaN before ("no evaluation"
    /// for the hysteresis tracker), so that start-up cannot raise on a handful of events.
    pub fn rule_value(&self) -> f64 {
        if self.is_full() {
            self.share()
        } else {
            f64::NAN
        }
    }

    /// Current share (0 when empty).
    pub fn share(&self) -> f64 {
        if self.buf.is_empty() {
            0.0
        } else {
            self.bad as f64 / self.buf.len() as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolls() {
        let mut s = RollingShare::new(4);
        assert_eq!(s.push(true), 1.0);
        assert_eq!(s.push(false), 0.5);
        s.push(false);
        assert_eq!(s.push(false), 0.25);
        assert_eq!(s.push(false), 0.0, "the first `true` has rolled out");
    }

    #[test]
    fn rule_value_is_nan_until_the_window_is_full() {
        let mut s = RollingShare::new(3);
        s.push(true);
        s.push(true);
        assert!(s.rule_value().is_nan(), "two of three: no evaluation yet");
        s.push(false);
        assert!((s.rule_value() - 2.0 / 3.0).abs() < 1e-12);
    }
}
