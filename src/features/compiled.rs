//! The engine's compiled form of the models' feature specs: each model's entries resolved
//! to plant registers, and the state kept per signal (ring, checker, which models read it).

use std::collections::HashMap;
use std::sync::Arc;

use crate::domain::TimestampMs;
use crate::validate::{ReasonSet, SignalChecker};

use super::ring::Ring;
use super::spec::{FeatureSpec, Window};
use super::transform::{Accumulator, Transform};

/// What the engine keeps per signal.
pub(super) struct SignalState {
    pub(super) ring: Option<Ring>,
    pub(super) checker: SignalChecker,
    pub(super) flags: ReasonSet,
    pub(super) last_ts: Option<TimestampMs>,
    pub(super) stale_after_ms: i64,
    /// The batch-model accumulators this signal feeds: (model, entry) indices.
    pub(super) feeds: Vec<(usize, usize)>,
    /// Bit `i` set: sample model `i` reads this signal (models past 63 are always evaluated).
    pub(super) sample_models: u64,
}

/// One model input, resolved to its register.
pub(super) struct CompiledEntry {
    pub(super) signal: String,
    pub(super) register: Arc<str>,
    /// The register's index in the engine's signal states (set once they exist), so that
    /// evaluating a vector hashes no names.
    pub(super) slot: Option<usize>,
    pub(super) window: Window,
    pub(super) transform: Transform,
}

/// A model fed every sample.
pub(super) struct SampleModel {
    pub(super) spec: FeatureSpec,
    pub(super) entries: Vec<CompiledEntry>,
}

/// A model fed once per closed batch, through streaming accumulators.
pub(super) struct BatchModel {
    pub(super) spec: FeatureSpec,
    pub(super) entries: Vec<CompiledEntry>,
    pub(super) accs: Vec<Accumulator>,
}

/// Resolve every entry to its signal's slot, and record on each signal which models read
/// it, so that a reading goes straight to its accumulators and a sample wakes only the
/// sample models it concerns.
pub(super) fn link_signals(
    slots: &HashMap<Arc<str>, usize>,
    signals: &mut [SignalState],
    sample_models: &mut [SampleModel],
    batch_models: &mut [BatchModel],
) {
    for (mi, m) in sample_models.iter_mut().enumerate() {
        for e in &mut m.entries {
            e.slot = slots.get(&e.register).copied();
            let st = e.slot.and_then(|i| signals.get_mut(i));
            if let (Some(st), Some(bit)) = (st, model_bit(mi)) {
                st.sample_models |= bit;
            }
        }
    }
    for (mi, m) in batch_models.iter_mut().enumerate() {
        for (k, e) in m.entries.iter_mut().enumerate() {
            e.slot = slots.get(&e.register).copied();
            if let Some(st) = e.slot.and_then(|i| signals.get_mut(i)) {
                st.feeds.push((mi, k));
            }
        }
    }
}

/// Sample model `i`'s bit in [`SignalState::sample_models`]; `None` past 63 (such a model
/// is evaluated on every sample).
pub(super) fn model_bit(i: usize) -> Option<u64> {
    u32::try_from(i).ok().and_then(|i| 1u64.checked_shl(i))
}

/// The value of one entry over its window of the signal's ring (the gap scan is skipped
/// while the ring holds none).
pub(super) fn window_value(ring: &Ring, window: Window, transform: Transform) -> f64 {
    let w = match window {
        Window::Samples(n) => ring.last_n(n),
        Window::Duration(d) => ring.within(d.as_secs_f64()),
        // Batch windows are evaluated by the streaming accumulators, not over a ring.
        Window::Batch => return f64::NAN,
    };
    if ring.all_finite() {
        transform.apply_finite(w)
    } else {
        transform.apply(w)
    }
}

#[cfg(test)]
mod tests {
    use super::model_bit;

    #[test]
    fn model_bits_run_out_after_63() {
        assert_eq!(model_bit(0), Some(1));
        assert_eq!(model_bit(63), Some(1 << 63));
        assert_eq!(model_bit(64), None);
    }
}
