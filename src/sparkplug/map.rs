//! Which metrics the edge node has (docs/sparkplug.md, "Metric map"): the line's registers on
//! their Modbus devices, and on the node the outbox depth, each alert kind (active or not),
//! each model's newest output and each model's drift state.
//!
//! Aliases follow from the order here: node metrics first (outbox, alert kinds in the order
//! given, then per model its outputs and its drift), then each device's registers in config
//! order. The same configuration always
//! gives the same aliases.

use super::DataType;
use super::node::Catalogue;

/// A register as the map needs it.
#[derive(Debug, Clone, Copy)]
pub struct Register<'a> {
    /// `[[devices]] name`: the Sparkplug device.
    pub device: &'a str,
    /// `[[devices.registers]] name`: the metric.
    pub name: &'a str,
    /// Engineering unit (empty: none).
    pub unit: &'a str,
    /// A coil, discrete input or BOOL register: Boolean; everything else Double (scaled
    /// engineering values are fractional whatever the raw type).
    pub boolean: bool,
}

/// Node metric: undelivered outbox messages.
pub const OUTBOX_DEPTH: &str = "outbox/depth";
/// Node metric of an alert kind: true while one is active.
pub fn alert_active(kind: &str) -> String {
    format!("alerts/{kind}")
}

/// Node metrics of a model's newest prediction, by what they hold.
pub mod model {
    /// Classifier: the predicted label; anomaly detector: `anomaly` or `normal` (String).
    pub const LABEL: &str = "label";
    /// Regressor: its value; anomaly detector: `decision_function`, negative = anomaly
    /// (Double).
    pub const VALUE: &str = "value";
    /// The prediction's confidence, 0–1 (Double).
    pub const CONFIDENCE: &str = "confidence";
    /// Version of the model that computed it (String).
    pub const VERSION: &str = "version";
    /// Share of the model's input features that drifted in the newest window (Double, under
    /// `drift/{model}/`).
    pub const DRIFTED_SHARE: &str = "drifted_share";
    /// Any input feature drifted in the newest window (Boolean, under `drift/{model}/`).
    pub const DRIFTED: &str = "drifted";
}

/// Node metric `models/{model}/{what}`.
pub fn model_metric(model: &str, what: &str) -> String {
    format!("models/{model}/{what}")
}

/// Node metric `drift/{model}/{what}`.
pub fn drift_metric(model: &str, what: &str) -> String {
    format!("drift/{model}/{what}")
}

/// The catalogue of an agent with these registers, alert kinds and models.
pub fn catalogue(registers: &[Register<'_>], alert_kinds: &[&str], models: &[&str]) -> Catalogue {
    let mut c = Catalogue::default();
    c.add(None, OUTBOX_DEPTH, DataType::UInt64, "");
    for k in alert_kinds {
        c.add(None, &alert_active(k), DataType::Boolean, "");
    }
    for m in models {
        c.add(None, &model_metric(m, model::LABEL), DataType::String, "");
        c.add(None, &model_metric(m, model::VALUE), DataType::Double, "");
        c.add(
            None,
            &model_metric(m, model::CONFIDENCE),
            DataType::Double,
            "",
        );
        c.add(None, &model_metric(m, model::VERSION), DataType::String, "");
        c.add(
            None,
            &drift_metric(m, model::DRIFTED_SHARE),
            DataType::Double,
            "",
        );
        c.add(
            None,
            &drift_metric(m, model::DRIFTED),
            DataType::Boolean,
            "",
        );
    }
    for r in registers {
        let dt = if r.boolean {
            DataType::Boolean
        } else {
            DataType::Double
        };
        c.add(Some(r.device), r.name, dt, r.unit);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_metrics_first_then_registers_in_config_order() {
        let regs = [
            Register {
                device: "tempering",
                name: "temperature",
                unit: "°C",
                boolean: false,
            },
            Register {
                device: "plc",
                name: "running",
                unit: "",
                boolean: true,
            },
            Register {
                device: "tempering",
                name: "humidity",
                unit: "%RH",
                boolean: false,
            },
        ];
        let c = catalogue(&regs, &["fat_bloom_risk", "anomaly"], &["bloom"]);
        assert_eq!(c.alias(None, OUTBOX_DEPTH), Some(1));
        assert_eq!(c.alias(None, "alerts/fat_bloom_risk"), Some(2));
        assert_eq!(c.alias(None, "alerts/anomaly"), Some(3));
        let bloom: Vec<_> = (c.node_metrics().skip(3))
            .map(|d| (d.name.as_str(), d.datatype, d.alias))
            .collect();
        assert_eq!(
            bloom,
            [
                ("models/bloom/label", DataType::String, 4),
                ("models/bloom/value", DataType::Double, 5),
                ("models/bloom/confidence", DataType::Double, 6),
                ("models/bloom/version", DataType::String, 7),
                ("drift/bloom/drifted_share", DataType::Double, 8),
                ("drift/bloom/drifted", DataType::Boolean, 9),
            ]
        );
        assert_eq!(c.alias(Some("tempering"), "temperature"), Some(10));
        assert_eq!(c.alias(Some("plc"), "running"), Some(11));
        assert_eq!(c.alias(Some("tempering"), "humidity"), Some(12));
        let (_, running) = c.by_alias(11).unwrap();
        assert_eq!(running.datatype, DataType::Boolean);
        let (_, temp) = c.by_alias(10).unwrap();
        assert_eq!(
            (temp.datatype, temp.unit.as_str()),
            (DataType::Double, "°C")
        );
    }
}
