//! The `controller` URL of a Modbus device: `tcp://host[:port]` (port 502 by default) or
//! `file:///dev/ttyUSB0` for a serial line (RTU).

use std::fmt;
use std::path::PathBuf;

/// Default Modbus TCP port.
pub const MODBUS_TCP_PORT: u16 = 502;

/// Where a device is reached.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Controller {
    /// Modbus TCP.
    Tcp {
        /// Host name or IP address (IPv6 without brackets).
        host: String,
        /// TCP port.
        port: u16,
    },
    /// Modbus RTU over a serial device.
    Serial {
        /// Absolute path of the serial device.
        path: PathBuf,
    },
}

impl Controller {
    /// Parses a controller URL; the error says what would be valid.
    pub fn parse(s: &str) -> Result<Controller, String> {
        const EXPECTED: &str = "expected tcp://host[:port] or file:///dev/ttyUSB0";
        let url = url::Url::parse(s).map_err(|e| format!("not a URL ({e}); {EXPECTED}"))?;
        match url.scheme() {
            "tcp" => {
                let host = url
                    .host_str()
                    .filter(|h| !h.is_empty())
                    .ok_or_else(|| format!("no host; {EXPECTED}"))?;
                if !(url.path().is_empty() || url.path() == "/")
                    || url.query().is_some()
                    || url.fragment().is_some()
                    || !url.username().is_empty()
                {
                    return Err(format!("only host and port are allowed; {EXPECTED}"));
                }
                let host = host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string();
                Ok(Controller::Tcp {
                    host,
                    port: url.port().unwrap_or(MODBUS_TCP_PORT),
                })
            }
            "file" => {
                if url.host_str().is_some_and(|h| !h.is_empty()) {
                    return Err(format!(
                        "a serial device needs three slashes (file:///dev/…); {EXPECTED}"
                    ));
                }
                let path = url
                    .to_file_path()
                    .map_err(|()| format!("not a device path; {EXPECTED}"))?;
                if path.parent().is_none() || url.query().is_some() || url.fragment().is_some() {
                    return Err(format!("not a device path; {EXPECTED}"));
                }
                Ok(Controller::Serial { path })
            }
            other => Err(format!("unsupported scheme \"{other}\"; {EXPECTED}")),
        }
    }

    /// True for a serial line.
    pub fn is_serial(&self) -> bool {
        matches!(self, Controller::Serial { .. })
    }
}

impl fmt::Display for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Controller::Tcp { host, port } if host.contains(':') => {
                write!(f, "tcp://[{host}]:{port}")
            }
            Controller::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Controller::Serial { path } => write!(f, "file://{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_with_and_without_port() {
        assert_eq!(
            Controller::parse("tcp://10.0.0.5").unwrap(),
            Controller::Tcp {
                host: "10.0.0.5".into(),
                port: 502
            }
        );
        assert_eq!(
            Controller::parse("tcp://plc.local:5020")
                .unwrap()
                .to_string(),
            "tcp://plc.local:5020"
        );
        assert_eq!(
            Controller::parse("tcp://[::1]:5020").unwrap().to_string(),
            "tcp://[::1]:5020"
        );
    }

    #[test]
    fn serial_device() {
        assert_eq!(
            Controller::parse("file:///dev/ttyUSB0").unwrap(),
            Controller::Serial {
                path: "/dev/ttyUSB0".into()
            }
        );
    }

    #[test]
    fn serial_device_names_of_hats_and_stable_links() {
        for path in [
            "/dev/ttyAMA0",
            "/dev/ttySC1",
            "/dev/ttyS0",
            "/dev/ttyACM0",
            "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10KXYZ1-if00-port0",
            "/dev/serial/by-path/platform-3f980000.usb-usb-0:1.2:1.0-port0",
        ] {
            let url = format!("file://{path}");
            assert_eq!(
                Controller::parse(&url),
                Ok(Controller::Serial { path: path.into() }),
                "{url}"
            );
            assert_eq!(Controller::parse(&url).unwrap().to_string(), url);
        }
    }

    #[test]
    fn refused_with_what_is_valid() {
        for bad in [
            "10.0.0.5:502",
            "udp://h:502",
            "tcp://",
            "tcp://h:502/x",
            "tcp://h:99999",
            "file://dev/ttyUSB0",
            "file:///",
            "",
        ] {
            let e = Controller::parse(bad).unwrap_err();
            assert!(e.contains("expected tcp://host[:port]"), "{bad}: {e}");
        }
    }
}
