//! Modbus RTU end to end: the simulator's RTU server on one end of a serial line, the poller on
//! the other. In-process over a pseudo-terminal pair from `SerialStream::pair()`, and — with
//! `CHOCOLINE_INTEROP=1` — over a `socat` pty pair opened by path through the production
//! serial connector (settings, reopen after a timeout, reopen after the device node vanished
//! and came back).

mod common;

use std::sync::Mutex;
use std::time::Duration;

use chocoline::acquire::Acquire;
use chocoline::acquire::connection::{ConnectFuture, Connector};
use chocoline::domain::{Quality, Sample};
use chocoline::simulate::server::{Fault, RegisterMap, SimService, serve_rtu};
use chocoline::simulate::source::FixedSource;
use common::acquire::*;
use tokio_serial::SerialStream;
use tokio_util::sync::CancellationToken;

fn two_slaves(controller: &str) -> String {
    let mut t = String::new();
    for id in [3, 9] {
        t.push_str(&format!(
            "[[devices]]\nname = \"rtu{id}\"\ncontroller = \"{controller}\"\nslave_id = {id}\npoll_interval = \"300ms\"\ntimeout = \"150ms\"\nbaud_rate = 115200\n\
             [[devices.registers]]\nname = \"t{id}\"\naddress = 4\ndata_type = \"FLOAT32\"\nbyte_order = \"CDAB\"\n\
             [[devices.registers]]\nname = \"n{id}\"\nregister = \"input\"\naddress = 0\ndata_type = \"INT16\"\n\
             [[devices.registers]]\nname = \"c{id}\"\nregister = \"coil\"\naddress = 7\n"
        ));
    }
    t
}

fn source() -> FixedSource {
    FixedSource::new([
        ("t3", 31.25),
        ("n3", -7.0),
        ("c3", 1.0),
        ("t9", 45.5),
        ("n9", 12.0),
        ("c9", 0.0),
    ])
}

fn check(s: &chocoline::domain::Sample, t: f64, n: f64, c: f64) {
    let v: Vec<f64> = s.readings.iter().map(|r| r.value).collect();
    assert!(
        s.readings.iter().all(|r| r.quality == Quality::Good),
        "{s:?}"
    );
    assert_eq!(v, vec![t, n, c]);
}

/// Hands out the client end of an in-memory pair once (a pty pair cannot be reopened).
struct PairConnector(Mutex<Option<SerialStream>>);

impl Connector for PairConnector {
    fn connect(&self) -> ConnectFuture<'_> {
        let port = self.0.lock().unwrap().take();
        Box::pin(async move {
            let port = port.ok_or_else(|| std::io::Error::other("pair already used"))?;
            Ok(tokio_modbus::client::rtu::attach(port))
        })
    }
    fn describe(&self) -> String {
        "pty-pair".into()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtu_over_an_in_process_pty_pair() {
    let cfg = config(&two_slaves("file:///dev/null"));
    let (server_end, client_end) = SerialStream::pair().expect("pty pair");
    let token = CancellationToken::new();
    let svc = SimService::new(
        RegisterMap::from_devices(&cfg.devices, &Default::default()).unwrap(),
        source(),
    );
    tokio::spawn(serve_rtu(server_end, svc, token.clone()));
    let acq = Acquire::on_connector(
        &cfg.devices,
        Box::new(PairConnector(Mutex::new(Some(client_end)))),
        fast_backoff(),
    )
    .unwrap();
    let mut run = start_acquire(acq);
    let samples = run.collect_for(Duration::from_millis(1500)).await;
    let a = of(&samples, "rtu3");
    let b = of(&samples, "rtu9");
    assert!(a.len() >= 3 && b.len() >= 3, "{} {}", a.len(), b.len());
    a.iter().for_each(|s| check(s, 31.25, -7.0, 1.0));
    b.iter().for_each(|s| check(s, 45.5, 12.0, 0.0));
    run.stop().await;
    token.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtu_over_socat_with_a_silent_slave() {
    if !interop() {
        eprintln!("SKIPPED: set CHOCOLINE_INTEROP=1 to run the socat RTU test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("server");
    let b = dir.path().join("client");
    let mut socat = socat_pair(&a, &b).await;
    let cfg = config(&two_slaves(&format!("file://{}", b.display())));
    let token = CancellationToken::new();
    let svc = SimService::new(
        RegisterMap::from_devices(&cfg.devices, &Default::default()).unwrap(),
        source(),
    );
    serve_on(&a, svc.clone(), token.clone());
    // The production path: controller = "file://…", serial settings from the config.
    let mut run = start_poller(&cfg.devices);
    let first = run.collect_for(Duration::from_millis(1500)).await;
    of(&first, "rtu3")
        .iter()
        .for_each(|s| check(s, 31.25, -7.0, 1.0));
    of(&first, "rtu9")
        .iter()
        .for_each(|s| check(s, 45.5, 12.0, 0.0));
    assert!(of(&first, "rtu3").len() >= 3);
    // A silent slave on the bus: timeouts reopen the port; the other slave keeps answering.
    svc.set_fault(9, Some(Fault::Silent));
    let during = run.collect_for(Duration::from_millis(1500)).await;
    let good3 = of(&during, "rtu3");
    assert!(good3.len() >= 3);
    good3.iter().for_each(|s| check(s, 31.25, -7.0, 1.0));
    // A poll of rtu9 already answered when the fault was set may still arrive good (it did
    // once in CI); from the first failure on, every sample must be flagged.
    let rtu9 = of(&during, "rtu9");
    let bad = |s: &&Sample| s.readings[0].quality != Quality::Good;
    let first_bad = rtu9
        .iter()
        .position(bad)
        .expect("rtu9 never failed while silent");
    assert!(
        first_bad <= 1,
        "{first_bad} good rtu9 samples after the fault was set"
    );
    assert!(rtu9.iter().skip(first_bad).all(bad));
    svc.set_fault(9, None);
    assert!(
        run.wait_for("rtu9", Duration::from_secs(3), |s| s.readings[0].quality
            == Quality::Good)
            .await
            .is_some()
    );
    run.stop().await;
    token.cancel();
    let _ = socat.kill().await;
}

/// True when the interop tests must run (and must fail, not skip, when a tool is missing).
fn interop() -> bool {
    std::env::var("CHOCOLINE_INTEROP").as_deref() == Ok("1")
}

/// Starts `socat` linking two fresh ptys at `a` and `b`; waits until both links exist.
async fn socat_pair(a: &std::path::Path, b: &std::path::Path) -> tokio::process::Child {
    let socat = tokio::process::Command::new("socat")
        .arg(format!("pty,raw,echo=0,link={}", a.display()))
        .arg(format!("pty,raw,echo=0,link={}", b.display()))
        .kill_on_drop(true)
        .spawn()
        .expect("socat is required when CHOCOLINE_INTEROP=1 (apt-get install socat)");
    for _ in 0..100 {
        if a.exists() && b.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        a.exists() && b.exists(),
        "socat did not create the pty links"
    );
    socat
}

/// Serves the simulator on the pty at `a` until `token` fires.
fn serve_on(a: &std::path::Path, svc: SimService, token: CancellationToken) {
    use tokio_serial::SerialPortBuilderExt as _;
    let port = tokio_serial::new(a.to_string_lossy(), 115200)
        .open_native_async()
        .expect("open the server end");
    tokio::spawn(serve_rtu(port, svc, token));
}

/// Ends socat with SIGTERM, so that it removes its links like an unplugged adapter's node
/// disappears, and waits until they are gone.
async fn unplug(mut socat: tokio::process::Child, links: [&std::path::Path; 2]) {
    let pid = socat.id().expect("socat still running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let _ = socat.wait().await;
    for _ in 0..100 {
        if links.iter().all(|l| !l.exists()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("socat left its links behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtu_port_that_disappears_and_comes_back_is_reopened() {
    if !interop() {
        eprintln!("SKIPPED: set CHOCOLINE_INTEROP=1 to run the socat RTU reopen test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("server");
    let b = dir.path().join("client");
    let cfg = config(&two_slaves(&format!("file://{}", b.display())));
    let svc = SimService::new(
        RegisterMap::from_devices(&cfg.devices, &Default::default()).unwrap(),
        source(),
    );
    let socat = socat_pair(&a, &b).await;
    let first_server = CancellationToken::new();
    serve_on(&a, svc.clone(), first_server.clone());
    let mut run = start_poller(&cfg.devices);
    let up = run
        .wait_for("rtu3", Duration::from_secs(3), |s| {
            s.readings[0].quality == Quality::Good
        })
        .await;
    check(
        &up.expect("rtu3 answered before the unplug"),
        31.25,
        -7.0,
        1.0,
    );

    // Unplugged: the device node is gone. Samples keep flowing, all flagged.
    unplug(socat, [&a, &b]).await;
    first_server.cancel();
    let _ = run.collect_for(Duration::from_millis(400)).await;
    let gone = run.collect_for(Duration::from_millis(1200)).await;
    assert!(
        of(&gone, "rtu3").len() >= 2,
        "samples stopped while unplugged"
    );
    assert!(
        gone.iter()
            .all(|s| s.readings.iter().all(|r| r.quality != Quality::Good)),
        "good readings from a vanished port: {gone:?}"
    );

    // Plugged back in: a new pty under the same path; the poller reopens it by itself.
    let socat = socat_pair(&a, &b).await;
    let second_server = CancellationToken::new();
    serve_on(&a, svc.clone(), second_server.clone());
    for (name, t, n, c) in [("rtu3", 31.25, -7.0, 1.0), ("rtu9", 45.5, 12.0, 0.0)] {
        let back = run
            .wait_for(name, Duration::from_secs(5), |s| {
                s.readings.iter().all(|r| r.quality == Quality::Good)
            })
            .await;
        check(
            &back.unwrap_or_else(|| panic!("{name} not back after replug")),
            t,
            n,
            c,
        );
    }
    let stats = run.stop().await;
    assert!(stats[0].1.connects >= 2, "{stats:?}");
    assert!(stats[0].1.connect_failures >= 1, "{stats:?}");
    second_server.cancel();
    drop(socat);
}
