//! Drift monitor of one model: counts each input feature's values into the frozen
//! reference bins over a window (data time, or a number of vectors), then reports PSI,
//! Jensen–Shannon and W1/σ per feature against the thresholds, plus Page–Hinkley alarms.
//! A feature is drifted when at least two of its three statistics exceed their thresholds.
//! State per feature is one counter per bin and one detector: constant memory.
//!
//! Page–Hinkley runs on every vector: on each feature standardised by the reference
//! (`(x − mean)/σ`, so δ and λ are in σ units), on the anomaly score (anomaly detectors) and
//! on the model confidence. A PH alarm is reported (`page_hinkley`) but does not make a
//! feature "drifted" by itself: process means legitimately step when the product changes,
//! and the binned statistics over a whole window are what the `drift` alert trusts. The
//! score and confidence detectors appear as two extra entries named [`SCORE_ENTRY`] and
//! [`CONFIDENCE_ENTRY`] (statistics 0, `drifted` = the PH alarm), not counted in the share.
//!
//! Like is compared with like. When the manifest has per-product reference counts
//! (`by_product`), a window is compared with the mixture of its products' references,
//! weighted by how many of its vectors each product had: an hour of white chocolate is not
//! "drifted" because the reference also holds dark. And sample-level vectors within
//! `batch_settle` of a batch change are not counted (the new product, bean lot and conche
//! charge are still settling); the models still get them. models/training/drift.py
//! calibrates the thresholds with the same two rules.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::domain::{
    DriftWindow, FeatureDrift, FeatureLevel, Prediction, PredictionOutput, TimestampMs,
};

use super::config::DriftConfig;
use super::page_hinkley::PageHinkley;
use super::reference::{DEFAULT_THRESHOLDS, FeatureReference, ModelReference};
use super::stats::{bin_centres, js_distance, psi, w1};

/// Name of the Page–Hinkley entry on the anomaly score.
pub const SCORE_ENTRY: &str = "@anomaly_score";
/// Name of the Page–Hinkley entry on the model confidence.
pub const CONFIDENCE_ENTRY: &str = "@confidence";

/// Mixture reference counts are proportions scaled to this total (drift.py `MIX_SCALE`).
const MIX_SCALE: f64 = 1_000_000.0;

struct FeatureState {
    centres: Vec<f64>,
    counts: Vec<u64>,
    thresholds: [f64; 3],
    ph: PageHinkley,
    ph_fired: bool,
    /// Position of this feature in the model's vectors (resolved on the first vector).
    index: Option<usize>,
}

/// Monitor of one model.
pub struct ModelMonitor {
    reference: ModelReference,
    features: Vec<FeatureState>,
    window_ms: i64,
    window_samples: Option<u64>,
    min_samples: u64,
    settle_ms: i64,
    /// Batch of the last sample-level vector and when it was first seen.
    batch: Option<String>,
    batch_since: Option<TimestampMs>,
    /// Counted vectors per product code in the current window ("" when unknown).
    products: BTreeMap<String, u64>,
    start: Option<TimestampMs>,
    end: TimestampMs,
    samples: u64,
    resolved_for: Option<Arc<[String]>>,
    score_ph: PageHinkley,
    score_fired: bool,
    conf_ph: PageHinkley,
    conf_fired: bool,
}

impl ModelMonitor {
    /// A monitor for one model's reference.
    pub fn new(reference: ModelReference, cfg: &DriftConfig) -> Self {
        let features = reference
            .features
            .iter()
            .map(|f| {
                let t = f.thresholds.unwrap_or(DEFAULT_THRESHOLDS);
                FeatureState {
                    centres: bin_centres(&f.edges),
                    counts: vec![0; f.counts.len()],
                    thresholds: [
                        cfg.psi_threshold.unwrap_or(t.psi),
                        cfg.js_threshold.unwrap_or(t.js),
                        cfg.w1_threshold.unwrap_or(t.w1_sigma),
                    ],
                    ph: PageHinkley::new(cfg.page_hinkley_feature_delta, cfg.page_hinkley_lambda),
                    ph_fired: false,
                    index: None,
                }
            })
            .collect();
        ModelMonitor {
            reference,
            features,
            window_ms: i64::try_from(cfg.window.get().as_millis()).unwrap_or(i64::MAX),
            window_samples: cfg.window_samples.filter(|n| *n > 0),
            min_samples: cfg.min_window_samples,
            settle_ms: i64::try_from(cfg.batch_settle.get().as_millis()).unwrap_or(i64::MAX),
            batch: None,
            batch_since: None,
            products: BTreeMap::new(),
            start: None,
            end: TimestampMs(0),
            samples: 0,
            resolved_for: None,
            score_ph: PageHinkley::new(cfg.page_hinkley_delta, cfg.page_hinkley_lambda),
            score_fired: false,
            conf_ph: PageHinkley::new(cfg.page_hinkley_delta, cfg.page_hinkley_lambda),
            conf_fired: false,
        }
    }

    /// The model this monitor watches.
    pub fn model(&self) -> &Arc<str> {
        &self.reference.model
    }

    /// Count one prediction's inputs; returns a window report when a window closed.
    /// A vector past the window's end closes the window first and opens the next one —
    /// provided the window holds `min_window_samples` vectors; a sparser window goes on
    /// (statistics over a handful of vectors would judge noise). models/training/drift.py
    /// `agent_windows` reproduces this rule for the threshold calibration.
    /// Sample-level vectors within `batch_settle` of a batch change are skipped entirely.
    pub fn observe(&mut self, p: &Prediction) -> Option<DriftWindow> {
        if p.features.level == FeatureLevel::Sample && self.settling(p) {
            return None;
        }
        self.rebase_after_step_back(p.ts);
        let mut closed = None;
        if let Some(start) = self.start
            && p.ts.0.saturating_sub(start.0) >= self.window_ms
            && self.samples >= self.min_samples
        {
            closed = Some(self.close());
        }
        if self.start.is_none() {
            self.start = Some(p.ts);
        }
        self.end = p.ts;
        self.samples += 1;
        let product = p.batch.product.as_deref().unwrap_or("");
        if let Some(n) = self.products.get_mut(product) {
            *n += 1;
        } else {
            self.products.insert(product.to_string(), 1);
        }
        self.resolve(&p.features.names);
        for (f, r) in self.features.iter_mut().zip(&self.reference.features) {
            let Some(x) = f.index.and_then(|i| p.features.values.get(i)).copied() else {
                continue;
            };
            if !x.is_finite() {
                continue;
            }
            if let Some(c) = f.counts.get_mut(r.bin(x)) {
                *c += 1;
            }
            let z = if r.std > 0.0 {
                (x - r.mean) / r.std
            } else {
                x - r.mean
            };
            f.ph_fired |= f.ph.update(z);
        }
        if let PredictionOutput::Anomaly { score, .. } = p.output {
            self.score_fired |= self.score_ph.update(score);
        }
        self.conf_fired |= self.conf_ph.update(p.confidence);
        if closed.is_none() && self.window_samples.is_some_and(|n| self.samples >= n) {
            closed = Some(self.close());
        }
        closed
    }

    /// A vector stamped before the previous one (the wall clock was stepped back): the open
    /// window keeps the data time it has covered, moved to the new timeline, instead of
    /// waiting until the clock is back where it was (a −1 h step would have stalled it an
    /// hour). A forward step closes the window at the next vector, as a gap in the data does.
    fn rebase_after_step_back(&mut self, ts: TimestampMs) {
        if let Some(start) = self.start
            && ts < self.end
        {
            let covered = self.end.0.saturating_sub(start.0);
            self.start = Some(TimestampMs(ts.0.saturating_sub(covered)));
        }
    }

    /// Track batch changes; true while the current batch is younger than `batch_settle`.
    /// A batch change drops the open window unreported: a sample-level window never mixes
    /// two batches, and the few minutes left at a batch's end are too short a window to
    /// judge (drift.py `agent_windows` calibrates with the same rule).
    fn settling(&mut self, p: &Prediction) -> bool {
        if self.batch_since.is_none() || self.batch.as_deref() != p.batch.batch_id.as_deref() {
            self.batch.clone_from(&p.batch.batch_id);
            self.batch_since = Some(p.ts);
            self.discard();
        }
        // A clock that went back (age < 0) is not a settling line.
        self.batch_since
            .map(|t| p.ts.0.saturating_sub(t.0))
            .is_some_and(|age| (0..self.settle_ms).contains(&age))
    }

    fn resolve(&mut self, names: &Arc<[String]>) {
        if self
            .resolved_for
            .as_ref()
            .is_some_and(|r| Arc::ptr_eq(r, names) || **r == **names)
        {
            return;
        }
        for (f, r) in self.features.iter_mut().zip(&self.reference.features) {
            f.index = names.iter().position(|n| *n == r.name);
        }
        self.resolved_for = Some(names.clone());
    }

    /// Forget the open window's counts (Page–Hinkley detectors keep running).
    fn discard(&mut self) {
        for f in &mut self.features {
            f.counts.iter_mut().for_each(|c| *c = 0);
        }
        self.products.clear();
        self.start = None;
        self.samples = 0;
    }

    /// Close the current window and report it; counters restart ([`Self::discard`]).
    fn close(&mut self) -> DriftWindow {
        let mut features = Vec::with_capacity(self.features.len() + 2);
        let mut drifted = 0usize;
        for (f, r) in self.features.iter_mut().zip(&self.reference.features) {
            let mix = mixture(r, &self.products);
            let rc = mix.as_deref().unwrap_or(&r.counts);
            let p = psi(rc, &f.counts);
            let j = js_distance(rc, &f.counts);
            let sigma = if r.std > 0.0 {
                r.std
            } else {
                f64::MIN_POSITIVE
            };
            let w = w1(rc, &f.counts, &f.centres) / sigma;
            // Two of the three statistics must agree: PSI alone over-reacts to a handful of
            // vectors in a bin the reference left empty (its 1e-4 floor makes ln(q/p) huge),
            // which a new healthy bean lot just past the training range does all the time.
            let over = [p, j, w]
                .iter()
                .zip(&f.thresholds)
                .filter(|(x, t)| *x > *t)
                .count();
            let is_drifted = over >= 2;
            drifted += usize::from(is_drifted);
            features.push(FeatureDrift {
                feature: r.name.clone(),
                psi: finite_or_zero(p),
                js: finite_or_zero(j),
                w1_sigma: finite_or_zero(w),
                thresholds: f.thresholds,
                page_hinkley: f.ph_fired,
                drifted: is_drifted,
            });
            f.ph_fired = false;
        }
        for (name, fired) in [
            (SCORE_ENTRY, self.score_fired),
            (CONFIDENCE_ENTRY, self.conf_fired),
        ] {
            features.push(FeatureDrift {
                feature: name.to_string(),
                psi: 0.0,
                js: 0.0,
                w1_sigma: 0.0,
                thresholds: [0.0; 3],
                page_hinkley: fired,
                drifted: fired,
            });
        }
        self.score_fired = false;
        self.conf_fired = false;
        let n = self.reference.features.len();
        let w = DriftWindow {
            model: self.reference.model.clone(),
            model_version: self.reference.version.clone(),
            start: self.start.unwrap_or(self.end),
            end: self.end,
            samples: self.samples,
            features,
            drifted_share: if n == 0 {
                0.0
            } else {
                drifted as f64 / n as f64
            },
        };
        self.discard();
        w
    }
}

/// Reference counts for a window with `products` (vectors per product code): the products'
/// own reference proportions weighted by their share of the window, scaled to
/// [`MIX_SCALE`]. `None` (use the all-products counts) when the manifest has no per-product
/// counts or one of the window's products is not among them.
fn mixture(r: &FeatureReference, products: &BTreeMap<String, u64>) -> Option<Vec<u64>> {
    let total: u64 = products.values().sum();
    if r.by_product.is_empty() || total == 0 {
        return None;
    }
    let mut mix = vec![0.0f64; r.counts.len()];
    for (code, n) in products {
        let c = r.by_product.get(code)?;
        let s = c.iter().sum::<u64>() as f64;
        let w = *n as f64 / total as f64;
        for (m, ci) in mix.iter_mut().zip(c) {
            *m += w * (*ci as f64 / s);
        }
    }
    // Rounded, non-negative and ≤ MIX_SCALE by construction: the cast cannot truncate.
    Some(mix.iter().map(|m| (m * MIX_SCALE).round() as u64).collect())
}

/// An empty window gives NaN statistics; JSON cannot carry NaN, and "no evidence" is 0.
fn finite_or_zero(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}
