//! Shadow models (`[models.<name>] candidate`, issue #18; docs/shadow.md) with real
//! components: the line simulator as a Modbus server, the whole agent in-process with a
//! reload source (SIGHUP's channel), rumqttd, sled, the capture folder, and real ONNX models.
//!
//! The candidate is the committed bloom model relabelled: its manifest lists the classes as
//! `fat_bloom, none, sugar_bloom` (and its golden rows' probability columns are renamed to
//! match), so wherever the serving bloom says "none" with high probability the candidate says
//! "fat_bloom" — a candidate that, serving, would raise `fat_bloom_risk` on a normal line.
//! The rule is set to raise on one vector (`consecutive = 1`), so that a single candidate
//! prediction reaching it would raise, even between the serving model's (which say "none").
//!
//! Checked, in one run: the serving predictions still arrive on `{prefix}/predictions/bloom`
//! (committed version, no shadow flag), the candidate's on `{prefix}/shadow/predictions/bloom`
//! (its version, `shadow: true`, `decides: false`, P(fat_bloom) high), and no `fat_bloom_risk`
//! alert is raised; then promotion (the serving folder set to the candidate's, `candidate`
//! removed, reload): the main topic carries the candidate's version, the shadow topic falls
//! silent, and the promoted model raises `fat_bloom_risk` (so the alert path was live all
//! along); then rollback. Finally the capture holds `"shadow":true` prediction lines with the
//! candidate's version beside the serving ones.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chocoline::capture::line::{self, Line};
use chocoline::pipeline::agent::{self, Supervision};
use chocoline::pipeline::reload::ReloadSource;
use common::agent::{PREFIX, Ports, http_get, metric, simulator, write_config_with_model_copy};
use common::{Got, Subscriber, rumqttd};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const SERVING: &str = "2.0.0";
const CANDIDATE: &str = "2.0.0-relabelled";

/// A copy of `models/bloom` in `dir` with the first two classes swapped in its manifest and
/// golden header, and version [`CANDIDATE`].
fn relabelled_bloom(models: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for f in ["model.onnx", "manifest.json", "golden.csv"] {
        std::fs::copy(models.join("bloom").join(f), dir.join(f)).unwrap();
    }
    let path = dir.join("manifest.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(m["version"], SERVING, "the committed bloom changed");
    assert_eq!(m["classes"][0], "none", "the committed bloom changed");
    assert_eq!(m["classes"][1], "fat_bloom", "the committed bloom changed");
    m["version"] = CANDIDATE.into();
    m["classes"] = serde_json::json!(["fat_bloom", "none", "sugar_bloom"]);
    std::fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let golden = std::fs::read_to_string(dir.join("golden.csv")).unwrap();
    let (header, rows) = golden.split_once('\n').unwrap();
    let header = header
        .replace("p_none", "p_TMP")
        .replace("p_fat_bloom", "p_none")
        .replace("p_TMP", "p_fat_bloom");
    std::fs::write(dir.join("golden.csv"), format!("{header}\n{rows}")).unwrap();
    dir.to_owned()
}

/// Payloads received on `topic`.
fn on(got: &[Got], topic: &str) -> Vec<Value> {
    (got.iter())
        .filter(|g| g.topic == topic)
        .map(|g| g.payload.clone())
        .collect()
}

fn p_fat_bloom(p: &Value) -> f64 {
    p["output"]["probabilities"]["fat_bloom"]
        .as_f64()
        .unwrap_or(f64::NAN)
}

/// The `[models.bloom]` table of the configuration at `path` set to `table`, then a reload.
async fn reconfigure(path: &Path, table: &str, reload: &mpsc::Sender<()>) {
    let text = std::fs::read_to_string(path).unwrap();
    let (head, _) = text.split_once("\n[models.bloom]\n").unwrap();
    std::fs::write(path, format!("{head}\n[models.bloom]\n{table}\n")).unwrap();
    reload.send(()).await.unwrap();
}

fn versions(got: &[Got], topic: &str) -> Vec<String> {
    (on(got, topic).iter())
        .map(|p| p["model_version"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "test scenario: shadow, promotion, rollback and the capture on one running agent, top to bottom"
)]
async fn a_candidate_shadows_the_serving_model_never_alerts_and_is_promoted_by_a_reload() {
    let broker = rumqttd();
    let ports = Ports::on(broker.port());
    let tmp = tempfile::tempdir().unwrap();
    let (path, models) = write_config_with_model_copy(tmp.path(), &ports);
    let cand = relabelled_bloom(&models, &tmp.path().join("candidates/bloom"));
    let text = std::fs::read_to_string(&path).unwrap()
        + "\n[capture]\nenabled = true\n"
        // One vector over the threshold raises: a candidate's prediction that reached the
        // rule would raise at once, even between the serving model's.
        + "\n[alerts.fat_bloom_risk]\nseverity = \"critical\"\nraise = 0.6\nclear = 0.4\nconsecutive = 1\n"
        + &format!("\n[models.bloom]\ncandidate = \"{}\"\n", cand.display());
    std::fs::write(&path, text).unwrap();
    // What check-config does with a candidate: it loads (golden rows included).
    let cfg = chocoline::config::load::load_for_check(&path)
        .unwrap()
        .config;
    let stop_sim = CancellationToken::new();
    simulator(&cfg, ports.modbus, stop_sim.clone()).await;
    let sub = Subscriber::connect(broker.port(), PREFIX).await;
    let shutdown = CancellationToken::new();
    let (reload, triggers) = mpsc::channel(1);
    let source = ReloadSource {
        path: path.clone(),
        triggers,
    };
    let agent = {
        let (cfg, shutdown) = (cfg.clone(), shutdown.clone());
        tokio::spawn(
            async move { agent::run(&cfg, Supervision::none(), Some(source), shutdown).await },
        )
    };
    let main = format!("{PREFIX}/predictions/bloom");
    let shadow = format!("{PREFIX}/shadow/predictions/bloom");
    let fat_bloom = format!("{PREFIX}/alerts/fat_bloom_risk");
    // The probability rule's alerts (scope: the model), not the band rule's (a signal).
    let of_bloom = |g: &[Got]| -> Vec<Value> {
        (on(g, &fat_bloom).into_iter())
            .filter(|a| {
                a["alert_id"]
                    .as_str()
                    .is_some_and(|i| i.contains(":fat_bloom_risk:bloom:"))
            })
            .collect()
    };

    // 1. Shadowing: the candidate flags fat bloom on vector after vector, nothing is raised.
    let flagged = |g: &[Got]| {
        (on(g, &shadow).iter())
            .filter(|p| p_fat_bloom(p) >= 0.6)
            .count()
    };
    sub.wait_for(120, "10 shadow predictions saying fat bloom", |g| {
        flagged(g) >= 10
    })
    .await;
    // Time for anything those vectors caused to reach the broker.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = sub.messages();
    assert!(
        of_bloom(&got).is_empty(),
        "a shadow prediction raised an alert: {:?}",
        of_bloom(&got)
    );
    let serving = on(&got, &main);
    let shadows = on(&got, &shadow);
    assert!(serving.len() >= 10, "{} serving predictions", serving.len());
    for p in &serving {
        assert_eq!(p["model_version"], SERVING, "{p}");
        assert!(p.get("shadow").is_none(), "{p}");
        assert!(
            p_fat_bloom(p) < 0.6,
            "the serving bloom flags a normal line: {p}"
        );
    }
    let schema = common::schema::load("chocoline.prediction_v1.json");
    for p in serving.iter().chain(&shadows) {
        if let Err(e) = common::schema::validate(&schema, p) {
            panic!("{p} does not match its schema: {e:?}");
        }
    }
    for p in &shadows {
        assert_eq!(p["model_version"], CANDIDATE, "{p}");
        assert_eq!(
            (&p["shadow"], &p["decides"]),
            (&Value::Bool(true), &Value::Bool(false))
        );
        assert_eq!(p["schema"], "chocoline.prediction/1");
    }
    let metrics = http_get(ports.metrics, "/metrics").await;
    let loaded = "chocoline_shadow_candidate_loaded{model=\"bloom\"}";
    assert_eq!(metric(&metrics, loaded), Some(1.0), "{metrics}");
    let counted = metric(
        &metrics,
        "chocoline_shadow_predictions_total{model=\"bloom\"}",
    );
    assert!(counted.is_some_and(|n| n >= 10.0), "{metrics}");

    // 2. Promotion: the candidate's folder serves, `candidate` removed, reload.
    let table = format!("folder = \"{}\"", cand.display());
    reconfigure(&path, &table, &reload).await;
    let promoted = |g: &[Got]| {
        versions(g, &main)
            .iter()
            .filter(|v| *v == CANDIDATE)
            .count()
    };
    sub.wait_for(60, "3 predictions of the promoted candidate", |g| {
        promoted(g) >= 3
    })
    .await;
    let shadows_then = on(&sub.messages(), &shadow).len();
    sub.wait_for(60, "5 more promoted predictions", |g| promoted(g) >= 8)
        .await;
    assert_eq!(
        on(&sub.messages(), &shadow).len(),
        shadows_then,
        "shadow predictions after the promotion"
    );
    // The alert path was live: serving, the relabelled model raises fat bloom risk.
    sub.wait_for(60, "fat_bloom_risk from the promoted model", |g| {
        (of_bloom(g).iter())
            .any(|a| a["state"] == "raised" && a["evidence"]["model_version"] == CANDIDATE)
    })
    .await;
    let metrics = http_get(ports.metrics, "/metrics").await;
    assert_eq!(metric(&metrics, loaded), Some(0.0), "{metrics}");

    // 3. Rollback: the shipped folder again.
    reconfigure(&path, "", &reload).await;
    sub.wait_for(60, "predictions of the shipped version again", |g| {
        versions(g, &main).last().is_some_and(|v| v == SERVING)
    })
    .await;

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), agent)
        .await
        .expect("the agent did not stop within 30 s")
        .unwrap()
        .unwrap();
    stop_sim.cancel();

    // 4. The capture: the candidate's lines say "shadow":true and carry its version.
    let dir = cfg.store.data_dir.join("capture");
    let mut texts = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if line::segment_number(&p.file_name().unwrap().to_string_lossy()).is_some() {
            texts.extend(
                std::fs::read_to_string(&p)
                    .unwrap()
                    .lines()
                    .map(String::from),
            );
        }
    }
    let bloom: Vec<(&String, Line)> = (texts.iter())
        .filter_map(|t| Some((t, line::decode(t)?)))
        .filter(|(_, l)| matches!(l, Line::Prediction(p) if p.model == "bloom"))
        .collect();
    let (mut shadow_lines, mut serving_lines) = (0, 0);
    for (text, l) in &bloom {
        let Line::Prediction(p) = l else { continue };
        if p.shadow {
            shadow_lines += 1;
            assert!(text.contains(r#""shadow":true"#), "{text}");
            assert_eq!(p.version, CANDIDATE);
            assert!(!p.decides);
        } else {
            serving_lines += 1;
            assert!(!text.contains("shadow"), "{text}");
        }
    }
    // Every shadow prediction published was captured (a few more may have been captured
    // and not yet published at the promotion).
    assert!(
        shadow_lines >= shadows_then && shadows_then >= 10,
        "{shadow_lines} shadow lines, {shadows_then} published"
    );
    assert!(serving_lines >= 10, "{serving_lines} serving lines");
}
