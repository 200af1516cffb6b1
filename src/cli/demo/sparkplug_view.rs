//! The control room's Sparkplug side (`chocoline demo --sparkplug`): what a host subscribed
//! to `spBv1.0/#` receives from the agent's edge node, decoded from the protobuf payloads
//! ([`crate::sparkplug::describe`]). DDATA and NDATA carry aliases only; the view names them
//! from the births it saw, as a SCADA host does.
//!
//! On the console, one line per birth and death (its first [`SHOWN`] metrics and how many
//! more), and per data topic one line every [`DATA_EVERY`] with the latest values that came
//! in between. In headless mode, one JSON line per message: `{"t", "topic", "retain",
//! "sparkplug": TYPE, "group", "edge_node", "device", "seq", "bdSeq", "metrics": [{"name",
//! "alias", "value", "unit"}]}` (`device`, `bdSeq`, `unit` only where there is one).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::sparkplug::MessageType;
use crate::sparkplug::describe::{Births, Described, NamedMetric, Reading};

/// Metrics a console line shows before "… N more".
pub const SHOWN: usize = 6;
/// The console shows one data line per device (and one NDATA line) every this often, with
/// the latest value of every metric that came in between (headless mode prints them all).
pub const DATA_EVERY: Duration = Duration::from_secs(2);

/// The alias table of the births seen, what the console holds back, and the formatting.
#[derive(Debug, Default)]
pub struct SparkplugView {
    births: Births,
    /// Per data topic: what came since its last console line.
    pending: HashMap<String, Pending>,
}

/// NDATA or DDATA of one topic since its last console line.
#[derive(Debug, Default)]
struct Pending {
    shown: Option<Instant>,
    first_seq: Option<u64>,
    last_seq: Option<u64>,
    messages: usize,
    /// Latest value of each metric, in order of arrival.
    metrics: Vec<NamedMetric>,
}

impl Pending {
    fn add(&mut self, d: Described) {
        if self.messages == 0 {
            self.first_seq = d.seq;
        }
        self.last_seq = d.seq;
        self.messages += 1;
        for m in d.metrics {
            let same = |k: &NamedMetric| k.name == m.name && k.alias == m.alias;
            match self.metrics.iter_mut().find(|k| same(k)) {
                Some(k) => *k = m,
                None => self.metrics.push(m),
            }
        }
    }

    /// "seq 5" or "seq 5–27 (12 messages)".
    fn seq(&self) -> String {
        let n = |s: Option<u64>| s.map_or_else(|| "-".into(), |s| s.to_string());
        match self.messages {
            1 => format!("seq {}", n(self.last_seq)),
            m => format!(
                "seq {}–{} ({m} messages)",
                n(self.first_seq),
                n(self.last_seq)
            ),
        }
    }
}

impl SparkplugView {
    /// A view that has seen no birth yet.
    pub fn new() -> Self {
        SparkplugView::default()
    }

    /// The headless JSON line of a message received `t` seconds after the start.
    pub fn json(&mut self, t: f64, topic: &str, retain: bool, payload: &[u8]) -> Value {
        let mut line = Map::new();
        line.insert("t".into(), json!((t * 1000.0).round() / 1000.0));
        line.insert("topic".into(), json!(topic));
        line.insert("retain".into(), json!(retain));
        match self.births.read(topic, payload) {
            Ok(d) => describe_json(&d, &mut line),
            Err(e) => {
                line.insert("sparkplug".into(), Value::Null);
                line.insert("error".into(), json!(e.to_string()));
            }
        }
        Value::Object(line)
    }

    /// The console line of a message received at `now`, or None while its topic's data are
    /// held back ([`DATA_EVERY`]). Births, deaths and commands show at once.
    pub fn human(&mut self, now: Instant, topic: &str, payload: &[u8]) -> Option<String> {
        let d = match self.births.read(topic, payload) {
            Ok(d) => d,
            Err(e) => return Some(format!("spB {topic}: {e}")),
        };
        match d.topic.message_type {
            MessageType::NData | MessageType::DData => {}
            MessageType::NBirth => {
                // New aliases, seq from 0: what was held back belongs to the old session.
                self.pending.clear();
                return Some(describe_human(&d));
            }
            _ => return Some(describe_human(&d)),
        }
        let head = head(&d, "");
        let p = self.pending.entry(topic.to_owned()).or_default();
        p.add(d);
        if p.shown.is_some_and(|t| now.duration_since(t) < DATA_EVERY) {
            return None;
        }
        let shown: Vec<&NamedMetric> = p.metrics.iter().collect();
        let line = format!("{head}{}: {}", p.seq(), metric_list(&shown, false));
        *p = Pending {
            shown: Some(now),
            ..Pending::default()
        };
        Some(line)
    }
}

/// The message's fields into `line`.
fn describe_json(d: &Described, line: &mut Map<String, Value>) {
    line.insert("sparkplug".into(), json!(d.topic.message_type.as_str()));
    line.insert("group".into(), json!(d.topic.group));
    line.insert("edge_node".into(), json!(d.topic.edge_node));
    if let Some(device) = &d.topic.device {
        line.insert("device".into(), json!(device));
    }
    line.insert("seq".into(), json!(d.seq));
    if let Some(bd_seq) = d.bd_seq {
        line.insert("bdSeq".into(), json!(bd_seq));
    }
    let metrics: Vec<Value> = d.metrics.iter().map(metric_json).collect();
    line.insert("metrics".into(), Value::Array(metrics));
}

fn metric_json(m: &NamedMetric) -> Value {
    let value = match &m.value {
        // Integers as JSON integers (a batch id, a count), up to 2^53 where f64 is exact.
        Reading::Number(x) if x.fract() == 0.0 && x.abs() <= 9_007_199_254_740_992.0 => {
            json!(*x as i64)
        }
        Reading::Number(x) => json!(x),
        Reading::Flag(b) => json!(b),
        Reading::Text(s) => json!(s),
        Reading::Null => Value::Null,
        Reading::Unshown(what) => json!(format!("<{what}>")),
    };
    let mut o = Map::new();
    o.insert("name".into(), json!(m.name));
    o.insert("alias".into(), json!(m.alias));
    o.insert("value".into(), value);
    if let Some(unit) = &m.unit {
        o.insert("unit".into(), json!(unit));
    }
    if m.historical {
        o.insert("historical".into(), json!(true));
    }
    Value::Object(o)
}

/// "spB DBIRTH line-1/tempering  " then `rest`: the device, or the group and edge node.
fn head(d: &Described, rest: &str) -> String {
    let t = &d.topic;
    let who = match &t.device {
        Some(device) => format!("{}/{device}", t.edge_node),
        None => format!("{}/{}", t.group, t.edge_node),
    };
    format!("spB {:<6} {who}  {rest}", t.message_type.as_str())
}

/// Births, deaths and commands: "spB NBIRTH demo/line-1  bdSeq 0, seq 0, 12 metrics: …".
fn describe_human(d: &Described) -> String {
    let seq = d.seq.map(|s| format!("seq {s}"));
    let ids = match (d.bd_seq, seq) {
        (Some(b), Some(s)) => format!("bdSeq {b}, {s}"),
        (Some(b), None) => format!("bdSeq {b}"),
        (None, Some(s)) => s,
        (None, None) => String::new(),
    };
    let head = head(d, &ids);
    match d.topic.message_type {
        MessageType::NBirth | MessageType::DBirth => {
            // bdSeq is in the head already.
            let shown: Vec<&NamedMetric> = (d.metrics.iter())
                .filter(|m| m.name.as_deref() != Some(crate::sparkplug::node::BD_SEQ))
                .collect();
            let n = d.metrics.len();
            let noun = if n == 1 { "metric" } else { "metrics" };
            format!("{head}, {n} {noun}: {}", metric_list(&shown, true))
        }
        MessageType::NDeath => format!("{head}: the edge node is offline"),
        _ => {
            let all: Vec<&NamedMetric> = d.metrics.iter().collect();
            format!("{head}: {}", metric_list(&all, false))
        }
    }
}

/// "name=value unit, …" of the first [`SHOWN`] metrics, births with each alias.
fn metric_list(metrics: &[&NamedMetric], birth: bool) -> String {
    let mut parts: Vec<String> = (metrics.iter().take(SHOWN))
        .map(|m| metric_text(m, birth))
        .collect();
    if metrics.len() > SHOWN {
        parts.push(format!("… {} more", metrics.len() - SHOWN));
    }
    if parts.is_empty() {
        return "(no metrics)".into();
    }
    parts.join(", ")
}

/// "temperature=31.2 °C (alias 12)" (the alias only in births), "[historical]" when marked.
fn metric_text(m: &NamedMetric, birth: bool) -> String {
    let name = match (&m.name, m.alias) {
        (Some(n), _) => n.clone(),
        (None, Some(a)) => format!("alias {a}"),
        (None, None) => "?".into(),
    };
    let mut s = format!("{name}={}", reading_text(&m.value));
    if let Some(unit) = m.unit.as_deref().filter(|u| !u.is_empty()) {
        s.push(' ');
        s.push_str(unit);
    }
    if let (true, Some(a)) = (birth, m.alias) {
        s.push_str(&format!(" (alias {a})"));
    }
    if m.historical {
        s.push_str(" [historical]");
    }
    s
}

fn reading_text(r: &Reading) -> String {
    match r {
        Reading::Number(x) => number(*x),
        Reading::Flag(b) => b.to_string(),
        Reading::Text(s) => format!("{s:?}"),
        Reading::Null => "null".into(),
        Reading::Unshown(what) => format!("<{what}>"),
    }
}

/// Integers as integers, other numbers to three decimals without trailing zeros.
fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparkplug::DataType;
    use crate::sparkplug::node::{Catalogue, Change, Session};

    /// An edge node with one node metric and a device of eight registers.
    fn line() -> (Catalogue, Session) {
        let mut cat = Catalogue::default();
        cat.add(None, "outbox/depth", DataType::UInt64, "");
        for i in 0..8 {
            cat.add(Some("plc"), &format!("r{i}"), DataType::Double, "°C");
        }
        (cat, Session::new("demo", "line-1", 4).unwrap())
    }

    fn change(alias: u64, value: f64) -> Change {
        Change {
            alias,
            value: value.into(),
            ts: 2,
            historical: false,
        }
    }

    #[test]
    fn births_are_summarised_and_data_named_from_them() {
        let (cat, mut s) = line();
        let mut view = SparkplugView::new();
        let now = Instant::now();
        let births = s.births(&cat, 1, |_, _| Some(31.25_f64.into())).unwrap();
        let nbirth = view.human(now, &births[0].0, &births[0].1);
        assert_eq!(
            nbirth.as_deref(),
            Some(
                "spB NBIRTH demo/line-1  bdSeq 4, seq 0, 3 metrics: \
                 Node Control/Rebirth=false, outbox/depth=null (alias 1)"
            )
        );
        let dbirth = view.human(now, &births[1].0, &births[1].1).unwrap();
        let start = "spB DBIRTH line-1/plc  seq 1, 8 metrics: r0=31.25 °C (alias 2), ";
        assert!(dbirth.starts_with(start), "{dbirth}");
        assert!(
            dbirth.ends_with("r5=31.25 °C (alias 7), … 2 more"),
            "{dbirth}"
        );
        let (topic, bytes) = s.data(&cat, Some("plc"), 2, &[change(3, 12.0)]).unwrap();
        assert_eq!(
            view.human(now, &topic, &bytes).as_deref(),
            Some("spB DDATA  line-1/plc  seq 2: r1=12 °C")
        );
        let line = view.json(1.5, &topic, false, &bytes);
        assert_eq!(line["sparkplug"], "DDATA");
        assert_eq!(line["device"], "plc");
        assert_eq!(line["seq"], 2);
        assert_eq!(
            line["metrics"],
            json!([{"name": "r1", "alias": 3, "value": 12, "unit": "°C"}])
        );
        let (topic, bytes) = s.death(3).unwrap();
        assert_eq!(
            view.human(now, &topic, &bytes).as_deref(),
            Some("spB NDEATH demo/line-1  bdSeq 4: the edge node is offline")
        );
        assert_eq!(view.json(2.0, &topic, false, &bytes)["bdSeq"], 4);
    }

    #[test]
    fn data_of_a_topic_are_held_back_and_shown_with_their_latest_values() {
        let (cat, mut s) = line();
        let mut view = SparkplugView::new();
        let t0 = Instant::now();
        for (topic, bytes) in s.births(&cat, 1, |_, _| None).unwrap() {
            view.human(t0, &topic, &bytes);
        }
        let mut send = |at: Duration, changes: &[Change]| {
            let (topic, bytes) = s.data(&cat, Some("plc"), 2, changes).unwrap();
            view.human(t0 + at, &topic, &bytes)
        };
        let first = send(Duration::ZERO, &[change(2, 1.0)]);
        assert_eq!(
            first.as_deref(),
            Some("spB DDATA  line-1/plc  seq 2: r0=1 °C")
        );
        assert_eq!(send(Duration::from_millis(500), &[change(3, 2.0)]), None);
        assert_eq!(send(Duration::from_secs(1), &[change(2, 3.0)]), None);
        let next = send(DATA_EVERY, &[change(4, 4.0)]);
        assert_eq!(
            next.as_deref(),
            Some("spB DDATA  line-1/plc  seq 3–5 (3 messages): r1=2 °C, r0=3 °C, r2=4 °C")
        );
    }

    #[test]
    fn what_cannot_be_read_says_why() {
        let mut view = SparkplugView::new();
        let line = view.json(0.0, "spBv1.0/STATE/scada", true, b"{\"online\":true}");
        assert_eq!(line["sparkplug"], Value::Null);
        assert!(line["error"].as_str().is_some_and(|e| !e.is_empty()));
        let text = view.human(Instant::now(), "spBv1.0/STATE/scada", b"");
        assert!(text.is_some_and(|t| t.starts_with("spB spBv1.0/STATE/scada: ")));
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(number(31.0), "31");
        assert_eq!(number(31.25), "31.25");
        assert_eq!(number(0.1 + 0.2), "0.3");
        assert_eq!(number(f64::NAN), "NaN");
    }
}
