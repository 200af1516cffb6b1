//! Model deployment over MQTT through the real binary (issue #20): a signed bundle published
//! on `{prefix}/cmd/deploy` is checked, installed and served by a running agent, each step
//! reported on `{prefix}/cmd/deploy/result` (schema-checked); a tampered bundle is refused
//! and changes nothing; a retained bundle seen again after a restart changes nothing.
//!
//! Real components: the line simulator as a Modbus TCP server, rumqttd, a copy of the
//! committed models, sled on disk.

mod common;

use std::path::Path;
use std::time::Instant;

use chocoline::fleet::bundle::pack;
use chocoline::fleet::keys::SigningKey;
use common::agent::{
    PREFIX, Ports, sigterm_and_wait, simulator, spawn_agent, wait_published,
    write_config_with_model_copy,
};
use common::{Got, Subscriber, free_port, rumqttd_limited, schema};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

fn results(got: &[Got]) -> Vec<Value> {
    let topic = format!("{PREFIX}/cmd/deploy/result");
    got.iter()
        .filter(|g| g.topic == topic)
        .map(|g| g.payload.clone())
        .collect()
}

fn steps_of(got: &[Got], version: u64) -> Vec<String> {
    results(got)
        .iter()
        .filter(|r| r["version"] == version)
        .map(|r| r["step"].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn bloom_versions(got: &[Got]) -> Vec<String> {
    let topic = format!("{PREFIX}/predictions/bloom");
    got.iter()
        .filter(|g| g.topic == topic)
        .map(|g| {
            g.payload["model_version"]
                .as_str()
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

/// The committed bloom model with its manifest version set to `tag`, packed as `version`.
fn bundle(root: &Path, models: &Path, key: &SigningKey, tag: &str, version: u64) -> Vec<u8> {
    let dir = root.join("src").join(tag).join("bloom");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["model.onnx", "golden.csv"] {
        std::fs::copy(models.join("bloom").join(f), dir.join(f)).unwrap();
    }
    let mut m: Value =
        serde_json::from_slice(&std::fs::read(models.join("bloom/manifest.json")).unwrap())
            .unwrap();
    m["version"] = tag.into();
    std::fs::write(dir.join("manifest.json"), m.to_string()).unwrap();
    pack(&dir, key, version).unwrap()
}

struct Line {
    _broker: common::Broker,
    tmp: tempfile::TempDir,
    path: std::path::PathBuf,
    models: std::path::PathBuf,
    key: SigningKey,
    sub: Subscriber,
    stop_sim: CancellationToken,
}

/// The demo configuration with its own models, `[models] installed_dir` and one trusted key;
/// the simulator and a subscriber running.
async fn line() -> Line {
    let broker = rumqttd_limited(32 << 20);
    let ports = Ports {
        modbus: free_port(),
        mqtt: broker.port(),
        metrics: free_port(),
    };
    let tmp = tempfile::tempdir().unwrap();
    let (path, models) = write_config_with_model_copy(tmp.path(), &ports);
    let key = SigningKey::generate().unwrap().0;
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "[models]\n",
        &format!(
            "[models]\ninstalled_dir = \"{}\"\n",
            tmp.path().join("installed").display()
        ),
    ) + &format!("\n[fleet]\ntrusted_keys = [\"{}\"]\n", key.public());
    std::fs::write(&path, text).unwrap();
    let cfg = chocoline::config::load(&path).unwrap().config;
    let stop_sim = CancellationToken::new();
    simulator(&cfg, ports.modbus, stop_sim.clone()).await;
    let sub = Subscriber::connect(broker.port(), PREFIX).await;
    Line {
        _broker: broker,
        tmp,
        path,
        models,
        key,
        sub,
        stop_sim,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_published_on_the_deploy_topic_serves_and_every_step_is_reported() {
    let line = line().await;
    let (sub, tmp, models, key) = (&line.sub, &line.tmp, &line.models, &line.key);
    let (mut child, log) = spawn_agent(&line.path, &[]);
    let shipped = chocoline::infer::manifest::Manifest::load(&models.join("bloom"))
        .unwrap()
        .version;
    wait_published(sub, &mut child, &log, 60, "bloom predictions", |got| {
        bloom_versions(got).contains(&shipped)
    })
    .await;

    // Tampered: refused, reported, nothing changes.
    let topic = format!("{PREFIX}/cmd/deploy");
    let mut bad = bundle(tmp.path(), models, key, "tampered", 7);
    let n = bad.len();
    bad[n / 2] ^= 1;
    sub.publish(&topic, bad, false).await;
    wait_published(
        sub,
        &mut child,
        &log,
        60,
        "refusal of the tampered bundle",
        |got| steps_of(got, 7).contains(&"refused".to_owned()),
    )
    .await;
    let refused = results(&sub.messages())
        .into_iter()
        .find(|r| r["step"] == "refused")
        .unwrap();
    assert_eq!(refused["error_kind"], "bad_signature", "{refused}");

    // Good: received → installed → serving, then predictions from the new version.
    let good = bundle(tmp.path(), models, key, "deployed-8", 8);
    let t0 = Instant::now();
    sub.publish(&topic, good.clone(), true).await;
    wait_published(sub, &mut child, &log, 60, "the bundle serving", |got| {
        steps_of(got, 8).contains(&"serving".to_owned())
    })
    .await;
    let took = t0.elapsed();
    wait_published(
        sub,
        &mut child,
        &log,
        60,
        "predictions of the new version",
        |got| bloom_versions(got).contains(&"deployed-8".to_owned()),
    )
    .await;
    eprintln!("publish to serving: {took:?}");
    let got = sub.messages();
    assert_eq!(steps_of(&got, 8), ["received", "installed", "serving"]);
    assert_eq!(steps_of(&got, 7), ["received", "refused"]);
    let doc = schema::load(&schema::file_for("chocoline.deploy_result/1"));
    for r in results(&got) {
        schema::validate(&doc, &r).unwrap_or_else(|e| panic!("{r}: {e:?}"));
    }

    // Restart: the retained bundle arrives again and changes nothing.
    sigterm_and_wait(&mut child).await;
    let mut child = restart_sees_the_retained_bundle_and_changes_nothing(&line).await;
    sub.publish(&topic, Vec::new(), true).await;
    sigterm_and_wait(&mut child).await;
    line.stop_sim.cancel();
}

/// A restarted agent receives the retained bundle again: `already_installed`, and the
/// deployed version still serves.
async fn restart_sees_the_retained_bundle_and_changes_nothing(line: &Line) -> std::process::Child {
    let sub = &line.sub;
    let (mut child, log) = spawn_agent(&line.path, &[]);
    wait_published(
        sub,
        &mut child,
        &log,
        60,
        "already_installed after restart",
        |got| steps_of(got, 8).contains(&"already_installed".to_owned()),
    )
    .await;
    let before = sub.messages().len();
    wait_published(
        sub,
        &mut child,
        &log,
        60,
        "predictions after the restart",
        |got| {
            got[before..]
                .iter()
                .any(|g| g.topic == format!("{PREFIX}/predictions/bloom"))
        },
    )
    .await;
    let after: Vec<String> = bloom_versions(&sub.messages()[before..]);
    assert!(after.iter().all(|v| v == "deployed-8"), "{after:?}");
    child
}
