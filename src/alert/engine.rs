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
//! | `out_of_range_batch` | `line` | max(P(`reject`), 1 if an aggregate is outside the product spec) | batch-level prediction |
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
use crate::features::{FeatureSpec, Transform};

use super::batch_drift::{self, BatchDrift};
use super::config::{AlertsConfig, ProductConfig, RuleConfig};
use super::hysteresis::{Direction, Hysteresis, Step};
use super::share::RollingShare;

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

/// A signal's value against a product limit (the sugar-bloom band rules).
struct Limit<'a> {
    signal: &'static str,
    feature: &'a str,
    value: f64,
    limit: f64,
    tolerance: f64,
    unit: &'static str,
    product: &'a str,
}

/// Humidity above the product's sugar-bloom limit, % RH, before the humidity rule raises
/// (the window mean's noise is ≈ 0.05 % RH; healthy air stays ≈ 15 % RH below the limits).
const HUMIDITY_TOLERANCE_PCT: f64 = 0.5;

/// Bloom classes a classifier may carry, the alert each raises and its message prefix.
const BLOOM_CLASSES: [(&str, AlertKind, &str); 2] = [
    ("fat_bloom", AlertKind::FatBloomRisk, "Fat bloom risk"),
    ("sugar_bloom", AlertKind::SugarBloomRisk, "Sugar bloom risk"),
];

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
/// window length in samples (0 for duration windows).
struct Input {
    feature: Arc<str>,
    signal: String,
    transform: Transform,
    window: usize,
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
    /// Per-batch pH drift against the batch's own baseline.
    ph_drift: BatchDrift,
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
    /// An engine for the given rules, products, identity and models' feature specs.
    pub fn new(
        cfg: &AlertsConfig,
        products: &[ProductConfig],
        site: &str,
        line: &str,
        specs: &[FeatureSpec],
    ) -> Self {
        AlertEngine {
            cfg: cfg.clone(),
            site: site.to_string(),
            line: line.to_string(),
            products: product_map(products),
            inputs: specs
                .iter()
                .map(|s| {
                    let v = s
                        .entries
                        .iter()
                        .map(|e| Input {
                            feature: Arc::from(e.name.as_str()),
                            signal: e.signal.clone(),
                            transform: e.transform,
                            window: match e.window {
                                crate::features::Window::Samples(n) => n,
                                _ => 0,
                            },
                        })
                        .collect();
                    (s.model.to_string(), v)
                })
                .collect(),
            trackers: BTreeMap::new(),
            anomaly_share: HashMap::new(),
            dq_share: RollingShare::new(cfg.share_window as usize),
            signal_ts: HashMap::new(),
            settle: HashMap::new(),
            model_settle: HashMap::new(),
            ph_drift: BatchDrift::default(),
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

    /// Handle one record: it is passed on first, then the alert events it caused.
    pub fn handle(&mut self, rec: Record, out: &mut Vec<Record>) {
        let start = out.len();
        match &rec {
            Record::Prediction(p) => self.on_prediction(p, out),
            Record::Drift(w) => self.on_drift(w, out),
            Record::DataQuality(e) => self.on_data_quality(e, out),
            Record::Alert(_) => {}
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
            // Raised by the store, not by rules here: never fire.
            AlertKind::StoreFull | AlertKind::StoreCorrupt => {
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

    /// Value of the prediction's feature of `signal` (mean, else ewma, else last), with the
    /// feature's name and window.
    fn signal_value(&self, p: &Prediction, signal: &str) -> Option<(Arc<str>, f64, usize)> {
        let inputs = self.inputs.get(p.model.as_ref())?;
        for want in ["mean", "ewma", "last"] {
            for (i, input) in inputs.iter().enumerate() {
                if input.signal == signal && input.transform.name() == want {
                    let v = *p.features.values.get(i)?;
                    return Some((input.feature.clone(), v, input.window));
                }
            }
        }
        None
    }

    /// True while `signal`'s window still holds samples of the previous product.
    fn settling(&mut self, signal: &'static str, product: &str, window: usize) -> bool {
        settle_step(
            self.settle
                .entry(signal)
                .or_insert_with(|| (product.to_string(), 0)),
            product,
            window,
        )
    }

    /// True while the longest input window of sample-level model `p.model` still holds
    /// samples of the previous product.
    fn model_settling(&mut self, p: &Prediction) -> bool {
        if p.features.level != FeatureLevel::Sample {
            return false;
        }
        let Some(product) = p.batch.product.as_deref() else {
            return false;
        };
        let window = self
            .inputs
            .get(p.model.as_ref())
            .and_then(|inputs| inputs.iter().map(|i| i.window).max())
            .unwrap_or(0);
        settle_step(
            self.model_settle
                .entry(Arc::clone(&p.model))
                .or_insert_with(|| (product.to_string(), 0)),
            product,
            window,
        )
    }

    /// What every prediction-based alert carries: model, version, confidence, the feature
    /// values and the model's output.
    fn base_evidence(p: &Prediction) -> Value {
        let features: serde_json::Map<String, Value> = p
            .features
            .names
            .iter()
            .zip(&p.features.values)
            .map(|(n, v)| (n.clone(), json!(v)))
            .collect();
        let mut ev = serde_json::Map::new();
        ev.insert("model".into(), json!(p.model.as_ref()));
        ev.insert("model_version".into(), json!(p.model_version.as_ref()));
        ev.insert("confidence".into(), json!(p.confidence));
        ev.insert("features".into(), Value::Object(features));
        match &p.output {
            PredictionOutput::Class {
                probabilities,
                label,
            } => {
                let probs: serde_json::Map<String, Value> = probabilities
                    .iter()
                    .map(|(c, v)| (c.clone(), json!(v)))
                    .collect();
                ev.insert("label".into(), json!(label));
                ev.insert("probabilities".into(), Value::Object(probs));
            }
            PredictionOutput::Anomaly {
                score,
                decision,
                contributions,
                ..
            } => {
                ev.insert("anomaly_score".into(), json!(score));
                ev.insert("decision".into(), json!(decision));
                if !contributions.is_empty() {
                    ev.insert(
                        "top_signals".into(),
                        super::contributions::evidence(contributions),
                    );
                }
            }
            PredictionOutput::Value { value } => {
                ev.insert("value".into(), json!(value));
            }
        }
        Value::Object(ev)
    }

    /// [`Self::base_evidence`] plus one more entry.
    fn evidence_with(p: &Prediction, key: &str, extra: Value) -> Value {
        let mut ev = Self::base_evidence(p);
        if let Value::Object(m) = &mut ev {
            m.insert(key.into(), extra);
        }
        ev
    }

    fn on_prediction(&mut self, p: &Prediction, out: &mut Vec<Record>) {
        // A prediction is an accepted vector: it lowers the refused share, and the
        // data-quality rule must see that to clear.
        let share = self.dq_share.push(false);
        let dq_value = self.dq_share.rule_value();
        let window = self.cfg.share_window;
        self.eval(
            Eval {
                kind: AlertKind::DataQuality,
                scope: "line",
                value: dq_value,
                ts: p.ts,
                batch: &p.batch,
            },
            None,
            || {
                (
                    format!(
                        "Data quality: {:.0}% of recent vectors refused",
                        share * 100.0
                    ),
                    json!({"refused_share": share, "window": window}),
                )
            },
            out,
        );
        let model: &str = &p.model;
        let version: &str = &p.model_version;
        match &p.output {
            PredictionOutput::Class { probabilities, .. } => {
                let prob = |c: &str| probabilities.iter().find(|(k, _)| k == c).map(|(_, v)| *v);
                // A model that did not beat its rule (manifest `decides: false`) is evidence
                // only: its probabilities raise nothing, the band and spec rules still do.
                let settling = self.model_settling(p);
                let classes = if p.decides && !settling {
                    &BLOOM_CLASSES[..]
                } else {
                    &[]
                };
                for &(class, kind, what) in classes {
                    if let Some(v) = prob(class) {
                        self.eval(
                            Eval {
                                kind,
                                scope: model,
                                value: v,
                                ts: p.ts,
                                batch: &p.batch,
                            },
                            None,
                            || {
                                (
                                    format!("{what}: P({class}) {v:.2} (model {model} {version})"),
                                    Self::base_evidence(p),
                                )
                            },
                            out,
                        );
                    }
                }
                if p.features.level == FeatureLevel::Batch {
                    self.batch_spec(p, prob("reject").unwrap_or(0.0), out);
                }
            }
            PredictionOutput::Anomaly {
                is_anomaly,
                score,
                contributions,
                ..
            } if p.decides => {
                // A window that still holds the previous product's samples is judged
                // against the new product's statistics (a conche 15 °C "off" for a minute
                // after every recipe change): such vectors are not counted at all.
                if self.model_settling(p) {
                    return;
                }
                let n = self.cfg.share_window as usize;
                if !self.anomaly_share.contains_key(model) {
                    self.anomaly_share
                        .insert(model.to_string(), RollingShare::new(n));
                }
                let Some(rolling) = self.anomaly_share.get_mut(model) else {
                    return;
                };
                let share = rolling.push(*is_anomaly);
                let share_or_nan = rolling.rule_value();
                self.eval(
                    Eval {
                        kind: AlertKind::Anomaly,
                        scope: model,
                        value: share_or_nan,
                        ts: p.ts,
                        batch: &p.batch,
                    },
                    None,
                    || {
                        (
                            format!(
                                "Process anomaly: {:.0}% of the last vectors anomalous (score {score:.3}, model {model} {version}){}",
                                share * 100.0,
                                super::contributions::describe(contributions)
                            ),
                            Self::base_evidence(p),
                        )
                    },
                    out,
                );
            }
            PredictionOutput::Anomaly { .. } => {}
            PredictionOutput::Value { value } => {
                if p.decides && model == self.cfg.yield_model {
                    self.eval(
                        Eval {
                            kind: AlertKind::YieldLow,
                            scope: model,
                            value: *value,
                            ts: p.ts,
                            batch: &p.batch,
                        },
                        None,
                        || {
                            (
                                format!("Predicted yield {value:.1} % (model {model} {version})"),
                                Self::base_evidence(p),
                            )
                        },
                        out,
                    );
                }
            }
        }
        // An anomaly detector's "confidence" is its distance from the decision boundary,
        // which healthy data sits close to all the time: not a confidence to alarm on.
        if p.decides && !matches!(p.output, PredictionOutput::Anomaly { .. }) {
            self.eval(
                Eval {
                    kind: AlertKind::LowConfidence,
                    scope: model,
                    value: p.confidence,
                    ts: p.ts,
                    batch: &p.batch,
                },
                None,
                || {
                    (
                        format!(
                            "Low model confidence {:.2} (model {model} {version})",
                            p.confidence
                        ),
                        Self::base_evidence(p),
                    )
                },
                out,
            );
        }
        if p.features.level == FeatureLevel::Sample {
            self.process_bands(p, out);
        }
    }

    /// A sugar-bloom band rule: the signal more than `tolerance` above its product limit
    /// raises (scope: the signal); back at or below the limit clears.
    fn sugar_limit(&mut self, p: &Prediction, l: &Limit<'_>, out: &mut Vec<Record>) {
        let excess = (l.value - l.limit).max(0.0);
        let mut rule = self.cfg.sugar_bloom_risk.clone();
        rule.raise = l.tolerance;
        rule.clear = 0.0;
        self.eval(
            Eval {
                kind: AlertKind::SugarBloomRisk,
                scope: l.signal,
                value: excess,
                ts: p.ts,
                batch: &p.batch,
            },
            Some(rule),
            || {
                (
                    format!(
                        "Sugar bloom risk: {} {:.2} {} above {} limit {} {}",
                        l.signal, l.value, l.unit, l.product, l.limit, l.unit
                    ),
                    Self::evidence_with(
                        p,
                        "band",
                        json!({"signal": l.signal, "feature": l.feature, "value": l.value,
                        "limit": l.limit, "excess": excess, "product": l.product}),
                    ),
                )
            },
            out,
        );
    }

    /// Signal-based rules on sample-level vectors, once per poll per signal.
    fn process_bands(&mut self, p: &Prediction, out: &mut Vec<Record>) {
        let product = p
            .batch
            .product
            .as_deref()
            .and_then(|c| self.products.get(c))
            .cloned();
        for signal in ["temperature", "moisture", "humidity", "particle_size", "ph"] {
            let Some((feature, v, window)) = self.signal_value(p, signal) else {
                continue;
            };
            if self.signal_ts.get(signal).is_some_and(|t| *t >= p.ts) {
                continue;
            }
            self.signal_ts.insert(signal, p.ts);
            let eval = |kind, scope, value| Eval {
                kind,
                scope,
                value,
                ts: p.ts,
                batch: &p.batch,
            };
            match signal {
                "temperature" => {
                    let Some(prod) = &product else { continue };
                    if self.settling(signal, &prod.code, window) {
                        continue;
                    }
                    let [lo, hi] = prod.working_temp.unwrap_or(prod.chocolate.working_band());
                    let excursion = (lo - v).max(v - hi).max(0.0);
                    let mut rule = self.cfg.fat_bloom_risk.clone();
                    rule.raise = self.cfg.temp_band_tolerance_c.max(1e-9);
                    rule.clear = 0.0;
                    self.eval(
                        eval(AlertKind::FatBloomRisk, "temperature", excursion),
                        Some(rule),
                        || {
                            (
                                format!(
                                    "Fat bloom risk: working temperature {v:.2} °C outside {} band [{lo}, {hi}] °C",
                                    prod.code
                                ),
                                Self::evidence_with(
                                    p,
                                    "band",
                                    json!({"signal": signal, "feature": feature.as_ref(), "value": v,
                                    "band": [lo, hi], "excursion": excursion, "product": prod.code}),
                                ),
                            )
                        },
                        out,
                    );
                }
                "moisture" => {
                    let Some(prod) = &product else { continue };
                    if self.settling(signal, &prod.code, window) {
                        continue;
                    }
                    let limit = Limit {
                        signal,
                        feature: &feature,
                        value: v,
                        limit: prod.moisture_pct[1],
                        tolerance: self.cfg.moisture_tolerance_pct.max(1e-9),
                        unit: "%",
                        product: &prod.code,
                    };
                    self.sugar_limit(p, &limit, out);
                }
                "humidity" => {
                    let Some(prod) = &product else { continue };
                    let limit = Limit {
                        signal,
                        feature: &feature,
                        value: v,
                        limit: prod.chocolate.sugar_bloom_humidity(),
                        tolerance: HUMIDITY_TOLERANCE_PCT,
                        unit: "% RH",
                        product: &prod.code,
                    };
                    self.sugar_limit(p, &limit, out);
                }
                "ph" => {
                    let batch = p.batch.batch_id.as_deref().unwrap_or("");
                    let Some(dev) = self.ph_drift.push(batch, v) else {
                        continue;
                    };
                    let baseline = self.ph_drift.baseline().unwrap_or(f64::NAN);
                    let mut rule = self.cfg.drift.clone();
                    rule.raise = batch_drift::RAISE;
                    rule.clear = batch_drift::CLEAR;
                    rule.consecutive = batch_drift::CONSECUTIVE;
                    self.eval(
                        eval(AlertKind::Drift, "ph", dev),
                        Some(rule),
                        || {
                            (
                                format!(
                                    "Process drift: pH {v:.3} moved {dev:.3} from this batch's baseline {baseline:.3}"
                                ),
                                Self::evidence_with(
                                    p,
                                    "batch_drift",
                                    json!({"signal": signal, "feature": feature.as_ref(), "value": v,
                                    "baseline": baseline, "deviation": dev, "batch": batch}),
                                ),
                            )
                        },
                        out,
                    );
                }
                _ => {
                    self.eval(
                        eval(AlertKind::Gritty, "particle_size", v),
                        None,
                        || {
                            (
                                format!("Gritty: particle size {v:.1} µm"),
                                Self::evidence_with(
                                    p,
                                    "signal",
                                    json!({"signal": signal, "feature": feature.as_ref(), "value": v}),
                                ),
                            )
                        },
                        out,
                    );
                }
            }
        }
    }

    /// A closed batch: predicted reject, or aggregates outside the product spec.
    fn batch_spec(&mut self, p: &Prediction, p_reject: f64, out: &mut Vec<Record>) {
        let product = p
            .batch
            .product
            .as_deref()
            .and_then(|c| self.products.get(c))
            .cloned();
        let mut violations = Vec::new();
        if let Some(prod) = &product {
            let checks: [(&str, f64, f64); 3] = [
                ("moisture", prod.moisture_pct[0], prod.moisture_pct[1]),
                ("ph", prod.ph[0], prod.ph[1]),
                (
                    "particle_size",
                    f64::NEG_INFINITY,
                    prod.particle_size_max_um,
                ),
            ];
            for (signal, lo, hi) in checks {
                if let Some((feature, v, _)) = self.signal_value(p, signal)
                    && (v < lo || v > hi)
                {
                    violations.push(
                        json!({"signal": signal, "feature": feature.as_ref(), "value": v, "spec": [lo, hi]}),
                    );
                }
            }
        }
        let value = match (violations.is_empty(), p.decides) {
            (false, _) => 1.0,
            (true, true) => p_reject,
            (true, false) => 0.0,
        };
        self.eval(
            Eval {
                kind: AlertKind::OutOfRangeBatch,
                scope: "line",
                value,
                ts: p.ts,
                batch: &p.batch,
            },
            None,
            || {
                let batch = p.batch.batch_id.as_deref().unwrap_or("?");
                let message = if violations.is_empty() {
                    format!("Batch {batch}: P(reject) {p_reject:.2}")
                } else {
                    format!(
                        "Batch {batch}: {} aggregate(s) outside the product spec",
                        violations.len()
                    )
                };
                let mut ev = Self::evidence_with(p, "p_reject", json!(p_reject));
                if let Value::Object(m) = &mut ev {
                    m.insert("spec_violations".into(), Value::Array(violations));
                }
                (message, ev)
            },
            out,
        );
    }

    fn on_drift(&mut self, w: &DriftWindow, out: &mut Vec<Record>) {
        self.eval(
            Eval {
                kind: AlertKind::Drift,
                scope: &w.model,
                value: w.drifted_share,
                ts: w.end,
                batch: &BatchContext::default(),
            },
            None,
            || {
                let drifted: Vec<Value> = w
                    .features
                    .iter()
                    .filter(|f| f.drifted && !f.feature.starts_with('@'))
                    .map(|f| {
                        json!({"feature": f.feature, "psi": f.psi, "js": f.js, "w1_sigma": f.w1_sigma,
                            "thresholds": f.thresholds})
                    })
                    .collect();
                let ev = json!({"model": w.model.as_ref(), "model_version": w.model_version.as_ref(),
                    "window": {"start": w.start, "end": w.end, "samples": w.samples},
                    "drifted_share": w.drifted_share, "drifted_features": drifted});
                let message = format!(
                    "Input drift: {:.0}% of {} inputs drifted (model {} {})",
                    w.drifted_share * 100.0,
                    w.features
                        .iter()
                        .filter(|f| !f.feature.starts_with('@'))
                        .count(),
                    w.model,
                    w.model_version
                );
                (message, ev)
            },
            out,
        );
    }

    fn on_data_quality(&mut self, e: &DataQualityEvent, out: &mut Vec<Record>) {
        let share = self.dq_share.push(true);
        let dq_value = self.dq_share.rule_value();
        let window = self.cfg.share_window;
        self.eval(
            Eval {
                kind: AlertKind::DataQuality,
                scope: "line",
                value: dq_value,
                ts: e.ts,
                batch: &e.batch,
            },
            None,
            || {
                let signals: Vec<&str> = e.flags.keys().map(String::as_str).collect();
                let message = format!(
                    "Data quality: {:.0}% of recent vectors refused ({})",
                    share * 100.0,
                    signals.join(", ")
                );
                let ev = json!({"model": e.model.as_ref(), "flags": e.flags,
                    "refused_share": share, "window": window});
                (message, ev)
            },
            out,
        );
    }
}
