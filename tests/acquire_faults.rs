//! Fault tests against real servers on loopback: a slave that never answers, answers late,
//! answers with exception 2, closes the connection mid-read, or sends a short / garbled frame;
//! an endpoint that is down at start. In every case the poller keeps running, the other slaves
//! keep their cadence, and it recovers.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use chocoline::domain::{Quality, Sample};
use chocoline::simulate::server::Fault;
use chocoline::simulate::source::FixedSource;
use common::acquire::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const INTERVAL_MS: u64 = 250;
const TIMEOUT_MS: u64 = 100;

/// Three slaves on one endpoint, each with two registers whose values identify the slave.
fn three_slaves(addr: &str) -> String {
    let mut t = String::new();
    for id in 1..=3 {
        t.push_str(&format!(
            "[[devices]]\nname = \"s{id}\"\ncontroller = \"tcp://{addr}\"\nslave_id = {id}\npoll_interval = \"{INTERVAL_MS}ms\"\ntimeout = \"{TIMEOUT_MS}ms\"\n\
             [[devices.registers]]\nname = \"a{id}\"\naddress = 0\ndata_type = \"FLOAT32\"\n\
             [[devices.registers]]\nname = \"b{id}\"\naddress = 10\nscale = 0.1\n"
        ));
    }
    t
}

fn source() -> FixedSource {
    FixedSource::new([
        ("a1", 1.5),
        ("b1", 10.0),
        ("a2", 2.5),
        ("b2", 20.0),
        ("a3", 3.5),
        ("b3", 30.0),
    ])
}

fn all_good_with(s: &Sample, a: f64, b: f64) -> bool {
    s.readings.iter().all(|r| r.quality == Quality::Good)
        && (s.readings[0].value - a).abs() < 1e-9
        && (s.readings[1].value - b).abs() < 1e-9
}

/// Asserts that the healthy slaves kept their cadence: every interval between consecutive
/// samples within ±(timeout + 10 % of the interval) of nominal, and every reading good and
/// correct (a late reply answering the wrong request would show up as a wrong value).
fn assert_cadence(samples: &[Sample], device: &str, a: f64, b: f64) {
    let mine = of(samples, device);
    assert!(mine.len() >= 8, "{device}: only {} samples", mine.len());
    for s in &mine {
        assert!(all_good_with(s, a, b), "{device}: bad sample {s:?}");
    }
    let tol = TIMEOUT_MS as i64 + INTERVAL_MS as i64 / 10;
    for iv in intervals(&mine) {
        assert!(
            (iv - INTERVAL_MS as i64).abs() <= tol,
            "{device}: interval {iv} ms outside {INTERVAL_MS} ± {tol} ms; all: {:?}",
            intervals(&mine)
        );
    }
}

async fn setup() -> (
    CancellationToken,
    chocoline::simulate::server::SimService,
    Running,
) {
    let token = CancellationToken::new();
    let probe = config(&three_slaves("127.0.0.1:1"));
    let (addr, svc) = start_sim(&probe.devices, source(), &token).await;
    let cfg = config(&three_slaves(&addr));
    let run = start_poller(&cfg.devices);
    (token, svc, run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_slave_is_isolated_and_recovers() {
    let (token, svc, mut run) = setup().await;
    svc.set_fault(2, Some(Fault::Silent));
    let samples = run.collect_for(Duration::from_secs(3)).await;
    assert_cadence(&samples, "s1", 1.5, 10.0);
    assert_cadence(&samples, "s3", 3.5, 30.0);
    let s2 = of(&samples, "s2");
    assert!(
        s2.len() >= 8,
        "the dead slave still gets a sample every cycle"
    );
    assert!(s2.iter().all(|s| {
        s.readings
            .iter()
            .all(|r| r.quality == Quality::CommError && r.value.is_nan())
    }));
    // Degraded: probed far less often than the ~12 cycles (2 before degrading, then probes
    // after 0.5 s, 1 s, 2 s).
    let probes = svc.requests(2);
    assert!(probes <= 6, "dead slave was asked {probes} times in 3 s");
    // Back: the probe period was at most 2 s when the fault cleared, so the slave must be
    // good again within two periods.
    svc.set_fault(2, None);
    let back = run
        .wait_for("s2", Duration::from_millis(4000 + INTERVAL_MS), |s| {
            all_good_with(s, 2.5, 20.0)
        })
        .await;
    assert!(back.is_some(), "slave 2 did not recover");
    // And it is polled every cycle again.
    let before = svc.requests(2);
    let more = run.collect_for(Duration::from_secs(1)).await;
    assert!(of(&more, "s2").iter().all(|s| all_good_with(s, 2.5, 20.0)));
    assert!(svc.requests(2) - before >= 3);
    let stats = run.stop().await;
    assert!(stats[0].1.timeouts >= 2);
    token.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_replies_do_not_poison_the_connection() {
    let (token, svc, mut run) = setup().await;
    // Replies arrive after the timeout: on a reused context they would answer the next
    // slave's request.
    svc.set_fault(2, Some(Fault::Late(Duration::from_millis(3 * TIMEOUT_MS))));
    let samples = run.collect_for(Duration::from_secs(3)).await;
    assert_cadence(&samples, "s1", 1.5, 10.0);
    assert_cadence(&samples, "s3", 3.5, 30.0);
    assert!(
        of(&samples, "s2")
            .iter()
            .all(|s| s.readings[0].quality == Quality::CommError)
    );
    svc.set_fault(2, None);
    assert!(
        run.wait_for("s2", Duration::from_secs(5), |s| all_good_with(
            s, 2.5, 20.0
        ))
        .await
        .is_some()
    );
    let stats = run.stop().await;
    assert!(
        stats[0].1.drops >= 2,
        "contexts were dropped after timeouts: {:?}",
        stats
    );
    token.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exception_is_per_block_not_a_disconnect() {
    let (token, svc, mut run) = setup().await;
    svc.set_fault(2, Some(Fault::Exception(2)));
    let samples = run.collect_for(Duration::from_secs(2)).await;
    assert_cadence(&samples, "s1", 1.5, 10.0);
    assert_cadence(&samples, "s3", 3.5, 30.0);
    let s2 = of(&samples, "s2");
    assert!(
        s2.iter()
            .all(|s| s.readings.iter().all(|r| r.quality == Quality::CommError))
    );
    // An exception means the device is alive: it is not degraded (asked every cycle, both
    // blocks) and the connection is never dropped.
    assert!(
        svc.requests(2) >= 2 * (s2.len() as u64) - 2,
        "asked {} for {} cycles",
        svc.requests(2),
        s2.len()
    );
    svc.set_fault(2, None);
    assert!(
        run.wait_for("s2", Duration::from_millis(3 * INTERVAL_MS), |s| {
            all_good_with(s, 2.5, 20.0)
        })
        .await
        .is_some()
    );
    let stats = run.stop().await;
    assert_eq!(stats[0].1.drops, 0);
    assert_eq!(stats[0].1.connects, 1);
    token.cancel();
}

/// What the raw fake does with requests for unit 2.
const NORMAL: u8 = 0;
const CLOSE: u8 = 1;
const SHORT: u8 = 2;
const GARBAGE: u8 = 3;

/// A hand-written Modbus TCP responder: unit 1 always answers read holding registers with
/// words 0x0001, 0x0002 …; unit 2 misbehaves as `mode` says.
async fn raw_fake(mode: Arc<AtomicU8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mode = mode.clone();
            tokio::spawn(async move {
                let mut req = [0u8; 12];
                while sock.read_exact(&mut req).await.is_ok() {
                    let (tid, unit, fc) = ([req[0], req[1]], req[6], req[7]);
                    let count = u16::from_be_bytes([req[10], req[11]]);
                    let m = if unit == 2 {
                        mode.load(Ordering::SeqCst)
                    } else {
                        NORMAL
                    };
                    let mut data: Vec<u8> = Vec::new();
                    for i in 0..count {
                        data.extend((i + 1).to_be_bytes());
                    }
                    let mut pdu = vec![fc, (2 * count) as u8];
                    pdu.extend(&data);
                    let frame = match m {
                        CLOSE => return,
                        // Byte count says 2·count, but only one word follows; MBAP length
                        // matches the truncated PDU.
                        SHORT => {
                            let short = &pdu[..4];
                            let mut f =
                                vec![tid[0], tid[1], 0, 0, 0, (short.len() + 1) as u8, unit];
                            f.extend(short);
                            f
                        }
                        GARBAGE => vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0x03, 0x42, 0x99, 0x01],
                        _ => {
                            let mut f = vec![tid[0], tid[1], 0, 0, 0, (pdu.len() + 1) as u8, unit];
                            f.extend(&pdu);
                            f
                        }
                    };
                    if sock.write_all(&frame).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn two_raw_slaves(addr: &str) -> String {
    let mut t = String::new();
    for id in 1..=2 {
        t.push_str(&format!(
            "[[devices]]\nname = \"r{id}\"\ncontroller = \"tcp://{addr}\"\nslave_id = {id}\npoll_interval = \"{INTERVAL_MS}ms\"\ntimeout = \"{TIMEOUT_MS}ms\"\n\
             [[devices.registers]]\nname = \"x{id}\"\naddress = 0\ndata_type = \"UINT32\"\n"
        ));
    }
    t
}

async fn broken_frames(mode_value: u8) {
    let mode = Arc::new(AtomicU8::new(mode_value));
    let addr = raw_fake(mode.clone()).await;
    let cfg = config(&two_raw_slaves(&addr));
    let mut run = start_poller(&cfg.devices);
    let samples = run.collect_for(Duration::from_secs(2)).await;
    // Unit 1 keeps its cadence and values: 0x0001_0002 = 65538.
    let r1 = of(&samples, "r1");
    assert!(r1.len() >= 6);
    for s in &r1 {
        assert_eq!(s.readings[0].quality, Quality::Good, "{s:?}");
        assert_eq!(s.readings[0].value, 65538.0);
    }
    let tol = TIMEOUT_MS as i64 + INTERVAL_MS as i64 / 10;
    assert!(
        intervals(&r1)
            .iter()
            .all(|iv| (iv - INTERVAL_MS as i64).abs() <= tol),
        "{:?}",
        intervals(&r1)
    );
    let r2 = of(&samples, "r2");
    assert!(
        r2.len() >= 6,
        "the poller keeps emitting for the broken unit"
    );
    assert!(
        r2.iter()
            .all(|s| s.readings[0].quality == Quality::CommError)
    );
    // Heal it: unit 2 comes back.
    mode.store(NORMAL, Ordering::SeqCst);
    let back = run
        .wait_for("r2", Duration::from_secs(5), |s| {
            s.readings[0].quality == Quality::Good
        })
        .await;
    assert_eq!(back.expect("unit 2 recovered").readings[0].value, 65538.0);
    let stats = run.stop().await;
    assert!(
        stats[0].1.drops >= 1,
        "a broken frame drops the context: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_closed_mid_read() {
    broken_frames(CLOSE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_frame() {
    broken_frames(SHORT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbled_frame() {
    broken_frames(GARBAGE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_down_at_start_then_up() {
    // Reserve a port, free it, poll it while nothing listens, then start a server there.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    let cfg = config(&three_slaves(&addr));
    let mut run = start_poller(&cfg.devices);
    let down = run.collect_for(Duration::from_secs(1)).await;
    assert!(!down.is_empty(), "samples flow while the endpoint is down");
    assert!(
        down.iter()
            .all(|s| s.readings.iter().all(|r| r.quality == Quality::CommError))
    );
    let token = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
    let map =
        chocoline::simulate::server::RegisterMap::from_devices(&cfg.devices, &Default::default())
            .unwrap();
    let svc = chocoline::simulate::server::SimService::new(map, source());
    tokio::spawn(chocoline::simulate::server::serve_tcp(
        listener,
        svc,
        token.clone(),
    ));
    // Backoff is capped at 400 ms (+20 % jitter) in the tests.
    for (d, a, b) in [("s1", 1.5, 10.0), ("s2", 2.5, 20.0), ("s3", 3.5, 30.0)] {
        assert!(
            run.wait_for(d, Duration::from_secs(3), |s| all_good_with(s, a, b))
                .await
                .is_some(),
            "{d} did not recover"
        );
    }
    let stats = run.stop().await;
    assert!(stats[0].1.connect_failures >= 2);
    token.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_cycles_of_a_degraded_slave_repeat_the_last_value_as_stale() {
    let (token, svc, mut run) = setup().await;
    assert!(
        run.wait_for("s2", Duration::from_secs(2), |s| all_good_with(
            s, 2.5, 20.0
        ))
        .await
        .is_some()
    );
    svc.set_fault(2, Some(Fault::Silent));
    let samples = run.collect_for(Duration::from_secs(2)).await;
    let s2 = of(&samples, "s2");
    // Polled-and-failed cycles are comm errors (NaN); cycles skipped while degraded carry the
    // last good value, flagged stale.
    let stale: Vec<_> = s2
        .iter()
        .filter(|s| s.readings.iter().all(|r| r.quality == Quality::Stale))
        .collect();
    assert!(stale.len() >= 3, "{s2:?}");
    for s in stale {
        assert_eq!(s.readings[0].value, 2.5);
        assert_eq!(s.readings[1].value, 20.0);
        assert_eq!(s.readings[1].raw, vec![200]);
    }
    assert!(
        s2.iter()
            .any(|s| s.readings[0].quality == Quality::CommError && s.readings[0].value.is_nan())
    );
    run.stop().await;
    token.cancel();
}
