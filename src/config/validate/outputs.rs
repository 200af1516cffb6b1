//! Checks of the outputs: `[store]`, `[mqtt]`, `[log]`.

use super::*;
use crate::publish::config::MqttConfig;

pub(super) fn store(cfg: &Config, out: &mut Vec<Problem>) {
    let s = &cfg.store;
    let p = KeyPath::root().key("store");
    if s.data_dir.as_os_str().is_empty() {
        push(out, p.key("data_dir"), "must not be empty");
    } else if s.data_dir.exists() && !s.data_dir.is_dir() {
        push(
            out,
            p.key("data_dir"),
            format!("{} exists but is not a directory", s.data_dir.display()),
        );
    }
    if s.max_bytes.get() < 1024 * 1024 {
        push(out, p.key("max_bytes"), "must be at least 1MiB");
    }
    if s.cache_capacity.get() == 0 {
        push(
            out,
            p.key("cache_capacity"),
            "must be positive, e.g. \"8MiB\"",
        );
    }
    for (key, n) in [
        ("prediction_history_max", s.prediction_history_max),
        ("drift_history_max", s.drift_history_max),
    ] {
        if !(1..=10_000_000).contains(&n) {
            push(out, p.key(key), "expected 1..=10000000");
        }
    }
    if s.snapshot_interval.get().is_zero() {
        push(
            out,
            p.key("snapshot_interval"),
            "must be longer than 0, e.g. \"1s\"",
        );
    }
    if s.prediction_retention.get().is_zero() {
        push(
            out,
            p.key("prediction_retention"),
            "must be longer than 0, e.g. \"7d\"",
        );
    }
}

pub(super) fn mqtt(cfg: &Config, out: &mut Vec<Problem>) {
    let m = &cfg.mqtt;
    let p = KeyPath::root().key("mqtt");
    let tls = mqtt_url(&m.url, &p, out);
    mqtt_identity(m, &p, out);
    mqtt_files(m, tls, &p, out);
    mqtt_session(m, &p, out);
    mqtt_topics(cfg, &p, out);
}

/// `client_id`, `topic_prefix`, `username` and `password_file`.
fn mqtt_identity(m: &MqttConfig, p: &KeyPath, out: &mut Vec<Problem>) {
    if m.client_id.is_empty() {
        push(out, p.key("client_id"), "must not be empty");
    }
    let t = &m.topic_prefix;
    if t.is_empty()
        || t.starts_with('/')
        || t.ends_with('/')
        || t.contains(['+', '#'])
        || t.contains("//")
    {
        push(
            out,
            p.key("topic_prefix"),
            "expected topic levels such as \"plant1/line3\": not empty, no leading, trailing or double /, no + or #",
        );
    }
    if m.username.as_deref() == Some("") {
        push(
            out,
            p.key("username"),
            "must not be empty; leave it out for no authentication",
        );
    }
    if m.password_file.is_some() && m.username.is_none() {
        push(
            out,
            p.key("password_file"),
            "needs username: MQTT sends a password only with a user name",
        );
    }
}

/// The files `[mqtt]` names exist (private ones not readable by others), go together, and
/// match the URL's scheme (`tls`: whether it asks for TLS; None when it is invalid).
fn mqtt_files(m: &MqttConfig, tls: Option<bool>, p: &KeyPath, out: &mut Vec<Problem>) {
    let files = [
        ("password_file", &m.password_file, true),
        ("ca_file", &m.ca_file, false),
        ("client_cert_file", &m.client_cert_file, false),
        ("client_key_file", &m.client_key_file, true),
    ];
    for (key, file, private) in files {
        if let Some(f) = file {
            file_must_exist(f, private, p.key(key), out);
        }
    }
    if m.client_cert_file.is_some() != m.client_key_file.is_some() {
        let key = if m.client_cert_file.is_some() {
            "client_key_file"
        } else {
            "client_cert_file"
        };
        push(
            out,
            p.key(key),
            "client_cert_file and client_key_file go together: set both or neither",
        );
    }
    if tls == Some(true) && m.ca_file.is_none() {
        push(
            out,
            p.key("ca_file"),
            "required with mqtts://: the PEM CA bundle that signed the broker's certificate",
        );
    }
    if tls == Some(false) {
        for (key, set) in [
            ("ca_file", m.ca_file.is_some()),
            ("client_cert_file", m.client_cert_file.is_some()),
        ] {
            if set {
                push(out, p.key(key), "TLS settings need a mqtts:// url");
            }
        }
    }
}

/// Keep-alive, window, message size, refusals and reconnect delays.
fn mqtt_session(m: &MqttConfig, p: &KeyPath, out: &mut Vec<Problem>) {
    let ka = m.keep_alive.get();
    if !(ka.is_zero() || (ka.as_secs() >= 1 && ka.subsec_nanos() == 0)) {
        push(
            out,
            p.key("keep_alive"),
            "expected whole seconds (at least \"1s\"), or \"0s\" to disable",
        );
    }
    if m.inflight == 0 {
        push(out, p.key("inflight"), "expected 1..=65535");
    }
    if m.max_message_bytes.get() < crate::publish::config::MIN_MAX_MESSAGE_BYTES as u64 {
        push(
            out,
            p.key("max_message_bytes"),
            format!(
                "expected at least {} bytes (an alert must fit); set it to the broker's limit, \
                 e.g. mosquitto's message_size_limit",
                crate::publish::config::MIN_MAX_MESSAGE_BYTES
            ),
        );
    }
    if m.max_refusals < 2 {
        push(
            out,
            p.key("max_refusals"),
            "expected at least 2 (the second attempt sends the message alone)",
        );
    }
    if m.reconnect_min.get().is_zero() {
        push(
            out,
            p.key("reconnect_min"),
            "must be longer than 0, e.g. \"500ms\"",
        );
    }
    if m.reconnect_max < m.reconnect_min {
        push(
            out,
            p.key("reconnect_max"),
            format!(
                "must not be shorter than reconnect_min ({})",
                m.reconnect_min
            ),
        );
    }
}

/// QoS of each topic class.
fn mqtt_topics(cfg: &Config, p: &KeyPath, out: &mut Vec<Problem>) {
    let m = &cfg.mqtt;
    let topics = [
        ("alerts", m.topics.alerts.qos),
        ("predictions", m.topics.predictions.qos),
        ("drift", m.topics.drift.qos),
        ("data_quality", m.topics.data_quality.qos),
    ];
    for (key, qos) in topics {
        if qos > 1 {
            push(
                out,
                p.key("topics").key(key).key("qos"),
                "expected 0 (at most once) or 1 (at least once)",
            );
        }
    }
    mqtt_signals(cfg, &p.key("topics").key("signals"), out);
}

/// `[mqtt.topics.signals]`: deadbands are finite and not negative, names are registers.
fn mqtt_signals(cfg: &Config, p: &KeyPath, out: &mut Vec<Problem>) {
    let sc = &cfg.mqtt.topics.signals;
    let deadband = |v: f64| v.is_finite() && v >= 0.0;
    if !deadband(sc.deadband) {
        push(
            out,
            p.key("deadband"),
            "expected a number ≥ 0 (engineering units)",
        );
    }
    let registers: Vec<&str> = (cfg.devices.iter())
        .flat_map(|d| d.registers.iter().map(|r| r.name.as_str()))
        .collect();
    let unknown = |name: &str| {
        format!(
            "no register is named \"{name}\"; registers: {}",
            registers.join(", ")
        )
    };
    for (name, v) in &sc.deadbands {
        if !registers.contains(&name.as_str()) {
            push(out, p.key("deadbands").key(name), unknown(name));
        } else if !deadband(*v) {
            push(
                out,
                p.key("deadbands").key(name),
                "expected a number ≥ 0 (engineering units)",
            );
        }
    }
    for (i, name) in sc.include.iter().enumerate() {
        if !registers.contains(&name.as_str()) {
            push(out, p.key("include").index(i), unknown(name));
        }
    }
    if !(1..=1_000_000).contains(&sc.queue) {
        push(out, p.key("queue"), "expected 1..=1000000 signals");
    }
}

/// Checks the broker URL; returns whether it asks for TLS (None when it is invalid).
pub(super) fn mqtt_url(s: &str, p: &KeyPath, out: &mut Vec<Problem>) -> Option<bool> {
    const EXPECTED: &str = "expected mqtt://host[:port] or mqtts://host[:port]";
    let url = match url::Url::parse(s) {
        Ok(u) => u,
        Err(e) => {
            push(out, p.key("url"), format!("not a URL ({e}); {EXPECTED}"));
            return None;
        }
    };
    if !url.username().is_empty() || url.password().is_some() {
        // Never echo the value: it holds a credential.
        out.push(Problem {
            path: p.key("url"),
            message: "must not contain credentials; use username and password_file".into(),
            show_value: false,
        });
        return None;
    }
    let tls = match url.scheme() {
        "mqtt" => false,
        "mqtts" => true,
        other => {
            push(
                out,
                p.key("url"),
                format!("unsupported scheme \"{other}\"; {EXPECTED}"),
            );
            return None;
        }
    };
    if url.host_str().is_none_or(str::is_empty) {
        push(out, p.key("url"), format!("no host; {EXPECTED}"));
        return None;
    }
    if !(url.path().is_empty() || url.path() == "/")
        || url.query().is_some()
        || url.fragment().is_some()
    {
        push(
            out,
            p.key("url"),
            format!("only host and port are allowed; {EXPECTED}"),
        );
        return None;
    }
    Some(tls)
}

pub(super) fn file_must_exist(f: &Path, private: bool, path: KeyPath, out: &mut Vec<Problem>) {
    if !f.is_file() {
        push(out, path, format!("file {} does not exist", f.display()));
        return;
    }
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(f) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o004 != 0 {
                push(
                    out,
                    path,
                    format!(
                        "{} is readable by everyone (mode {mode:o}); chmod 600 it",
                        f.display()
                    ),
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = private;
}

pub(super) fn log(cfg: &Config, out: &mut Vec<Problem>) {
    if let Some(e) = crate::logging::filter_problem(&cfg.log.level) {
        push(out, KeyPath::root().key("log").key("level"), e);
    }
}

/// `[sparkplug]`: ids that can stand in a topic level.
pub(super) fn sparkplug(cfg: &Config, out: &mut Vec<Problem>) {
    use crate::sparkplug::topic::valid_id;
    let s = &cfg.sparkplug;
    let p = KeyPath::root().key("sparkplug");
    const WHY: &str = "must be non-empty and contain no +, / or # (it is a topic level)";
    if !valid_id(&s.group_id) {
        push(out, p.key("group_id"), WHY);
    }
    for (key, v) in [
        ("edge_node_id", &s.edge_node_id),
        ("primary_host_id", &s.primary_host_id),
    ] {
        if v.as_deref().is_some_and(|id| !valid_id(id)) {
            push(out, p.key(key), WHY);
        }
    }
    if s.enabled && s.edge_node_id.is_none() && !valid_id(&cfg.agent.line) {
        push(
            out,
            p.key("edge_node_id"),
            "needed: [agent] line cannot be the edge node id (it contains +, / or #)",
        );
    }
}
