//! A bounded per-signal ring buffer of `(t seconds, value)` pairs. Memory is fixed at
//! construction: the capacity is the longest window any model asks of the signal.

use std::collections::VecDeque;

/// Fixed-capacity history of one signal, oldest first.
#[derive(Debug, Clone)]
pub struct Ring {
    cap: usize,
    buf: VecDeque<(f64, f64)>,
}

impl Ring {
    /// A ring holding at most `cap` samples (at least 1).
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        Ring {
            cap,
            buf: VecDeque::with_capacity(cap),
        }
    }

    /// Capacity in samples.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Samples held.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing has been pushed yet.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Append a sample, evicting the oldest when full. Non-finite values are kept: the
    /// transforms skip them, and keeping them keeps "the last N samples" honest.
    pub fn push(&mut self, t: f64, x: f64) {
        if self.buf.len() == self.cap {
            self.buf.pop_front();
        }
        self.buf.push_back((t, x));
    }

    /// The newest `n` samples (fewer while the ring fills), oldest first.
    pub fn last_n(&self, n: usize) -> impl Iterator<Item = (f64, f64)> + Clone + '_ {
        let start = self.buf.len().saturating_sub(n);
        self.buf.range(start..).copied()
    }

    /// The samples with `t > newest - span` (a duration window ending at the newest sample),
    /// limited by the capacity.
    pub fn within(&self, span_secs: f64) -> impl Iterator<Item = (f64, f64)> + Clone + '_ {
        let newest = self.buf.back().map_or(f64::NEG_INFINITY, |(t, _)| *t);
        let start = self.buf.partition_point(|(t, _)| *t <= newest - span_secs);
        self.buf.range(start..).copied()
    }

    /// The newest sample.
    pub fn newest(&self) -> Option<(f64, f64)> {
        self.buf.back().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_ordered() {
        let mut r = Ring::new(3);
        for i in 0..10 {
            r.push(i as f64, i as f64 * 10.0);
        }
        assert_eq!(r.len(), 3);
        let v: Vec<_> = r.last_n(5).collect();
        assert_eq!(v, vec![(7.0, 70.0), (8.0, 80.0), (9.0, 90.0)]);
        let v: Vec<_> = r.last_n(2).collect();
        assert_eq!(v, vec![(8.0, 80.0), (9.0, 90.0)]);
        assert_eq!(r.newest(), Some((9.0, 90.0)));
    }

    #[test]
    fn duration_window() {
        let mut r = Ring::new(100);
        for i in 0..10 {
            r.push(i as f64 * 0.5, i as f64);
        }
        // Newest t = 4.5; a 1.5 s window keeps t in (3.0, 4.5] → 3.5, 4.0, 4.5.
        let v: Vec<f64> = r.within(1.5).map(|(_, x)| x).collect();
        assert_eq!(v, vec![7.0, 8.0, 9.0]);
        assert_eq!(Ring::new(4).within(10.0).count(), 0);
    }
}
