//! What [`AlertEngine`] does with the monitor's drift windows and the validate stage's
//! data-quality events.

use super::*;

impl AlertEngine {
    pub(super) fn on_drift(&mut self, w: &DriftWindow, out: &mut Vec<Record>) {
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

    pub(super) fn on_data_quality(&mut self, e: &DataQualityEvent, out: &mut Vec<Record>) {
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
