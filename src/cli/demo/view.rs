//! The demo's console: a control-room MQTT subscriber on `{prefix}/#` (and `spBv1.0/#` with
//! `--sparkplug`, decoded by [`super::sparkplug_view`]). Everything it shows came through the
//! broker, exactly as a plant's SCADA or historian would receive it — not from inside the
//! agent. Headless mode prints one JSON line per message instead (tests).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, Publish, QoS, SubscribeFilter};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::sparkplug_view::SparkplugView;
use crate::sparkplug::topic::NAMESPACE;

/// Sample-level predictions arrive several times a second; the console shows one line per
/// model every this often (headless mode prints them all).
const PREDICTION_EVERY: Duration = Duration::from_secs(2);

/// What the view shows, and how.
#[derive(Debug, Clone)]
pub struct ViewOptions {
    /// The JSON topics' prefix: the view subscribes to `{prefix}/#`.
    pub prefix: String,
    /// One JSON line per message instead of the console lines.
    pub headless: bool,
    /// Subscribe to `spBv1.0/#` too and decode the Sparkplug messages.
    pub sparkplug: bool,
}

/// Subscribe to `{prefix}/#` (and `spBv1.0/#`) on `127.0.0.1:port` and print what arrives
/// until `stop` fires. `subscribed` fires once the subscription is acknowledged.
pub async fn run(
    port: u16,
    opts: ViewOptions,
    stop: CancellationToken,
    subscribed: tokio::sync::oneshot::Sender<()>,
) {
    let mut o = MqttOptions::new(
        format!("control-room-{}", std::process::id()),
        "127.0.0.1",
        port,
    );
    o.set_keep_alive(Duration::from_secs(30));
    o.set_max_packet_size(2 * 1024 * 1024, 2 * 1024 * 1024);
    let (client, mut events) = AsyncClient::new(o, 100);
    let mut filters = vec![SubscribeFilter::new(
        format!("{}/#", opts.prefix),
        QoS::AtLeastOnce,
    )];
    if opts.sparkplug {
        filters.push(SubscribeFilter::new(
            format!("{NAMESPACE}/#"),
            QoS::AtLeastOnce,
        ));
    }
    // One SUBSCRIBE, so one SubAck says both filters are in place.
    if let Err(e) = client.subscribe_many(filters).await {
        eprintln!("control room: cannot subscribe: {e}");
        return;
    }
    let mut subscribed = Some(subscribed);
    let mut printer = Printer {
        opts,
        started: Instant::now(),
        last: HashMap::new(),
        sparkplug: SparkplugView::new(),
    };
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => break,
            e = events.poll() => e,
        };
        match event {
            Ok(Event::Incoming(Incoming::SubAck(_))) => {
                if let Some(tx) = subscribed.take() {
                    let _ = tx.send(());
                }
            }
            Ok(Event::Incoming(Incoming::Publish(p))) => printer.publish(&p),
            Ok(_) => {}
            Err(e) => {
                if stop.is_cancelled() {
                    break;
                }
                eprintln!("control room: broker connection: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    let _ = client.disconnect().await;
}

/// What the view keeps between messages.
struct Printer {
    opts: ViewOptions,
    started: Instant,
    /// Rate limit of the console's prediction lines.
    last: HashMap<String, Instant>,
    /// The Sparkplug births seen (their aliases name the data).
    sparkplug: SparkplugView,
}

impl Printer {
    /// Print one received message.
    fn publish(&mut self, p: &Publish) {
        let t = self.started.elapsed().as_secs_f64();
        let sparkplug = self.opts.sparkplug
            && (p.topic.strip_prefix(NAMESPACE)).is_some_and(|rest| rest.starts_with('/'));
        if sparkplug && self.opts.headless {
            let line = self.sparkplug.json(t, &p.topic, p.retain, &p.payload);
            println!("{line}");
            return;
        }
        if sparkplug {
            if let Some(text) = self.sparkplug.human(Instant::now(), &p.topic, &p.payload) {
                println!("{t:7.1}s  {text}");
            }
            return;
        }
        let payload: Value = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
        if self.opts.headless {
            let line = serde_json::json!({
                "t": (t * 1000.0).round() / 1000.0,
                "topic": p.topic,
                "retain": p.retain,
                "payload": payload,
            });
            println!("{line}");
            return;
        }
        let topic = p.topic.strip_prefix(&self.opts.prefix).unwrap_or(&p.topic);
        if let Some(text) = describe(topic, &payload, &mut self.last) {
            println!("{t:7.1}s  {text}");
        }
    }
}

fn num(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_f64)
        .map_or_else(|| "-".into(), |x| format!("{x:.2}"))
}

/// One console line for a message, or None to stay quiet (rate limit).
fn describe(topic: &str, v: &Value, last: &mut HashMap<String, Instant>) -> Option<String> {
    if topic == "/status" {
        return Some(format!(
            "agent {} ({})",
            text(v, "state"),
            text(v, "client_id")
        ));
    }
    if let Some(kind) = topic.strip_prefix("/alerts/") {
        return Some(describe_alert(kind, v));
    }
    if topic == "/drift" {
        return Some(describe_drift(v));
    }
    if let Some(model) = topic.strip_prefix("/predictions/") {
        let batch_level = matches!(model, "quality" | "yield");
        if !batch_level && too_soon(last, model) {
            return None;
        }
        return Some(describe_prediction(model, batch_level, v));
    }
    if topic == "/data_quality" {
        if too_soon(last, "dq") {
            return None;
        }
        return Some(format!(
            "data quality: {} vector refused: {}",
            text(v, "model"),
            v.get("flags").map(Value::to_string).unwrap_or_default()
        ));
    }
    None
}

/// A string field, or "?".
fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string()
}

/// Rate limit per key: true if the last line for `key` was shown less than
/// [`PREDICTION_EVERY`] ago; otherwise remembers now and returns false.
fn too_soon(last: &mut HashMap<String, Instant>, key: &str) -> bool {
    let now = Instant::now();
    if last
        .get(key)
        .is_some_and(|t| now.duration_since(*t) < PREDICTION_EVERY)
    {
        return true;
    }
    last.insert(key.to_string(), now);
    false
}

/// "!! ALERT RAISED  kind [severity] message (id …)".
fn describe_alert(kind: &str, v: &Value) -> String {
    let state = text(v, "state").to_uppercase();
    let mark = if state == "RAISED" { "!!" } else { "ok" };
    format!(
        "{mark} ALERT {state:<7} {kind} [{}] {} (id {})",
        text(v, "severity"),
        text(v, "message"),
        text(v, "alert_id")
    )
}

/// "drift  model: n/m features drifted …".
fn describe_drift(v: &Value) -> String {
    let features = v.get("features").and_then(Value::as_array);
    let drifted = features.map_or(0, |f| {
        f.iter()
            .filter(|x| x.get("drifted").and_then(Value::as_bool) == Some(true))
            .count()
    });
    format!(
        "drift  {}: {drifted}/{} features drifted (share {}) over {} vectors",
        text(v, "model"),
        features.map_or(0, Vec::len),
        num(v, "drifted_share"),
        v.get("samples").and_then(Value::as_u64).unwrap_or(0)
    )
}

/// "model    output  [batch id product] per batch readings…".
fn describe_prediction(model: &str, batch_level: bool, v: &Value) -> String {
    let out = v.get("output").cloned().unwrap_or(Value::Null);
    let what = describe_output(&out);
    let b = v.get("batch").cloned().unwrap_or(Value::Null);
    let batch = format!(
        "batch {} {}",
        b.get("batch_id").and_then(Value::as_str).unwrap_or("?"),
        b.get("product").and_then(Value::as_str).unwrap_or("?")
    );
    let readings = v
        .get("features")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.contains("mean") || k.ends_with("_last"))
                .take(4)
                .map(|(k, x)| format!("{k}={:.2}", x.as_f64().unwrap_or(f64::NAN)))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let level = if batch_level { "per batch" } else { "" };
    format!("{model:<8} {what}  [{batch}] {level} {readings}")
}

/// A prediction's output: class and probabilities, value, or anomaly score.
fn describe_output(out: &Value) -> String {
    match out.get("type").and_then(Value::as_str) {
        Some("class") => {
            let label = out.get("label").and_then(Value::as_str).unwrap_or("?");
            let probs = out
                .get("probabilities")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, p)| format!("{k} {:.2}", p.as_f64().unwrap_or(f64::NAN)))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            format!("{label} ({probs})")
        }
        Some("value") => num(out, "value"),
        Some("anomaly") => {
            let anomalous = out.get("is_anomaly").and_then(Value::as_bool) == Some(true);
            let verdict = if anomalous { "ANOMALY" } else { "normal" };
            format!("score {} {verdict}", num(out, "score"))
        }
        _ => "?".into(),
    }
}
