//! What the Modbus simulator serves: a source of canonical signal values.
//!
//! The process model (`LineSim`) implements [`SignalSource`]; tests use [`FixedSource`], whose
//! values they set by hand, so the server is tested independently of the model.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// A time-stepped source of signal values.
pub trait SignalSource: Send + 'static {
    /// Current value of a canonical signal; `None` when the source does not know it.
    fn value(&self, signal: &str) -> Option<f64>;
    /// True while the device carrying `signal` must not answer (a dropout fault).
    fn is_dropped(&self, signal: &str) -> bool;
    /// Advances the source's time.
    fn step(&mut self, dt: Duration);
}

/// A source with values set by hand; time steps change nothing.
#[derive(Debug, Clone, Default)]
pub struct FixedSource {
    /// Values by signal.
    pub values: HashMap<String, f64>,
    /// Signals whose device is silent.
    pub dropped: HashSet<String>,
}

impl FixedSource {
    /// A source with the given values.
    pub fn new<I: IntoIterator<Item = (S, f64)>, S: Into<String>>(values: I) -> Self {
        FixedSource {
            values: values.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            dropped: HashSet::new(),
        }
    }
}

impl SignalSource for FixedSource {
    fn value(&self, signal: &str) -> Option<f64> {
        self.values.get(signal).copied()
    }
    fn is_dropped(&self, signal: &str) -> bool {
        self.dropped.contains(signal)
    }
    fn step(&mut self, _dt: Duration) {}
}

impl SignalSource for crate::simulate::LineSim {
    fn value(&self, signal: &str) -> Option<f64> {
        crate::simulate::LineSim::value(self, signal)
    }
    fn is_dropped(&self, signal: &str) -> bool {
        crate::simulate::LineSim::is_dropped(self, signal)
    }
    fn step(&mut self, dt: Duration) {
        crate::simulate::LineSim::step(self, dt);
    }
}
