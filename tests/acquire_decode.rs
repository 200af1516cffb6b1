//! Decoding matrix end to end: every data type × every byte order, with scale and offset,
//! served by the real tokio-modbus simulator and read back by the poller over TCP.
//!
//! The expected wire words are derived here from the byte-order definitions with an index
//! table (independently of `decode.rs`), so a byte order wrong on both the encoding and the
//! decoding side still fails.

mod common;

use std::fmt::Write as _;
use std::time::Duration;

use chocoline::domain::Quality;
use chocoline::simulate::source::FixedSource;
use common::acquire::*;
use tokio_util::sync::CancellationToken;

const TYPES: [&str; 9] = [
    "INT16", "UINT16", "INT32", "UINT32", "INT64", "UINT64", "FLOAT32", "FLOAT64", "BOOL",
];
const ORDERS: [&str; 4] = ["ABCD", "DCBA", "BADC", "CDAB"];

fn words_of(t: &str) -> usize {
    match t {
        "INT16" | "UINT16" | "BOOL" => 1,
        "INT32" | "UINT32" | "FLOAT32" => 2,
        _ => 4,
    }
}

/// Raw value per type: negative for signed types, beyond 16/32 bits for wide ones, a
/// fractional value for floats; all exactly representable.
fn raw_of(t: &str, k: usize) -> f64 {
    let k = k as f64;
    match t {
        "INT16" => -1234.0 - k,
        "UINT16" => 51234.0 + k,
        "INT32" => -123_456_789.0 - k,
        "UINT32" => 3_000_000_000.0 + k,
        "INT64" => -9_007_199_254_740.0 - k,
        "UINT64" => 4_503_599_627_370_496.0 + 2.0 * k,
        "FLOAT32" => 31.25 + k,
        "FLOAT64" => 1234.5678 + k,
        _ => 1.0,
    }
}

/// Big-endian bytes of the raw value.
fn be_bytes(t: &str, raw: f64) -> Vec<u8> {
    match t {
        "INT16" => (raw as i16).to_be_bytes().to_vec(),
        "UINT16" => (raw as u16).to_be_bytes().to_vec(),
        "INT32" => (raw as i32).to_be_bytes().to_vec(),
        "UINT32" => (raw as u32).to_be_bytes().to_vec(),
        "INT64" => (raw as i64).to_be_bytes().to_vec(),
        "UINT64" => (raw as u64).to_be_bytes().to_vec(),
        "FLOAT32" => (raw as f32).to_be_bytes().to_vec(),
        "FLOAT64" => raw.to_be_bytes().to_vec(),
        _ => vec![0, 1],
    }
}

/// Wire byte i comes from big-endian byte INDEX[order][i] (for n bytes).
fn wire_words(t: &str, order: &str, raw: f64) -> Vec<u16> {
    let be = be_bytes(t, raw);
    let n = be.len();
    let idx: Vec<usize> = (0..n)
        .map(|i| match (order, t) {
            (_, "BOOL") => i,
            ("ABCD", _) => i,
            ("DCBA", _) => n - 1 - i,
            ("BADC", _) => i ^ 1,
            // word swap: word w of the wire is word (n/2 - 1 - w) of the value
            ("CDAB", _) => (n / 2 - 1 - i / 2) * 2 + i % 2,
            _ => unreachable!(),
        })
        .collect();
    let wire: Vec<u8> = idx.iter().map(|&j| be[j]).collect();
    wire.chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "test: every data type and byte order through a real server, one table"
)]
async fn every_type_and_byte_order_round_trips_through_a_real_server() {
    let mut toml = String::from(
        "[[devices]]\nname = \"matrix\"\ncontroller = \"tcp://PLACEHOLDER\"\nslave_id = 7\npoll_interval = \"200ms\"\ntimeout = \"300ms\"\nmax_word_registers_per_request = 20\n",
    );
    let mut values = Vec::new();
    let mut expected = Vec::new();
    let mut addr = 0u32;
    let mut k = 0;
    for (ti, t) in TYPES.iter().enumerate() {
        for (oi, o) in ORDERS.iter().enumerate() {
            let name = format!("{}_{}", t.to_lowercase(), o.to_lowercase());
            let raw = raw_of(t, k);
            let (scale, offset) = if *t == "BOOL" {
                (1.0, 0.0)
            } else {
                (0.5 + ti as f64, oi as f64 - 1.5)
            };
            let eng = if *t == "BOOL" {
                raw
            } else {
                raw * scale + offset
            };
            // Alternate the two tables; leave a one-word hole now and then.
            let table = if k % 2 == 0 { "holding" } else { "input" };
            write!(
                toml,
                "[[devices.registers]]\nname = \"{name}\"\nregister = \"{table}\"\naddress = {addr}\ndata_type = \"{t}\"\nbyte_order = \"{o}\"\nscale = {scale:?}\noffset = {offset:?}\nunit = \"u{k}\"\n"
            )
            .unwrap();
            addr += words_of(t) as u32 + u32::from(k % 3 == 0);
            values.push((name.clone(), eng));
            expected.push((name, eng, wire_words(t, o, raw), format!("u{k}")));
            k += 1;
        }
    }
    // Coils and discrete inputs are booleans, whatever data_type says.
    toml.push_str("[[devices.registers]]\nname = \"coil_on\"\nregister = \"coil\"\naddress = 3\n");
    toml.push_str("[[devices.registers]]\nname = \"coil_off\"\nregister = \"coil\"\naddress = 4\n");
    toml.push_str(
        "[[devices.registers]]\nname = \"disc_on\"\nregister = \"discrete\"\naddress = 100\n",
    );
    // Kept and flagged when outside valid_range.
    toml.push_str("[[devices.registers]]\nname = \"too_hot\"\naddress = 500\nscale = 0.1\nvalid_range = [0.0, 40.0]\n");
    values.extend([
        ("coil_on".to_string(), 1.0),
        ("coil_off".to_string(), 0.0),
        ("disc_on".to_string(), 1.0),
        ("too_hot".to_string(), 45.5),
    ]);

    let token = CancellationToken::new();
    let cfg = config(&toml);
    let (addr, _svc) = start_sim(&cfg.devices, FixedSource::new(values), &token).await;
    let cfg = config(&toml.replace("PLACEHOLDER", &addr));
    let mut run = start_poller(&cfg.devices);
    let sample = run
        .wait_for("matrix", Duration::from_secs(5), |_| true)
        .await
        .expect("a sample");
    run.stop().await;
    token.cancel();

    assert!(expected.len() >= 36);
    for (name, eng, wire, unit) in &expected {
        let r = sample.readings.iter().find(|r| &*r.name == name).unwrap();
        assert_eq!(r.quality, Quality::Good, "{name}");
        assert_eq!(&r.raw, wire, "{name}: wire words");
        let tol = eng.abs() * 1e-12;
        assert!((r.value - eng).abs() <= tol, "{name}: {} != {eng}", r.value);
        assert_eq!(&*r.unit, unit.as_str());
        assert_eq!(&*r.device, "matrix");
    }
    let get = |n: &str| {
        sample
            .readings
            .iter()
            .find(|r| &*r.name == n)
            .unwrap()
            .clone()
    };
    assert_eq!(get("coil_on").value, 1.0);
    assert_eq!(get("coil_on").raw, vec![1]);
    assert_eq!(get("coil_off").value, 0.0);
    assert_eq!(get("disc_on").value, 1.0);
    let hot = get("too_hot");
    assert_eq!(hot.quality, Quality::OutOfRange);
    assert!((hot.value - 45.5).abs() < 1e-9);
    assert_eq!(hot.raw, vec![455]);
    // Readings come in config order.
    assert_eq!(&*sample.readings[0].name, "int16_abcd");
    assert_eq!(sample.readings.len(), expected.len() + 4);
}
