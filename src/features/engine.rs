//! The feature engine: ingests [`Sample`]s, keeps per-signal ring buffers, batch
//! accumulators and per-reading check state, and emits [`FeatureVector`]s.
//!
//! - A **sample-level** model gets a vector every time a sample arrives that carries at least
//!   one of its signals (every poll of the devices that feed it).
//! - A **batch-level** model gets a vector when the batch id changes: the closed batch's
//!   aggregates, with the closed batch's context. The first batch seen after start-up is
//!   not emitted, since its beginning was missed and its aggregates would be partial.
//!
//! Each vector carries the per-signal flags of the reading checks
//! ([`crate::validate::SignalChecker`]) of the signals it used, plus `stale` when a signal
//! has no reading within two poll intervals and `missing` when it has never been read; the
//! validate stage decides on them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::domain::{BatchContext, FeatureLevel, FeatureVector, ReasonCode, Sample, TimestampMs};
use crate::validate::{ReasonSet, SignalChecker};

use super::compiled::{
    BatchModel, CompiledEntry, SampleModel, SignalState, link_signals, model_bit, window_value,
};
use super::config::FeaturesConfig;
use super::ring::Ring;
use super::spec::{FeatureSpec, Window};
use super::transform::Accumulator;

/// What the engine needs beyond `[features]`: product codes and poll intervals (the pipeline
/// gathers them from `[[products]]`, `[agent]` and `[[devices]]`).
#[derive(Debug, Clone, Default)]
pub struct EngineSetup {
    /// `[[products]]`: recipe id → product code.
    pub products: BTreeMap<u32, String>,
    /// Product assumed until the PLC reports one (`[agent] product`).
    pub default_product: Option<String>,
    /// Register name → poll interval of its device.
    pub poll_intervals: HashMap<String, Duration>,
    /// Poll interval assumed for a register not in `poll_intervals`.
    pub default_poll: Duration,
}

/// Counters of what the engine did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Samples ingested.
    pub samples: u64,
    /// Sample-level vectors emitted.
    pub sample_vectors: u64,
    /// Batches closed (each emits one vector per batch-level model).
    pub batches_closed: u64,
}

/// Samples in, feature vectors out. Synchronous and clock-free: time is the data's.
pub struct FeatureEngine {
    /// Register name → index in `signals`.
    slots: HashMap<Arc<str>, usize>,
    signals: Vec<SignalState>,
    sample_models: Vec<SampleModel>,
    batch_models: Vec<BatchModel>,
    batch_register: String,
    product_register: String,
    /// Registers of `[features] lot_signals` and their latest values.
    lot_registers: Vec<(String, Option<f64>)>,
    setup: EngineSetup,
    batch: BatchContext,
    /// True once a batch change was seen: the current batch's start is known.
    batch_complete: bool,
    batch_last_ts: TimestampMs,
    stats: EngineStats,
}

impl FeatureEngine {
    /// Build the engine for the given models' specs.
    pub fn new(cfg: &FeaturesConfig, setup: EngineSetup, specs: Vec<FeatureSpec>) -> Self {
        let (mut sample_models, mut batch_models, ring_caps) = compile_models(cfg, specs);
        let (slots, mut signals) = signal_states(cfg, &setup, ring_caps);
        link_signals(&slots, &mut signals, &mut sample_models, &mut batch_models);
        let batch = BatchContext {
            batch_id: None,
            product: setup.default_product.clone(),
            lot: None,
        };
        FeatureEngine {
            slots,
            signals,
            sample_models,
            batch_models,
            batch_register: cfg.register_of(&cfg.batch_id_signal).to_string(),
            product_register: cfg.register_of(&cfg.product_signal).to_string(),
            lot_registers: cfg
                .lot_signals
                .iter()
                .map(|s| (cfg.register_of(s).to_string(), None))
                .collect(),
            setup,
            batch,
            batch_complete: false,
            batch_last_ts: TimestampMs(0),
            stats: EngineStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// The current batch context.
    pub fn batch(&self) -> &BatchContext {
        &self.batch
    }

    /// Ingest one sample; append the vectors it produces to `out` (batch vectors of a
    /// closed batch first, then the sample-level ones).
    pub fn push(&mut self, sample: &Sample, out: &mut Vec<FeatureVector>) {
        self.stats.samples += 1;
        self.update_context(sample, out);
        let mut relevant: u64 = 0;
        for r in &sample.readings {
            let Some(st) = self
                .slots
                .get(r.name.as_ref())
                .and_then(|&i| self.signals.get_mut(i))
            else {
                continue;
            };
            st.flags = st.checker.check(r);
            st.last_ts = Some(r.ts);
            let rt = r.ts.as_secs_f64();
            if let Some(ring) = st.ring.as_mut() {
                ring.push(rt, r.value);
            }
            for &(mi, k) in &st.feeds {
                if let Some(acc) = self
                    .batch_models
                    .get_mut(mi)
                    .and_then(|m| m.accs.get_mut(k))
                {
                    acc.push(rt, r.value);
                }
            }
            relevant |= st.sample_models;
        }
        self.batch_last_ts = sample.ts;
        for (mi, m) in self.sample_models.iter().enumerate() {
            if model_bit(mi).is_some_and(|bit| relevant & bit == 0) {
                continue; // none of its signals is in this sample
            }
            let mut values = Vec::with_capacity(m.entries.len());
            let mut flags: BTreeMap<String, Vec<ReasonCode>> = BTreeMap::new();
            for e in &m.entries {
                let st = e.slot.and_then(|i| self.signals.get(i));
                let v = match st.and_then(|s| s.ring.as_ref()) {
                    Some(ring) => window_value(ring, e.window, e.transform),
                    None => f64::NAN,
                };
                values.push(v);
                let mut f = match st {
                    None | Some(SignalState { last_ts: None, .. }) => {
                        ReasonSet::EMPTY.with(ReasonCode::Missing)
                    }
                    Some(s) => s.flags,
                };
                if let Some(SignalState {
                    last_ts: Some(lt),
                    stale_after_ms,
                    ..
                }) = st
                    && sample.ts.0 - lt.0 > *stale_after_ms
                {
                    f.insert(ReasonCode::Stale);
                }
                if !f.is_empty() {
                    merge(&mut flags, &e.signal, f);
                }
            }
            self.stats.sample_vectors += 1;
            out.push(FeatureVector {
                model: m.spec.model.clone(),
                spec_version: m.spec.version,
                level: FeatureLevel::Sample,
                names: m.spec.names.clone(),
                values,
                ts: sample.ts,
                batch: self.batch.clone(),
                flags,
            });
        }
    }

    /// Read batch id and product from the sample; close the batch when the id changes.
    fn update_context(&mut self, sample: &Sample, out: &mut Vec<FeatureVector>) {
        let mut new_batch = None;
        let mut new_product = None;
        let mut lot_moved = false;
        for r in &sample.readings {
            if !r.value.is_finite() {
                continue;
            }
            if *r.name == *self.batch_register {
                new_batch = Some(format_id(r.value));
            } else if *r.name == *self.product_register {
                new_product = Some(self.product_code(r.value));
            }
            for (reg, value) in &mut self.lot_registers {
                if *r.name == **reg && *value != Some(r.value) {
                    *value = Some(r.value);
                    lot_moved = true;
                }
            }
        }
        if lot_moved {
            self.update_lot();
        }
        if let Some(id) = new_batch
            && self.batch.batch_id.as_deref() != Some(id.as_str())
        {
            if self.batch.batch_id.is_some() {
                if self.batch_complete {
                    self.close_batch(out);
                }
                self.batch_complete = true;
            }
            for m in &mut self.batch_models {
                m.accs.iter_mut().for_each(Accumulator::reset);
            }
            self.batch.batch_id = Some(id);
        }
        if let Some(p) = new_product {
            self.batch.product = Some(p);
        }
    }

    /// The lot is the values of the lot signals, once each has been read ("17" for a lot
    /// number, "24.5/0.82/71" for intake figures).
    fn update_lot(&mut self) {
        let values: Option<Vec<String>> = self
            .lot_registers
            .iter()
            .map(|(_, v)| v.map(format_id))
            .collect();
        if let Some(values) = values {
            self.batch.lot = Some(values.join("/"));
        }
    }

    fn close_batch(&mut self, out: &mut Vec<FeatureVector>) {
        self.stats.batches_closed += 1;
        for m in &self.batch_models {
            let mut flags = BTreeMap::new();
            let values = m
                .entries
                .iter()
                .zip(&m.accs)
                .map(|(e, acc)| {
                    if acc.count() == 0 {
                        merge(
                            &mut flags,
                            &e.signal,
                            ReasonSet::EMPTY.with(ReasonCode::Missing),
                        );
                    }
                    acc.value()
                })
                .collect();
            out.push(FeatureVector {
                model: m.spec.model.clone(),
                spec_version: m.spec.version,
                level: FeatureLevel::Batch,
                names: m.spec.names.clone(),
                values,
                ts: self.batch_last_ts,
                batch: self.batch.clone(),
                flags,
            });
        }
    }

    fn product_code(&self, v: f64) -> String {
        let id = v.round();
        if (v - id).abs() < 1e-9
            && (0.0..=u32::MAX as f64).contains(&id)
            && let Some(code) = self.setup.products.get(&(id as u32))
        {
            return code.clone();
        }
        format_id(v)
    }
}

/// Integers print without a fractional part ("17", not "17.0").
fn format_id(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn merge(flags: &mut BTreeMap<String, Vec<ReasonCode>>, signal: &str, f: ReasonSet) {
    let entry = flags.entry(signal.to_string()).or_default();
    for r in f.to_vec() {
        if !entry.contains(&r) {
            entry.push(r);
        }
    }
}

/// Compile each spec's entries against the registers (`[features] signal_map`), split the
/// models by level, and size each register's ring for the longest window that reads it.
fn compile_models(
    cfg: &FeaturesConfig,
    specs: Vec<FeatureSpec>,
) -> (Vec<SampleModel>, Vec<BatchModel>, HashMap<Arc<str>, usize>) {
    let mut ring_caps: HashMap<Arc<str>, usize> = HashMap::new();
    let mut sample_models = Vec::new();
    let mut batch_models = Vec::new();
    for spec in specs {
        let entries: Vec<CompiledEntry> = spec
            .entries
            .iter()
            .map(|e| CompiledEntry {
                signal: e.signal.clone(),
                register: Arc::from(cfg.register_of(&e.signal)),
                slot: None,
                window: e.window,
                transform: e.transform,
            })
            .collect();
        for e in &entries {
            let need = match e.window {
                Window::Samples(n) => n,
                Window::Duration(_) => cfg.max_window_samples,
                Window::Batch => 0,
            };
            let cap = ring_caps.entry(e.register.clone()).or_insert(0);
            *cap = (*cap).max(need);
        }
        match spec.level {
            FeatureLevel::Sample => sample_models.push(SampleModel { spec, entries }),
            FeatureLevel::Batch => {
                let accs = entries
                    .iter()
                    .map(|e| Accumulator::new(e.transform))
                    .collect();
                batch_models.push(BatchModel {
                    spec,
                    entries,
                    accs,
                });
            }
        }
    }
    (sample_models, batch_models, ring_caps)
}

/// One state per register a model reads: its ring, its reading checks (static signals such
/// as batch id and product are not checked for being stuck) and its staleness limit (two
/// poll intervals of its device).
fn signal_states(
    cfg: &FeaturesConfig,
    setup: &EngineSetup,
    ring_caps: HashMap<Arc<str>, usize>,
) -> (HashMap<Arc<str>, usize>, Vec<SignalState>) {
    let params = cfg.check_params();
    let mut slots: HashMap<Arc<str>, usize> = HashMap::new();
    let mut signals: Vec<SignalState> = Vec::new();
    for (reg, cap) in ring_caps {
        let is_static = cfg
            .static_signals
            .iter()
            .any(|s| cfg.register_of(s) == &*reg)
            || reg.as_ref() == cfg.register_of(&cfg.batch_id_signal)
            || reg.as_ref() == cfg.register_of(&cfg.product_signal);
        let poll = setup
            .poll_intervals
            .get(reg.as_ref())
            .copied()
            .unwrap_or(setup.default_poll);
        slots.insert(reg.clone(), signals.len());
        signals.push(SignalState {
            ring: (cap > 0).then(|| Ring::new(cap)),
            checker: SignalChecker::new(params, is_static),
            flags: ReasonSet::EMPTY,
            last_ts: None,
            stale_after_ms: 2 * i64::try_from(poll.as_millis()).unwrap_or(i64::MAX / 4),
            feeds: Vec::new(),
            sample_models: 0,
        });
    }
    (slots, signals)
}
