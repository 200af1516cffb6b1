//! A host's reading of edge-node messages: the topic and payload decoded, and every metric
//! named. Data carry only aliases (`payloads-alias-data-cmd-requirement`), so names,
//! datatypes and units come from the births seen before ([`Births`]): an NBIRTH starts the
//! edge node's table afresh, its DBIRTHs add to it (aliases are unique across the node and
//! its devices, `payloads-alias-uniqueness`). Values are read with the birth's datatype, so
//! a negative Int16 sent by alias comes back negative.
//!
//! `chocoline demo --sparkplug` prints what this reads; any tool watching `spBv1.0/#` can use
//! it. It never fails on a message it cannot name: the metric stays unnamed.

use std::collections::HashMap;

use prost::Message as _;

use super::proto::{Metric, Payload, metric::Value as Wire, property_value};
use super::topic::{MessageType, Topic, TopicError};
use super::{DataType, node, value};

/// A metric's value, as read.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// A number (integers, floats, DateTime in milliseconds).
    Number(f64),
    /// A Boolean.
    Flag(bool),
    /// A String or Text.
    Text(String),
    /// `is_null`, or no value.
    Null,
    /// A kind not shown here (bytes, data set, template), or a value that does not match
    /// its datatype: what it is.
    Unshown(&'static str),
}

/// One metric of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedMetric {
    /// Its name: the message's own, else the birth's for its alias; None if neither.
    pub name: Option<String>,
    /// Its alias, if the message or the birth gave one.
    pub alias: Option<u64>,
    /// The `engUnit` property, from the message or the birth.
    pub unit: Option<String>,
    /// The value.
    pub value: Reading,
    /// Marked `is_historical`.
    pub historical: bool,
}

/// One edge-node message, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    /// The topic: group, message type, edge node, device.
    pub topic: Topic,
    /// `seq` (none in NDEATH and commands).
    pub seq: Option<u64>,
    /// The payload's timestamp, milliseconds since the epoch.
    pub timestamp: Option<u64>,
    /// The `bdSeq` metric's value (NBIRTH, NDEATH).
    pub bd_seq: Option<u64>,
    /// Every metric, in the message's order.
    pub metrics: Vec<NamedMetric>,
}

/// Why a message could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum DescribeError {
    /// Not a topic of the edge-node namespace (e.g. a host's `spBv1.0/STATE/…`).
    #[error(transparent)]
    Topic(#[from] TopicError),
    /// Not a Sparkplug B payload.
    #[error("not a Sparkplug B payload: {0}")]
    Payload(#[from] prost::DecodeError),
}

/// What a birth said about one alias.
#[derive(Debug, Clone)]
struct Known {
    name: String,
    datatype: Option<DataType>,
    unit: Option<String>,
}

/// What the births said, per edge node (group, edge node): alias → name, datatype, unit.
#[derive(Debug, Default)]
pub struct Births {
    nodes: HashMap<(String, String), HashMap<u64, Known>>,
}

impl Births {
    /// An empty table.
    pub fn new() -> Self {
        Births::default()
    }

    /// Read one message; births update the table first, so they name their own metrics.
    pub fn read(&mut self, topic: &str, payload: &[u8]) -> Result<Described, DescribeError> {
        let topic = Topic::parse(topic)?;
        let payload = Payload::decode(payload)?;
        let key = (topic.group.clone(), topic.edge_node.clone());
        if topic.message_type == MessageType::NBirth {
            self.nodes.insert(key.clone(), HashMap::new());
        }
        if matches!(
            topic.message_type,
            MessageType::NBirth | MessageType::DBirth
        ) {
            let table = self.nodes.entry(key.clone()).or_default();
            for m in &payload.metrics {
                if let (Some(alias), Some(name)) = (m.alias, &m.name) {
                    let known = Known {
                        name: name.clone(),
                        datatype: m.datatype.and_then(value::datatype),
                        unit: eng_unit(m),
                    };
                    table.insert(alias, known);
                }
            }
        }
        let table = self.nodes.get(&key);
        let metrics: Vec<NamedMetric> = (payload.metrics.iter())
            .map(|m| named(m, m.alias.and_then(|a| table?.get(&a))))
            .collect();
        let bd_seq = (metrics.iter())
            .find(|m| m.name.as_deref() == Some(node::BD_SEQ))
            .and_then(|m| match m.value {
                Reading::Number(x) if x >= 0.0 => Some(x as u64),
                _ => None,
            });
        Ok(Described {
            topic,
            seq: payload.seq,
            timestamp: payload.timestamp,
            bd_seq,
            metrics,
        })
    }
}

/// A metric with what the message and the birth (`known`) say about it.
fn named(m: &Metric, known: Option<&Known>) -> NamedMetric {
    let datatype = (m.datatype.and_then(value::datatype)).or(known.and_then(|k| k.datatype));
    NamedMetric {
        name: m.name.clone().or_else(|| known.map(|k| k.name.clone())),
        alias: m.alias,
        unit: eng_unit(m).or_else(|| known.and_then(|k| k.unit.clone())),
        value: reading(m, datatype),
        historical: m.is_historical == Some(true),
    }
}

/// The `engUnit` property's text.
fn eng_unit(m: &Metric) -> Option<String> {
    let props = m.properties.as_ref()?;
    let i = props.keys.iter().position(|k| k == "engUnit")?;
    match &props.values.get(i)?.value {
        Some(property_value::Value::StringValue(s)) => Some(s.clone()),
        _ => None,
    }
}

/// The value, read as `datatype` when known, else by the kind of field it came in.
fn reading(m: &Metric, datatype: Option<DataType>) -> Reading {
    let Some(wire) = m.value.as_ref().filter(|_| m.is_null != Some(true)) else {
        return Reading::Null;
    };
    match (datatype, wire) {
        (_, Wire::BooleanValue(b)) => Reading::Flag(*b),
        (_, Wire::StringValue(s)) => Reading::Text(s.clone()),
        (_, Wire::BytesValue(_)) => Reading::Unshown("bytes"),
        (_, Wire::DatasetValue(_)) => Reading::Unshown("data set"),
        (_, Wire::TemplateValue(_)) => Reading::Unshown("template"),
        (Some(DataType::Float) | None, Wire::FloatValue(x)) => Reading::Number(float(*x)),
        (Some(dt), w) => {
            value::decode(dt, w).map_or(Reading::Unshown("mismatched"), Reading::Number)
        }
        (None, Wire::IntValue(x)) => Reading::Number(f64::from(*x)),
        (None, Wire::LongValue(x)) => Reading::Number(*x as f64),
        (None, Wire::DoubleValue(x)) => Reading::Number(*x),
    }
}

/// A Float as the decimal it was written from (30.68, not 30.680000305…): the shortest
/// text that reads back to the same f32, as f64.
fn float(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparkplug::node::{Catalogue, Change, Session};

    fn catalogue() -> Catalogue {
        let mut cat = Catalogue::default();
        cat.add(None, "outbox/depth", DataType::UInt64, "");
        cat.add(Some("tempering"), "temperature", DataType::Double, "°C");
        cat.add(Some("tempering"), "tunnel_offset", DataType::Int16, "K");
        cat
    }

    #[test]
    fn births_name_their_metrics_and_data_by_alias_are_named_from_them() {
        let cat = catalogue();
        let mut s = Session::new("demo", "line-1", 7).unwrap();
        let births = s.births(&cat, 1, |_, _| Some(2.0_f64.into())).unwrap();
        let mut host = Births::new();
        let nbirth = host.read(&births[0].0, &births[0].1).unwrap();
        assert_eq!(nbirth.topic.message_type, MessageType::NBirth);
        assert_eq!((nbirth.seq, nbirth.bd_seq), (Some(0), Some(7)));
        let names: Vec<_> = nbirth.metrics.iter().map(|m| m.name.as_deref()).collect();
        assert_eq!(
            names,
            [Some("bdSeq"), Some(node::REBIRTH), Some("outbox/depth")]
        );
        assert_eq!(nbirth.metrics[1].value, Reading::Flag(false));
        let dbirth = host.read(&births[1].0, &births[1].1).unwrap();
        assert_eq!(dbirth.topic.device.as_deref(), Some("tempering"));
        assert_eq!(dbirth.metrics[0].unit.as_deref(), Some("°C"));
        assert_eq!(dbirth.metrics[0].value, Reading::Number(2.0));

        let alias = cat.alias(Some("tempering"), "tunnel_offset").unwrap();
        let change = Change {
            alias,
            value: (-3.0_f64).into(),
            ts: 2,
            historical: true,
        };
        let (topic, bytes) = s.data(&cat, Some("tempering"), 2, &[change]).unwrap();
        let ddata = host.read(&topic, &bytes).unwrap();
        let m = &ddata.metrics[0];
        assert_eq!(m.name.as_deref(), Some("tunnel_offset"));
        assert_eq!(m.unit.as_deref(), Some("K"));
        assert_eq!(m.value, Reading::Number(-3.0), "read as the birth's Int16");
        assert!(m.historical);
        assert_eq!(ddata.seq, Some(2));
        assert_eq!(ddata.bd_seq, None);
    }

    #[test]
    fn death_carries_bdseq_and_unknown_aliases_stay_unnamed() {
        let cat = catalogue();
        let mut s = Session::new("demo", "line-1", 3).unwrap();
        let mut host = Births::new();
        let (topic, bytes) = s.death(5).unwrap();
        let death = host.read(&topic, &bytes).unwrap();
        assert_eq!((death.bd_seq, death.seq), (Some(3), None));
        // Data before any birth: aliases without names, values by their field.
        let alias = cat.alias(None, "outbox/depth").unwrap();
        let change = Change {
            alias,
            value: f64::NAN.into(),
            ts: 2,
            historical: false,
        };
        let (topic, bytes) = s.data(&cat, None, 2, &[change]).unwrap();
        let ndata = host.read(&topic, &bytes).unwrap();
        assert_eq!(ndata.metrics[0].name, None);
        assert_eq!(ndata.metrics[0].alias, Some(alias));
        assert_eq!(ndata.metrics[0].value, Reading::Null);
    }

    #[test]
    fn floats_read_as_the_decimal_written() {
        let m = Metric {
            datatype: Some(DataType::Float.number()),
            value: Some(Wire::FloatValue(30.68)),
            ..Metric::default()
        };
        assert_eq!(reading(&m, Some(DataType::Float)), Reading::Number(30.68));
        assert_eq!(reading(&m, None), Reading::Number(30.68));
        assert_eq!(float(f32::INFINITY), f64::INFINITY);
    }

    #[test]
    fn what_is_not_an_edge_node_message_is_refused() {
        let mut host = Births::new();
        assert!(matches!(
            host.read("spBv1.0/STATE/scada", b"{}"),
            Err(DescribeError::Topic(_))
        ));
        assert!(matches!(
            host.read("spBv1.0/demo/NDATA/line-1", &[0xff, 0xff]),
            Err(DescribeError::Payload(_))
        ));
    }
}
