//! Issue #22 point 4 for TLS files, through the real binary against mosquitto (interop:
//! mandatory with CHOCOLINE_INTEROP=1, otherwise skipped when not installed; the in-process
//! rumqttd is built without TLS). The broker requires a client certificate signed by the CA it
//! trusts for clients. That CA is replaced and the broker restarted, so the agent's
//! certificate is refused; a new certificate and key signed by the new CA are written over the
//! agent's `client_cert_file` and `client_key_file` (same paths, TOML untouched) and the agent
//! gets SIGHUP: it must restart its publisher with them and deliver again.
//!
//! Before the fix the reload logged "configuration unchanged" and the publisher kept offering
//! the refused certificate.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::agent::{PREFIX, Ports, bloom_count, hup, sigterm_and_wait, start_agent, summary};
use common::tls::{chmod, make_ca, make_cert};
use common::{Subscriber, free_port, mosquitto_with, need_program};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "interop scenario with mosquitto: renew the client certificate on a running agent"
)]
async fn renewed_client_certificate_reconnects_on_sighup_mosquitto() {
    let test = "renewed_client_certificate_reconnects_on_sighup_mosquitto";
    if need_program("mosquitto", test).is_none() {
        return;
    }
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let d = dir.path();
    make_ca(d, "ca");
    make_ca(d, "ca2");
    make_cert(d, "ca", "server", "IP:127.0.0.1,DNS:localhost");
    make_cert(d, "ca", "client", "DNS:chocoline");
    make_cert(d, "ca2", "client2", "DNS:chocoline");
    // What the broker trusts for client certificates, and the agent's identity files.
    std::fs::copy(d.join("ca.crt"), d.join("client-ca.crt")).unwrap();
    std::fs::copy(d.join("client.crt"), d.join("agent.crt")).unwrap();
    std::fs::copy(d.join("client.key"), d.join("agent.key")).unwrap();
    chmod(&d.join("agent.key"), 0o600);

    let tls_port = free_port();
    let extra = format!(
        "listener {tls_port} 127.0.0.1\nallow_anonymous true\ncafile {ca}\ncertfile {crt}\nkeyfile {key}\nrequire_certificate true\n",
        ca = d.join("client-ca.crt").display(),
        crt = d.join("server.crt").display(),
        key = d.join("server.key").display(),
    );
    let Some(mut broker) = mosquitto_with(
        test,
        "per_listener_settings true\n",
        &extra,
        Some(dir.clone()),
    ) else {
        return;
    };
    let got = Arc::new(Mutex::new(Vec::new()));
    let mut sub = Subscriber::connect_with(broker.port(), PREFIX, got.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let ports = Ports::on(tls_port);
    let mqtt = format!(
        "ca_file = \"{}\"\nclient_cert_file = \"{}\"\nclient_key_file = \"{}\"\n",
        d.join("ca.crt").display(),
        d.join("agent.crt").display(),
        d.join("agent.key").display(),
    );
    let (mut child, log, stop_sim) = start_agent(tmp.path(), &ports, &mqtt, true).await;
    sub.wait_for(90, "predictions over TLS", |g| bloom_count(g) >= 2)
        .await;

    // The broker trusts only the new client CA from now on: the agent's certificate is refused.
    std::fs::copy(d.join("ca2.crt"), d.join("client-ca.crt")).unwrap();
    broker.stop();
    broker.start_again();
    sub.stop().await;
    sub = Subscriber::connect_with(broker.port(), PREFIX, got.clone()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = bloom_count(&sub.messages());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        bloom_count(&sub.messages()),
        before,
        "delivered with a certificate the broker no longer trusts"
    );

    // The renewed certificate and key go over the old files; SIGHUP.
    std::fs::copy(d.join("client2.crt"), d.join("agent.crt")).unwrap();
    std::fs::copy(d.join("client2.key"), d.join("agent.key")).unwrap();
    chmod(&d.join("agent.key"), 0o600);
    hup(&child);
    let s = summary(&log, 0).await;
    eprintln!("certificate rotation reload: {s}");
    assert_eq!(s["message"], "reload: configuration changed", "{s}");
    assert_eq!(s["restarted"], "publish", "{s}");
    assert_eq!(
        s["secrets_changed"], "client_cert_file, client_key_file",
        "{s}"
    );
    sub.wait_for(60, "predictions with the renewed certificate", |g| {
        bloom_count(g) >= before + 3
    })
    .await;
    assert!(
        !common::agent::collect(&log)
            .iter()
            .any(|l| l.contains("PRIVATE KEY")),
        "key material in the log"
    );

    let (status, _) = sigterm_and_wait(&mut child).await;
    assert_eq!(status.code(), Some(0), "{status:?}");
    stop_sim.cancel();
    sub.stop().await;
    drop(broker);
}
