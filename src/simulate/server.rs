//! The Modbus simulator: a real tokio-modbus server (TCP, or RTU on a serial line) that serves
//! the register map of a chocoline config, with values from a [`SignalSource`].
//!
//! Every `[[devices]]` entry becomes a slave answering on its `slave_id`, whatever its
//! controller says, so a plant config can be served from one port. Each register serves the
//! signal named by its register name (mapped back through `[features] signal_map`), encoded
//! with the register's data type, byte order, scale and offset: exactly the inverse of what
//! the poller decodes. Only the read function codes are served.
//!
//! A slave answers nothing while the source reports its signals dropped, and a [`Fault`] can
//! be injected per slave at runtime (silence, a late reply, an exception) for fault tests and
//! demonstrations.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_modbus::server::Service;
use tokio_modbus::server::tcp::{Server, accept_tcp_connection};
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};
use tokio_util::sync::CancellationToken;

use crate::acquire::config::{DeviceConfig, RegisterKind};
use crate::codec::{self as decode, ByteOrder, DataType};
use crate::simulate::source::SignalSource;

/// Why a config cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServeMapError {
    /// Two devices claim the same slave id.
    #[error(
        "devices \"{first}\" and \"{second}\" both use slave id {slave}; the simulator serves one port"
    )]
    DuplicateSlave {
        /// Slave id.
        slave: u8,
        /// First device.
        first: String,
        /// Second device.
        second: String,
    },
    /// Nothing to serve.
    #[error("the config has no [[devices]] to simulate")]
    NoDevices,
}

#[derive(Debug, Clone)]
struct Served {
    address: u16,
    len: u16,
    signal: String,
    data_type: DataType,
    byte_order: ByteOrder,
    scale: f64,
    offset: f64,
}

#[derive(Debug, Clone, Default)]
struct SlaveMap {
    device: String,
    signals: Vec<String>,
    tables: HashMap<RegisterKind, Vec<Served>>,
}

/// The served register map: slaves by id, registers by table and address.
#[derive(Debug, Clone, Default)]
pub struct RegisterMap {
    slaves: BTreeMap<u8, SlaveMap>,
}

impl RegisterMap {
    /// Builds the map from devices; `signal_map` is `[features] signal_map` (canonical signal →
    /// register name).
    pub fn from_devices(
        devices: &[DeviceConfig],
        signal_map: &BTreeMap<String, String>,
    ) -> Result<Self, ServeMapError> {
        if devices.is_empty() {
            return Err(ServeMapError::NoDevices);
        }
        let inverse: HashMap<&str, &str> = signal_map
            .iter()
            .map(|(signal, register)| (register.as_str(), signal.as_str()))
            .collect();
        let mut slaves: BTreeMap<u8, SlaveMap> = BTreeMap::new();
        for d in devices {
            if let Some(existing) = slaves.get(&d.slave_id) {
                return Err(ServeMapError::DuplicateSlave {
                    slave: d.slave_id,
                    first: existing.device.clone(),
                    second: d.name.clone(),
                });
            }
            let mut m = SlaveMap {
                device: d.name.clone(),
                ..SlaveMap::default()
            };
            for r in &d.registers {
                let signal = inverse
                    .get(r.name.as_str())
                    .map_or_else(|| r.name.clone(), |s| (*s).to_string());
                let bits = matches!(r.register, RegisterKind::Coil | RegisterKind::Discrete);
                m.signals.push(signal.clone());
                m.tables.entry(r.register).or_default().push(Served {
                    address: r.address,
                    len: if bits { 1 } else { r.data_type.words() },
                    signal,
                    data_type: if bits { DataType::Bool } else { r.data_type },
                    byte_order: r.byte_order,
                    scale: r.scale,
                    offset: r.offset,
                });
            }
            slaves.insert(d.slave_id, m);
        }
        Ok(RegisterMap { slaves })
    }

    /// The slave ids served, with their device names.
    pub fn slaves(&self) -> impl Iterator<Item = (u8, &str)> {
        self.slaves.iter().map(|(id, m)| (*id, m.device.as_str()))
    }
}

/// A fault injected into one slave's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Never answer.
    Silent,
    /// Answer correctly, but only after this delay.
    Late(Duration),
    /// Answer every read with this Modbus exception code.
    Exception(u8),
}

/// What the server does with reads of addresses no register covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Holes {
    /// Serve zeros (most PLCs: contiguous memory).
    #[default]
    Zero,
    /// Answer exception 2, like strict devices.
    Reject,
}

/// The shared state of a running simulator: source, map and injected faults.
#[derive(Clone)]
pub struct SimService {
    map: Arc<RegisterMap>,
    source: Arc<Mutex<dyn SignalSource>>,
    faults: Arc<Mutex<HashMap<u8, Fault>>>,
    requests: Arc<Mutex<HashMap<u8, u64>>>,
    holes: Holes,
}

impl std::fmt::Debug for SimService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimService")
            .field("map", &self.map)
            .field("holes", &self.holes)
            .finish()
    }
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the plain data inconsistent.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

type Reply = Result<Option<Response>, ExceptionCode>;

impl SimService {
    /// A simulator serving `map` from `source`.
    pub fn new<S: SignalSource>(map: RegisterMap, source: S) -> Self {
        SimService {
            map: Arc::new(map),
            source: Arc::new(Mutex::new(source)),
            faults: Arc::default(),
            requests: Arc::default(),
            holes: Holes::default(),
        }
    }

    /// Sets the hole policy.
    pub fn with_holes(mut self, holes: Holes) -> Self {
        self.holes = holes;
        self
    }

    /// Injects (or with `None` clears) a fault on one slave, effective for the next request.
    pub fn set_fault(&self, slave: u8, fault: Option<Fault>) {
        let mut f = lock(&self.faults);
        match fault {
            Some(x) => f.insert(slave, x),
            None => f.remove(&slave),
        };
    }

    /// Runs `f` on the source (e.g. to change a value in a test).
    pub fn with_source<R>(&self, f: impl FnOnce(&mut dyn SignalSource) -> R) -> R {
        let mut g = lock(&self.source);
        f(&mut *g)
    }

    /// Requests received for `slave` so far (answered or not).
    pub fn requests(&self, slave: u8) -> u64 {
        lock(&self.requests).get(&slave).copied().unwrap_or(0)
    }

    /// Advances the source by `dt`.
    pub fn step(&self, dt: Duration) {
        lock(&self.source).step(dt);
    }

    /// Computes the reply to one request, before faults.
    fn answer(&self, slave: u8, request: &Request<'_>) -> Reply {
        let Some(m) = self.map.slaves.get(&slave) else {
            // Unknown unit: nobody answers, as on a serial bus.
            return Ok(None);
        };
        let source = lock(&self.source);
        if m.signals.iter().any(|s| source.is_dropped(s)) {
            return Ok(None);
        }
        let (kind, start, count) = match *request {
            Request::ReadCoils(a, n) => (RegisterKind::Coil, a, n),
            Request::ReadDiscreteInputs(a, n) => (RegisterKind::Discrete, a, n),
            Request::ReadHoldingRegisters(a, n) => (RegisterKind::Holding, a, n),
            Request::ReadInputRegisters(a, n) => (RegisterKind::Input, a, n),
            _ => return Err(ExceptionCode::IllegalFunction),
        };
        let bits = matches!(kind, RegisterKind::Coil | RegisterKind::Discrete);
        let limit = if bits { 2000 } else { 125 };
        if count == 0 || count > limit {
            return Err(ExceptionCode::IllegalDataValue);
        }
        if u32::from(start) + u32::from(count) > 65536 {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        let mut words = vec![0u16; usize::from(count)];
        let mut covered = vec![false; usize::from(count)];
        let end = u32::from(start) + u32::from(count);
        for r in m.tables.get(&kind).map(Vec::as_slice).unwrap_or_default() {
            let r_end = u32::from(r.address) + u32::from(r.len);
            if r_end <= u32::from(start) || u32::from(r.address) >= end {
                continue;
            }
            let Some(v) = source.value(&r.signal) else {
                // The source does not know the signal: a configuration error, made visible.
                return Err(ExceptionCode::ServerDeviceFailure);
            };
            let enc = decode::encode(v, r.data_type, r.byte_order, r.scale, r.offset);
            for (k, w) in enc.iter().enumerate() {
                let addr = u32::from(r.address) + k as u32;
                if addr >= u32::from(start) && addr < end {
                    let i = (addr - u32::from(start)) as usize;
                    if let (Some(slot), Some(c)) = (words.get_mut(i), covered.get_mut(i)) {
                        *slot = *w;
                        *c = true;
                    }
                }
            }
        }
        if self.holes == Holes::Reject && covered.iter().any(|c| !c) {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        let bitvec = || words.iter().map(|w| *w != 0).collect::<Vec<bool>>();
        Ok(Some(match kind {
            RegisterKind::Coil => Response::ReadCoils(bitvec()),
            RegisterKind::Discrete => Response::ReadDiscreteInputs(bitvec()),
            RegisterKind::Holding => Response::ReadHoldingRegisters(words),
            RegisterKind::Input => Response::ReadInputRegisters(words),
        }))
    }
}

impl Service for SimService {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Reply> + Send>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        *lock(&self.requests).entry(req.slave).or_insert(0) += 1;
        let fault = lock(&self.faults).get(&req.slave).copied();
        let reply = self.answer(req.slave, &req.request);
        match fault {
            None => Box::pin(std::future::ready(reply)),
            Some(Fault::Silent) => Box::pin(std::future::ready(Ok(None))),
            Some(Fault::Exception(code)) => {
                Box::pin(std::future::ready(Err(ExceptionCode::new(code))))
            }
            Some(Fault::Late(d)) => Box::pin(async move {
                tokio::time::sleep(d).await;
                reply
            }),
        }
    }
}

/// Serves Modbus TCP on `listener` until `shutdown` fires.
pub async fn serve_tcp(
    listener: TcpListener,
    service: SimService,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let server = Server::new(listener);
    let new_service = move |_addr: SocketAddr| Ok(Some(service.clone()));
    let on_connected = |stream, addr| {
        let new_service = new_service.clone();
        async move { accept_tcp_connection(stream, addr, new_service) }
    };
    let on_error = |e: io::Error| tracing::debug!(error = %e, "simulator connection ended");
    tokio::select! {
        r = server.serve(&on_connected, on_error) => r,
        () = shutdown.cancelled() => Ok(()),
    }
}

/// Serves Modbus RTU on one end of a serial line until `shutdown` fires.
pub async fn serve_rtu(
    serial: tokio_serial::SerialStream,
    service: SimService,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let server = tokio_modbus::server::rtu::Server::new(serial);
    tokio::select! {
        r = server.serve_forever(service) => r,
        () = shutdown.cancelled() => Ok(()),
    }
}

/// Advances the source every `tick` of wall time by `tick * speed` of simulated time.
pub async fn drive(service: SimService, tick: Duration, speed: f64, shutdown: CancellationToken) {
    let dt = tick.mul_f64(speed.max(0.0));
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = interval.tick() => service.step(dt),
        }
    }
}
