//! Which metrics the edge node has (docs/sparkplug.md, "Metric map"): the line's registers on
//! their Modbus devices, and on the node the outbox depth and each alert kind (active or not).
//!
//! Aliases follow from the order here: node metrics first (outbox, then alert kinds in the
//! order given), then each device's registers in config order. The same configuration always
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

/// The catalogue of an agent with these registers and alert kinds.
pub fn catalogue(registers: &[Register<'_>], alert_kinds: &[&str]) -> Catalogue {
    let mut c = Catalogue::default();
    c.add(None, OUTBOX_DEPTH, DataType::UInt64, "");
    for k in alert_kinds {
        c.add(None, &alert_active(k), DataType::Boolean, "");
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
        let c = catalogue(&regs, &["fat_bloom_risk", "anomaly"]);
        assert_eq!(c.alias(None, OUTBOX_DEPTH), Some(1));
        assert_eq!(c.alias(None, "alerts/fat_bloom_risk"), Some(2));
        assert_eq!(c.alias(None, "alerts/anomaly"), Some(3));
        assert_eq!(c.alias(Some("tempering"), "temperature"), Some(4));
        assert_eq!(c.alias(Some("plc"), "running"), Some(5));
        assert_eq!(c.alias(Some("tempering"), "humidity"), Some(6));
        let (_, running) = c.by_alias(5).unwrap();
        assert_eq!(running.datatype, DataType::Boolean);
        let (_, temp) = c.by_alias(4).unwrap();
        assert_eq!(
            (temp.datatype, temp.unit.as_str()),
            (DataType::Double, "°C")
        );
    }
}
