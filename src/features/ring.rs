//! A bounded per-signal ring buffer of `(t seconds, value)` pairs. Memory is fixed at
//! construction: the capacity is the longest window any model asks of the signal.
//!
//! Every sample is written twice, at `i` and `i + cap` of a buffer of `2 · cap` slots, so
//! that the newest `n` samples are always one contiguous slice. The transforms then run
//! over a plain slice (vectorisable folds, no wrap-around test per element): at one poll per
//! second a bloom vector reads ten windows of 300–600 samples, which made the window walks
//! the largest single cost of the feature stage in a replay profile.

/// Fixed-capacity history of one signal, oldest first.
#[derive(Debug, Clone)]
pub struct Ring {
    cap: usize,
    len: usize,
    /// Next slot to write, in `0..cap`.
    head: usize,
    /// Non-finite values among those held: while 0, every window is all finite and the
    /// transforms skip their scan for gaps.
    gaps: usize,
    buf: Vec<(f64, f64)>,
}

impl Ring {
    /// A ring holding at most `cap` samples (at least 1).
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        Ring {
            cap,
            len: 0,
            head: 0,
            gaps: 0,
            buf: vec![(f64::NAN, f64::NAN); 2 * cap],
        }
    }

    /// Capacity in samples.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Samples held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing has been pushed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append a sample, evicting the oldest when full. Non-finite values are kept: the
    /// transforms skip them, and keeping them keeps "the last N samples" honest.
    pub fn push(&mut self, t: f64, x: f64) {
        // When full, the slot at `head` holds the oldest value, which this push evicts.
        if self.len == self.cap && self.buf.get(self.head).is_some_and(|p| !p.1.is_finite()) {
            self.gaps -= 1;
        }
        if !x.is_finite() {
            self.gaps += 1;
        }
        for slot in [self.head, self.head + self.cap] {
            if let Some(s) = self.buf.get_mut(slot) {
                *s = (t, x);
            }
        }
        self.head = (self.head + 1) % self.cap;
        self.len = (self.len + 1).min(self.cap);
    }

    /// True when every value held is finite (so is every window).
    pub fn all_finite(&self) -> bool {
        self.gaps == 0
    }

    /// Everything held, oldest first, as one slice.
    fn as_slice(&self) -> &[(f64, f64)] {
        let end = self.head + self.cap;
        self.buf.get(end - self.len..end).unwrap_or(&[])
    }

    /// The newest `n` samples (fewer while the ring fills), oldest first.
    pub fn last_n(&self, n: usize) -> &[(f64, f64)] {
        let all = self.as_slice();
        all.get(all.len().saturating_sub(n)..).unwrap_or(&[])
    }

    /// The samples with `t > newest - span` (a duration window ending at the newest sample),
    /// limited by the capacity.
    pub fn within(&self, span_secs: f64) -> &[(f64, f64)] {
        let all = self.as_slice();
        let newest = all.last().map_or(f64::NEG_INFINITY, |(t, _)| *t);
        let start = all.partition_point(|(t, _)| *t <= newest - span_secs);
        all.get(start..).unwrap_or(&[])
    }

    /// The newest sample.
    pub fn newest(&self) -> Option<(f64, f64)> {
        self.as_slice().last().copied()
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
        let v: Vec<_> = r.last_n(5).to_vec();
        assert_eq!(v, vec![(7.0, 70.0), (8.0, 80.0), (9.0, 90.0)]);
        let v: Vec<_> = r.last_n(2).to_vec();
        assert_eq!(v, vec![(8.0, 80.0), (9.0, 90.0)]);
        assert_eq!(r.newest(), Some((9.0, 90.0)));
    }

    #[test]
    fn wraps_around_many_times_and_stays_in_order() {
        // Against a plain model of "the last cap samples", through many wrap-arounds and
        // every window length, including the partly filled start.
        let cap = 7;
        let mut r = Ring::new(cap);
        let mut all: Vec<(f64, f64)> = Vec::new();
        for i in 0..50 {
            let s = (i as f64, (i * i) as f64);
            r.push(s.0, s.1);
            all.push(s);
            let held = &all[all.len().saturating_sub(cap)..];
            assert_eq!(r.len(), held.len());
            for n in 0..=cap + 2 {
                let want = &held[held.len().saturating_sub(n)..];
                assert_eq!(r.last_n(n).to_vec(), want, "i {i} n {n}");
            }
            assert_eq!(r.newest(), held.last().copied());
        }
    }

    #[test]
    fn duration_window() {
        let mut r = Ring::new(100);
        for i in 0..10 {
            r.push(i as f64 * 0.5, i as f64);
        }
        // Newest t = 4.5; a 1.5 s window keeps t in (3.0, 4.5] → 3.5, 4.0, 4.5.
        let v: Vec<f64> = r.within(1.5).iter().map(|(_, x)| *x).collect();
        assert_eq!(v, vec![7.0, 8.0, 9.0]);
        assert_eq!(Ring::new(4).within(10.0).len(), 0);
    }

    #[test]
    fn gaps_are_counted_until_evicted() {
        let mut r = Ring::new(3);
        r.push(0.0, 1.0);
        assert!(r.all_finite());
        r.push(1.0, f64::NAN);
        r.push(2.0, f64::INFINITY);
        assert!(!r.all_finite());
        r.push(3.0, 4.0);
        r.push(4.0, 5.0);
        assert!(!r.all_finite(), "the infinity at t=2 is still held");
        r.push(5.0, 6.0);
        assert!(r.all_finite());
    }
}
