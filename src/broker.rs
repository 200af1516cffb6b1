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
        if probe(listen).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(BrokerError::NotListening(port))
}

/// One clean MQTT 3.1.1 session: CONNECT, wait for CONNACK, DISCONNECT. A bare TCP connect
/// that is dropped at once makes rumqttd log an aborted connection as an ERROR; a proper
/// session leaves nothing in its log.
fn probe(addr: SocketAddr) -> std::io::Result<()> {
    use std::io::{Read, Write};
    const CLIENT_ID: &[u8] = b"chocoline-probe";
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    // Variable header: protocol name "MQTT", level 4, flags: clean session, keep-alive 10 s.
    let mut packet = vec![0x10, 0, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10];
    packet.push(0);
    packet.push(CLIENT_ID.len() as u8);
    packet.extend_from_slice(CLIENT_ID);
    packet[1] = (packet.len() - 2) as u8;
    s.write_all(&packet)?;
    let mut ack = [0u8; 4];
    s.read_exact(&mut ack)?;
    // CONNACK, remaining length 2, return code 0 (accepted).
    if ack[0] != 0x20 || ack[3] != 0 {
        return Err(std::io::Error::other(format!("unexpected CONNACK {ack:?}")));
    }
    s.write_all(&[0xE0, 0x00])?;
    Ok(())
}
