//! MQTT connection options from `[mqtt]`: TLS material read from files made by openssl in the
//! test, and every inconsistent or unusable combination refused with the key and file named.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use chocoline::publish::config::MqttConfig;
use chocoline::publish::options::{mqtt_options, tls_config};
use chocoline::store::Envelope;

fn envelope() -> Envelope {
    Envelope {
        site: "plant".into(),
        line: "line-1".into(),
        topic_prefix: "chocoline".into(),
        topics: Default::default(),
        max_message_bytes: chocoline::publish::config::DEFAULT_MAX_MESSAGE_BYTES,
    }
}

fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

/// A self-signed EC certificate and its key (`id.crt`, `id.key`, mode 600); None (with a
/// SKIPPED note) when openssl is missing outside CI.
fn identity(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "id.key",
            "-out",
            "id.crt",
            "-days",
            "2",
            "-subj",
            "/CN=chocoline-test",
        ])
        .current_dir(dir)
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        other => {
            if std::env::var("CHOCOLINE_INTEROP").as_deref() == Ok("1") {
                panic!("openssl is mandatory with CHOCOLINE_INTEROP=1: {other:?}");
            }
            eprintln!("SKIPPED: openssl not available to make test certificates");
            return None;
        }
    }
    let key = dir.join("id.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    Some((dir.join("id.crt"), key))
}

fn err(cfg: &MqttConfig) -> String {
    match mqtt_options(cfg, &envelope(), 8) {
        Ok(_) => panic!("accepted {cfg:?}"),
        Err(e) => e.to_string(),
    }
}

fn tls(ca: &Path) -> MqttConfig {
    MqttConfig {
        url: "mqtts://broker.local".into(),
        ca_file: Some(ca.to_owned()),
        ..MqttConfig::default()
    }
}

#[test]
fn tls_identities_are_accepted_only_when_complete_and_private() {
    let dir = tempfile::tempdir().unwrap();
    let Some((crt, key)) = identity(dir.path()) else {
        return;
    };
    // CA only, then CA + client identity: both build.
    assert!(tls_config(&tls(&crt)).is_ok());
    let full = MqttConfig {
        client_cert_file: Some(crt.clone()),
        client_key_file: Some(key.clone()),
        username: Some("agent".into()),
        ..tls(&crt)
    };
    assert!(mqtt_options(&full, &envelope(), 8).is_ok());

    // Half an identity.
    let half = MqttConfig {
        client_cert_file: Some(crt.clone()),
        ..tls(&crt)
    };
    assert!(
        err(&half).contains("must be set together"),
        "{}",
        err(&half)
    );

    // A certificate file with no certificate in it.
    let empty = write(dir.path(), "empty.crt", "nothing here\n", 0o644);
    let e = err(&MqttConfig {
        client_cert_file: Some(empty.clone()),
        client_key_file: Some(key.clone()),
        ..tls(&crt)
    });
    assert!(
        e.contains("client_cert_file") && e.contains("no PEM certificate found"),
        "{e}"
    );

    // A key file with no key in it.
    let no_key = write(dir.path(), "no.key", "not a key\n", 0o600);
    let e = err(&MqttConfig {
        client_cert_file: Some(crt.clone()),
        client_key_file: Some(no_key),
        ..tls(&crt)
    });
    assert!(
        e.contains("client_key_file") && e.contains("no PEM private key found"),
        "{e}"
    );

    // The private key readable by everyone: refused with the chmod to run.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = err(&full);
    assert!(
        e.contains("readable by every user") && e.contains("chmod 600"),
        "{e}"
    );
}

#[test]
fn unusable_ca_files_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.pem");
    let e = err(&tls(&missing));
    assert!(
        e.contains("ca_file") && e.contains("absent.pem") && e.contains("cannot read"),
        "{e}"
    );

    let text = write(dir.path(), "text.pem", "just text\n", 0o644);
    let e = err(&tls(&text));
    assert!(e.contains("no PEM certificate found"), "{e}");

    // A PEM block whose content is not a certificate.
    let bogus = write(
        dir.path(),
        "bogus.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        0o644,
    );
    let e = err(&tls(&bogus));
    assert!(e.contains("ca_file") && e.contains("bogus.pem"), "{e}");
}

#[test]
fn inconsistent_plain_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = write(dir.path(), "ca.pem", "x", 0o644);
    let e = err(&MqttConfig {
        url: "mqtt://broker.local".into(),
        ca_file: Some(ca),
        ..MqttConfig::default()
    });
    assert!(e.contains("the url is mqtt://, not mqtts://"), "{e}");

    let e = err(&MqttConfig {
        client_id: "  ".into(),
        ..MqttConfig::default()
    });
    assert!(e.contains("client_id is empty"), "{e}");

    // A user without a password file connects with an empty password; a zero keep-alive is
    // allowed (disables pings).
    let ok = MqttConfig {
        username: Some("agent".into()),
        keep_alive: "0s".parse().unwrap(),
        ..MqttConfig::default()
    };
    let o = mqtt_options(&ok, &envelope(), 8).unwrap();
    assert_eq!(o.keep_alive(), std::time::Duration::ZERO);
    let login = o.credentials().expect("credentials set");
    assert_eq!(login.username, "agent");
    assert!(login.password.is_empty());
}
