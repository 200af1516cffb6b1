//! Issue #20: "a 20-agent simulated fleet (20 `run` processes on one simulator and one broker)
//! receives one bundle and reports the result of each agent on the result topic".
//!
//! Twenty agents (`chocoline run`, lines line-1 … line-20, each with its own data and installed
//! directories) poll one line simulator and publish to one in-process broker. They share a
//! group deploy topic (`[fleet] group_deploy_topic`): the bundle is published once, there. The
//! test waits for every agent's `serving` result on its own `{prefix}/cmd/deploy/result` and
//! prints the time from the publish to the last one.

mod common;

use std::time::{Duration, Instant};

use chocoline::fleet::bundle::pack;
use chocoline::fleet::keys::SigningKey;
use common::agent::{Ports, sigterm_and_wait, simulator, spawn_agent, write_config};
use common::fleet::bloom_copy;
use common::{Got, Subscriber, free_port, rumqttd_limited};
use tokio_util::sync::CancellationToken;

const AGENTS: usize = 20;
const GROUP: &str = "chocoline/fleet/demo-lines/cmd/deploy";

fn step_count(got: &[Got], step: &str) -> usize {
    let lines: std::collections::BTreeSet<&str> = got
        .iter()
        .filter(|g| g.topic.ends_with("/cmd/deploy/result") && g.payload["step"] == step)
        .map(|g| g.topic.as_str())
        .collect();
    lines.len()
}

fn online(got: &[Got]) -> usize {
    let lines: std::collections::BTreeSet<&str> = got
        .iter()
        .filter(|g| g.topic.ends_with("/status") && g.payload["state"] == "online")
        .map(|g| g.topic.as_str())
        .collect();
    lines.len()
}

/// Agent `i`'s configuration: demo.toml as line-`i`, its own data, installed dir and metrics
/// port, the group topic and the trusted key.
fn agent_config(
    root: &std::path::Path,
    i: usize,
    modbus: u16,
    mqtt: u16,
    key: &str,
) -> std::path::PathBuf {
    let dir = root.join(format!("agent-{i}"));
    std::fs::create_dir_all(&dir).unwrap();
    let ports = Ports {
        modbus,
        mqtt,
        metrics: free_port(),
    };
    let path = write_config(&dir, &ports);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("line = \"line-1\"", &format!("line = \"line-{i}\""))
        .replace("chocoline/demo/line-1", &format!("chocoline/demo/line-{i}"))
        .replace(
            "client_id = \"chocoline-demo\"",
            &format!("client_id = \"chocoline-demo-{i}\""),
        )
        .replace(
            "[models]\n",
            &format!(
                "[models]\ninstalled_dir = \"{}\"\n",
                dir.join("installed").display()
            ),
        )
        + &format!("\n[fleet]\ntrusted_keys = [\"{key}\"]\ngroup_deploy_topic = \"{GROUP}\"\n");
    assert!(text.contains(&format!("topic_prefix = \"chocoline/demo/line-{i}\"")));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bundle_published_once_reaches_twenty_agents_and_each_reports_serving() {
    let broker = rumqttd_limited(32 << 20);
    let tmp = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap().0;
    let modbus = free_port();
    let paths: Vec<_> = (1..=AGENTS)
        .map(|i| {
            agent_config(
                tmp.path(),
                i,
                modbus,
                broker.port(),
                &key.public().to_string(),
            )
        })
        .collect();
    let cfg = chocoline::config::load(&paths[0]).unwrap().config;
    let stop_sim = CancellationToken::new();
    simulator(&cfg, modbus, stop_sim.clone()).await;
    let sub = Subscriber::connect(broker.port(), "chocoline/demo").await;
    let t_start = Instant::now();
    let mut agents: Vec<_> = paths.iter().map(|p| spawn_agent(p, &[])).collect();
    let up = sub.wait_until(180, |got| online(got) == AGENTS).await;
    assert!(up, "{} of {AGENTS} agents online", online(&sub.messages()));
    let started = t_start.elapsed();
    // Each subscribes to the group topic before it publishes its birth; give the broker a moment.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let bundle = pack(&bloom_copy(tmp.path(), &models, "fleet-1"), &key, 1).unwrap();
    let bytes = bundle.len();
    let t0 = Instant::now();
    sub.publish(GROUP, bundle, false).await;
    let all = sub
        .wait_until(300, |got| step_count(got, "serving") == AGENTS)
        .await;
    let took = t0.elapsed();
    let got = sub.messages();
    let (served, refused) = (step_count(&got, "serving"), step_count(&got, "refused"));
    eprintln!(
        "{AGENTS} agents online {started:?} after spawn; one {bytes}-byte bundle on {GROUP}: \
         {served} serving, {refused} refused, the last {took:?} after the publish"
    );
    for (child, log) in &mut agents {
        if !all {
            eprintln!("{}", log.lock().unwrap().join("\n"));
        }
        sigterm_and_wait(child).await;
    }
    stop_sim.cancel();
    assert!(all, "{served} of {AGENTS} serving after 300 s");
    assert_eq!(step_count(&got, "received"), AGENTS);
    assert_eq!(step_count(&got, "installed"), AGENTS);
    assert_eq!(refused, 0);
}
