//! Reconnect delays: capped exponential backoff with full jitter.
//!
//! rumqttc's `EventLoop::poll` reconnects immediately when called again after an error, so
//! without this a dead broker would be hammered in a tight loop.

use std::time::Duration;

use rand::Rng;

/// Backoff state between `min` and `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    /// Start at `min`, never exceed `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        let min = min.max(Duration::from_millis(1));
        Backoff {
            min,
            max: max.max(min),
            current: min,
        }
    }

    /// The next delay: uniformly drawn from [current/2, current], then the ceiling doubles
    /// (up to `max`). Half-jitter keeps a floor so a flapping broker still gets some rest.
    pub fn next_delay(&mut self) -> Duration {
        let ceil = self.current;
        let floor = ceil / 2;
        let span = (ceil - floor).as_millis() as u64;
        let jitter = if span == 0 {
            0
        } else {
            rand::rng().random_range(0..=span)
        };
        self.current = (self.current * 2).min(self.max);
        floor + Duration::from_millis(jitter)
    }

    /// A connection succeeded: start again from `min`.
    pub fn reset(&mut self) {
        self.current = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let mut ceilings = vec![];
        for _ in 0..8 {
            let d = b.next_delay();
            ceilings.push(d);
            assert!(d <= Duration::from_millis(1000), "{d:?}");
        }
        // First delay within [50, 100] ms; by the 5th the ceiling is the cap: ≥ 500 ms.
        assert!(
            ceilings[0] >= Duration::from_millis(50) && ceilings[0] <= Duration::from_millis(100)
        );
        assert!(ceilings[5] >= Duration::from_millis(500));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
