//! The signal-based band rules of [`AlertEngine`]: working temperature against the
//! product's tempering band (`fat_bloom_risk`), moisture and humidity against the
//! sugar-bloom limits (`sugar_bloom_risk`), particle size (`gritty`) and the per-batch pH
//! drift (`drift`, scope `ph`). They read the window means of whichever sample-level model
//! carries the signal, once per poll per signal.

use std::sync::Arc;

use serde_json::json;

use super::*;

/// A signal's value against a product limit (the sugar-bloom band rules).
struct Limit<'a> {
    signal: &'static str,
    feature: &'a str,
    value: f64,
    limit: f64,
    tolerance: f64,
    unit: &'static str,
    product: &'a str,
    /// How far below the product's own limit `limit` sits (a pre-alarm band); 0 when
    /// `limit` is the product limit itself.
    margin: f64,
}

/// Humidity above the product's sugar-bloom limit, % RH, before the humidity rule raises
/// (the window mean's noise is ≈ 0.05 % RH; healthy air stays ≈ 15 % RH below the limits).
const HUMIDITY_TOLERANCE_PCT: f64 = 0.5;

impl AlertEngine {
    /// Value of the prediction's feature of `signal` (mean, else ewma, else last), with the
    /// feature's name and window.
    pub(super) fn signal_value(
        &self,
        p: &Prediction,
        signal: &str,
    ) -> Option<(Arc<str>, f64, usize)> {
        let inputs = self.inputs.get(p.model.as_ref())?;
        for want in ["mean", "ewma", "last"] {
            for (i, input) in inputs.iter().enumerate() {
                if input.signal == signal && input.transform == want {
                    let v = *p.features.values.get(i)?;
                    return Some((input.feature.clone(), v, input.window));
                }
            }
        }
        None
    }

    /// True while `signal`'s window still holds samples of the previous product.
    pub(super) fn settling(&mut self, signal: &'static str, product: &str, window: usize) -> bool {
        settle_step(
            self.settle
                .entry(signal)
                .or_insert_with(|| (product.to_string(), 0)),
            product,
            window,
        )
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
                let what = if l.margin > 0.0 {
                    format!(
                        "{} pre-alarm level {} {} ({} {} below its sugar-bloom limit {} {})",
                        l.product,
                        l.limit,
                        l.unit,
                        l.margin,
                        l.unit,
                        l.limit + l.margin,
                        l.unit
                    )
                } else {
                    format!("{} limit {} {}", l.product, l.limit, l.unit)
                };
                (
                    format!(
                        "Sugar bloom risk: {} {:.2} {} above {what}",
                        l.signal, l.value, l.unit
                    ),
                    Self::evidence_with(
                        p,
                        "band",
                        json!({"signal": l.signal, "feature": l.feature, "value": l.value,
                        "limit": l.limit + l.margin, "pre_alarm": l.limit, "excess": excess,
                        "product": l.product}),
                    ),
                )
            },
            out,
        );
    }

    /// Signal-based rules on sample-level vectors, once per poll per signal.
    pub(super) fn process_bands(&mut self, p: &Prediction, out: &mut Vec<Record>) {
        let product = self.product_of(p);
        for signal in ["temperature", "moisture", "humidity", "particle_size", "ph"] {
            let Some((feature, value, window)) = self.signal_value(p, signal) else {
                continue;
            };
            if self.signal_ts.get(signal).is_some_and(|t| *t >= p.ts) {
                continue;
            }
            self.signal_ts.insert(signal, p.ts);
            let r = Read {
                signal,
                feature: &feature,
                value,
                window,
            };
            match (signal, &product) {
                ("temperature", Some(prod)) => self.band_temperature(p, prod, &r, out),
                ("moisture", Some(prod)) => self.band_moisture(p, prod, &r, out),
                ("humidity", Some(prod)) => self.band_humidity(p, prod, &r, out),
                ("temperature" | "moisture" | "humidity", None) => {}
                ("ph", _) => self.band_ph(p, &r, out),
                _ => self.band_gritty(p, &r, out),
            }
        }
    }

    /// Fat bloom risk: the working temperature outside the product's band.
    fn band_temperature(
        &mut self,
        p: &Prediction,
        prod: &ProductConfig,
        r: &Read<'_>,
        out: &mut Vec<Record>,
    ) {
        if self.settling(r.signal, &prod.code, r.window) {
            return;
        }
        let v = r.value;
        let [lo, hi] = prod.working_temp.unwrap_or(prod.chocolate.working_band());
        let excursion = (lo - v).max(v - hi).max(0.0);
        let mut rule = self.cfg.fat_bloom_risk.clone();
        rule.raise = self.cfg.temp_band_tolerance_c.max(1e-9);
        rule.clear = 0.0;
        self.eval(
            r.eval(p, AlertKind::FatBloomRisk, "temperature", excursion),
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
                        json!({"signal": r.signal, "feature": r.feature, "value": v,
                        "band": [lo, hi], "excursion": excursion, "product": prod.code}),
                    ),
                )
            },
            out,
        );
    }

    /// Sugar bloom risk: moisture above the product's limit.
    fn band_moisture(
        &mut self,
        p: &Prediction,
        prod: &ProductConfig,
        r: &Read<'_>,
        out: &mut Vec<Record>,
    ) {
        if self.settling(r.signal, &prod.code, r.window) {
            return;
        }
        let limit = Limit {
            signal: r.signal,
            feature: r.feature,
            value: r.value,
            limit: prod.moisture_pct[1],
            tolerance: self.cfg.moisture_tolerance_pct.max(1e-9),
            unit: "%",
            product: &prod.code,
            margin: 0.0,
        };
        self.sugar_limit(p, &limit, out);
    }

    /// Sugar bloom risk: air humidity above the chocolate's limit less the margin.
    fn band_humidity(
        &mut self,
        p: &Prediction,
        prod: &ProductConfig,
        r: &Read<'_>,
        out: &mut Vec<Record>,
    ) {
        let limit = Limit {
            signal: r.signal,
            feature: r.feature,
            value: r.value,
            limit: prod.chocolate.sugar_bloom_humidity() - self.cfg.humidity_margin_rh,
            tolerance: HUMIDITY_TOLERANCE_PCT,
            unit: "% RH",
            product: &prod.code,
            margin: self.cfg.humidity_margin_rh,
        };
        self.sugar_limit(p, &limit, out);
    }

    /// Process drift: pH moving away from its bean lot's baseline.
    fn band_ph(&mut self, p: &Prediction, r: &Read<'_>, out: &mut Vec<Record>) {
        let v = r.value;
        let batch = p.batch.batch_id.as_deref().unwrap_or("");
        // Without a lot from the PLC, each batch is its own lot.
        let lot = p.batch.lot.as_deref().unwrap_or(batch);
        let Some(dev) = self.ph_drift.push(lot, batch, v) else {
            return;
        };
        let baseline = self.ph_drift.baseline().unwrap_or(f64::NAN);
        let baseline_n = self.ph_drift.baseline_count();
        let carry = self.ph_drift.carry();
        let rule = lot_drift::rule(self.cfg.drift.clone());
        self.eval(
            r.eval(p, AlertKind::Drift, "ph", dev),
            Some(rule),
            || {
                (
                    format!(
                        "Process drift: pH {v:.3} moved {dev:.3} from this bean lot's baseline {baseline:.3}{}",
                        carried(carry)
                    ),
                    Self::evidence_with(
                        p,
                        "lot_drift",
                        json!({"signal": r.signal, "feature": r.feature, "value": v,
                        "baseline": baseline, "baseline_values": baseline_n,
                        "deviation": dev, "carried": carry, "batch": batch, "lot": lot}),
                    ),
                )
            },
            out,
        );
    }

    /// Gritty: particle size above the rule's threshold.
    fn band_gritty(&mut self, p: &Prediction, r: &Read<'_>, out: &mut Vec<Record>) {
        let v = r.value;
        self.eval(
            r.eval(p, AlertKind::Gritty, "particle_size", v),
            None,
            || {
                (
                    format!("Gritty: particle size {v:.1} µm"),
                    Self::evidence_with(
                        p,
                        "signal",
                        json!({"signal": r.signal, "feature": r.feature, "value": v}),
                    ),
                )
            },
            out,
        );
    }
}

/// One signal's value as the band rules read it from a prediction's features.
struct Read<'a> {
    signal: &'static str,
    feature: &'a str,
    value: f64,
    /// Window length in samples (0 for duration windows).
    window: usize,
}

impl Read<'_> {
    /// The rule input for `kind` at the prediction's time and batch.
    fn eval<'p>(&self, p: &'p Prediction, kind: AlertKind, scope: &'p str, value: f64) -> Eval<'p> {
        Eval {
            kind,
            scope,
            value,
            ts: p.ts,
            batch: &p.batch,
        }
    }
}

/// The message's note on the deviation carried over from the previous bean lot, if any
/// worth naming.
fn carried(carry: f64) -> String {
    if carry.abs() < 0.005 {
        String::new()
    } else {
        format!(" (of which {carry:+.3} carried over from the previous lot)")
    }
}
