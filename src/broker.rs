//! An in-process MQTT broker (rumqttd) on loopback, for `chocoline demo`: a newcomer needs no
//! broker installed. Behind the default-on `embedded-broker` feature so that production
//! builds, which talk to the plant's broker, can leave it out.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use rumqttd::{Config, ConnectionSettings, RouterConfig, ServerSettings};

/// Why the broker did not come up.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// Nothing listened on the port in time (rumqttd reports bind errors only in its logs).
    #[error("embedded MQTT broker did not listen on 127.0.0.1:{0}")]
    NotListening(u16),
}

/// Start rumqttd on `127.0.0.1:port` in a background thread and wait until it accepts
/// connections. The broker lives until the process exits.
pub fn spawn(port: u16) -> Result<(), BrokerError> {
    let listen = SocketAddr::from(([127, 0, 0, 1], port));
    let server = ServerSettings {
        name: "v4".into(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: 1024 * 1024,
            max_inflight_count: 500,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let config = Config {
        id: 0,
        router: RouterConfig {
            max_connections: 32,
            max_outgoing_packet_count: 1000,
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 4,
            ..RouterConfig::default()
        },
        v4: Some(HashMap::from([("v4".to_string(), server)])),
        ..Config::default()
    };
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded MQTT broker stopped");
            }
        })
        .map_err(|_| BrokerError::NotListening(port))?;
    for _ in 0..300 {
        if std::net::TcpStream::connect(listen).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(BrokerError::NotListening(port))
}
