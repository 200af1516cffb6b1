//! `[mqtt]` → rumqttc options: url, TLS (rustls with the ring provider, custom CA, optional
//! client certificate), credentials, last will.
//!
//! `clean_session = true`, deliberately. Durability lives in chocoline's outbox, not in the MQTT
//! session: after any disconnect the publisher builds a new client and resends everything
//! unacknowledged from the outbox, in sequence order. A persistent session would make the
//! broker (and rumqttc's own pending queue) replay the same messages a second time, in an order
//! chocoline does not control, for no gain.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{LastWill, MqttOptions, QoS, TlsConfiguration, Transport};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::config::MqttConfig;
use super::error::PublishError;
use super::secrets;
use crate::domain::TimestampMs;
use crate::store::Envelope;

/// Where to connect, parsed from `[mqtt] url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// `mqtts://`.
    pub tls: bool,
}

/// Parse `mqtt://host[:1883]` / `mqtts://host[:8883]` (`tcp://` and `ssl://` are accepted too).
pub fn parse_url(url: &str) -> Result<Endpoint, PublishError> {
    let bad = |reason: &str| PublishError::BadUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let u = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    let tls = match u.scheme() {
        "mqtt" | "tcp" => false,
        "mqtts" | "ssl" => true,
        other => {
            return Err(bad(&format!(
                "unknown scheme \"{other}\": use mqtt:// or mqtts://"
            )));
        }
    };
    let host = u
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad(
            "credentials do not belong in the url: use username and password_file",
        ));
    }
    let port = u.port().unwrap_or(if tls { 8883 } else { 1883 });
    Ok(Endpoint { host, port, tls })
}

/// Build the rustls client config: ring provider, the configured CA bundle only, and the client
/// certificate when both `client_cert_file` and `client_key_file` are set.
pub fn tls_config(cfg: &MqttConfig) -> Result<rustls::ClientConfig, PublishError> {
    let ca_path = cfg.ca_file.as_ref().ok_or_else(|| {
        PublishError::Inconsistent("mqtts:// needs ca_file (the system roots are not used)".into())
    })?;
    let ca_pem = secrets::read_public("ca_file", ca_path)?;
    let mut roots = rustls::RootCertStore::empty();
    let mut n = 0;
    for cert in rustls_pemfile::certs(&mut ca_pem.as_slice()) {
        let cert = cert.map_err(|e| PublishError::BadPem {
            key: "ca_file",
            path: ca_path.clone(),
            reason: e.to_string(),
        })?;
        roots.add(cert).map_err(|e| PublishError::BadPem {
            key: "ca_file",
            path: ca_path.clone(),
            reason: e.to_string(),
        })?;
        n += 1;
    }
    if n == 0 {
        return Err(PublishError::BadPem {
            key: "ca_file",
            path: ca_path.clone(),
            reason: "no PEM certificate found".into(),
        });
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    match (&cfg.client_cert_file, &cfg.client_key_file) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(cert_path), Some(key_path)) => {
            let pem = secrets::read_public("client_cert_file", cert_path)?;
            let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut pem.as_slice())
                .collect::<Result<_, _>>()
                .map_err(|e| PublishError::BadPem {
                    key: "client_cert_file",
                    path: cert_path.clone(),
                    reason: e.to_string(),
                })?;
            if certs.is_empty() {
                return Err(PublishError::BadPem {
                    key: "client_cert_file",
                    path: cert_path.clone(),
                    reason: "no PEM certificate found".into(),
                });
            }
            let key_pem = secrets::read_private("client_key_file", key_path)?;
            let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
                .map_err(|e| PublishError::BadPem {
                    key: "client_key_file",
                    path: key_path.clone(),
                    reason: e.to_string(),
                })?
                .ok_or_else(|| PublishError::BadPem {
                    key: "client_key_file",
                    path: key_path.clone(),
                    reason: "no PEM private key found".into(),
                })?;
            Ok(builder.with_client_auth_cert(certs, key)?)
        }
        _ => Err(PublishError::Inconsistent(
            "client_cert_file and client_key_file must be set together".into(),
        )),
    }
}

/// Build the rumqttc options. `window` is the publisher's in-flight window.
pub fn mqtt_options(
    cfg: &MqttConfig,
    envelope: &Envelope,
    window: u16,
) -> Result<MqttOptions, PublishError> {
    let ep = parse_url(&cfg.url)?;
    if cfg.client_id.trim().is_empty() {
        return Err(PublishError::Inconsistent(
            "client_id is empty: give every agent its own id".into(),
        ));
    }
    let mut o = MqttOptions::new(cfg.client_id.clone(), ep.host.clone(), ep.port);
    // rumqttc panics on a keep-alive between 0 and 1 s; "0s" disables it.
    let ka = cfg.keep_alive.get();
    o.set_keep_alive(if ka.is_zero() {
        ka
    } else {
        ka.max(Duration::from_secs(1))
    });
    o.set_clean_session(true);
    // rumqttc numbers packets 1..=inflight and stalls on an id still in flight; a margin over
    // our own window keeps that from happening even if a broker acknowledges out of order.
    o.set_inflight(window.saturating_mul(4).saturating_add(16));
    o.set_request_channel_capacity(usize::from(window) * 2 + 16);
    o.set_max_packet_size(1024 * 1024, 1024 * 1024);
    o.set_last_will(LastWill::new(
        envelope.status_topic(),
        envelope.status_payload(false, &cfg.client_id, TimestampMs::now()),
        QoS::AtLeastOnce,
        true,
    ));
    match (&cfg.username, &cfg.password_file) {
        (Some(user), Some(pw)) => {
            o.set_credentials(user.clone(), secrets::read_password(pw)?);
        }
        (Some(user), None) => {
            o.set_credentials(user.clone(), String::new());
        }
        (None, Some(_)) => {
            return Err(PublishError::Inconsistent(
                "password_file is set but username is not".into(),
            ));
        }
        (None, None) => {}
    }
    if ep.tls {
        let tls = tls_config(cfg)?;
        o.set_transport(Transport::Tls(TlsConfiguration::Rustls(Arc::new(tls))));
    } else if cfg.ca_file.is_some() || cfg.client_cert_file.is_some() {
        return Err(PublishError::Inconsistent(
            "ca_file / client_cert_file are set but the url is mqtt://, not mqtts://".into(),
        ));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("mqtt://broker.local").unwrap(),
            Endpoint {
                host: "broker.local".into(),
                port: 1883,
                tls: false
            }
        );
        assert_eq!(parse_url("mqtts://10.0.0.5").unwrap().port, 8883);
        assert_eq!(parse_url("mqtts://h:9999").unwrap().port, 9999);
        assert!(
            parse_url("http://h")
                .unwrap_err()
                .to_string()
                .contains("mqtt://")
        );
        assert!(
            parse_url("mqtt://u:p@h")
                .unwrap_err()
                .to_string()
                .contains("password_file")
        );
    }

    #[test]
    fn tls_needs_a_ca_and_both_halves_of_a_client_identity() {
        let cfg = MqttConfig {
            url: "mqtts://h".into(),
            ..MqttConfig::default()
        };
        let env = Envelope {
            site: "s".into(),
            line: "l".into(),
            topic_prefix: "p".into(),
            topics: Default::default(),
            max_message_bytes: crate::publish::config::DEFAULT_MAX_MESSAGE_BYTES,
        };
        assert!(
            mqtt_options(&cfg, &env, 8)
                .unwrap_err()
                .to_string()
                .contains("ca_file")
        );
        let cfg = MqttConfig {
            url: "mqtt://h".into(),
            password_file: Some("/nonexistent".into()),
            ..MqttConfig::default()
        };
        assert!(
            mqtt_options(&cfg, &env, 8)
                .unwrap_err()
                .to_string()
                .contains("username")
        );
    }
}
