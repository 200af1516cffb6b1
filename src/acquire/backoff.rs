//! Reconnect backoff of a Modbus endpoint (re-exported as
//! [`crate::acquire::connection::Backoff`]).

use std::time::Duration;

/// Reconnect backoff: `initial · 2^n`, capped, with ±`jitter` relative spread so that many
/// gateways restarting together do not reconnect in lock-step.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First delay after a failed connect.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Relative jitter, 0–1.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(30),
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// Delay before the attempt that follows `failures` consecutive failed attempts (≥ 1).
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let base = self
            .initial
            .saturating_mul(1u32 << exp.min(20))
            .min(self.max);
        let spread = if self.jitter > 0.0 {
            rand::random_range(-self.jitter..=self.jitter)
        } else {
            0.0
        };
        base.mul_f64((1.0 + spread).max(0.0)).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter: 0.0,
        };
        assert_eq!(b.delay(1), Duration::from_millis(100));
        assert_eq!(b.delay(3), Duration::from_millis(400));
        assert_eq!(b.delay(50), Duration::from_secs(1));
        let j = Backoff { jitter: 0.2, ..b };
        let ds: Vec<Duration> = (0..50).map(|_| j.delay(2)).collect();
        assert!(
            ds.iter()
                .all(|d| *d >= Duration::from_millis(160) && *d <= Duration::from_millis(240))
        );
        assert!(ds.iter().any(|d| *d != ds[0]), "jitter must vary");
    }
}
