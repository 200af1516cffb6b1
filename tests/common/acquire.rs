//! Helpers shared by the acquire integration tests: configs from TOML, an in-process
//! simulator on a random loopback port, and sample collection.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use chocoline::acquire::Acquire;
use chocoline::acquire::config::DeviceConfig;
use chocoline::acquire::connection::Backoff;
use chocoline::config::Config;
use chocoline::domain::Sample;
use chocoline::simulate::server::{RegisterMap, SimService, serve_tcp};
use chocoline::simulate::source::SignalSource;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Parses a TOML config (devices only, usually).
pub fn config(toml: &str) -> Config {
    toml_edit::de::from_str(toml).unwrap()
}

/// Starts a simulator for `devices` on a random loopback port; returns its address.
pub async fn start_sim<S: SignalSource>(
    devices: &[DeviceConfig],
    source: S,
    token: &CancellationToken,
) -> (String, SimService) {
    let map = RegisterMap::from_devices(devices, &BTreeMap::new()).unwrap();
    let service = SimService::new(map, source);
    let addr = start_service(service.clone(), token).await;
    (addr, service)
}

/// Serves `service` on a random loopback port.
pub async fn start_service(service: SimService, token: &CancellationToken) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(serve_tcp(listener, service, token.clone()));
    addr
}

/// A fast backoff for tests.
pub fn fast_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
        jitter: 0.2,
    }
}

/// A running poller whose samples are collected.
pub struct Running {
    pub rx: mpsc::Receiver<Sample>,
    pub token: CancellationToken,
    pub handle: tokio::task::JoinHandle<Vec<(String, chocoline::acquire::connection::ConnStats)>>,
}

/// Starts polling `devices`.
pub fn start_poller(devices: &[DeviceConfig]) -> Running {
    let acq = Acquire::with_backoff(devices, fast_backoff()).unwrap();
    start_acquire(acq)
}

/// Starts an already built stage.
pub fn start_acquire(acq: Acquire) -> Running {
    let (tx, rx) = mpsc::channel(1024);
    let token = CancellationToken::new();
    let handle = tokio::spawn(acq.run(tx, token.clone()));
    Running { rx, token, handle }
}

impl Running {
    /// Collects samples for `d`.
    pub async fn collect_for(&mut self, d: Duration) -> Vec<Sample> {
        let mut out = Vec::new();
        let end = tokio::time::Instant::now() + d;
        while let Ok(Some(s)) = tokio::time::timeout_at(end, self.rx.recv()).await {
            out.push(s);
        }
        out
    }

    /// Waits for the first sample of `device` that satisfies `pred`, up to `limit`.
    pub async fn wait_for(
        &mut self,
        device: &str,
        limit: Duration,
        pred: impl Fn(&Sample) -> bool,
    ) -> Option<Sample> {
        let end = tokio::time::Instant::now() + limit;
        while let Ok(Some(s)) = tokio::time::timeout_at(end, self.rx.recv()).await {
            if &*s.device == device && pred(&s) {
                return Some(s);
            }
        }
        None
    }

    /// Stops the poller and returns its connection counters.
    pub async fn stop(self) -> Vec<(String, chocoline::acquire::connection::ConnStats)> {
        self.token.cancel();
        drop(self.rx);
        self.handle.await.unwrap()
    }
}

/// Samples of one device.
pub fn of<'a>(samples: &'a [Sample], device: &str) -> Vec<&'a Sample> {
    samples.iter().filter(|s| &*s.device == device).collect()
}

/// Intervals between consecutive sample timestamps, ms.
pub fn intervals(samples: &[&Sample]) -> Vec<i64> {
    samples.windows(2).map(|w| w[1].ts.0 - w[0].ts.0).collect()
}
