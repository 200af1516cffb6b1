//! A Modbus TCP→RTU gateway whose serial device is dead answers exception 0x0A (gateway path
//! unavailable) or 0x0B (gateway target device failed to respond). Against a real tokio-modbus
//! server on loopback: such a slave is degraded and probed with the same backoff as a slave
//! that times out, while an ordinary exception (0x02, illegal data address) still counts as an
//! answer (polled every cycle, never degraded), and the gateway connection is kept.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chocoline::acquire::{Acquire, AcquireMetrics};
use chocoline::domain::{Quality, Sample};
use chocoline::simulate::server::{Fault, SimService};
use chocoline::simulate::source::FixedSource;
use common::acquire::*;
use tokio_util::sync::CancellationToken;

const INTERVAL_MS: u64 = 250;
const TIMEOUT_MS: u64 = 100;

/// `n` slaves on one endpoint, each with two registers whose values identify the slave.
fn slaves(addr: &str, n: u8) -> String {
    let mut t = String::new();
    for id in 1..=n {
        t.push_str(&format!(
            "[[devices]]\nname = \"s{id}\"\ncontroller = \"tcp://{addr}\"\nslave_id = {id}\npoll_interval = \"{INTERVAL_MS}ms\"\ntimeout = \"{TIMEOUT_MS}ms\"\n\
             [[devices.registers]]\nname = \"a{id}\"\naddress = 0\ndata_type = \"FLOAT32\"\n\
             [[devices.registers]]\nname = \"b{id}\"\naddress = 10\nscale = 0.1\n"
        ));
    }
    t
}

/// Slave `id` serves a = id + 0.5, b = 10 · id.
fn value_a(id: u8) -> f64 {
    f64::from(id) + 0.5
}

fn value_b(id: u8) -> f64 {
    10.0 * f64::from(id)
}

fn source(n: u8) -> FixedSource {
    let mut pairs = Vec::new();
    for id in 1..=n {
        pairs.push((format!("a{id}"), value_a(id)));
        pairs.push((format!("b{id}"), value_b(id)));
    }
    FixedSource::new(pairs)
}

fn good(s: &Sample, id: u8) -> bool {
    s.readings.iter().all(|r| r.quality == Quality::Good)
        && (s.readings[0].value - value_a(id)).abs() < 1e-9
        && (s.readings[1].value - value_b(id)).abs() < 1e-9
}

/// Cycles the health tracker skipped (degraded slave, not due): the last value, flagged stale.
fn skipped(samples: &[&Sample]) -> usize {
    samples
        .iter()
        .filter(|s| s.readings.iter().all(|r| r.quality == Quality::Stale))
        .count()
}

/// Starts `n` slaves and a poller, and waits until every slave delivered a good sample (so
/// that skipped cycles later show up as `stale`, not as a never-read `comm_error`).
async fn setup(n: u8) -> (CancellationToken, SimService, Running, Arc<AcquireMetrics>) {
    let token = CancellationToken::new();
    let probe = config(&slaves("127.0.0.1:1", n));
    let (addr, svc) = start_sim(&probe.devices, source(n), &token).await;
    let acq = Acquire::with_backoff(&config(&slaves(&addr, n)).devices, fast_backoff()).unwrap();
    let metrics = acq.metrics();
    let mut run = start_acquire(acq);
    for id in 1..=n {
        let name = format!("s{id}");
        let first = run
            .wait_for(&name, Duration::from_secs(3), |s| good(s, id))
            .await;
        assert!(first.is_some(), "{name} never answered");
    }
    (token, svc, run, metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_exception_0x0b_backs_off_like_a_timeout_and_0x02_does_not() {
    let (token, svc, mut run, _) = setup(4).await;
    let base: Vec<u64> = (1..=4).map(|id| svc.requests(id)).collect();
    svc.set_fault(2, Some(Fault::Silent));
    svc.set_fault(3, Some(Fault::Exception(0x0B)));
    svc.set_fault(4, Some(Fault::Exception(0x02)));
    let samples = run.collect_for(Duration::from_secs(3)).await;
    let asked = |id: u8| svc.requests(id) - base[usize::from(id) - 1];
    let (s2, s3, s4) = (of(&samples, "s2"), of(&samples, "s3"), of(&samples, "s4"));
    assert!(of(&samples, "s1").iter().all(|s| good(s, 1)));
    // 0x0B: degraded exactly like the silent slave: two failed cycles, then probes after
    // 0.5 s, 1 s, 2 s; the cycles in between are skipped (stale) without touching the bus.
    assert!(asked(3) <= 6, "0x0B slave asked {} times in 3 s", asked(3));
    assert!(
        asked(2).abs_diff(asked(3)) <= 1,
        "timeout slave asked {}, 0x0B slave {}",
        asked(2),
        asked(3)
    );
    assert!(skipped(&s3) >= 3, "0x0B slave never skipped: {s3:?}");
    assert!(
        skipped(&s2).abs_diff(skipped(&s3)) <= 1,
        "skipped cycles: timeout {}, 0x0B {}",
        skipped(&s2),
        skipped(&s3)
    );
    assert!(s3.iter().all(|s| !good(s, 3)));
    // 0x02: the device is alive; asked every cycle, never skipped.
    assert!(s4.len() >= 10, "{}", s4.len());
    assert_eq!(skipped(&s4), 0, "exception 2 degraded the slave: {s4:?}");
    assert!(
        asked(4) >= s4.len() as u64 - 1,
        "0x02 slave asked {} times for {} cycles",
        asked(4),
        s4.len()
    );
    assert!(
        s4.iter()
            .all(|s| s.readings.iter().all(|r| r.quality == Quality::CommError))
    );
    // The gateway answers again: back within two probe periods (≤ 2 s each by now).
    svc.set_fault(3, None);
    let back = run
        .wait_for("s3", Duration::from_millis(4000 + INTERVAL_MS), |s| {
            good(s, 3)
        })
        .await;
    assert!(back.is_some(), "0x0B slave did not recover");
    let stats = run.stop().await;
    assert!(stats[0].1.gateway_failures >= 2, "{stats:?}");
    token.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_exception_0x0a_keeps_the_connection_and_the_other_slave() {
    let (token, svc, mut run, metrics) = setup(2).await;
    let base = svc.requests(2);
    let silent_before = metrics.silent_blocks.load(Ordering::Relaxed);
    svc.set_fault(2, Some(Fault::Exception(0x0A)));
    let samples = run.collect_for(Duration::from_secs(3)).await;
    let s1 = of(&samples, "s1");
    assert!(s1.len() >= 10 && s1.iter().all(|s| good(s, 1)), "{s1:?}");
    let s2 = of(&samples, "s2");
    assert!(skipped(&s2) >= 3, "0x0A slave never skipped: {s2:?}");
    let asked = svc.requests(2) - base;
    assert!(asked <= 6, "0x0A slave asked {asked} times in 3 s");
    // Counted as silence (chocoline_modbus_silent_blocks_total), not as an exception.
    let silent = metrics.silent_blocks.load(Ordering::Relaxed) - silent_before;
    // (± the one reply in flight when the counters are read)
    assert!(
        silent >= 2 && silent.abs_diff(asked) <= 1,
        "{silent} silent blocks for {asked} 0x0A replies"
    );
    assert_eq!(metrics.exceptions.load(Ordering::Relaxed), 0);
    let stats = run.stop().await;
    let conn = stats[0].1;
    // The gateway itself answered: its connection is neither dropped nor reopened.
    assert_eq!(conn.drops, 0, "{conn:?}");
    assert_eq!(conn.connects, 1, "{conn:?}");
    assert_eq!(conn.timeouts, 0, "{conn:?}");
    assert!(conn.gateway_failures >= 2, "{conn:?}");
    token.cancel();
}
