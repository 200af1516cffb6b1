//! Tests of the edge node's session rules (src/sparkplug/node.rs).

use prost::Message as _;

use super::DataType;
use super::node::*;
use super::proto::{Payload, metric::Value};
use super::value::Val;

fn catalogue() -> Catalogue {
    let mut c = Catalogue::default();
    c.add(None, "models/bloom/confidence", DataType::Double, "");
    c.add(Some("tempering"), "temperature", DataType::Double, "°C");
    c.add(Some("plc"), "batch_id", DataType::UInt32, "");
    c.add(Some("tempering"), "humidity", DataType::Double, "%RH");
    c.add(None, "alerts/fat_bloom_risk", DataType::Boolean, "");
    c
}

fn decoded(raw: &[u8]) -> Payload {
    Payload::decode(raw).unwrap()
}

#[test]
fn aliases_are_unique_across_node_and_devices_and_follow_the_order_given() {
    let c = catalogue();
    assert_eq!(c.alias(None, "models/bloom/confidence"), Some(1));
    assert_eq!(c.alias(Some("tempering"), "temperature"), Some(2));
    assert_eq!(c.alias(Some("plc"), "batch_id"), Some(3));
    assert_eq!(c.alias(Some("tempering"), "humidity"), Some(4));
    assert_eq!(c.alias(None, "alerts/fat_bloom_risk"), Some(5));
    assert_eq!(
        c.alias(None, "temperature"),
        None,
        "a device's metric is not the node's"
    );
    let (device, def) = c.by_alias(4).unwrap();
    assert_eq!(
        (device, def.name.as_str(), def.unit.as_str()),
        (Some("tempering"), "humidity", "%RH")
    );
    assert_eq!(c.devices().collect::<Vec<_>>(), ["plc", "tempering"]);
}

#[test]
fn a_name_twice_or_a_reserved_name_gets_no_second_alias() {
    let mut c = catalogue();
    assert_eq!(c.add(Some("plc"), "batch_id", DataType::Int32, ""), None);
    assert_eq!(c.add(None, BD_SEQ, DataType::Int64, ""), None);
    assert_eq!(c.add(None, REBIRTH, DataType::Boolean, ""), None);
    assert_eq!(
        c.add(Some("plc"), BD_SEQ, DataType::Int64, ""),
        Some(6),
        "a device may"
    );
    assert_eq!(
        c.add(Some("tempering"), "batch_id", DataType::UInt32, ""),
        Some(7)
    );
}

#[test]
fn data_leave_out_aliases_of_other_owners() {
    let c = catalogue();
    let mut s = Session::new("g", "e", 0).unwrap();
    let change = |alias| Change {
        alias,
        value: 1.0.into(),
        ts: 1,
        historical: false,
    };
    // 2 is tempering's, 3 is plc's, 1 is the node's, 99 nobody's.
    let (_, raw) = s
        .data(
            &c,
            Some("tempering"),
            1,
            &[change(2), change(3), change(1), change(99)],
        )
        .unwrap();
    let aliases: Vec<_> = decoded(&raw).metrics.iter().map(|m| m.alias).collect();
    assert_eq!(aliases, [Some(2)]);
    let (_, raw) = s
        .data(&c, None, 1, &[change(2), change(1), change(5)])
        .unwrap();
    let aliases: Vec<_> = decoded(&raw).metrics.iter().map(|m| m.alias).collect();
    assert_eq!(aliases, [Some(1), Some(5)]);
}

#[test]
fn births_number_from_zero_and_carry_bdseq_rebirth_names_aliases_and_units() {
    let c = catalogue();
    let mut s = Session::new("plant1", "line-3", 7).unwrap();
    let births = s
        .births(&c, 1000, |device, name| match (device, name) {
            (Some("tempering"), "temperature") => Some(31.5.into()),
            (None, "alerts/fat_bloom_risk") => Some(1.0.into()),
            _ => None,
        })
        .unwrap();
    let topics: Vec<_> = births.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        topics,
        [
            "spBv1.0/plant1/NBIRTH/line-3",
            "spBv1.0/plant1/DBIRTH/line-3/plc",
            "spBv1.0/plant1/DBIRTH/line-3/tempering"
        ]
    );
    let nb = decoded(&births[0].1);
    assert_eq!((nb.seq, nb.timestamp), (Some(0), Some(1000)));
    let bd = &nb.metrics[0];
    assert_eq!((bd.name.as_deref(), bd.datatype), (Some("bdSeq"), Some(4)));
    assert_eq!(bd.value, Some(Value::LongValue(7)));
    let rb = &nb.metrics[1];
    assert_eq!((rb.name.as_deref(), rb.alias), (Some(REBIRTH), None));
    assert_eq!(rb.value, Some(Value::BooleanValue(false)));
    let conf = &nb.metrics[2];
    assert_eq!(
        (conf.alias, conf.is_null),
        (Some(1), Some(true)),
        "no value yet: null"
    );
    assert_eq!(nb.metrics[3].value, Some(Value::BooleanValue(true)));
    let temp = &decoded(&births[2].1);
    assert_eq!(temp.seq, Some(2));
    let t = &temp.metrics[0];
    assert_eq!(
        (t.name.as_deref(), t.alias, t.datatype),
        (Some("temperature"), Some(2), Some(10))
    );
    assert_eq!(t.value, Some(Value::DoubleValue(31.5)));
    let unit = t.properties.as_ref().unwrap();
    assert_eq!(unit.keys, ["engUnit"]);
    assert_eq!(decoded(&births[1].1).seq, Some(1));
}

#[test]
fn data_go_by_alias_and_seq_runs_on_and_wraps_and_a_rebirth_restarts_it() {
    let c = catalogue();
    let mut s = Session::new("g", "e", 0).unwrap();
    s.births(&c, 0, |_, _| None).unwrap(); // seq 0, 1, 2
    let change = |alias, value, historical| Change {
        alias,
        value: Val::Number(value),
        ts: 5,
        historical,
    };
    let (topic, raw) = s
        .data(
            &c,
            Some("tempering"),
            9,
            &[change(2, 32.0, false), change(4, f64::NAN, true)],
        )
        .unwrap();
    assert_eq!(topic, "spBv1.0/g/DDATA/e/tempering");
    let p = decoded(&raw);
    assert_eq!(p.seq, Some(3));
    assert_eq!(p.metrics[0].name, None, "data carry the alias only");
    assert_eq!((p.metrics[0].alias, p.metrics[0].datatype), (Some(2), None));
    assert_eq!(p.metrics[0].is_historical, None);
    assert_eq!(
        (p.metrics[1].is_null, p.metrics[1].is_historical),
        (Some(true), Some(true))
    );
    let mut last = 3;
    for _ in 0..300 {
        let (t, raw) = s.data(&c, None, 9, &[change(1, 0.5, false)]).unwrap();
        assert!(t.ends_with("/NDATA/e"));
        let seq = decoded(&raw).seq.unwrap();
        assert_eq!(seq, (last + 1) % 256);
        last = seq;
    }
    let again = s.births(&c, 10, |_, _| None).unwrap();
    assert_eq!(
        decoded(&again[0].1).seq,
        Some(0),
        "a rebirth starts over at 0"
    );
    assert_eq!(
        decoded(&again[0].1).metrics[0].value,
        Some(Value::LongValue(0)),
        "same bdSeq"
    );
}

#[test]
fn death_carries_the_connections_bdseq_and_no_seq() {
    let s = Session::new("g", "e", 255).unwrap();
    let (topic, raw) = s.death(42).unwrap();
    assert_eq!(topic, "spBv1.0/g/NDEATH/e");
    let p = decoded(&raw);
    assert_eq!(p.seq, None);
    assert_eq!(p.metrics.len(), 1);
    assert_eq!(p.metrics[0].value, Some(Value::LongValue(255)));
    assert!(Session::new("g/x", "e", 0).is_err(), "ids are checked");
}

#[test]
fn commands_are_read_or_refused_with_a_reason() {
    let rebirth = |value: Option<Value>, name: Option<&str>, alias: Option<u64>| {
        Payload {
            timestamp: Some(1),
            metrics: vec![super::proto::Metric {
                name: name.map(str::to_owned),
                alias,
                value,
                ..Default::default()
            }],
            ..Default::default()
        }
        .encode_to_vec()
    };
    assert_eq!(
        command(&rebirth(
            Some(Value::BooleanValue(true)),
            Some(REBIRTH),
            None
        )),
        Ok(Command::Rebirth)
    );
    assert_eq!(
        command(&rebirth(
            Some(Value::BooleanValue(false)),
            Some(REBIRTH),
            None
        )),
        Err(CommandError::BadValue)
    );
    assert_eq!(
        command(&rebirth(Some(Value::LongValue(1)), Some(REBIRTH), None)),
        Err(CommandError::BadValue)
    );
    assert_eq!(
        command(&rebirth(
            Some(Value::BooleanValue(true)),
            Some("Node Control/Reboot"),
            None
        )),
        Err(CommandError::Unknown("\"Node Control/Reboot\"".into()))
    );
    assert_eq!(
        command(&rebirth(Some(Value::DoubleValue(1.0)), None, Some(3))),
        Err(CommandError::Unknown("alias 3".into()))
    );
    assert_eq!(
        command(&Payload::default().encode_to_vec()),
        Err(CommandError::Empty)
    );
    assert!(matches!(
        command(b"\xff\xff\xff"),
        Err(CommandError::Malformed(_))
    ));
}

#[test]
fn bdseq_goes_on_across_restarts_and_wraps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sparkplug.bdseq");
    assert_eq!(BdSeqFile::new(&path).next().unwrap(), 0);
    assert_eq!(
        BdSeqFile::new(&path).next().unwrap(),
        1,
        "a new instance: a restart"
    );
    std::fs::write(&path, "255\n").unwrap();
    assert_eq!(BdSeqFile::new(&path).next().unwrap(), 0);
    std::fs::write(&path, "garbage").unwrap();
    assert_eq!(
        BdSeqFile::new(&path).next().unwrap(),
        0,
        "unreadable: start over"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "0\n");
}
