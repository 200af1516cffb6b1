//! The agent's Sparkplug B output as a host written with someone else's library sees it
//! (issue #19): the agent binary publishes through a real mosquitto, and pysparkplug 0.6.1's
//! own `Client` (tests/interop/sparkplug_host.py, run by tests/common/sparkplug_host.rs)
//! decodes every message, resolving DATA aliases from the births it cached. Nothing here is
//! decoded by chocoline's code: the host prints what pysparkplug decoded as JSON lines, and
//! this test judges them.
//!
//! The run: the host subscribes to `spBv1.0/plant1/#` first, then the agent starts (the demo
//! line: Modbus simulator, `[sparkplug]` on). After NBIRTH, every DBIRTH and 3 DDATA, the host
//! sends an NCMD the agent does not implement (refused in its log, no birth), then a rebirth
//! NCMD encoded by pysparkplug's `NCmd` (a new NBIRTH, same bdSeq, DBIRTHs again). SIGTERM:
//! an NDEATH with the session's bdSeq. A restart on the same data directory: bdSeq + 1.
//! kill -9: mosquitto publishes the will, the NDEATH of that connection.
//!
//! Then every message received, in arrival order, is held to the Sparkplug rules (see
//! [`Rules`]): NBIRTH seq 0 with `bdSeq` (Int64) and `Node Control/Rebirth` (Boolean false,
//! no alias); every other birth metric aliased, aliases unique across node and devices; the
//! DBIRTHs straight after the NBIRTH, one per `[[devices]]`, each with exactly its registers
//! as Double or Boolean; one seq for node and devices, +1 mod 256 per message, 0 at a birth;
//! DATA by alias only, resolved by pysparkplug to the name and datatype of the current birth;
//! values of their datatype (finite numbers, booleans); NDEATH without seq, bdSeq rules
//! across rebirth, shutdown, restart and kill -9. Metric counts and alias numbers are not
//! written here: they follow the configuration and the metric map (docs/sparkplug.md).
//!
//! Needs mosquitto and a Python with tests/interop/requirements.txt (`CHOCOLINE_PYTHON`,
//! default `python3`); skipped without them unless `CHOCOLINE_INTEROP=1` (`.ci/run`).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chocoline::acquire::config::{RegisterConfig, RegisterKind};
use chocoline::config::Config;
use common::agent::{Ports, sigterm_and_wait, simulator, spawn_agent, wait_log};
use common::sparkplug_host::{Host, Reap, python};
use common::spb::SPARKPLUG;
use serde_json::Value as Json;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

const REFUSED: &str = "Sparkplug NCMD refused; nothing changed";

fn kind(m: &Json) -> &str {
    m["type"].as_str().unwrap_or("?")
}

fn count(msgs: &[Json], k: &str) -> usize {
    msgs.iter().filter(|m| kind(m) == k).count()
}

/// The NCMDs (the host's own, echoed by the broker): metric name, datatype on the wire.
fn commands(msgs: &[Json]) -> Vec<(&str, bool)> {
    (msgs.iter().filter(|m| kind(m) == "NCMD"))
        .map(|m| {
            (
                m["metrics"][0]["name"].as_str().unwrap_or("?"),
                m["metrics"][0]["wire_datatype"] == true,
            )
        })
        .collect()
}

/// The value of the `bdSeq` metric.
fn bd_seq(m: &Json) -> Option<u64> {
    let metrics = m["metrics"].as_array()?;
    metrics.iter().find(|x| x["name"] == "bdSeq")?["value"].as_u64()
}

/// From `msgs[from..]`: an NBIRTH, then at least `devices` DBIRTHs and `ddata` DDATA.
fn births_then_data(msgs: &[Json], from: usize, devices: usize, ddata: usize) -> bool {
    let rest = &msgs[from.min(msgs.len())..];
    rest.iter()
        .position(|m| kind(m) == "NBIRTH")
        .is_some_and(|i| {
            count(&rest[i..], "DBIRTH") >= devices && count(&rest[i..], "DDATA") >= ddata
        })
}

/// The demo line with `[sparkplug]` on, for the broker on `port`, its simulator serving: the
/// temporary folder, the configuration's path, the configuration, the simulator's stop.
async fn edge_line(port: u16) -> (TempDir, PathBuf, Config, CancellationToken) {
    let ports = Ports::on(port);
    let tmp = tempfile::tempdir().unwrap();
    let path = common::agent::write_config(tmp.path(), &ports);
    std::fs::write(&path, std::fs::read_to_string(&path).unwrap() + SPARKPLUG).unwrap();
    let cfg = chocoline::config::load(&path).unwrap().config;
    let stop_sim = CancellationToken::new();
    simulator(&cfg, ports.modbus, stop_sim.clone()).await;
    (tmp, path, cfg, stop_sim)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysparkplug_host_through_mosquitto_sees_births_data_rebirth_and_deaths() {
    let t0 = Instant::now();
    let Some(python) = python("sparkplug_interop") else {
        return;
    };
    let Some(broker) = common::mosquitto("sparkplug_interop", "", None) else {
        return;
    };
    let (_tmp, path, cfg, stop_sim) = edge_line(broker.port()).await;
    let devices = cfg.devices.len();

    // The host first: it sees the very first NBIRTH.
    let mut host = Host::start(&python, broker.port(), "plant1", "line-1").await;
    let (child, log) = spawn_agent(&path, &[]);
    let mut agent = Reap(child);
    let what = "NBIRTH, every DBIRTH and 3 DDATA";
    host.wait(&log, what, |m| births_then_data(m, 0, devices, 3))
        .await;
    let bd1 = bd_seq(&host.messages()[0]).expect("the first message is the NBIRTH, with bdSeq");

    // A command the agent does not implement: refused in its log, and no birth.
    host.send("unknown");
    wait_log(&log, 15, "the refusal", |r| r["message"] == REFUSED).await;
    tokio::time::sleep(Duration::from_secs(1)).await; // a wrong birth would have come by now
    assert_eq!(
        count(&host.messages(), "NBIRTH"),
        1,
        "an unknown NCMD caused a birth"
    );

    // Rebirth, as pysparkplug encodes it: NBIRTH again (same bdSeq, checked below), DBIRTHs.
    let mark = host.messages().len();
    host.send("rebirth");
    let what = "the births after the rebirth NCMD";
    host.wait(&log, what, |m| births_then_data(m, mark, devices, 1))
        .await;

    // SIGTERM: the agent publishes the NDEATH itself.
    let (status, _) = sigterm_and_wait(&mut agent.0).await;
    assert!(status.success(), "agent exit after SIGTERM: {status}");
    host.wait(&log, "NDEATH after SIGTERM", |m| count(m, "NDEATH") == 1)
        .await;

    // Restart on the same data directory: the next bdSeq.
    let mark = host.messages().len();
    let (child, log) = spawn_agent(&path, &[]);
    agent = Reap(child);
    let what = "the births after the restart";
    host.wait(&log, what, |m| births_then_data(m, mark, devices, 1))
        .await;
    let bd2 = bd_seq(&host.messages()[mark]).expect("NBIRTH with bdSeq after the restart");
    assert_eq!(bd2, (bd1 + 1) % 256, "bdSeq after a restart");

    // kill -9: the broker publishes the will, the NDEATH registered at this CONNECT.
    agent.0.kill().unwrap();
    let _ = agent.0.wait();
    host.wait(&log, "the will (NDEATH) after kill -9", |m| {
        count(m, "NDEATH") == 2
    })
    .await;
    let (msgs, errors) = (host.messages(), host.events("error"));
    host.finish();
    stop_sim.cancel();
    drop(broker);

    assert!(
        errors.is_empty(),
        "pysparkplug could not decode: {errors:?}"
    );
    let deaths: Vec<u64> = (msgs.iter().filter(|m| kind(m) == "NDEATH"))
        .map(|m| bd_seq(m).unwrap())
        .collect();
    assert_eq!(deaths, [bd1, bd2], "NDEATH bdSeq: SIGTERM, then kill -9");
    // The commands went as pysparkplug's Client sends them: without a datatype.
    let want = [
        ("Node Control/Reboot", false),
        ("Node Control/Rebirth", false),
    ];
    assert_eq!(
        commands(&msgs),
        want,
        "the NCMDs as the broker passed them on"
    );
    let figures = Rules::new(&cfg).all(&msgs);
    eprintln!(
        "sparkplug_interop: decoded by pysparkplug, every rule held: {figures}; bdSeq {bd1} \
         then {bd2}; {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

/// `(name, datatype)` by alias, of one birth.
type Born = HashMap<u64, (String, String)>;

/// The Sparkplug rules, applied to the messages in arrival order (see the module docs): what
/// they need to remember from one message to the next.
#[derive(Default)]
struct Rules<'a> {
    /// Each `[[devices]]`: its registers, name → the datatype their metric must have.
    registers: BTreeMap<&'a str, BTreeMap<&'a str, &'a str>>,
    /// bdSeq of the live session (None: none, or dead) and of the last NDEATH.
    alive: Option<u64>,
    dead: Option<u64>,
    next_seq: u64,
    /// DBIRTHs still owed after the NBIRTH.
    dbirths_due: usize,
    /// The current births: node metrics, each device's, and every alias given in them.
    node: Born,
    born: HashMap<String, Born>,
    aliases: HashSet<u64>,
    now_ms: i64,
}

impl<'a> Rules<'a> {
    fn new(cfg: &'a Config) -> Self {
        let datatype = |r: &RegisterConfig| {
            let boolean = matches!(r.register, RegisterKind::Coil | RegisterKind::Discrete)
                || r.data_type == chocoline::codec::DataType::Bool;
            if boolean { "BOOLEAN" } else { "DOUBLE" }
        };
        let registers = (cfg.devices.iter())
            .map(|d| {
                let regs = d.registers.iter().map(|r| (r.name.as_str(), datatype(r)));
                (d.name.as_str(), regs.collect())
            })
            .collect();
        let now_ms = chocoline::domain::TimestampMs::now().0;
        Rules {
            registers,
            now_ms,
            ..Rules::default()
        }
    }

    /// Every message but the host's own commands, in arrival order; counts for the log.
    fn all(mut self, msgs: &[Json]) -> String {
        let (mut by_kind, mut metrics) = (BTreeMap::<&str, usize>::new(), 0);
        for (i, m) in msgs.iter().enumerate().filter(|(_, m)| kind(m) != "NCMD") {
            let at = format!("message #{i} {} {}", kind(m), m["device"]);
            let list = m["metrics"].as_array().unwrap();
            self.message(&at, m, list);
            *by_kind.entry(kind(m)).or_default() += 1;
            metrics += list.len();
        }
        assert_eq!(self.dbirths_due, 0, "the last births are incomplete");
        format!("{by_kind:?}, {metrics} metrics")
    }

    fn message(&mut self, at: &str, m: &Json, metrics: &[Json]) {
        if kind(m) == "NDEATH" {
            return self.death(at, m, metrics);
        }
        let ts = m["timestamp"].as_i64().unwrap_or(0);
        assert!(
            (ts - self.now_ms).abs() < 86_400_000,
            "{at}: timestamp {ts}: not ms of today"
        );
        assert_eq!(m["wire_seq"], true, "{at}: no seq");
        if kind(m) == "NBIRTH" {
            return self.node_birth(at, m, metrics);
        }
        assert!(
            self.alive.is_some(),
            "{at}: after the NDEATH, before an NBIRTH"
        );
        assert_eq!(m["seq"], self.next_seq, "{at}: seq");
        self.next_seq = (self.next_seq + 1) % 256;
        let device = m["device"].as_str().unwrap_or("");
        match kind(m) {
            "DBIRTH" => self.device_birth(at, device, metrics),
            "DDATA" | "NDATA" => self.data(at, device, metrics),
            _ => panic!("{at}: not expected from this edge node"),
        }
    }

    fn death(&mut self, at: &str, m: &Json, metrics: &[Json]) {
        assert_eq!(m["wire_seq"], false, "{at}: an NDEATH carries no seq");
        let only: Vec<_> = metrics
            .iter()
            .map(|x| (&x["name"], &x["datatype"]))
            .collect();
        assert_eq!(only, [(&"bdSeq".into(), &"INT64".into())], "{at}");
        assert!(self.alive.is_some(), "{at}: a death without a live session");
        assert_eq!(bd_seq(m), self.alive, "{at}: NDEATH bdSeq ≠ its NBIRTH's");
        (self.dead, self.alive) = (self.alive, None);
    }

    fn node_birth(&mut self, at: &str, m: &Json, metrics: &[Json]) {
        assert_eq!(m["seq"], 0, "{at}: NBIRTH seq");
        assert_eq!(
            self.dbirths_due, 0,
            "{at}: DBIRTHs of the previous NBIRTH missing"
        );
        let named = |name: &str| metrics.iter().find(|x| x["name"] == name);
        let bd = named("bdSeq").unwrap_or_else(|| panic!("{at}: no bdSeq"));
        assert_eq!(
            (&bd["datatype"], &bd["alias"]),
            (&"INT64".into(), &Json::Null),
            "{at}"
        );
        let bd = bd["value"].as_u64().unwrap();
        match (self.alive, self.dead) {
            (Some(b), _) => assert_eq!(bd, b, "{at}: a rebirth keeps the bdSeq"),
            (None, Some(d)) => assert_eq!(bd, (d + 1) % 256, "{at}: bdSeq after a death"),
            (None, None) => {}
        }
        let rebirth = named("Node Control/Rebirth")
            .unwrap_or_else(|| panic!("{at}: no Node Control/Rebirth"));
        let got = (&rebirth["datatype"], &rebirth["value"], &rebirth["alias"]);
        assert_eq!(
            got,
            (&"BOOLEAN".into(), &false.into(), &Json::Null),
            "{at}: Rebirth"
        );
        let names: HashSet<_> = metrics.iter().map(|x| &x["name"]).collect();
        assert_eq!(names.len(), metrics.len(), "{at}: a name given twice");
        (self.born, self.aliases) = Default::default();
        let others = metrics
            .iter()
            .filter(|x| x["name"] != "bdSeq" && *x != rebirth);
        self.node = others.map(|x| self.birth_metric(at, x)).collect();
        (self.alive, self.next_seq, self.dbirths_due) = (Some(bd), 1, self.registers.len());
    }

    fn device_birth(&mut self, at: &str, device: &str, metrics: &[Json]) {
        assert!(
            self.dbirths_due > 0,
            "{at}: a DBIRTH not straight after the NBIRTH"
        );
        self.dbirths_due -= 1;
        let regs =
            (self.registers.get(device)).unwrap_or_else(|| panic!("{at}: not a [[devices]] name"));
        let got: BTreeMap<&str, &str> = (metrics.iter())
            .map(|x| (x["name"].as_str().unwrap(), x["datatype"].as_str().unwrap()))
            .collect();
        assert_eq!(
            (&got, got.len()),
            (regs, metrics.len()),
            "{at}: not its registers (each once)"
        );
        let table = metrics.iter().map(|x| self.birth_metric(at, x)).collect();
        let again = self.born.insert(device.to_owned(), table);
        assert!(again.is_none(), "{at}: born twice");
    }

    /// A birth metric other than bdSeq and Rebirth: an alias unique across this NBIRTH and
    /// its DBIRTHs, a datatype on the wire, a value of it.
    fn birth_metric(&mut self, at: &str, x: &Json) -> (u64, (String, String)) {
        let alias = (x["alias"].as_u64()).unwrap_or_else(|| panic!("{at}: {x} has no alias"));
        assert!(
            self.aliases.insert(alias),
            "{at}: alias {alias} given twice"
        );
        assert_eq!(
            x["wire_datatype"], true,
            "{at}: {x} born without a datatype"
        );
        value_of_its_type(at, x);
        (alias, name_type(x))
    }

    /// DATA: by alias only on the wire, each alias in the birth of its owner, and pysparkplug
    /// resolved it to the name and datatype of that birth.
    fn data(&self, at: &str, device: &str, metrics: &[Json]) {
        assert_eq!(self.dbirths_due, 0, "{at}: data before every DBIRTH");
        let birth = if device.is_empty() {
            &self.node
        } else {
            (self.born.get(device)).unwrap_or_else(|| panic!("{at}: no DBIRTH"))
        };
        for x in metrics {
            let alias = (x["alias"].as_u64()).unwrap_or_else(|| panic!("{at}: {x}: no alias"));
            let born =
                (birth.get(&alias)).unwrap_or_else(|| panic!("{at}: alias {alias} not born"));
            assert_eq!(
                &name_type(x),
                born,
                "{at}: pysparkplug resolved alias {alias}"
            );
            let wire = (&x["wire_name"], &x["wire_datatype"]);
            assert_eq!(
                wire,
                (&false.into(), &false.into()),
                "{at}: {x}: not by alias only"
            );
            value_of_its_type(at, x);
        }
    }
}

fn name_type(x: &Json) -> (String, String) {
    let s = |v: &Json| v.as_str().unwrap_or("").to_owned();
    (s(&x["name"]), s(&x["datatype"]))
}

/// The value is null (`is_null`) or of the metric's datatype: a boolean, a string, an integer
/// for the integer types, a finite number for Float and Double (the host prints NaN and
/// infinities as strings).
fn value_of_its_type(at: &str, x: &Json) {
    let v = &x["value"];
    let dt = x["datatype"].as_str().unwrap_or("?");
    let ok = if x["is_null"] == true {
        v.is_null()
    } else {
        match dt {
            "BOOLEAN" => v.is_boolean(),
            "STRING" | "TEXT" => v.is_string(),
            "FLOAT" | "DOUBLE" => v.is_number(),
            t if t.starts_with("INT") || t.starts_with("UINT") => v.is_i64() || v.is_u64(),
            _ => false,
        }
    };
    assert!(
        ok && x["is_historical"].is_boolean(),
        "{at}: {x}: not a value of {dt}"
    );
}
