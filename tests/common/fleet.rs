//! What the fleet tests share: a copy of the committed bloom model under another manifest
//! version, and a demo line set up for deployment (installed_dir, one trusted key, the
//! simulator, a subscriber) with readers for its results and bloom predictions.

use std::path::{Path, PathBuf};

use chocoline::fleet::keys::SigningKey;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::agent::{PREFIX, Ports, simulator, write_config_with_model_copy};
use super::{Broker, Got, Subscriber, free_port, rumqttd_limited};

/// The committed bloom model (from `models`) copied to `<root>/src/<tag>/bloom` with its
/// manifest version set to `tag`.
pub fn bloom_copy(root: &Path, models: &Path, tag: &str) -> PathBuf {
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
    dir
}

/// A demo line ready for deployment over MQTT.
pub struct FleetLine {
    pub broker: Broker,
    pub tmp: tempfile::TempDir,
    /// The agent's configuration file.
    pub path: PathBuf,
    /// The agent's own copy of the committed models.
    pub models: PathBuf,
    /// `[models] installed_dir`.
    pub installed: PathBuf,
    /// The one trusted signing key.
    pub key: SigningKey,
    pub sub: Subscriber,
    pub stop_sim: CancellationToken,
}

/// The demo configuration with its own models, `[models] installed_dir` and one trusted key;
/// the simulator and a subscriber running (the agent is not started); rumqttd as the broker.
pub async fn fleet_line() -> FleetLine {
    fleet_line_on(rumqttd_limited(32 << 20)).await
}

/// [`fleet_line`] on a given broker.
pub async fn fleet_line_on(broker: Broker) -> FleetLine {
    let ports = Ports {
        modbus: free_port(),
        mqtt: broker.port(),
        metrics: free_port(),
    };
    let tmp = tempfile::tempdir().unwrap();
    let (path, models) = write_config_with_model_copy(tmp.path(), &ports);
    let key = SigningKey::generate().unwrap().0;
    let installed = tmp.path().join("installed");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "[models]\n",
        &format!("[models]\ninstalled_dir = \"{}\"\n", installed.display()),
    ) + &format!(
        "\n[fleet]\ntrusted_keys = [\"{}\"]\nhealth_report = \"1s\"\n",
        key.public()
    );
    std::fs::write(&path, text).unwrap();
    let cfg = chocoline::config::load(&path).unwrap().config;
    let stop_sim = CancellationToken::new();
    simulator(&cfg, ports.modbus, stop_sim.clone()).await;
    let sub = Subscriber::connect(broker.port(), PREFIX).await;
    FleetLine {
        broker,
        tmp,
        path,
        models,
        installed,
        key,
        sub,
        stop_sim,
    }
}

/// `{prefix}/cmd/deploy`.
pub fn deploy_topic() -> String {
    format!("{PREFIX}/cmd/deploy")
}

/// Payloads received on `{prefix}/cmd/deploy/result`.
pub fn results(got: &[Got]) -> Vec<Value> {
    let topic = format!("{PREFIX}/cmd/deploy/result");
    got.iter()
        .filter(|g| g.topic == topic)
        .map(|g| g.payload.clone())
        .collect()
}

/// The steps reported for bundle `version`, in order.
pub fn steps_of(got: &[Got], version: u64) -> Vec<String> {
    results(got)
        .iter()
        .filter(|r| r["version"] == version)
        .map(|r| r["step"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// `(model_version, confidence)` of each bloom prediction received.
pub fn bloom(got: &[Got]) -> Vec<(String, f64)> {
    let topic = format!("{PREFIX}/predictions/bloom");
    got.iter()
        .filter(|g| g.topic == topic)
        .map(|g| {
            let v = g.payload["model_version"]
                .as_str()
                .unwrap_or("?")
                .to_owned();
            (v, g.payload["confidence"].as_f64().unwrap_or(f64::NAN))
        })
        .collect()
}

/// Waits for bloom predictions published from now on and returns theirs
/// `(model_version, confidence)`.
pub async fn next_bloom(
    sub: &Subscriber,
    child: &mut std::process::Child,
    log: &super::agent::Lines,
    what: &str,
) -> Vec<(String, f64)> {
    let before = sub.messages().len();
    super::agent::wait_published(sub, child, log, 60, what, |got| {
        !bloom(&got[before..]).is_empty()
    })
    .await;
    bloom(&sub.messages()[before..])
}
