//! Dead-slave isolation.
//!
//! A slave that stops answering costs its bus one timeout per attempt. To keep the other
//! slaves on the same bus on time, a slave whose cycle failed with silence (timeout, transport
//! error, or a gateway's exception 0x0A / 0x0B saying the device behind it does not answer)
//! [`FAIL_THRESHOLD`] times in a row becomes *degraded*: it is then only probed every
//! `probe_interval` (starting at two poll intervals, doubling up to [`MAX_PROBE_FACTOR`] poll
//! intervals), and in between its cycles are skipped without touching the bus. The poller also
//! stops a slave's cycle at its first silent block, so even a probe costs at most one timeout.
//! A probe that gets any other answer (data or exception) makes the slave normal again; since a
//! probe happens at least once per probe period, a slave that answers again is back within
//! one (at most two, counting the cycle in flight) backoff periods.

use std::time::Duration;

use tokio::time::Instant;

/// Consecutive silent cycles before a slave is degraded.
pub const FAIL_THRESHOLD: u32 = 2;
/// Longest probe period of a degraded slave, in poll intervals.
pub const MAX_PROBE_FACTOR: u32 = 16;

/// State of one slave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaveState {
    /// Polled every cycle.
    Normal,
    /// Only probed when `next_probe` is reached.
    Degraded {
        /// Earliest time of the next probe.
        next_probe: Instant,
        /// Current probe period.
        period: Duration,
    },
}

/// Health tracker of one slave.
#[derive(Debug, Clone)]
pub struct SlaveHealth {
    poll_interval: Duration,
    silent_cycles: u32,
    state: SlaveState,
}

/// What to do with a slave in this cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Poll all blocks.
    Poll,
    /// Degraded and due: poll (a probe).
    Probe,
    /// Degraded and not due: skip, do not touch the bus.
    Skip,
}

impl SlaveHealth {
    /// A healthy slave polled every `poll_interval`.
    pub fn new(poll_interval: Duration) -> Self {
        SlaveHealth {
            poll_interval,
            silent_cycles: 0,
            state: SlaveState::Normal,
        }
    }

    /// Current state.
    pub fn state(&self) -> SlaveState {
        self.state
    }

    /// True when degraded.
    pub fn is_degraded(&self) -> bool {
        matches!(self.state, SlaveState::Degraded { .. })
    }

    /// Decides whether this cycle polls the slave.
    pub fn decide(&self, now: Instant) -> Decision {
        match self.state {
            SlaveState::Normal => Decision::Poll,
            SlaveState::Degraded { next_probe, .. } if now >= next_probe => Decision::Probe,
            SlaveState::Degraded { .. } => Decision::Skip,
        }
    }

    /// Records the outcome of a polled cycle: `answered` is true when the slave replied to
    /// anything (data or an exception other than a gateway's 0x0A / 0x0B). Returns the state
    /// change, if any, for logging.
    pub fn record(&mut self, now: Instant, answered: bool) -> Option<SlaveState> {
        if answered {
            self.silent_cycles = 0;
            if self.is_degraded() {
                self.state = SlaveState::Normal;
                return Some(self.state);
            }
            return None;
        }
        self.silent_cycles = self.silent_cycles.saturating_add(1);
        let first = self.poll_interval.saturating_mul(2);
        let cap = self.poll_interval.saturating_mul(MAX_PROBE_FACTOR);
        match self.state {
            SlaveState::Normal if self.silent_cycles >= FAIL_THRESHOLD => {
                self.state = SlaveState::Degraded {
                    next_probe: now + first,
                    period: first,
                };
                Some(self.state)
            }
            SlaveState::Normal => None,
            SlaveState::Degraded { period, .. } => {
                let period = period.saturating_mul(2).min(cap).max(first);
                self.state = SlaveState::Degraded {
                    next_probe: now + period,
                    period,
                };
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degrades_backs_off_and_recovers() {
        let p = Duration::from_secs(1);
        let mut h = SlaveHealth::new(p);
        let t0 = Instant::now();
        assert_eq!(h.decide(t0), Decision::Poll);
        assert_eq!(h.record(t0, false), None);
        assert!(matches!(
            h.record(t0, false),
            Some(SlaveState::Degraded { .. })
        ));
        assert_eq!(h.decide(t0 + Duration::from_millis(1500)), Decision::Skip);
        assert_eq!(h.decide(t0 + Duration::from_secs(2)), Decision::Probe);
        // Failed probes double the period up to the cap.
        let mut now = t0 + Duration::from_secs(2);
        let mut periods = Vec::new();
        for _ in 0..6 {
            h.record(now, false);
            if let SlaveState::Degraded { period, next_probe } = h.state() {
                periods.push(period.as_secs());
                now = next_probe;
            }
        }
        assert_eq!(periods, vec![4, 8, 16, 16, 16, 16]);
        assert_eq!(h.record(now, true), Some(SlaveState::Normal));
        assert_eq!(h.decide(now), Decision::Poll);
    }

    #[test]
    fn one_silent_cycle_is_not_enough() {
        let mut h = SlaveHealth::new(Duration::from_secs(1));
        let t = Instant::now();
        h.record(t, false);
        h.record(t, true);
        h.record(t, false);
        assert!(!h.is_degraded());
    }
}
