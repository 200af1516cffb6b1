//! Degraded start, through the real binary: a model that does not load at boot no longer
//! stops the agent. With `bloom`'s ONNX corrupted and `yield`'s manifest unreadable, the
//! agent starts, serves the other models, publishes one critical `model_unavailable` alert
//! per refused model, and — once bloom's file is put back and SIGHUP sent — clears bloom's
//! alert and serves bloom, while yield's alert stays open.
//!
//! Real components: the line simulator as a Modbus TCP server, rumqttd, a copy of the
//! committed models.

mod common;

use std::time::Duration;

use common::agent::{
    PREFIX, Ports, hup, sigterm_and_wait, simulator, spawn_agent, wait_published,
    write_config_with_model_copy,
};
use common::{Got, Subscriber, rumqttd};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// The `model_unavailable` alerts received so far.
fn unavailable(got: &[Got]) -> Vec<Value> {
    got.iter()
        .filter(|g| g.topic == format!("{PREFIX}/alerts/model_unavailable"))
        .map(|g| g.payload.clone())
        .collect()
}

fn for_model<'a>(alerts: &'a [Value], model: &str, state: &str) -> Option<&'a Value> {
    alerts
        .iter()
        .find(|a| a["evidence"]["model"] == model && a["state"] == state)
}

fn predictions_of(got: &[Got], model: &str) -> usize {
    let topic = format!("{PREFIX}/predictions/{model}");
    got.iter().filter(|g| g.topic == topic).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_refused_at_start_raises_model_unavailable_and_clears_when_it_loads() {
    let broker = rumqttd();
    let ports = Ports::on(broker.port());
    let tmp = tempfile::tempdir().unwrap();
    let (path, models) = write_config_with_model_copy(tmp.path(), &ports);
    // bloom: the ONNX no longer matches its manifest's sha256; yield: the manifest is not JSON.
    let onnx = models.join("bloom/model.onnx");
    let good = std::fs::read(&onnx).unwrap();
    std::fs::write(&onnx, &good[..good.len() / 2]).unwrap();
    std::fs::write(models.join("yield/manifest.json"), "{ not json").unwrap();

    let cfg = chocoline::config::load(&path).unwrap().config;
    let stop_sim = CancellationToken::new();
    simulator(&cfg, ports.modbus, stop_sim.clone()).await;
    let sub = Subscriber::connect(broker.port(), PREFIX).await;

    let (mut child, log) = spawn_agent(&path, &[]);

    let what = "model_unavailable raised for bloom and yield";
    wait_published(&sub, &mut child, &log, 60, what, |got| {
        let a = unavailable(got);
        for_model(&a, "bloom", "raised").is_some() && for_model(&a, "yield", "raised").is_some()
    })
    .await;
    // anomaly predicts per window (quality and yield per closed batch: hours away).
    let what = "predictions of a model that loaded";
    wait_published(&sub, &mut child, &log, 60, what, |got| {
        predictions_of(got, "anomaly") > 0
    })
    .await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the agent exited with a model refused"
    );
    let got = sub.messages();
    assert_eq!(
        predictions_of(&got, "bloom"),
        0,
        "bloom served while refused"
    );
    assert_eq!(
        predictions_of(&got, "yield"),
        0,
        "yield served while refused"
    );
    let alerts = unavailable(&got);
    let bloom = for_model(&alerts, "bloom", "raised").unwrap().clone();
    assert_eq!(bloom["severity"], "critical");
    assert_eq!(bloom["evidence"]["error_kind"], "checksum", "{bloom}");
    assert!(bloom["message"].as_str().unwrap().contains("bloom"));
    let raised = alerts.iter().filter(|a| a["state"] == "raised").count();
    assert_eq!(raised, 2, "one alert per refused model: {alerts:?}");

    // Put bloom's file back and reload: its alert clears under the same id, bloom serves;
    // yield (still unreadable) keeps its alert and raises no second one.
    std::fs::write(&onnx, &good).unwrap();
    hup(&child);
    let what = "bloom's alert cleared and bloom predictions";
    wait_published(&sub, &mut child, &log, 60, what, |got| {
        for_model(&unavailable(got), "bloom", "cleared").is_some()
            && predictions_of(got, "bloom") > 0
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let alerts = unavailable(&sub.messages());
    let cleared = for_model(&alerts, "bloom", "cleared").unwrap();
    assert_eq!(cleared["alert_id"], bloom["alert_id"]);
    assert_ne!(cleared["id"], bloom["id"], "each message has its own id");
    assert!(for_model(&alerts, "yield", "cleared").is_none());
    let yield_raised = alerts
        .iter()
        .filter(|a| a["evidence"]["model"] == "yield" && a["state"] == "raised")
        .count();
    assert_eq!(yield_raised, 1, "yield's alert raised again: {alerts:?}");

    let (status, _) = sigterm_and_wait(&mut child).await;
    assert!(status.success(), "exit {status:?}");
    stop_sim.cancel();
    sub.stop().await;
}
