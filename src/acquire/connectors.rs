//! The two ways to reach a Modbus endpoint — a TCP socket or a serial line — and the choice
//! between them from a device's `controller` string (re-exported by
//! [`crate::acquire::connection`]).

use std::io;

use crate::acquire::config::{DeviceConfig, Parity};
use crate::acquire::connection::{ConnectFuture, Connector};
use crate::settings::controller::Controller;

/// Modbus TCP endpoint `host:port`.
#[derive(Debug, Clone)]
pub struct TcpConnector {
    /// `host:port`; resolved on every connect so a DNS change is picked up.
    pub addr: String,
}

impl Connector for TcpConnector {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move {
            let addr = tokio::net::lookup_host(&self.addr)
                .await?
                .next()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
            let stream = tokio::net::TcpStream::connect(addr).await?;
            // Requests are tiny and latency matters more than packet count.
            stream.set_nodelay(true)?;
            Ok(tokio_modbus::client::tcp::attach(stream))
        })
    }

    fn describe(&self) -> String {
        format!("tcp://{}", self.addr)
    }
}

/// Modbus RTU serial line settings.
#[derive(Debug, Clone)]
pub struct SerialConnector {
    /// Device path, e.g. `/dev/ttyUSB0`.
    pub path: String,
    /// Baud rate.
    pub baud_rate: u32,
    /// Data bits 5–8.
    pub data_bits: u8,
    /// Parity.
    pub parity: Parity,
    /// Stop bits 1 or 2.
    pub stop_bits: u8,
}

impl Connector for SerialConnector {
    fn connect(&self) -> ConnectFuture<'_> {
        Box::pin(async move {
            use tokio_serial::SerialPortBuilderExt as _;
            let data_bits = match self.data_bits {
                5 => tokio_serial::DataBits::Five,
                6 => tokio_serial::DataBits::Six,
                7 => tokio_serial::DataBits::Seven,
                _ => tokio_serial::DataBits::Eight,
            };
            let parity = match self.parity {
                Parity::None => tokio_serial::Parity::None,
                Parity::Even => tokio_serial::Parity::Even,
                Parity::Odd => tokio_serial::Parity::Odd,
            };
            let stop_bits = if self.stop_bits == 2 {
                tokio_serial::StopBits::Two
            } else {
                tokio_serial::StopBits::One
            };
            let port = tokio_serial::new(&self.path, self.baud_rate)
                .data_bits(data_bits)
                .parity(parity)
                .stop_bits(stop_bits)
                .open_native_async()
                .map_err(io::Error::other)?;
            Ok(tokio_modbus::client::rtu::attach(port))
        })
    }

    fn describe(&self) -> String {
        format!("file://{}", self.path)
    }
}

/// A `controller` string that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("device \"{device}\": controller \"{controller}\": {reason}")]
pub struct ControllerError {
    /// Device name.
    pub device: String,
    /// The controller string.
    pub controller: String,
    /// What is wrong.
    pub reason: String,
}

/// Builds the connector for a device's `controller` (`tcp://host[:port]` or `file:///dev/tty…`,
/// parsed by [`Controller::parse`], the same parser `check-config` uses).
pub fn connector_for(device: &DeviceConfig) -> Result<Box<dyn Connector>, ControllerError> {
    match Controller::parse(device.controller.trim()) {
        Ok(Controller::Tcp { host, port }) => {
            let addr = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            Ok(Box::new(TcpConnector { addr }))
        }
        Ok(Controller::Serial { path }) => Ok(Box::new(SerialConnector {
            path: path.to_string_lossy().into_owned(),
            baud_rate: device.baud_rate,
            data_bits: device.data_bits,
            parity: device.parity,
            stop_bits: device.stop_bits,
        })),
        Err(reason) => Err(ControllerError {
            device: device.name.clone(),
            controller: device.controller.clone(),
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_strings() {
        let mut d: DeviceConfig =
            toml_edit::de::from_str("name = \"x\"\ncontroller = \"tcp://plc\"").unwrap();
        assert_eq!(connector_for(&d).unwrap().describe(), "tcp://plc:502");
        d.controller = "tcp://[::1]:1502".into();
        assert_eq!(connector_for(&d).unwrap().describe(), "tcp://[::1]:1502");
        d.controller = "file:///dev/ttyUSB0".into();
        assert_eq!(connector_for(&d).unwrap().describe(), "file:///dev/ttyUSB0");
        d.controller = "udp://x".into();
        let Err(e) = connector_for(&d) else {
            panic!("udp accepted")
        };
        assert!(e.to_string().contains("\"x\""));
    }
}
