//! The agent as a Sparkplug B edge node (`[sparkplug]`), with real components: the line
//! simulator as a Modbus server, the whole agent in-process, rumqttd, sled on disk, and a
//! plain MQTT client as the host that decodes with the schema's messages.
//!
//! Checked: NBIRTH (seq 0, bdSeq, Node Control/Rebirth) then one DBIRTH per Modbus device
//! with every register, DDATA by alias in sequence, a rebirth on NCMD (same bdSeq, seq back
//! to 0), a malformed or unknown NCMD refused without a birth, NDEATH with the connection's
//! bdSeq on shutdown, and bdSeq + 1 after a restart on the same data directory; model
//! outputs as node metrics; with a primary host, births that wait for its STATE, readings
//! kept meanwhile sent as `is_historical`, and the session ended by its offline STATE.

mod common;

use std::time::Duration;

use chocoline::sparkplug::Payload;
use chocoline::sparkplug::proto::metric::Value;
use common::agent::{Ports, simulator, write_config};
use common::rumqttd;
use common::spb::{SPARKPLUG, Seen, host};
use prost::Message as _;
use rumqttc::{AsyncClient, QoS};
use tokio_util::sync::CancellationToken;

async fn wait(seen: &Seen, what: &str, pred: impl Fn(&[(String, Payload)]) -> bool) {
    for _ in 0..600 {
        if pred(&seen.lock().unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let topics: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(t, _)| t.clone())
        .collect();
    panic!("timed out waiting for {what}; saw {topics:?}");
}

fn count(seen: &Seen, topic: &str) -> usize {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| t == topic)
        .count()
}

fn bd_seq(p: &Payload) -> Option<u64> {
    let m = p
        .metrics
        .iter()
        .find(|m| m.name.as_deref() == Some("bdSeq"))?;
    match m.value {
        Some(Value::LongValue(v)) => Some(v),
        _ => None,
    }
}

fn last(seen: &Seen, topic: &str) -> Payload {
    (seen.lock().unwrap().iter().rev())
        .find(|(t, _)| t == topic)
        .map(|(_, p)| p.clone())
        .unwrap()
}

/// The demo line with `[sparkplug]` on: its configuration (in a temporary folder), the
/// simulator serving it, rumqttd and a host subscribed to the group.
struct EdgeLine {
    _tmp: tempfile::TempDir,
    path: std::path::PathBuf,
    cfg: chocoline::config::Config,
    stop_sim: CancellationToken,
    client: AsyncClient,
    seen: Seen,
}

async fn edge_line() -> EdgeLine {
    edge_line_with("").await
}

/// [`edge_line`] with more `[sparkplug]` keys.
async fn edge_line_with(sparkplug: &str) -> EdgeLine {
    let broker = rumqttd();
    let ports = Ports::on(broker.port());
    let tmp = tempfile::tempdir().unwrap();
    let path = write_config(tmp.path(), &ports);
    let text = std::fs::read_to_string(&path).unwrap() + SPARKPLUG + sparkplug;
    std::fs::write(&path, text).unwrap();
    let cfg = chocoline::config::load(&path).unwrap().config;
    let stop_sim = CancellationToken::new();
    simulator(&cfg, ports.modbus, stop_sim.clone()).await;
    let (client, seen) = host(ports.mqtt).await;
    EdgeLine {
        _tmp: tmp,
        path,
        cfg,
        stop_sim,
        client,
        seen,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "test scenario: one edge node from birth to death and restart, read top to bottom"
)]
async fn births_data_rebirth_refusals_death_and_bdseq_after_restart() {
    let EdgeLine {
        _tmp,
        path: _,
        cfg,
        stop_sim,
        client,
        seen,
    } = edge_line().await;
    let nbirth = "spBv1.0/plant1/NBIRTH/line-1";
    let shutdown = CancellationToken::new();
    let agent1 = common::agent::spawn_in_process(&cfg, &shutdown);
    wait(&seen, "births and device data", |s| {
        s.iter().any(|(t, _)| t == nbirth)
            && s.iter().filter(|(t, _)| t.contains("/DBIRTH/")).count() == 4
            && s.iter().any(|(t, _)| t.contains("/DDATA/"))
    })
    .await;
    let birth = last(&seen, nbirth);
    assert_eq!(birth.seq, Some(0));
    let first_bd = bd_seq(&birth).expect("bdSeq in NBIRTH");
    assert!(
        birth
            .metrics
            .iter()
            .any(|m| m.name.as_deref() == Some("Node Control/Rebirth"))
    );
    // Node metrics carry values at birth: the outbox depth, and every alert kind as a Boolean.
    let depth = (birth.metrics.iter()).find(|m| m.name.as_deref() == Some("outbox/depth"));
    assert!(
        matches!(depth.unwrap().value, Some(Value::LongValue(_))),
        "{depth:?}"
    );
    let alerts: Vec<_> = (birth.metrics.iter())
        .filter(|m| m.name.as_deref().is_some_and(|n| n.starts_with("alerts/")))
        .collect();
    assert_eq!(alerts.len(), 9);
    assert!(
        alerts
            .iter()
            .all(|m| matches!(m.value, Some(Value::BooleanValue(_))))
    );
    // Every enabled model has its outputs and drift state on the node, typed.
    for m in &cfg.models.enabled {
        let dt = |what: &str| {
            let name = format!("{m}/{what}");
            (birth.metrics.iter())
                .find(|x| x.name.as_deref().is_some_and(|n| n.ends_with(&name)))
                .and_then(|x| x.datatype)
        };
        let want = [Some(12), Some(10), Some(10), Some(12), Some(10), Some(11)];
        let what = [
            "label",
            "value",
            "confidence",
            "version",
            "drifted_share",
            "drifted",
        ];
        assert_eq!(what.map(dt), want, "model {m}");
    }
    // Every register of the config is born on its device, with an alias.
    for d in &cfg.devices {
        let b = last(&seen, &format!("spBv1.0/plant1/DBIRTH/line-1/{}", d.name));
        let names: Vec<_> = b.metrics.iter().filter_map(|m| m.name.clone()).collect();
        let want: Vec<_> = d.registers.iter().map(|r| r.name.clone()).collect();
        assert_eq!(names, want, "{}", d.name);
        assert!(
            b.metrics
                .iter()
                .all(|m| m.alias.is_some() && m.datatype.is_some())
        );
    }
    // Data by alias only, seq continuing after the births.
    let data: Vec<Payload> = (seen.lock().unwrap().iter())
        .filter(|(t, _)| t.contains("/DDATA/"))
        .map(|(_, p)| p.clone())
        .collect();
    assert!(data.iter().all(|p| {
        p.metrics
            .iter()
            .all(|m| m.name.is_none() && m.alias.is_some())
    }));
    assert!(
        data.iter()
            .all(|p| p.seq.is_some_and(|s| (4..=255).contains(&s)))
    );

    // Predictions reach the node metrics: an NDATA with a model's label or version (String).
    let ndata = "spBv1.0/plant1/NDATA/line-1";
    wait(&seen, "model metrics in NDATA", |s| {
        s.iter().any(|(t, p)| {
            t == ndata && (p.metrics.iter()).any(|m| matches!(m.value, Some(Value::StringValue(_))))
        })
    })
    .await;

    // A rebirth request (as pysparkplug's client sends it: no datatype).
    let ncmd = "spBv1.0/plant1/NCMD/line-1";
    let rebirth = hex::decode(
        "0880d095ffbc31121f0a144e6f646520436f6e74726f6c2f526562697274681880d095ffbc317001",
    )
    .unwrap();
    let births_before = count(&seen, nbirth);
    client
        .publish(ncmd, QoS::AtLeastOnce, false, rebirth)
        .await
        .unwrap();
    wait(&seen, "a rebirth", |s| {
        s.iter().filter(|(t, _)| t == nbirth).count() > births_before
    })
    .await;
    let again = last(&seen, nbirth);
    assert_eq!(
        (again.seq, bd_seq(&again)),
        (Some(0), Some(first_bd)),
        "same bdSeq, seq 0"
    );
    // The rebirth carries the newest model outputs as values, not nulls.
    let versions = (again.metrics.iter())
        .filter(|m| m.name.as_deref().is_some_and(|n| n.ends_with("/version")))
        .filter(|m| matches!(m.value, Some(Value::StringValue(_))))
        .count();
    assert!(versions >= 1, "no model version in the rebirth: {again:?}");

    // Malformed and unknown commands: refused, no birth.
    let births_before = count(&seen, nbirth);
    client
        .publish(ncmd, QoS::AtLeastOnce, false, vec![0xff, 0xff, 0xff])
        .await
        .unwrap();
    let unknown = Payload {
        timestamp: Some(1),
        metrics: vec![chocoline::sparkplug::Metric {
            name: Some("Node Control/Reboot".into()),
            value: Some(Value::BooleanValue(true)),
            ..Default::default()
        }],
        ..Default::default()
    };
    client
        .publish(ncmd, QoS::AtLeastOnce, false, unknown.encode_to_vec())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        count(&seen, nbirth),
        births_before,
        "a refused command caused a birth"
    );

    // Shutdown: NDEATH with this connection's bdSeq.
    shutdown.cancel();
    agent1.await.unwrap().unwrap();
    let ndeath = "spBv1.0/plant1/NDEATH/line-1";
    wait(&seen, "NDEATH", |s| s.iter().any(|(t, _)| t == ndeath)).await;
    let death = last(&seen, ndeath);
    assert_eq!((death.seq, bd_seq(&death)), (None, Some(first_bd)));

    // Restart on the same data directory: the next bdSeq.
    let births_before = count(&seen, nbirth);
    let shutdown = CancellationToken::new();
    let agent2 = common::agent::spawn_in_process(&cfg, &shutdown);
    wait(&seen, "births after the restart", |s| {
        s.iter().filter(|(t, _)| t == nbirth).count() > births_before
    })
    .await;
    assert_eq!(bd_seq(&last(&seen, nbirth)), Some((first_bd + 1) % 256));
    shutdown.cancel();
    agent2.await.unwrap().unwrap();
    stop_sim.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_leaves_the_ndeath_of_the_connection_and_the_refusal_is_logged() {
    use common::agent::{records, spawn_agent};
    let EdgeLine {
        _tmp,
        path,
        cfg: _,
        stop_sim,
        client,
        seen,
    } = edge_line().await;
    let nbirth = "spBv1.0/plant1/NBIRTH/line-1";
    let (mut child, log) = spawn_agent(&path, &[]);
    wait(&seen, "NBIRTH", |s| s.iter().any(|(t, _)| t == nbirth)).await;
    let bd = bd_seq(&last(&seen, nbirth)).unwrap();
    // An unknown command is refused in the log, naming why.
    client
        .publish(
            "spBv1.0/plant1/NCMD/line-1",
            QoS::AtLeastOnce,
            false,
            vec![0x12, 0x00],
        )
        .await
        .unwrap();
    for _ in 0..100 {
        if records(&log)
            .iter()
            .any(|r| r["message"] == "Sparkplug NCMD refused; nothing changed")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = records(&log)
        .into_iter()
        .find(|r| r["message"] == "Sparkplug NCMD refused; nothing changed")
        .expect("refusal logged");
    eprintln!("refusal: {refused}");
    // kill -9: the broker sends the will, the NDEATH of this connection.
    child.kill().unwrap();
    let _ = child.wait();
    let ndeath = "spBv1.0/plant1/NDEATH/line-1";
    wait(&seen, "the will (NDEATH)", |s| {
        s.iter().any(|(t, _)| t == ndeath)
    })
    .await;
    assert_eq!(bd_seq(&last(&seen, ndeath)), Some(bd));
    stop_sim.cancel();
}

/// The births as they are now: the newest NBIRTH, how many there were, and the payloads after
/// it (DBIRTHs, then data).
fn since_last_birth(seen: &Seen) -> (usize, Vec<(String, Payload)>) {
    let s = seen.lock().unwrap();
    let births = s.iter().filter(|(t, _)| t.contains("/NBIRTH/")).count();
    let from = s
        .iter()
        .rposition(|(t, _)| t.contains("/NBIRTH/"))
        .unwrap_or(0);
    (births, s[from..].to_vec())
}

/// A reading is stamped when its poll starts, before the births are built: a kept value is
/// never newer than the NBIRTH, and may share its millisecond (so `<=`, not `<`).
fn none_newer_than_the_birth(stamps: impl Iterator<Item = Option<u64>>, birth_ts: u64) {
    let newer: Vec<u64> = stamps
        .map(|ts| ts.unwrap_or(u64::MAX))
        .filter(|&ts| ts > birth_ts)
        .collect();
    assert!(
        newer.is_empty(),
        "historical values newer than the birth at {birth_ts}: {newer:?}"
    );
}

/// With `primary_host_id`: no births until the host's STATE says online; then the readings
/// kept meanwhile follow the births as `is_historical` (not newer than the birth); a stale
/// offline STATE changes nothing; a current one ends the session with its NDEATH, and the
/// next session (bdSeq + 1) waits for the host again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn births_wait_for_the_primary_host_and_kept_readings_are_historical() {
    let EdgeLine {
        _tmp,
        path: _,
        cfg,
        stop_sim,
        client,
        seen,
    } = edge_line_with("primary_host_id = \"scada1\"\n").await;
    let shutdown = CancellationToken::new();
    let agent = common::agent::spawn_in_process(&cfg, &shutdown);
    let state = |online: bool, ts: u64| {
        let client = client.clone();
        async move {
            let body = format!(r#"{{"online": {online}, "timestamp": {ts}}}"#);
            let topic = "spBv1.0/STATE/scada1";
            client
                .publish(topic, QoS::AtLeastOnce, true, body)
                .await
                .unwrap();
        }
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        since_last_birth(&seen).0,
        0,
        "born before the host was online"
    );
    state(true, 1_000).await;
    wait(&seen, "births, then historical data", |s| {
        s.iter().any(|(t, p)| {
            t.contains("/DDATA/") && p.metrics.iter().any(|m| m.is_historical == Some(true))
        })
    })
    .await;
    let (_, after) = since_last_birth(&seen);
    let birth_ts = after[0].1.timestamp.unwrap();
    let bd = bd_seq(&after[0].1).unwrap();
    let historical: Vec<_> = (after.iter())
        .filter(|(t, _)| t.contains("/DDATA/"))
        .flat_map(|(_, p)| p.metrics.iter())
        .filter(|m| m.is_historical == Some(true))
        .collect();
    assert!(
        historical.len() >= 4,
        "{} historical values",
        historical.len()
    );
    none_newer_than_the_birth(historical.iter().map(|m| m.timestamp), birth_ts);
    // DBIRTHs come before any data.
    let first_data = after.iter().position(|(t, _)| t.contains("DATA/")).unwrap();
    assert_eq!(first_data, 1 + cfg.devices.len(), "births first");

    // A stale offline (older than the online) changes nothing.
    state(false, 999).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(count(&seen, "spBv1.0/plant1/NDEATH/line-1"), 0);
    // A current one: NDEATH of this session; the next one waits (the STATE is retained).
    state(false, 2_000).await;
    wait(&seen, "NDEATH", |s| {
        s.iter().any(|(t, _)| t.contains("/NDEATH/"))
    })
    .await;
    assert_eq!(
        bd_seq(&last(&seen, "spBv1.0/plant1/NDEATH/line-1")),
        Some(bd)
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        since_last_birth(&seen).0,
        1,
        "born while the host was offline"
    );
    state(true, 3_000).await;
    wait(&seen, "births of the next session", |s| {
        s.iter().filter(|(t, _)| t.contains("/NBIRTH/")).count() == 2
    })
    .await;
    let (_, after) = since_last_birth(&seen);
    assert_eq!(bd_seq(&after[0].1), Some((bd + 1) % 256));
    shutdown.cancel();
    agent.await.unwrap().unwrap();
    stop_sim.cancel();
}
