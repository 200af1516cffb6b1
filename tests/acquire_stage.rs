//! Stage behaviour against a real server: gappy reads refused by a strict device are split,
//! `pause_between_requests` is honoured and overruns are counted as missed cycles, and the
//! acquire module has no write path at all.

mod common;

use std::time::Duration;

use chocoline::domain::Quality;
use chocoline::simulate::server::{Holes, RegisterMap, SimService};
use chocoline::simulate::source::FixedSource;
use common::acquire::*;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_device_rejecting_holes_gets_split_reads() {
    let toml = |addr: &str| {
        format!(
            "[[devices]]\nname = \"strict\"\ncontroller = \"tcp://{addr}\"\npoll_interval = \"150ms\"\ntimeout = \"100ms\"\n\
             [[devices.registers]]\nname = \"a\"\naddress = 0\n\
             [[devices.registers]]\nname = \"b\"\naddress = 5\ndata_type = \"INT32\"\n"
        )
    };
    let token = CancellationToken::new();
    let cfg = config(&toml("127.0.0.1:1"));
    let map = RegisterMap::from_devices(&cfg.devices, &Default::default()).unwrap();
    let svc = SimService::new(map, FixedSource::new([("a", 7.0), ("b", -70000.0)]))
        .with_holes(Holes::Reject);
    let addr = start_service(svc.clone(), &token).await;
    let cfg = config(&toml(&addr));
    let mut run = start_poller(&cfg.devices);
    let samples = run.collect_for(Duration::from_millis(800)).await;
    // First cycle: one merged read 0..7 over a hole → exception 2 → comm_error.
    assert!(
        samples[0]
            .readings
            .iter()
            .all(|r| r.quality == Quality::CommError)
    );
    // Then two contiguous reads, every cycle good.
    assert!(samples.len() >= 4);
    for s in &samples[1..] {
        assert!(
            s.readings.iter().all(|r| r.quality == Quality::Good),
            "{s:?}"
        );
        assert_eq!(s.readings[0].value, 7.0);
        assert_eq!(s.readings[1].value, -70000.0);
    }
    // 1 merged read + 2 per later cycle.
    assert_eq!(svc.requests(1), 1 + 2 * (samples.len() as u64 - 1));
    run.stop().await;
    token.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pauses_are_honoured_and_overruns_counted_as_missed_cycles() {
    // Two blocks (holding and input) with 120 ms pause after each: a cycle lasts ≥ 240 ms,
    // longer than the 100 ms poll interval.
    let toml = |addr: &str| {
        format!(
            "[[devices]]\nname = \"slow\"\ncontroller = \"tcp://{addr}\"\npoll_interval = \"100ms\"\ntimeout = \"80ms\"\npause_between_requests = \"120ms\"\n\
             [[devices.registers]]\nname = \"h\"\naddress = 0\n\
             [[devices.registers]]\nname = \"i\"\nregister = \"input\"\naddress = 0\n"
        )
    };
    let token = CancellationToken::new();
    let probe = config(&toml("127.0.0.1:1"));
    let (addr, _svc) = start_sim(
        &probe.devices,
        FixedSource::new([("h", 1.0), ("i", 2.0)]),
        &token,
    )
    .await;
    let cfg = config(&toml(&addr));
    let mut run = start_poller(&cfg.devices);
    let samples = run.collect_for(Duration::from_millis(1500)).await;
    let all: Vec<_> = samples.iter().collect();
    assert!(all.len() >= 3);
    for iv in intervals(&all) {
        // Never faster than the two pauses; always on the 100 ms grid (±15 ms of scheduling).
        assert!(iv >= 235, "interval {iv} ms shorter than the pauses");
        let off = iv % 100;
        assert!(
            !(16..=84).contains(&off),
            "interval {iv} ms is off the 100 ms grid"
        );
    }
    let missed: u32 = samples.iter().map(|s| s.missed_cycles).sum();
    assert!(
        missed as usize >= 2 * (samples.len() - 1),
        "missed {missed} over {} samples",
        samples.len()
    );
    assert!(
        samples
            .iter()
            .all(|s| s.readings.iter().all(|r| r.quality == Quality::Good))
    );
    run.stop().await;
    token.cancel();
}

/// Read-only by design: no Modbus write API is referenced anywhere in the acquire module.
#[test]
fn acquire_has_no_write_path() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/acquire");
    let forbidden = [
        "Writer",
        "write_single",
        "write_multiple",
        "masked_write",
        "read_write_multiple",
        "WriteSingle",
        "WriteMultiple",
        "MaskWrite",
        "ReadWriteMultiple",
        "Request::Custom",
    ];
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for f in forbidden {
                assert!(!text.contains(f), "{} mentions {f}", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 7, "scanned only {checked} files");
}
