//! The alert engine: predictions, drift windows and data-quality events in; the same
//! records out, followed by any alert events they caused.
//!
//! | kind | scope | value evaluated | source |
//! |---|---|---|---|
//! | `fat_bloom_risk` | model (e.g. `bloom`) | P(`fat_bloom`) | classifier with a `fat_bloom` class |
//! | `fat_bloom_risk` | `temperature` | °C outside the product's working band | temperature feature of a sample-level vector |
//! | `sugar_bloom_risk` | model | P(`sugar_bloom`) | classifier with a `sugar_bloom` class |
//! | `sugar_bloom_risk` | `moisture` | % above the product's moisture limit | moisture feature of a sample-level vector |
//! | `gritty` | `particle_size` | particle size, µm | particle-size feature of a sample-level vector |
//! | `out_of_range_batch` | `line` | P(`reject`) of a deciding model; else 1 if an aggregate is outside the product spec | batch-level prediction |
//! | `anomaly` | model | share of anomalous vectors over `share_window` | anomaly detector |
//! | `drift` | model | share of drifted features | drift window |
//! | `low_confidence` | model | prediction confidence | every classifier / regressor prediction |
//! | `data_quality` | `line` | share of refused vectors over `share_window` | data-quality events vs predictions |
//! | `yield_low` | model | predicted yield % | `yield_model`'s value |
//!
//! The working temperature, moisture and particle size come from the feature vector the
//! prediction carries (its `mean`, else `ewma`, else `last` feature of that signal), so the
//! band rules judge exactly the data the models saw. Each (kind, scope) has at most one open
//! alert; its id — `site:line:kind:scope:raised-at-ms` — is derived from data only, so it is
//! stable across re-sends and identical in a replay, and the `cleared` event carries it.
//!
//! Layout: this file holds the engine's state, hysteresis bookkeeping and dispatch;
//! [`predictions`] the rules fed by model outputs (and the evidence they carry), [`bands`]
//! the signal rules (tempering band, sugar-bloom limits, particle size, per-batch pH drift),
//! [`events`] the drift-window and data-quality rules.
//!
//! Most evaluations change nothing (the hysteresis holds), so the message and the JSON
//! evidence of an evaluation are built lazily, only when it raises or clears: building them
//! on every evaluation was most of the replay's time.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::domain::{
    Alert, AlertKind, AlertState, BatchContext, DataQualityEvent, DriftWindow, FeatureLevel,
    Prediction, PredictionOutput, Record, Severity, TimestampMs,
};

use super::config::{AlertsConfig, ProductConfig, RuleConfig};
use super::hysteresis::{Direction, Hysteresis, Step};
use super::lot_drift::{self, LotDrift};
use super::share::RollingShare;

mod bands;
mod events;
mod predictions;

/// One evaluation of a settle counter `(product, evaluations left)`: a product change
/// restarts it at `window`; true while evaluations are left to skip.
fn settle_step(e: &mut (String, usize), product: &str, window: usize) -> bool {
    if e.0 != product {
        *e = (product.to_string(), window);
    }
    if e.1 > 0 {
        e.1 -= 1;
        return true;
    }
    false
}

struct Open {
    id: String,
    raised_at: TimestampMs,
    severity: Severity,
}

struct Tracker {
    h: Hysteresis,
    open: Option<Open>,
}

/// One evaluation of a rule: what is judged, where, when.
struct Eval<'a> {
    kind: AlertKind,
    scope: &'a str,
    value: f64,
    ts: TimestampMs,
    batch: &'a BatchContext,
}

/// One input of a model as the band rules see it: feature name, signal, transform and
/// window length in samples (0 for duration and batch windows). The pipeline resolves these
/// from the models' feature specs when it builds the engine, so the rules need nothing of the
/// features stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BandInput {
    /// Feature name in the model's vector (e.g. `temperature_mean_60`).
    pub feature: String,
    /// Signal it is computed from (e.g. `temperature`).
    pub signal: String,
    /// Transform name (e.g. `mean`, `last`).
    pub transform: String,
    /// Window length in samples; 0 for duration and batch windows.
    pub window: usize,
}

/// The band inputs of one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInputs {
    /// Model name.
    pub model: String,
    /// Its inputs, in vector order.
    pub inputs: Vec<BandInput>,
}

/// [`BandInput`] as the engine keeps it.
struct Input {
    feature: Arc<str>,
    signal: String,
    transform: String,
    window: usize,
}

impl From<&BandInput> for Input {
    fn from(b: &BandInput) -> Self {
        Input {
            feature: Arc::from(b.feature.as_str()),
            signal: b.signal.clone(),
            transform: b.transform.clone(),
            window: b.window,
        }
    }
}

/// Counters of alert events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertStats {
    /// Raised events per kind.
    pub raised: BTreeMap<AlertKind, u64>,
    /// Cleared events per kind.
    pub cleared: BTreeMap<AlertKind, u64>,
}

/// Rules, their state, and the context they need.
pub struct AlertEngine {
    cfg: AlertsConfig,
    site: String,
    line: String,
    products: HashMap<String, Arc<ProductConfig>>,
    /// model → its inputs in input order.
    inputs: HashMap<String, Vec<Input>>,
    /// Per band signal: the product its evaluations refer to, and evaluations still to skip
    /// after a product change (the feature window still holds the previous product's
    /// samples, judged against the new product's band).
    settle: HashMap<&'static str, (String, usize)>,
    /// The same per sample-level model: its probability rules wait until the model's longest
    /// window holds only the new product (a window mixing a dark and a white batch, read
    /// against the white product's context, looks like a too-warm white batch).
    model_settle: HashMap<Arc<str>, (String, usize)>,
    /// Per-lot pH drift against the bean lot's own baseline.
    ph_drift: LotDrift,
    /// kind → scope → tracker (nested so that a lookup borrows the scope, not allocates it).
    trackers: BTreeMap<AlertKind, BTreeMap<String, Tracker>>,
    anomaly_share: HashMap<String, RollingShare>,
    dq_share: RollingShare,
    /// Last data time a signal-based rule was evaluated (one evaluation per poll even when
    /// several models carry the signal).
    signal_ts: HashMap<&'static str, TimestampMs>,
    stats: AlertStats,
}

fn product_map(products: &[ProductConfig]) -> HashMap<String, Arc<ProductConfig>> {
    products
        .iter()
        .map(|p| (p.code.clone(), Arc::new(p.clone())))
        .collect()
}

impl AlertEngine {
    /// The `[[products]]` entry of the prediction's product, if configured.
    fn product_of(&self, p: &Prediction) -> Option<Arc<ProductConfig>> {
        p.batch
            .product
            .as_deref()
            .and_then(|c| self.products.get(c))
            .cloned()
    }

    /// An engine for the given rules, products, identity and the models' band inputs.
    pub fn new(
        cfg: &AlertsConfig,
        products: &[ProductConfig],
        site: &str,
        line: &str,
        models: &[ModelInputs],
    ) -> Self {
        AlertEngine {
            cfg: cfg.clone(),
            site: site.to_string(),
            line: line.to_string(),
            products: product_map(products),
            inputs: models
                .iter()
                .map(|m| (m.model.clone(), m.inputs.iter().map(Input::from).collect()))
                .collect(),
            trackers: BTreeMap::new(),
            anomaly_share: HashMap::new(),
            dq_share: RollingShare::new(cfg.share_window as usize),
            signal_ts: HashMap::new(),
            settle: HashMap::new(),
            model_settle: HashMap::new(),
            ph_drift: LotDrift::default(),
            stats: AlertStats::default(),
        }
    }

    /// Take new rules and products (a configuration reload) without losing state: open
    /// alerts stay open under their ids and clear under the new thresholds. The rolling
    /// shares restart only when `share_window` changed.
    pub fn reconfigure(&mut self, cfg: &AlertsConfig, products: &[ProductConfig]) {
        if cfg.share_window != self.cfg.share_window {
            self.anomaly_share.clear();
            self.dq_share = RollingShare::new(cfg.share_window as usize);
        }
        self.cfg = cfg.clone();
        self.products = product_map(products);
    }

    /// Counters so far.
    pub fn stats(&self) -> &AlertStats {
        &self.stats
    }

    /// Alerts currently open, as (kind, scope).
    pub fn open_alerts(&self) -> Vec<(AlertKind, String)> {
        self.trackers
            .iter()
            .flat_map(|(kind, scopes)| {
                scopes
                    .iter()
                    .filter(|(_, t)| t.open.is_some())
                    .map(|(scope, _)| (*kind, scope.clone()))
            })
            .collect()
    }

    /// Handle one record: it is passed on first, then the alert events it caused. A shadow
    /// candidate's prediction (docs/shadow.md) causes none: it raises, clears and counts
    /// nothing.
    pub fn handle(&mut self, rec: Record, out: &mut Vec<Record>) {
        let start = out.len();
        match &rec {
            Record::Prediction(p) if p.shadow => {}
            Record::Prediction(p) => self.on_prediction(p, out),
            Record::Drift(w) => self.on_drift(w, out),
            Record::DataQuality(e) => self.on_data_quality(e, out),
            Record::Alert(_) | Record::Deploy(_) | Record::Label(_) => {}
        }
        out.insert(start, rec);
    }

    fn rule(&self, kind: AlertKind) -> (RuleConfig, Direction) {
        let c = &self.cfg;
        match kind {
            AlertKind::FatBloomRisk => (c.fat_bloom_risk.clone(), Direction::Above),
            AlertKind::SugarBloomRisk => (c.sugar_bloom_risk.clone(), Direction::Above),
            AlertKind::Gritty => (c.gritty.clone(), Direction::Above),
            AlertKind::OutOfRangeBatch => (c.out_of_range_batch.clone(), Direction::Above),
            AlertKind::Anomaly => (c.anomaly.clone(), Direction::Above),
            AlertKind::Drift => (c.drift.clone(), Direction::Above),
            AlertKind::LowConfidence => (c.low_confidence.clone(), Direction::Below),
            AlertKind::DataQuality => (c.data_quality.clone(), Direction::Above),
            AlertKind::YieldLow => (c.yield_low.clone(), Direction::Below),
            // Raised by the store or the agent, not by rules here: never fire.
            AlertKind::StoreFull
            | AlertKind::StoreCorrupt
            | AlertKind::PublishRejected
            | AlertKind::ModelUnavailable => {
                let mut r = c.drift.clone();
                r.enabled = false;
                (r, Direction::Above)
            }
        }
    }

    /// Run one evaluation through its tracker; emit raise / clear events. `describe` gives
    /// the message and evidence, and is called only when an event is emitted.
    fn eval(
        &mut self,
        e: Eval<'_>,
        rule: Option<RuleConfig>,
        describe: impl FnOnce() -> (String, Value),
        out: &mut Vec<Record>,
    ) {
        let (default_rule, dir) = self.rule(e.kind);
        let rule = rule.unwrap_or(default_rule);
        let scopes = self.trackers.entry(e.kind).or_default();
        if !scopes.contains_key(e.scope) {
            let t = Tracker {
                h: Hysteresis::new(rule.clone(), dir),
                open: None,
            };
            scopes.insert(e.scope.to_string(), t);
        }
        let Some(t) = scopes.get_mut(e.scope) else {
            return;
        };
        // After a reload the tracker picks up the new thresholds on its next evaluation.
        if *t.h.rule() != rule {
            t.h.set_rule(rule);
        }
        let step = t.h.observe(e.value);
        if step == Step::Hold {
            return;
        }
        let r = t.h.rule().clone();
        let (message, mut evidence) = describe();
        if let Value::Object(m) = &mut evidence {
            m.insert(
                "rule".into(),
                json!({"value": e.value, "raise": r.raise, "clear": r.clear,
                       "consecutive": r.consecutive, "direction": match dir {
                           Direction::Above => "above", Direction::Below => "below" }}),
            );
        }
        let alert = match step {
            Step::Hold => return,
            Step::Raise => {
                let id = format!(
                    "{}:{}:{}:{}:{}",
                    self.site, self.line, e.kind, e.scope, e.ts.0
                );
                t.open = Some(Open {
                    id: id.clone(),
                    raised_at: e.ts,
                    severity: r.severity,
                });
                *self.stats.raised.entry(e.kind).or_default() += 1;
                Alert {
                    id,
                    kind: e.kind,
                    severity: r.severity,
                    state: AlertState::Raised,
                    site: self.site.clone(),
                    line: self.line.clone(),
                    batch: e.batch.clone(),
                    raised_at: e.ts,
                    ts: e.ts,
                    message,
                    evidence,
                }
            }
            Step::Clear => {
                let Some(open) = t.open.take() else { return };
                *self.stats.cleared.entry(e.kind).or_default() += 1;
                Alert {
                    id: open.id,
                    kind: e.kind,
                    severity: open.severity,
                    state: AlertState::Cleared,
                    site: self.site.clone(),
                    line: self.line.clone(),
                    batch: e.batch.clone(),
                    raised_at: open.raised_at,
                    ts: e.ts,
                    message: format!("cleared: {message}"),
                    evidence,
                }
            }
        };
        out.push(Record::Alert(alert));
    }
}
