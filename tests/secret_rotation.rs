//! Issue #22 point 4, secret rotation, through the real binary: the broker wants a username and
//! password, the agent reads its password from `password_file`. The broker's password is
//! rotated (and its clients cut), the new password is written into the same `password_file`
//! (the TOML does not change) and the agent gets SIGHUP: it must read the file again, restart
//! its publisher and deliver again. A password file that has gone refuses the next reload,
//! naming the file, and the agent keeps publishing with what it has. (A file that exists but
//! cannot be read is refused the same way by the reload controller; the tests run as root,
//! which reads any file, so that case is covered by the `publish::secrets` unit tests.)
//!
//! Two brokers: rumqttd in-process (always; an auth handler whose accepted password the test
//! changes, a TCP gate in front to cut the agent's connection) and mosquitto with a
//! `password_file` rewritten by `mosquitto_passwd` and a broker restart (interop: mandatory with
//! CHOCOLINE_INTEROP=1, otherwise skipped when not installed).
//!
//! Before the fix the reload logged "configuration unchanged", the publisher kept retrying with
//! the old password and nothing was delivered after the rotation.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::agent::{
    Lines, PREFIX, Ports, bloom_count, collect, hup, sigterm_and_wait, start_agent, summary,
    wait_log,
};
use common::tls::chmod;
use common::{
    Broker, Gate, Subscriber, free_port, mosquitto_with, need_program, rumqttd_listener,
    rumqttd_start,
};

const USER: &str = "line-agent";
const OLD: &str = "alpha-0ld-pass";
const NEW: &str = "bravo-n3w-pass";

/// A broker that checks passwords and can rotate the one it accepts.
enum AuthBroker {
    /// rumqttd: `accepted` is checked on every CONNECT; `logins` records (password, accepted).
    Rumqttd {
        plain: u16,
        gate: Gate,
        accepted: Arc<Mutex<String>>,
        logins: Arc<Mutex<Vec<(String, bool)>>>,
    },
    /// mosquitto: an anonymous listener for the test's subscriber, a password listener for
    /// the agent.
    Mosquitto {
        broker: Broker,
        auth: u16,
        passwd: PathBuf,
        passwd_file: PathBuf,
    },
}

impl AuthBroker {
    fn rumqttd() -> AuthBroker {
        let accepted = Arc::new(Mutex::new(OLD.to_string()));
        let logins: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
        let (plain, auth) = (free_port(), free_port());
        let mut with_auth = rumqttd_listener("auth", auth, 1024 * 1024);
        let (a, l) = (accepted.clone(), logins.clone());
        with_auth.connections.set_auth_handler(
            move |_client: String, user: String, pass: String| {
                let ok = user == USER && pass == *a.lock().unwrap();
                l.lock().unwrap().push((pass, ok));
                async move { ok }
            },
        );
        rumqttd_start(vec![
            (
                "plain".to_string(),
                rumqttd_listener("plain", plain, 1024 * 1024),
            ),
            ("auth".to_string(), with_auth),
        ]);
        AuthBroker::Rumqttd {
            plain,
            gate: Gate::new(auth),
            accepted,
            logins,
        }
    }

    fn mosquitto(test: &str) -> Option<AuthBroker> {
        need_program("mosquitto", test)?;
        let passwd = need_program("mosquitto_passwd", test)?;
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let passwd_file = dir.path().join("passwd");
        set_mosquitto_password(&passwd, &passwd_file, OLD);
        let auth = free_port();
        let extra = format!(
            "listener {auth} 127.0.0.1\nallow_anonymous false\npassword_file {}\n",
            passwd_file.display()
        );
        let broker = mosquitto_with(test, "per_listener_settings true\n", &extra, Some(dir))?;
        Some(AuthBroker::Mosquitto {
            broker,
            auth,
            passwd,
            passwd_file,
        })
    }

    /// Where the test's subscriber connects (no password).
    fn subscriber_port(&self) -> u16 {
        match self {
            AuthBroker::Rumqttd { plain, .. } => *plain,
            AuthBroker::Mosquitto { broker, .. } => broker.port(),
        }
    }

    /// Where the agent connects (password required).
    async fn agent_port(&self) -> u16 {
        match self {
            AuthBroker::Rumqttd { gate, .. } => {
                gate.open().await;
                gate.port
            }
            AuthBroker::Mosquitto { auth, .. } => *auth,
        }
    }

    /// The broker accepts only `password` from now on and every client is cut.
    async fn rotate(&mut self, password: &str) {
        match self {
            AuthBroker::Rumqttd { gate, accepted, .. } => {
                *accepted.lock().unwrap() = password.to_string();
                gate.close().await;
                gate.open().await;
            }
            AuthBroker::Mosquitto {
                broker,
                passwd,
                passwd_file,
                ..
            } => {
                set_mosquitto_password(passwd, passwd_file, password);
                broker.stop();
                broker.start_again();
            }
        }
    }

    /// Whether the broker has refused `password` (None: the broker does not tell).
    fn refused(&self, password: &str) -> Option<bool> {
        self.login_seen(password, false)
    }

    /// Whether the broker has accepted `password` (None: the broker does not tell).
    fn accepted(&self, password: &str) -> Option<bool> {
        self.login_seen(password, true)
    }

    /// Whether a login with `password` ended `ok` (None: the broker does not tell).
    fn login_seen(&self, password: &str, ok: bool) -> Option<bool> {
        match self {
            AuthBroker::Rumqttd { logins, .. } => Some(
                logins
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|(p, accepted)| p == password && *accepted == ok),
            ),
            AuthBroker::Mosquitto { .. } => None,
        }
    }
}

fn set_mosquitto_password(bin: &Path, file: &Path, password: &str) {
    let mut cmd = std::process::Command::new(bin);
    cmd.arg("-b");
    if !file.exists() {
        cmd.arg("-c");
    }
    let st = cmd.arg(file).args([USER, password]).status().unwrap();
    assert!(st.success(), "mosquitto_passwd failed");
    chmod(file, 0o600);
}

fn write_password(path: &Path, password: &str) {
    std::fs::write(path, format!("{password}\n")).unwrap();
    chmod(path, 0o600);
}

/// No log line carries either password.
fn no_secret_in(log: &Lines) {
    for line in collect(log) {
        assert!(
            !line.contains(OLD) && !line.contains(NEW),
            "a password in the log: {line}"
        );
    }
}

#[expect(
    clippy::cognitive_complexity,
    reason = "test scenario: rotate, refuse, restore on one running agent, read top to bottom"
)]
async fn rotation(mut broker: AuthBroker) {
    let tmp = tempfile::tempdir().unwrap();
    let ports = Ports::on(broker.agent_port().await);
    let pw = tmp.path().join("mqtt-password");
    write_password(&pw, OLD);
    let mqtt = format!(
        "username = \"{USER}\"\npassword_file = \"{}\"\n",
        pw.display()
    );
    let got = Arc::new(Mutex::new(Vec::new()));
    let mut sub = Subscriber::connect_with(broker.subscriber_port(), PREFIX, got.clone()).await;
    let (mut child, log, stop_sim) = start_agent(tmp.path(), &ports, &mqtt, false).await;
    sub.wait_for(90, "predictions with the first password", |g| {
        bloom_count(g) >= 2
    })
    .await;
    assert_ne!(broker.accepted(OLD), Some(false));

    // The broker's password is rotated and the agent cut off: the old password is refused.
    broker.rotate(NEW).await;
    if matches!(broker, AuthBroker::Mosquitto { .. }) {
        sub.stop().await;
        sub = Subscriber::connect_with(broker.subscriber_port(), PREFIX, got.clone()).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_ne!(
        broker.refused(OLD),
        Some(false),
        "the old password was not tried"
    );
    let before = bloom_count(&sub.messages());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        bloom_count(&sub.messages()),
        before,
        "delivered with a refused password"
    );

    // The new password goes into the same file; the TOML is untouched. SIGHUP.
    write_password(&pw, NEW);
    hup(&child);
    let s = summary(&log, 0).await;
    eprintln!("rotation reload: {s}");
    assert_eq!(s["message"], "reload: configuration changed", "{s}");
    assert_eq!(s["result"], "applied", "{s}");
    assert_eq!(s["restarted"], "publish", "{s}");
    assert_eq!(s["secrets_changed"], "password_file", "{s}");
    let pw_text = pw.display().to_string();
    wait_log(&log, 5, "the changed-file line", |r| {
        r["key"] == "password_file" && r["path"] == pw_text.as_str()
    })
    .await;
    sub.wait_for(60, "predictions with the new password", |g| {
        bloom_count(g) >= before + 3
    })
    .await;
    assert_ne!(broker.accepted(NEW), Some(false));

    // The password file goes: the reload is refused, naming the file; publishing goes on.
    std::fs::remove_file(&pw).unwrap();
    hup(&child);
    let s = summary(&log, 1).await;
    eprintln!("missing password file reload: {s}");
    let msg = s["message"].as_str().unwrap();
    assert!(msg.starts_with("reload refused"), "{s}");
    wait_log(&log, 5, "an error naming the password file", |r| {
        r["level"] == "ERROR"
            && r["error"]
                .as_str()
                .is_some_and(|e| e.contains("password_file") && e.contains(&pw_text))
    })
    .await;
    let n = bloom_count(&sub.messages());
    sub.wait_for(60, "predictions after the refused reload", |g| {
        bloom_count(g) >= n + 2
    })
    .await;
    assert!(child.try_wait().unwrap().is_none(), "the agent exited");
    no_secret_in(&log);

    let (status, _) = sigterm_and_wait(&mut child).await;
    assert_eq!(status.code(), Some(0), "{status:?}");
    stop_sim.cancel();
    sub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_password_file_reconnects_on_sighup_rumqttd() {
    rotation(AuthBroker::rumqttd()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_password_file_reconnects_on_sighup_mosquitto() {
    let Some(b) = AuthBroker::mosquitto("rotated_password_file_reconnects_on_sighup_mosquitto")
    else {
        return;
    };
    rotation(b).await;
}
