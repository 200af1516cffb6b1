//! The edge node's side of a Sparkplug session, without the MQTT client: which metrics exist
//! and their aliases ([`Catalogue`]), the birth and data payloads with their `seq`, the death
//! certificate with its `bdSeq` ([`Session`]), what a host's NCMD asks for ([`command`]), and a
//! `bdSeq` that survives restarts ([`BdSeqFile`]).
//!
//! Rules followed (Sparkplug 3.0.0, cited by the specification's `tck-id`):
//! - NBIRTH has `seq` 0; every later NDATA, DBIRTH, DDATA or DDEATH adds 1, 255 wraps to 0;
//!   NDEATH carries none (`topics-nbirth-seq-num`, `payloads-sequence-num-incrementing`,
//!   `topics-ndeath-seq`).
//! - NBIRTH carries `bdSeq` (Int64) equal to the one in the NDEATH registered as the MQTT will
//!   of the same connection; it goes up by 1 per connection, 255 wraps to 0, and a rebirth
//!   keeps it (`topics-nbirth-bdseq-matching`, `topics-nbirth-bdseq-increment`,
//!   `operational-behavior-data-commands-rebirth-action-3`).
//! - NBIRTH carries `Node Control/Rebirth` (Boolean false, never aliased); births carry name,
//!   alias and datatype of every metric; data carry the alias only
//!   (`topics-nbirth-rebirth-metric`, `payloads-alias-birth-requirement`,
//!   `payloads-alias-data-cmd-requirement`). Aliases are unique across the node and its
//!   devices (`payloads-alias-uniqueness`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use prost::Message as _;

use super::DataType;
use super::proto::{Metric, Payload, PropertySet, PropertyValue, metric, property_value};
use super::topic::{MessageType, Topic, TopicError};
use super::value::{self, Val};

/// The metric a host writes `true` to for a new set of births.
pub const REBIRTH: &str = "Node Control/Rebirth";
/// The birth/death sequence metric.
pub const BD_SEQ: &str = "bdSeq";

/// One metric of the node or of a device.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDef {
    /// Name, `/` for folders, e.g. `models/bloom/confidence`.
    pub name: String,
    /// Datatype in births.
    pub datatype: DataType,
    /// Engineering unit, sent as the `engUnit` property in births (empty: none).
    pub unit: String,
    /// Assigned by the catalogue.
    pub alias: u64,
}

/// Every metric of the node (`device` None) and of its devices, with aliases 1, 2, … in the
/// order given, so the same configuration always gives the same aliases.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    node: Vec<MetricDef>,
    devices: BTreeMap<String, Vec<MetricDef>>,
    by_alias: HashMap<u64, (Option<String>, usize)>,
    by_name: HashMap<(Option<String>, String), u64>,
}

impl Catalogue {
    /// Add a metric (name, datatype, unit) to the node (`device` None) or to a device; its
    /// alias, or None (nothing added) when that owner already has the name, or when a node
    /// metric would take a name the session adds itself (`bdSeq`, `Node Control/Rebirth`).
    pub fn add(
        &mut self,
        device: Option<&str>,
        name: &str,
        datatype: DataType,
        unit: &str,
    ) -> Option<u64> {
        let reserved = device.is_none() && (name == BD_SEQ || name == REBIRTH);
        if reserved || self.alias(device, name).is_some() {
            return None;
        }
        let alias = self.by_alias.len() as u64 + 1;
        let def = MetricDef {
            name: name.to_owned(),
            datatype,
            unit: unit.to_owned(),
            alias,
        };
        let list = match device {
            Some(d) => self.devices.entry(d.to_owned()).or_default(),
            None => &mut self.node,
        };
        list.push(def);
        let owner = device.map(str::to_owned);
        self.by_alias.insert(alias, (owner.clone(), list.len() - 1));
        self.by_name.insert((owner, name.to_owned()), alias);
        Some(alias)
    }

    /// The alias of `name` on the node or a device.
    pub fn alias(&self, device: Option<&str>, name: &str) -> Option<u64> {
        self.by_name
            .get(&(device.map(str::to_owned), name.to_owned()))
            .copied()
    }

    /// The metric an alias stands for, and its device.
    pub fn by_alias(&self, alias: u64) -> Option<(Option<&str>, &MetricDef)> {
        let (owner, i) = self.by_alias.get(&alias)?;
        let list = match owner {
            Some(d) => self.devices.get(d)?,
            None => &self.node,
        };
        Some((owner.as_deref(), list.get(*i)?))
    }

    /// The node's own metrics, in alias order.
    pub fn node_metrics(&self) -> impl Iterator<Item = &MetricDef> {
        self.node.iter()
    }

    /// Device names, sorted.
    pub fn devices(&self) -> impl Iterator<Item = &str> {
        self.devices.keys().map(String::as_str)
    }
}

/// One value to send: alias, value (NaN or one that does not fit the datatype: null),
/// timestamp, replayed or live.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The metric.
    pub alias: u64,
    /// The value; NaN, or text for a numeric metric, is sent as `is_null`.
    pub value: Val,
    /// Milliseconds since the epoch.
    pub ts: u64,
    /// Sent after an outage, from what was kept (`is_historical`).
    pub historical: bool,
}

/// The node's sequence numbers and ids for one MQTT connection.
#[derive(Debug, Clone)]
pub struct Session {
    group: String,
    edge_node: String,
    bd_seq: u8,
    seq: u8,
}

impl Session {
    /// A session of `edge_node` in `group` whose connection carries `bd_seq`.
    pub fn new(group: &str, edge_node: &str, bd_seq: u8) -> Result<Self, TopicError> {
        Topic::new(group, MessageType::NBirth, edge_node, None)?;
        Ok(Session {
            group: group.to_owned(),
            edge_node: edge_node.to_owned(),
            bd_seq,
            seq: 0,
        })
    }

    fn topic(&self, t: MessageType, device: Option<&str>) -> Result<String, TopicError> {
        Ok(Topic::new(&self.group, t, &self.edge_node, device)?.to_string())
    }

    /// The next `seq` (0 after 255).
    fn next_seq(&mut self) -> u64 {
        self.seq = self.seq.wrapping_add(1);
        u64::from(self.seq)
    }

    /// NDEATH: to register as the connection's MQTT will (QoS 1, not retained).
    pub fn death(&self, ts: u64) -> Result<(String, Vec<u8>), TopicError> {
        let payload = Payload {
            timestamp: Some(ts),
            metrics: vec![bd_seq_metric(self.bd_seq, ts)],
            ..Payload::default()
        };
        Ok((
            self.topic(MessageType::NDeath, None)?,
            payload.encode_to_vec(),
        ))
    }

    /// NBIRTH (seq 0) and then every DBIRTH, with each metric's current value from `now`
    /// (None or NaN: null). Also what a rebirth sends.
    pub fn births(
        &mut self,
        cat: &Catalogue,
        ts: u64,
        now: impl Fn(Option<&str>, &str) -> Option<Val>,
    ) -> Result<Vec<(String, Vec<u8>)>, TopicError> {
        self.seq = 0;
        let mut node = vec![bd_seq_metric(self.bd_seq, ts), rebirth_metric(ts)];
        node.extend(
            cat.node
                .iter()
                .map(|d| birth_metric(d, now(None, &d.name), ts)),
        );
        let mut out = vec![(
            self.topic(MessageType::NBirth, None)?,
            payload(ts, Some(0), node),
        )];
        for (device, defs) in &cat.devices {
            let metrics = defs
                .iter()
                .map(|d| birth_metric(d, now(Some(device), &d.name), ts))
                .collect();
            let seq = self.next_seq();
            out.push((
                self.topic(MessageType::DBirth, Some(device))?,
                payload(ts, Some(seq), metrics),
            ));
        }
        Ok(out)
    }

    /// NDATA (`device` None) or DDATA of `changes` (by alias only, as after a birth). A change
    /// whose alias is unknown or belongs to another device (or to the node) is left out.
    pub fn data(
        &mut self,
        cat: &Catalogue,
        device: Option<&str>,
        ts: u64,
        changes: &[Change],
    ) -> Result<(String, Vec<u8>), TopicError> {
        let kind = if device.is_some() {
            MessageType::DData
        } else {
            MessageType::NData
        };
        let metrics = (changes.iter())
            .filter_map(|c| {
                let (_, def) = cat.by_alias(c.alias).filter(|(o, _)| *o == device)?;
                let mut m = value_metric(def.datatype, &c.value);
                m.alias = Some(c.alias);
                m.timestamp = Some(c.ts);
                m.is_historical = c.historical.then_some(true);
                Some(m)
            })
            .collect();
        let seq = self.next_seq();
        Ok((self.topic(kind, device)?, payload(ts, Some(seq), metrics)))
    }
}

fn payload(ts: u64, seq: Option<u64>, metrics: Vec<Metric>) -> Vec<u8> {
    Payload {
        timestamp: Some(ts),
        seq,
        metrics,
        ..Payload::default()
    }
    .encode_to_vec()
}

fn bd_seq_metric(bd_seq: u8, ts: u64) -> Metric {
    Metric {
        name: Some(BD_SEQ.into()),
        timestamp: Some(ts),
        datatype: Some(DataType::Int64.number()),
        value: Some(metric::Value::LongValue(u64::from(bd_seq))),
        ..Metric::default()
    }
}

fn rebirth_metric(ts: u64) -> Metric {
    Metric {
        name: Some(REBIRTH.into()),
        timestamp: Some(ts),
        datatype: Some(DataType::Boolean.number()),
        value: Some(metric::Value::BooleanValue(false)),
        ..Metric::default()
    }
}

/// A metric carrying `v` as `dt`, or `is_null` when it cannot.
fn value_metric(dt: DataType, v: &Val) -> Metric {
    let value = value::encode_val(dt, v);
    Metric {
        is_null: value.is_none().then_some(true),
        value,
        ..Metric::default()
    }
}

fn birth_metric(d: &MetricDef, v: Option<Val>, ts: u64) -> Metric {
    let mut m = value_metric(d.datatype, &v.unwrap_or(Val::Number(f64::NAN)));
    m.name = Some(d.name.clone());
    m.alias = Some(d.alias);
    m.timestamp = Some(ts);
    m.datatype = Some(d.datatype.number());
    if !d.unit.is_empty() {
        m.properties = Some(PropertySet {
            keys: vec!["engUnit".into()],
            values: vec![PropertyValue {
                r#type: Some(DataType::String.number()),
                is_null: None,
                value: Some(property_value::Value::StringValue(d.unit.clone())),
            }],
        });
    }
    m
}

/// What an NCMD asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `Node Control/Rebirth` = true: send every birth again.
    Rebirth,
}

/// Why an NCMD was refused (logged; nothing changes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Not a Sparkplug payload.
    #[error("not a Sparkplug B payload: {0}")]
    Malformed(String),
    /// No metric in it.
    #[error("the command carries no metric")]
    Empty,
    /// A metric this node does not take commands for.
    #[error("metric {0} cannot be written on this node (only {REBIRTH})")]
    Unknown(String),
    /// Rebirth with a value other than boolean true.
    #[error("{REBIRTH} must be boolean true")]
    BadValue,
}

/// Read an NCMD payload. Hosts often leave out the datatype (pysparkplug does); the metric is
/// recognised by its name (`Node Control/Rebirth` has no alias by rule).
pub fn command(raw: &[u8]) -> Result<Command, CommandError> {
    let p = Payload::decode(raw).map_err(|e| CommandError::Malformed(e.to_string()))?;
    let first = p.metrics.first().ok_or(CommandError::Empty)?;
    if let Some(m) = p
        .metrics
        .iter()
        .find(|m| m.name.as_deref() != Some(REBIRTH))
    {
        let what = match (&m.name, m.alias) {
            (Some(n), _) => format!("{n:?}"),
            (None, Some(a)) => format!("alias {a}"),
            (None, None) => "without name or alias".into(),
        };
        return Err(CommandError::Unknown(what));
    }
    match first.value {
        Some(metric::Value::BooleanValue(true)) => Ok(Command::Rebirth),
        _ => Err(CommandError::BadValue),
    }
}

/// The `bdSeq` of each new connection, kept in a file so that it goes on after a restart.
#[derive(Debug, Clone)]
pub struct BdSeqFile {
    path: PathBuf,
}

impl BdSeqFile {
    /// The counter in `path` (created on first use).
    pub fn new(path: &Path) -> Self {
        BdSeqFile {
            path: path.to_path_buf(),
        }
    }

    /// The `bdSeq` for the connection about to be made: the stored one plus 1 (0 at first and
    /// after 255), written (temporary file, fsync, rename, fsync of the folder) before it is
    /// used, so a crash or a power cut can only skip a number, never repeat one. An unreadable
    /// file starts over at 0, with a warning.
    pub fn next(&self) -> std::io::Result<u8> {
        let next = match std::fs::read_to_string(&self.path) {
            Ok(s) => s.trim().parse::<u8>().map_or_else(
                |_| {
                    tracing::warn!(file = %self.path.display(), "bdSeq file unreadable: starting over at 0");
                    0
                },
                |v| v.wrapping_add(1),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        let tmp = self.path.with_extension("tmp");
        {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp)?;
            writeln!(f, "{next}")?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(next)
    }
}
