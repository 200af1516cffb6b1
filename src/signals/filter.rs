//! Which readings become signals: report by exception with a deadband.
//!
//! Per register, the filter remembers the last value and quality it let through, and when.
//! A reading passes when:
//! - it is the register's first one;
//! - its quality changed (a read that fails, or comes back, is always news);
//! - its value moved by more than the register's deadband (`|v - last| > deadband`; with a
//!   deadband of 0, any change), or went from a number to NaN or back;
//! - `max_silence` has gone by since the last one sent (a heartbeat: steady, not gone), or
//!   its timestamp is older than the last one sent (the wall clock stepped back);
//! - report by exception is off.

use std::collections::HashMap;
use std::sync::Arc;

use crate::domain::{Quality, Reading, TimestampMs};
use crate::wire::signals::SignalsConfig;

/// What was last sent for one register.
#[derive(Debug, Clone, Copy)]
struct Last {
    value: f64,
    quality: Quality,
    ts: TimestampMs,
}

/// Report-by-exception state of every register.
#[derive(Debug)]
pub struct Filter {
    cfg: SignalsConfig,
    last: HashMap<Arc<str>, Last>,
    /// Readings held back by the deadband, since start.
    pub suppressed: u64,
}

impl Filter {
    /// A filter for `[mqtt.topics.signals]`.
    pub fn new(cfg: SignalsConfig) -> Self {
        Filter {
            cfg,
            last: HashMap::new(),
            suppressed: 0,
        }
    }

    /// Whether `r` is sent; if so it becomes the register's last sent reading.
    pub fn pass(&mut self, r: &Reading) -> bool {
        if !self.cfg.includes(&r.name) {
            return false;
        }
        let now = Last {
            value: r.value,
            quality: r.quality,
            ts: r.ts,
        };
        let send = match self.last.get(&r.name) {
            None => true,
            Some(last) => !self.cfg.report_by_exception || self.news(last, &now, &r.name),
        };
        if send {
            self.last.insert(r.name.clone(), now);
        } else {
            self.suppressed += 1;
        }
        send
    }

    /// Whether `now` differs enough from `last` (quality, deadband, silence).
    fn news(&self, last: &Last, now: &Last, name: &str) -> bool {
        if now.quality != last.quality || now.value.is_nan() != last.value.is_nan() {
            return true;
        }
        // A wall clock stepped back (an RTC-less controller meeting NTP) would otherwise
        // hold the heartbeat until it caught up again: send, and count silence from here.
        if now.ts.0 < last.ts.0 {
            return true;
        }
        let silence = self.cfg.max_silence.get();
        let silent_ms = now.ts.0 - last.ts.0;
        if !silence.is_zero() && u128::try_from(silent_ms).unwrap_or(0) >= silence.as_millis() {
            return true;
        }
        if now.value.is_nan() {
            return false;
        }
        let moved = (now.value - last.value).abs();
        let deadband = self.cfg.deadband_of(name);
        if deadband > 0.0 {
            moved > deadband
        } else {
            moved > 0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SignalsConfig {
        SignalsConfig {
            enabled: true,
            deadband: 0.5,
            ..SignalsConfig::default()
        }
    }

    fn at(name: &str, ms: i64, value: f64, quality: Quality) -> Reading {
        Reading {
            device: Arc::from("d"),
            name: Arc::from(name),
            value,
            unit: Arc::from(""),
            raw: vec![],
            ts: TimestampMs(ms),
            quality,
        }
    }

    fn good(ms: i64, value: f64) -> Reading {
        at("t", ms, value, Quality::Good)
    }

    #[test]
    fn deadband_holds_small_moves_and_measures_from_the_last_sent_value() {
        let mut f = Filter::new(cfg());
        assert!(f.pass(&good(0, 45.0)), "first reading");
        assert!(!f.pass(&good(1000, 45.4)));
        assert!(
            !f.pass(&good(2000, 45.5)),
            "exactly the deadband is not more than it"
        );
        // Creeping by 0.2 a step: sent once 0.5 away from 45.0, not from the previous reading.
        assert!(!f.pass(&good(3000, 44.8)));
        assert!(f.pass(&good(4000, 45.6)));
        assert!(!f.pass(&good(5000, 45.2)));
        assert!(f.pass(&good(6000, 45.0)), "0.6 below the last sent 45.6");
        assert_eq!(f.suppressed, 4);
    }

    #[test]
    fn zero_deadband_sends_any_change_and_holds_repeats() {
        let mut f = Filter::new(SignalsConfig {
            deadband: 0.0,
            ..cfg()
        });
        assert!(f.pass(&good(0, 1.0)));
        assert!(!f.pass(&good(1, 1.0)));
        assert!(f.pass(&good(2, 1.000001)));
    }

    #[test]
    fn quality_changes_and_failed_reads_always_pass() {
        let mut f = Filter::new(cfg());
        assert!(f.pass(&good(0, 45.0)));
        assert!(f.pass(&at("t", 1000, f64::NAN, Quality::CommError)));
        assert!(
            !f.pass(&at("t", 2000, f64::NAN, Quality::CommError)),
            "still failing"
        );
        assert!(f.pass(&good(3000, 45.0)), "back");
        assert!(f.pass(&at("t", 4000, 45.1, Quality::Stale)));
        assert!(f.pass(&at("t", 5000, 80.0, Quality::OutOfRange)));
    }

    #[test]
    fn a_steady_signal_is_sent_again_after_max_silence() {
        let mut f = Filter::new(cfg()); // 60 s
        assert!(f.pass(&good(0, 45.0)));
        assert!(!f.pass(&good(59_999, 45.0)));
        assert!(f.pass(&good(60_000, 45.0)));
        assert!(!f.pass(&good(61_000, 45.0)));
        let mut never = Filter::new(SignalsConfig {
            max_silence: crate::settings::units::Duration::from_secs(0),
            ..cfg()
        });
        assert!(never.pass(&good(0, 45.0)));
        assert!(!never.pass(&good(10_000_000, 45.0)), "0s: no heartbeat");
    }

    #[test]
    fn a_clock_step_back_does_not_silence_the_heartbeat() {
        let mut f = Filter::new(cfg()); // 60 s
        assert!(f.pass(&good(3_600_000, 45.0)));
        assert!(
            f.pass(&good(1_000, 45.0)),
            "an hour back: sent, re-anchored"
        );
        assert!(!f.pass(&good(2_000, 45.0)));
        assert!(f.pass(&good(61_000, 45.0)), "60 s after the new anchor");
    }

    #[test]
    fn registers_are_independent_and_include_filters() {
        let mut f = Filter::new(SignalsConfig {
            include: vec!["t".into(), "ph".into()],
            deadbands: [("ph".to_string(), 0.01)].into(),
            ..cfg()
        });
        assert!(f.pass(&good(0, 45.0)));
        assert!(f.pass(&at("ph", 0, 5.50, Quality::Good)));
        assert!(
            f.pass(&at("ph", 1, 5.52, Quality::Good)),
            "its own deadband"
        );
        assert!(!f.pass(&good(1, 45.02)));
        assert!(
            !f.pass(&at("moisture", 0, 1.0, Quality::Good)),
            "not included"
        );
        assert_eq!(
            f.suppressed, 1,
            "an excluded register is not counted as held back"
        );
    }

    #[test]
    fn without_report_by_exception_every_reading_passes() {
        let mut f = Filter::new(SignalsConfig {
            report_by_exception: false,
            ..cfg()
        });
        assert!((0..5).all(|i| f.pass(&good(i, 45.0))));
        assert_eq!(f.suppressed, 0);
    }

    #[test]
    fn nothing_passes_when_signals_are_off() {
        let mut f = Filter::new(SignalsConfig::default());
        assert!(!f.pass(&good(0, 45.0)));
    }
}
