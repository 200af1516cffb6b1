//! One Modbus connection (a TCP endpoint or a serial bus), owned by exactly one task.
//!
//! tokio-modbus has no request timeout and, after a timeout, a late reply on the same TCP
//! context answers the *next* request (header mismatch forever after). So every request runs
//! under `tokio::time::timeout`, and any timeout, transport or protocol error drops the context;
//! the next request reconnects. Reconnecting after a dropped context is immediate (the endpoint
//! was reachable a moment ago, other slaves on the bus must not wait); only failed *connect*
//! attempts back off, exponentially with jitter and a cap, and while backing off requests fail
//! at once with [`ReadError::NotConnected`] instead of blocking the bus.
//!
//! Only the read function codes 1–4 are ever sent: [`Connection::read`] is the only request
//! path and it maps a [`RegisterKind`] to one of them.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::Instant;
use tokio_modbus::Slave;
use tokio_modbus::client::{Context, Reader};
use tokio_modbus::prelude::{ExceptionCode, SlaveContext};

pub use crate::acquire::backoff::Backoff;
use crate::acquire::config::RegisterKind;
pub use crate::acquire::connectors::{
    ControllerError, SerialConnector, TcpConnector, connector_for,
};

/// A boxed connect future.
pub type ConnectFuture<'a> = Pin<Box<dyn Future<Output = io::Result<Context>> + Send + 'a>>;

/// Opens a fresh client context to one endpoint. Implemented for TCP and serial lines; tests
/// implement it to hand in in-memory transports.
pub trait Connector: Send + Sync {
    /// Opens a new context (the old one, if any, has been dropped).
    fn connect(&self) -> ConnectFuture<'_>;
    /// Human-readable endpoint for logs, e.g. `tcp://10.0.0.5:502`.
    fn describe(&self) -> String;
}

/// Why one read did not produce words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The device answered with a Modbus exception: it is alive, the block is not readable.
    #[error("modbus exception {0}")]
    Exception(u8),
    /// A TCP→RTU gateway answered for the device with exception 0x0A (gateway path
    /// unavailable) or 0x0B (gateway target device failed to respond): the gateway is alive,
    /// the device behind it is not. Treated like a timeout; the context is kept (the gateway
    /// connection serves the other devices behind it).
    #[error("gateway exception {0:#04x}: the device behind the gateway does not answer")]
    Gateway(u8),
    /// No answer within the timeout; the context was dropped.
    #[error("timeout")]
    Timeout,
    /// I/O error or a malformed / mismatched reply; the context was dropped.
    #[error("transport error: {0}")]
    Transport(String),
    /// Connecting to the endpoint failed; the endpoint (not the slave) is down.
    #[error("connect failed: {0}")]
    Connect(String),
    /// Not connected and the reconnect backoff has not elapsed yet; nothing was sent.
    #[error("not connected (reconnect backoff)")]
    NotConnected,
    /// The device answered with fewer words than asked for.
    #[error("short reply: asked {asked}, got {got}")]
    Short {
        /// Words or bits requested.
        asked: u16,
        /// Words or bits received.
        got: usize,
    },
}

impl ReadError {
    /// True for failures that say this slave is not answering, as opposed to an exception
    /// (the device is alive) or an endpoint that cannot be reached (not the slave's fault).
    pub fn is_silence(&self) -> bool {
        matches!(
            self,
            ReadError::Timeout | ReadError::Transport(_) | ReadError::Gateway(_)
        )
    }
}

/// Counters of one connection, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Successful connects (the first one included).
    pub connects: u64,
    /// Failed connect attempts.
    pub connect_failures: u64,
    /// Requests sent.
    pub requests: u64,
    /// Requests that timed out.
    pub timeouts: u64,
    /// Requests a gateway answered with exception 0x0A / 0x0B (device behind it down).
    pub gateway_failures: u64,
    /// Contexts dropped after an error.
    pub drops: u64,
}

/// One endpoint's client context plus its reconnect state.
pub struct Connection {
    connector: Box<dyn Connector>,
    ctx: Option<Context>,
    backoff: Backoff,
    failures: u32,
    next_attempt: Option<Instant>,
    stats: ConnStats,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("endpoint", &self.connector.describe())
            .field("connected", &self.ctx.is_some())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Connection {
    /// A connection that connects lazily on the first read.
    pub fn new(connector: Box<dyn Connector>, backoff: Backoff) -> Self {
        Connection {
            connector,
            ctx: None,
            backoff,
            failures: 0,
            next_attempt: None,
            stats: ConnStats::default(),
        }
    }

    /// The endpoint, for logs.
    pub fn describe(&self) -> String {
        self.connector.describe()
    }

    /// Counters so far.
    pub fn stats(&self) -> ConnStats {
        self.stats
    }

    /// True while a context is open.
    pub fn is_connected(&self) -> bool {
        self.ctx.is_some()
    }

    /// Drops the context (closing the socket), so a late reply can never be read.
    fn drop_context(&mut self) {
        if self.ctx.take().is_some() {
            self.stats.drops += 1;
        }
    }

    async fn ensure_connected(&mut self, timeout: Duration) -> Result<(), ReadError> {
        if self.ctx.is_none() {
            if let Some(at) = self.next_attempt
                && Instant::now() < at
            {
                return Err(ReadError::NotConnected);
            }
            let res = tokio::time::timeout(timeout, self.connector.connect()).await;
            match res {
                Ok(Ok(ctx)) => {
                    if self.failures > 0 {
                        tracing::info!(endpoint = %self.connector.describe(), "reconnected");
                    }
                    self.failures = 0;
                    self.next_attempt = None;
                    self.stats.connects += 1;
                    self.ctx = Some(ctx);
                }
                Ok(Err(e)) => return Err(self.connect_failed(e.to_string())),
                Err(_) => return Err(self.connect_failed("connect timeout".into())),
            }
        }
        Ok(())
    }

    fn exception(&mut self, code: u8) -> ReadError {
        let e = classify_exception(code);
        if matches!(e, ReadError::Gateway(_)) {
            self.stats.gateway_failures += 1;
        }
        e
    }

    fn connect_failed(&mut self, why: String) -> ReadError {
        self.failures = self.failures.saturating_add(1);
        self.stats.connect_failures += 1;
        let delay = self.backoff.delay(self.failures);
        self.next_attempt = Some(Instant::now() + delay);
        tracing::warn!(
            endpoint = %self.connector.describe(), error = %why, failures = self.failures,
            retry_in_ms = delay.as_millis() as u64, "connect failed"
        );
        ReadError::Connect(why)
    }

    /// Reads `count` words (or bits, as 0/1) from `start` of `kind` on unit `slave`, with a
    /// timeout. Any failure other than a Modbus exception (gateway exceptions included)
    /// drops the context.
    pub async fn read(
        &mut self,
        slave: u8,
        kind: RegisterKind,
        start: u16,
        count: u16,
        timeout: Duration,
    ) -> Result<Vec<u16>, ReadError> {
        self.ensure_connected(timeout).await?;
        self.stats.requests += 1;
        let Some(ctx) = self.ctx.as_mut() else {
            return Err(ReadError::NotConnected);
        };
        ctx.set_slave(Slave(slave));
        let fut = async {
            match kind {
                RegisterKind::Holding => ctx.read_holding_registers(start, count).await,
                RegisterKind::Input => ctx.read_input_registers(start, count).await,
                RegisterKind::Coil => ctx
                    .read_coils(start, count)
                    .await
                    .map(|r| r.map(|bits| bits.into_iter().map(u16::from).collect())),
                RegisterKind::Discrete => ctx
                    .read_discrete_inputs(start, count)
                    .await
                    .map(|r| r.map(|bits| bits.into_iter().map(u16::from).collect())),
            }
        };
        let outcome = tokio::time::timeout(timeout, fut).await;
        match outcome {
            Err(_) => {
                self.stats.timeouts += 1;
                self.drop_context();
                Err(ReadError::Timeout)
            }
            Ok(Err(e)) => {
                self.drop_context();
                Err(ReadError::Transport(e.to_string()))
            }
            Ok(Ok(Err(code))) => Err(self.exception(exception_byte(code))),
            Ok(Ok(Ok(mut words))) => {
                // Bit reads come back padded to a multiple of 8.
                if words.len() < usize::from(count) {
                    return Err(ReadError::Short {
                        asked: count,
                        got: words.len(),
                    });
                }
                words.truncate(usize::from(count));
                Ok(words)
            }
        }
    }
}

fn exception_byte(code: ExceptionCode) -> u8 {
    u8::from(code)
}

/// Exception 0x0A: gateway path unavailable.
pub const GATEWAY_PATH_UNAVAILABLE: u8 = 0x0A;
/// Exception 0x0B: gateway target device failed to respond.
pub const GATEWAY_TARGET_FAILED: u8 = 0x0B;

/// The error for an exception reply: the two gateway codes say the device is down, every
/// other code that it is alive.
pub fn classify_exception(code: u8) -> ReadError {
    match code {
        GATEWAY_PATH_UNAVAILABLE | GATEWAY_TARGET_FAILED => ReadError::Gateway(code),
        _ => ReadError::Exception(code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_exceptions_are_silence_others_are_answers() {
        assert_eq!(classify_exception(0x0A), ReadError::Gateway(0x0A));
        assert_eq!(classify_exception(0x0B), ReadError::Gateway(0x0B));
        assert!(classify_exception(0x0B).is_silence());
        for code in [1, 2, 3, 4, 6, 0x0C] {
            assert_eq!(classify_exception(code), ReadError::Exception(code));
            assert!(!classify_exception(code).is_silence());
        }
        assert!(
            ReadError::Gateway(0x0B).to_string().contains("0x0b"),
            "{}",
            ReadError::Gateway(0x0B)
        );
    }
}
