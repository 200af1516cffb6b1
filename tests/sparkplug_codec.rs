//! Sparkplug B encoding (issue #19: "cargo test covers encoding round-trips"), checked against
//! a library nobody here wrote: pysparkplug 0.6.1.
//!
//! - Always: the payloads pysparkplug encoded (tests/fixtures/sparkplug/pysparkplug.json,
//!   produced by `python3 tests/interop/sparkplug.py fixtures`) decode through chocoline's
//!   prost messages to the metrics pysparkplug was given, and encode back to the same bytes.
//! - With pysparkplug installed (mandatory under CHOCOLINE_INTEROP=1, which `.ci/run` sets
//!   after installing tests/interop/requirements.txt): the script regenerates exactly the
//!   committed fixtures, and pysparkplug decodes what chocoline encodes to the same metrics.

mod common;

use std::process::Command;

use chocoline::sparkplug::proto::metric::Value;
use chocoline::sparkplug::value::{datatype, decode, encode};
use chocoline::sparkplug::{DataType, Metric, Payload};
use prost::Message as _;
use serde_json::{Value as Json, json};

const TS: u64 = 1_700_000_000_000;

fn fixtures() -> Json {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sparkplug/pysparkplug.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bytes_of(fixtures: &Json, name: &str) -> Vec<u8> {
    hex::decode(fixtures[name].as_str().unwrap()).unwrap()
}

/// The number a decoded metric carries (by its own datatype).
fn number(m: &Metric) -> Option<f64> {
    let dt = datatype(m.datatype?)?;
    decode(dt, m.value.as_ref()?)
}

#[test]
fn pysparkplug_payloads_encode_back_byte_for_byte() {
    let f = fixtures();
    for name in ["nbirth", "ndata", "ndeath", "ncmd_rebirth"] {
        let raw = bytes_of(&f, name);
        let p = Payload::decode(raw.as_slice()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            p.encode_to_vec(),
            raw,
            "{name}: not the same bytes after a round trip"
        );
    }

    let birth = Payload::decode(bytes_of(&f, "nbirth").as_slice()).unwrap();
    assert_eq!((birth.timestamp, birth.seq), (Some(TS), Some(0)));
    let m = &birth.metrics;
    assert_eq!(m[0].name.as_deref(), Some("bdSeq"));
    assert_eq!(
        (m[0].datatype, &m[0].value),
        (Some(4), &Some(Value::LongValue(3)))
    );
    assert_eq!(m[1].name.as_deref(), Some("Node Control/Rebirth"));
    assert_eq!(m[1].value, Some(Value::BooleanValue(false)));
    assert_eq!(m[1].alias, None, "Rebirth never has an alias");
    let named: Vec<_> = m[2..]
        .iter()
        .map(|x| {
            (
                x.name.clone().unwrap(),
                x.alias.unwrap(),
                x.timestamp.unwrap(),
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            ("tempering/temperature".to_string(), 1, TS),
            ("plc/offset".to_string(), 2, TS),
            ("plc/batch_id".to_string(), 3, TS),
            ("plc/state".to_string(), 4, TS)
        ]
    );
    assert_eq!(number(&m[2]), Some(31.5));
    assert_eq!(
        m[3].value,
        Some(Value::IntValue(0xFB)),
        "Int8 −5, width-masked"
    );
    assert_eq!(number(&m[3]), Some(-5.0));
    assert_eq!(number(&m[4]), Some(4242.0));
    assert_eq!(m[5].value, Some(Value::StringValue("RUN".into())));
}

#[test]
fn pysparkplug_data_death_and_rebirth_command() {
    let f = fixtures();
    let data = Payload::decode(bytes_of(&f, "ndata").as_slice()).unwrap();
    assert_eq!((data.timestamp, data.seq), (Some(TS + 1000), Some(1)));
    let by_alias: Vec<_> = (data.metrics.iter())
        .map(|x| (x.alias, x.name.clone(), x.datatype, x.value.clone()))
        .collect();
    assert_eq!(
        by_alias,
        [
            (Some(1), None, None, Some(Value::DoubleValue(31.75))),
            (Some(2), None, None, Some(Value::IntValue(0xFA))),
        ],
        "data by alias only, no name, no datatype"
    );

    let death = Payload::decode(bytes_of(&f, "ndeath").as_slice()).unwrap();
    assert_eq!(death.seq, None, "NDEATH carries no seq");
    assert_eq!(death.metrics[0].value, Some(Value::LongValue(3)));

    let cmd = Payload::decode(bytes_of(&f, "ncmd_rebirth").as_slice()).unwrap();
    let rebirth = &cmd.metrics[0];
    assert_eq!(rebirth.name.as_deref(), Some("Node Control/Rebirth"));
    assert_eq!(
        rebirth.datatype, None,
        "pysparkplug sends commands without a datatype"
    );
    assert_eq!(rebirth.value, Some(Value::BooleanValue(true)));
}

/// The NBIRTH of the fixtures, built with chocoline's messages and value encoding.
fn our_birth() -> Payload {
    let metric = |name: &str, alias: Option<u64>, dt: DataType, value: Value| Metric {
        name: Some(name.into()),
        alias,
        timestamp: Some(TS),
        datatype: Some(dt.number()),
        value: Some(value),
        ..Metric::default()
    };
    let num = |dt, v| encode(dt, v).unwrap();
    Payload {
        timestamp: Some(TS),
        seq: Some(0),
        metrics: vec![
            metric("bdSeq", None, DataType::Int64, num(DataType::Int64, 3.0)),
            metric(
                "Node Control/Rebirth",
                None,
                DataType::Boolean,
                num(DataType::Boolean, 0.0),
            ),
            metric(
                "tempering/temperature",
                Some(1),
                DataType::Double,
                num(DataType::Double, 31.5),
            ),
            metric(
                "plc/offset",
                Some(2),
                DataType::Int8,
                num(DataType::Int8, -5.0),
            ),
            metric(
                "plc/batch_id",
                Some(3),
                DataType::UInt32,
                num(DataType::UInt32, 4242.0),
            ),
            metric(
                "plc/state",
                Some(4),
                DataType::String,
                Value::StringValue("RUN".into()),
            ),
        ],
        ..Payload::default()
    }
}

#[test]
fn what_chocoline_builds_is_what_pysparkplug_encodes() {
    let f = fixtures();
    assert_eq!(our_birth().encode_to_vec(), bytes_of(&f, "nbirth"));
}

/// `python3 tests/interop/sparkplug.py ARGS` (`CHOCOLINE_PYTHON` picks the interpreter), or
/// None when pysparkplug is not importable and interop is not mandatory.
fn pysparkplug(args: &[&str]) -> Option<String> {
    let python = std::env::var("CHOCOLINE_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/sparkplug.py");
    let probe = Command::new(&python)
        .args(["-c", "import pysparkplug"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            !common::interop(),
            "CHOCOLINE_INTEROP=1 but {python} cannot import pysparkplug (pip install -r tests/interop/requirements.txt)"
        );
        eprintln!(
            "SKIPPED: pysparkplug not installed (set CHOCOLINE_INTEROP=1 to make it mandatory)"
        );
        return None;
    }
    let out = Command::new(&python)
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn pysparkplug_reads_what_chocoline_encodes() {
    let Some(regenerated) = pysparkplug(&["fixtures"]) else {
        return;
    };
    let regenerated: Json = serde_json::from_str(&regenerated).unwrap();
    assert_eq!(regenerated, fixtures(), "the committed fixtures are stale");

    let birth = our_birth().encode_to_vec();
    let data = Payload {
        timestamp: Some(TS + 2000),
        seq: Some(1),
        metrics: [(1, DataType::Double, -0.125), (2, DataType::Int8, -128.0)]
            .into_iter()
            .map(|(alias, dt, v)| Metric {
                alias: Some(alias),
                timestamp: Some(TS + 2000),
                is_historical: Some(true),
                value: encode(dt, v),
                ..Metric::default()
            })
            .collect(),
        ..Payload::default()
    }
    .encode_to_vec();
    let out = pysparkplug(&["decode", "ndata", &hex::encode(&data), &hex::encode(&birth)]).unwrap();
    let got: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(got["seq"], 1);
    assert_eq!(got["timestamp"], TS + 2000);
    let metrics: Vec<_> = (got["metrics"].as_array().unwrap().iter())
        .map(|m| json!([m["name"], m["datatype"], m["value"], m["is_historical"]]))
        .collect();
    assert_eq!(
        metrics,
        [
            json!(["tempering/temperature", 10, -0.125, true]),
            json!(["plc/offset", 1, -128, true])
        ],
        "names and datatypes come from the birth (aliases)"
    );
}

/// The metrics pysparkplug decodes from `kind` (`birth`: the birth to resolve aliases with),
/// as `[name, datatype, value, is_historical]`; None when pysparkplug is not installed.
fn decoded_by_pysparkplug(kind: &str, raw: &[u8], birth: Option<&[u8]>) -> Option<Vec<Json>> {
    let (raw, birth) = (hex::encode(raw), birth.map(hex::encode));
    let mut args = vec!["decode", kind, raw.as_str()];
    args.extend(birth.as_deref());
    let got: Json = serde_json::from_str(&pysparkplug(&args)?).unwrap();
    Some(
        (got["metrics"].as_array().unwrap().iter())
            .map(|m| json!([m["name"], m["datatype"], m["value"], m["is_historical"]]))
            .collect(),
    )
}

#[test]
fn pysparkplug_reads_a_sessions_births_data_and_death() {
    use chocoline::sparkplug::node::{Catalogue, Change, Session};
    let mut cat = Catalogue::default();
    cat.add(None, "alerts/fat_bloom_risk", DataType::Boolean, "");
    cat.add(None, "outbox/depth", DataType::UInt64, "");
    cat.add(Some("tempering"), "temperature", DataType::Double, "°C");
    cat.add(Some("tempering"), "offset", DataType::Int16, "");
    let mut s = Session::new("plant1", "line-3", 12).unwrap();
    let births = s
        .births(&cat, TS, |_, name| match name {
            "temperature" => Some(31.5.into()),
            "offset" => Some((-300.0).into()),
            "outbox/depth" => Some(0.0.into()),
            _ => Some(0.0.into()),
        })
        .unwrap();
    let Some(nbirth) = decoded_by_pysparkplug("nbirth", &births[0].1, None) else {
        return;
    };
    assert_eq!(
        nbirth,
        [
            json!(["bdSeq", 4, 12, false]),
            json!(["Node Control/Rebirth", 11, false, false]),
            json!(["alerts/fat_bloom_risk", 11, false, false]),
            json!(["outbox/depth", 8, 0, false]),
        ]
    );
    let dbirth = &births[1].1;
    assert_eq!(
        decoded_by_pysparkplug("dbirth", dbirth, None).unwrap(),
        [
            json!(["temperature", 10, 31.5, false]),
            json!(["offset", 2, -300, false])
        ]
    );
    let change = |alias, value, historical| Change {
        alias,
        value: chocoline::sparkplug::value::Val::Number(value),
        ts: TS + 5000,
        historical,
    };
    let (_, ddata) = s
        .data(
            &cat,
            Some("tempering"),
            TS + 6000,
            &[change(3, 32.25, true), change(4, -1.0, false)],
        )
        .unwrap();
    assert_eq!(
        decoded_by_pysparkplug("ddata", &ddata, Some(dbirth)).unwrap(),
        [
            json!(["temperature", 10, 32.25, true]),
            json!(["offset", 2, -1, false])
        ]
    );
    let (_, death) = s.death(TS).unwrap();
    assert_eq!(
        decoded_by_pysparkplug("ndeath", &death, None).unwrap(),
        [json!(["bdSeq", 4, 12, false])]
    );
}
