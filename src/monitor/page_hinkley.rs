//! Page–Hinkley change detector, two-sided, constant memory. It accumulates the deviations
//! of each value from the running mean (minus a tolerated change δ) and alarms when the
//! cumulative sum rises more than λ above its minimum (an increase) or falls more than λ
//! below its maximum (a decrease). It is reset after an alarm so that it can detect the
//! next change.

/// Two-sided Page–Hinkley detector.
#[derive(Debug, Clone)]
pub struct PageHinkley {
    delta: f64,
    lambda: f64,
    min_samples: u64,
    n: u64,
    mean: f64,
    up: f64,
    up_min: f64,
    down: f64,
    down_max: f64,
}

impl PageHinkley {
    /// Minimum values before an alarm may fire (as in the usual implementations).
    pub const MIN_SAMPLES: u64 = 30;

    /// A detector with tolerance `delta` and threshold `lambda`.
    pub fn new(delta: f64, lambda: f64) -> Self {
        PageHinkley {
            delta,
            lambda,
            min_samples: Self::MIN_SAMPLES,
            n: 0,
            mean: 0.0,
            up: 0.0,
            up_min: 0.0,
            down: 0.0,
            down_max: 0.0,
        }
    }

    /// Forget the history.
    pub fn reset(&mut self) {
        *self = PageHinkley::new(self.delta, self.lambda);
    }

    /// Feed one value; true when a change is detected (the detector then resets).
    /// Non-finite values are ignored.
    pub fn update(&mut self, x: f64) -> bool {
        if !x.is_finite() {
            return false;
        }
        self.n += 1;
        self.mean += (x - self.mean) / self.n as f64;
        self.up += x - self.mean - self.delta;
        self.up_min = self.up_min.min(self.up);
        self.down += x - self.mean + self.delta;
        self.down_max = self.down_max.max(self.down);
        let alarm = self.n >= self.min_samples
            && (self.up - self.up_min > self.lambda || self.down_max - self.down > self.lambda);
        if alarm {
            self.reset();
        }
        alarm
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    #[test]
    fn constant_never_alarms() {
        let mut ph = PageHinkley::new(0.005, 50.0);
        assert!((0..100_000).all(|_| !ph.update(3.7)));
    }

    #[test]
    fn detects_step_up_and_down_with_bounded_delay() {
        for step in [2.0, -2.0] {
            let mut rng = StdRng::seed_from_u64(11);
            let mut ph = PageHinkley::new(0.005, 50.0);
            let noise = |rng: &mut StdRng| rng.random_range(-0.5..0.5);
            for i in 0..1000 {
                assert!(!ph.update(noise(&mut rng)), "false alarm at {i}");
            }
            // After a 2σ-ish step the cumulative sum grows ≈ 2 per sample minus the mean's
            // catch-up: it must cross λ = 50 within 50 samples.
            let delay = (0..1000).position(|_| ph.update(step + noise(&mut rng)));
            assert!(
                matches!(delay, Some(d) if d < 50),
                "step {step}: delay {delay:?}"
            );
        }
    }

    #[test]
    fn ignores_nan() {
        let mut ph = PageHinkley::new(0.005, 1.0);
        assert!((0..100).all(|_| !ph.update(f64::NAN)));
    }
}
