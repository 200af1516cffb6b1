//! Model deployment over MQTT through the real binary (issue #20): a signed bundle published
//! on `{prefix}/cmd/deploy` is checked, installed and served by a running agent, each step
//! reported on `{prefix}/cmd/deploy/result` (schema-checked); a tampered bundle is refused
//! and changes nothing; a retained bundle seen again after a restart changes nothing.
//!
//! Real components: the line simulator as a Modbus TCP server, rumqttd, a copy of the
//! committed models, sled on disk.

mod common;

use std::time::Instant;

use chocoline::fleet::bundle::pack;
use common::agent::{PREFIX, sigterm_and_wait, spawn_agent, wait_published};
use common::fleet::{
    FleetLine, bloom, bloom_copy, deploy_topic, fleet_line, fleet_line_on, next_bloom, results,
    steps_of,
};
use common::{Subscriber, mosquitto, schema};
use serde_json::Value;

fn refused(got: &[common::Got]) -> usize {
    results(got)
        .iter()
        .filter(|r| r["step"] == "refused")
        .count()
}

fn versions(got: &[common::Got]) -> Vec<String> {
    bloom(got).into_iter().map(|(v, _)| v).collect()
}

/// Wait for a bloom prediction made by manifest version `tag`.
async fn wait_for_version(
    sub: &common::Subscriber,
    child: &mut std::process::Child,
    log: &common::agent::Lines,
    tag: &str,
) {
    let what = format!("predictions of version {tag}");
    wait_published(sub, child, log, 60, &what, |got| {
        versions(got).iter().any(|v| v == tag)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_published_on_the_deploy_topic_serves_and_every_step_is_reported() {
    let line = fleet_line().await;
    let (sub, root, models, key) = (&line.sub, line.tmp.path(), &line.models, &line.key);
    let (mut child, log) = spawn_agent(&line.path, &[]);
    let shipped = chocoline::infer::manifest::Manifest::load(&models.join("bloom"))
        .unwrap()
        .version;
    wait_published(sub, &mut child, &log, 60, "bloom predictions", |got| {
        versions(got).contains(&shipped)
    })
    .await;

    // Tampered: refused, reported, nothing changes.
    let mut bad = pack(&bloom_copy(root, models, "tampered"), key, 7).unwrap();
    let n = bad.len();
    bad[n / 2] ^= 1;
    sub.publish(&deploy_topic(), bad, false).await;
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
    let good = pack(&bloom_copy(root, models, "deployed-8"), key, 8).unwrap();
    let t0 = Instant::now();
    sub.publish(&deploy_topic(), good, true).await;
    wait_published(sub, &mut child, &log, 60, "the bundle serving", |got| {
        steps_of(got, 8).contains(&"serving".to_owned())
    })
    .await;
    let took = t0.elapsed();
    wait_for_version(sub, &mut child, &log, "deployed-8").await;
    eprintln!("publish to serving: {took:?}");
    let got = sub.messages();
    assert_eq!(steps_of(&got, 8), ["received", "installed", "serving"]);
    assert_eq!(steps_of(&got, 7), ["received", "refused"]);
    let doc = schema::load(&schema::file_for("chocoline.deploy_result/1"));
    for r in results(&got) {
        schema::validate(&doc, &r).unwrap_or_else(|e| panic!("{r}: {e:?}"));
    }
    health_reports_the_deployed_version(&line, &mut child, &log).await;

    // kill -9 during the new version's health window (10 min by default), then restart: the
    // retained bundle arrives again and changes nothing; the deployed version serves.
    child.kill().unwrap();
    child.wait().unwrap();
    let mut child = restart_sees_the_retained_bundle_and_changes_nothing(&line).await;
    sub.publish(&deploy_topic(), Vec::new(), true).await;
    sigterm_and_wait(&mut child).await;
    line.stop_sim.cancel();
}

/// Every refusal over MQTT is reported with its kind and leaves the serving version as it was:
/// tampered, signed by a key nobody trusts, truncated, older than the installed one, not a
/// bundle at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_over_mqtt_is_reported_and_changes_nothing() {
    use chocoline::fleet::keys::SigningKey;
    let line = fleet_line().await;
    let (sub, root, models, key) = (&line.sub, line.tmp.path(), &line.models, &line.key);
    let (mut child, log) = spawn_agent(&line.path, &[]);
    wait_published(sub, &mut child, &log, 60, "bloom predictions", |got| {
        !bloom(got).is_empty()
    })
    .await;
    let good = pack(&bloom_copy(root, models, "v5"), key, 5).unwrap();
    sub.publish(&deploy_topic(), good, false).await;
    wait_published(sub, &mut child, &log, 60, "version 5 serving", |got| {
        steps_of(got, 5).contains(&"serving".to_owned())
    })
    .await;
    let mut tampered = pack(&bloom_copy(root, models, "t"), key, 7).unwrap();
    let n = tampered.len();
    tampered[n / 2] ^= 1;
    let other = SigningKey::generate().unwrap().0;
    let foreign = pack(&bloom_copy(root, models, "f"), &other, 9).unwrap();
    let cut = pack(&bloom_copy(root, models, "c"), key, 10).unwrap();
    let older = pack(&bloom_copy(root, models, "o"), key, 3).unwrap();
    let cases: [(Vec<u8>, &str); 5] = [
        (tampered, "bad_signature"),
        (foreign, "untrusted_key"),
        (cut[..cut.len() - 1000].to_vec(), "truncated"),
        (older, "downgrade"),
        (b"not a bundle".to_vec(), "bad_magic"),
    ];
    // One at a time: of a burst of more than four bundles, the extra ones are refused `busy`.
    for (i, (payload, kind)) in cases.iter().enumerate() {
        sub.publish(&deploy_topic(), payload.clone(), false).await;
        let what = format!("refusal {kind}");
        wait_published(sub, &mut child, &log, 60, &what, |got| {
            refused(got) == i + 1
        })
        .await;
    }
    let got = sub.messages();
    let kinds: Vec<String> = results(&got)
        .iter()
        .filter(|r| r["step"] == "refused")
        .map(|r| r["error_kind"].as_str().unwrap_or("?").to_owned())
        .collect();
    let want: Vec<&str> = cases.iter().map(|(_, k)| *k).collect();
    assert_eq!(kinds, want);
    let after = next_bloom(sub, &mut child, &log, "bloom predictions after").await;
    assert!(after.iter().all(|(v, _)| v == "v5"), "{after:?}");
    assert_eq!(
        chocoline::infer::installed::current_version(&line.installed, "bloom"),
        Some(5)
    );
    // A burst: every payload still gets a result (refused, or refused `busy` when four wait).
    for i in 0..8 {
        sub.publish(&deploy_topic(), format!("junk {i}").into_bytes(), false)
            .await;
    }
    wait_published(sub, &mut child, &log, 60, "a result for each of 8", |got| {
        refused(got) == cases.len() + 8
    })
    .await;
    sigterm_and_wait(&mut child).await;
    line.stop_sim.cancel();
}

/// A restarted agent receives the retained bundle again: `already_installed`, and the
/// deployed version still serves.
async fn restart_sees_the_retained_bundle_and_changes_nothing(
    line: &FleetLine,
) -> std::process::Child {
    let sub = &line.sub;
    let (mut child, log) = spawn_agent(&line.path, &[]);
    let what = "already_installed after restart";
    wait_published(sub, &mut child, &log, 60, what, |got| {
        steps_of(got, 8).contains(&"already_installed".to_owned())
    })
    .await;
    let after = next_bloom(sub, &mut child, &log, "predictions after the restart").await;
    assert!(after.iter().all(|(v, _)| v == "deployed-8"), "{after:?}");
    child
}

/// The retained health report (every second in this test) names the deployed version and its
/// bundle version, the devices' last good polls, and matches its schema; a late subscriber
/// gets it at once (retained).
async fn health_reports_the_deployed_version(
    line: &FleetLine,
    child: &mut std::process::Child,
    log: &common::agent::Lines,
) {
    let topic = format!("{PREFIX}/health");
    let what = "a health report with bloom bundle version 8";
    wait_published(&line.sub, child, log, 30, what, |got| {
        got.iter()
            .any(|g| g.topic == topic && g.payload["models"]["bloom"]["bundle_version"] == 8)
    })
    .await;
    let late = Subscriber::connect(line.broker.port(), &format!("{PREFIX}/health")).await;
    late.wait_for(10, "the retained health report", |got| !got.is_empty())
        .await;
    let h = late.messages()[0].payload.clone();
    assert_eq!(h["models"]["bloom"]["version"], "deployed-8", "{h}");
    assert_eq!(h["models"]["quality"]["bundle_version"], Value::Null, "{h}");
    assert!(
        h["devices"]
            .as_object()
            .unwrap()
            .values()
            .all(|d| d["last_good_poll"].is_i64()),
        "{h}"
    );
    let doc = schema::load(&schema::file_for("chocoline.health/1"));
    schema::validate(&doc, &h).unwrap_or_else(|e| panic!("{h}: {e:?}"));
}

/// The same path through mosquitto (mandatory under CHOCOLINE_INTEROP=1, as in `.ci/run`):
/// a 1.85 MB bundle through a broker nobody here wrote, after that broker restarted with no
/// memory of the agent's subscription (so the agent must have renewed it on reconnecting); the
/// result steps, and the health report retained by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_deployed_through_mosquitto_serves() {
    let Some(broker) = mosquitto("a_bundle_deployed_through_mosquitto_serves", "", None) else {
        return;
    };
    let mut line = fleet_line_on(broker).await;
    let (mut child, log) = spawn_agent(&line.path, &[]);
    wait_published(
        &line.sub,
        &mut child,
        &log,
        60,
        "bloom predictions",
        |got| !bloom(got).is_empty(),
    )
    .await;
    // The broker restarts empty (persistence off): subscriptions are gone.
    line.broker.stop();
    line.broker.start_again();
    line.sub = Subscriber::connect_with(line.broker.port(), PREFIX, line.sub.got.clone()).await;
    next_bloom(&line.sub, &mut child, &log, "predictions after the restart").await;
    let (sub, root, models, key) = (&line.sub, line.tmp.path(), &line.models, &line.key);
    let bundle = pack(&bloom_copy(root, models, "deployed-8"), key, 8).unwrap();
    sub.publish(&deploy_topic(), bundle, false).await;
    wait_for_version(sub, &mut child, &log, "deployed-8").await;
    assert_eq!(
        steps_of(&sub.messages(), 8),
        ["received", "installed", "serving"]
    );
    health_reports_the_deployed_version(&line, &mut child, &log).await;
    sigterm_and_wait(&mut child).await;
    line.stop_sim.cancel();
}
