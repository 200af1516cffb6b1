//! The health window through the real binary (issue #20, "an injected regression during the
//! health window rolls back within one poll period, measured").
//!
//! The injected regression is a model that is valid by every check the install makes — signed,
//! its sha256 right, its own golden rows passing — but worse on the line: the committed bloom
//! model with every leaf's class weights spread evenly over the three classes, so it answers
//! 1/3 for each class whatever it sees (confidence 0.33 where the shipped model says ~0.99).
//! Its golden rows are rewritten from its own outputs (`chocoline model predict`), as a data
//! scientist's export of a bad model would be. The agent must install it, serve it, judge it
//! against its predecessor and roll it back by itself.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use chocoline::fleet::bundle::pack;
use chocoline::infer::onnx::pb::ModelProto;
use common::agent::{sigterm_and_wait, spawn_agent, wait_published};
use common::cli::{run, stderr};
use common::fleet::{bloom, deploy_topic, fleet_line, next_bloom, results};
use prost::Message;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Every leaf of the tree ensemble gives each of the `n` classes the same share of its weight.
fn spread_leaves(onnx: &[u8], n: i64) -> Vec<u8> {
    let mut m = ModelProto::decode(onnx).unwrap();
    let node = m
        .graph
        .as_mut()
        .unwrap()
        .node
        .iter_mut()
        .find(|n| n.op_type == "TreeEnsembleClassifier")
        .unwrap();
    let at = |name: &str| node.attribute.iter().position(|a| a.name == name).unwrap();
    let (t, nd, c, w) = (
        at("class_treeids"),
        at("class_nodeids"),
        at("class_ids"),
        at("class_weights"),
    );
    let mut leaves: BTreeMap<(i64, i64), f32> = BTreeMap::new();
    for i in 0..node.attribute[w].floats.len() {
        let leaf = (node.attribute[t].ints[i], node.attribute[nd].ints[i]);
        *leaves.entry(leaf).or_default() += node.attribute[w].floats[i];
    }
    let (mut ts, mut ns, mut cs, mut ws) = (vec![], vec![], vec![], vec![]);
    for ((tree, leaf), total) in leaves {
        for class in 0..n {
            ts.push(tree);
            ns.push(leaf);
            cs.push(class);
            ws.push(total / n as f32);
        }
    }
    node.attribute[t].ints = ts;
    node.attribute[nd].ints = ns;
    node.attribute[c].ints = cs;
    node.attribute[w].floats = ws;
    m.encode_to_vec()
}

/// The bad model's folder: spread ONNX, its sha256 in the manifest, golden rows from its own
/// outputs.
fn bad_bloom(root: &Path, models: &Path) -> std::path::PathBuf {
    let dir = root.join("bad").join("bloom");
    std::fs::create_dir_all(&dir).unwrap();
    let onnx = spread_leaves(&std::fs::read(models.join("bloom/model.onnx")).unwrap(), 3);
    std::fs::write(dir.join("model.onnx"), &onnx).unwrap();
    let mut m: Value =
        serde_json::from_slice(&std::fs::read(models.join("bloom/manifest.json")).unwrap())
            .unwrap();
    m["version"] = "flat".into();
    m["onnx"]["sha256"] = hex::encode(Sha256::digest(&onnx)).into();
    std::fs::write(dir.join("manifest.json"), m.to_string()).unwrap();
    // Golden: the committed rows' features, this model's outputs.
    let golden = std::fs::read_to_string(models.join("bloom/golden.csv")).unwrap();
    let n_features = m["features"].as_array().unwrap().len();
    let mut lines = golden.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = lines
        .map(|l| l.split(',').take(n_features).collect())
        .collect();
    let input = root.join("bad/features.csv");
    let text: String = rows.iter().map(|r| r.join(",") + "\n").collect();
    std::fs::write(&input, text).unwrap();
    let out = root.join("bad/outputs.csv");
    let o = run(&[
        "model",
        "predict",
        "--onnx",
        dir.join("model.onnx").to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let outputs = std::fs::read_to_string(out).unwrap();
    let mut new = header.join(",") + "\n";
    for (r, o) in rows.iter().zip(outputs.lines().skip(1)) {
        new += &format!("{},{o}\n", r.join(","));
    }
    std::fs::write(dir.join("golden.csv"), new).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployed_model_worse_on_the_line_is_rolled_back_by_its_health_window() {
    let line = fleet_line().await;
    let (sub, models, key) = (&line.sub, &line.models, &line.key);
    // First a good version (so that there is an installed one to return to), then the bad one.
    let good = pack(&models.join("bloom"), key, 1).unwrap();
    let bad = pack(&bad_bloom(line.tmp.path(), models), key, 2).unwrap();
    let (mut child, log) = spawn_agent(&line.path, &[]);
    // The agent subscribes when it connects; its first predictions say it has.
    wait_published(sub, &mut child, &log, 60, "bloom predictions", |got| {
        !bloom(got).is_empty()
    })
    .await;
    sub.publish(&deploy_topic(), good, false).await;
    wait_published(
        sub,
        &mut child,
        &log,
        60,
        "version 1 serving and 10 bloom predictions",
        |got| {
            results(got)
                .iter()
                .any(|r| r["version"] == 1 && r["step"] == "serving")
                && bloom(got).len() >= 10
        },
    )
    .await;
    sub.publish(&deploy_topic(), bad.clone(), false).await;
    let what = "the bad version rolled back";
    wait_published(sub, &mut child, &log, 120, what, |got| {
        results(got)
            .iter()
            .any(|r| r["version"] == 2 && r["step"] == "rolled_back")
    })
    .await;
    check_the_rollback(&sub.messages());
    // The same bundle again (as a retained copy would come back): refused, recorded on disk.
    sub.publish(&deploy_topic(), bad, false).await;
    wait_published(
        sub,
        &mut child,
        &log,
        60,
        "the bad version refused",
        |got| {
            results(got)
                .iter()
                .any(|r| r["version"] == 2 && r["error_kind"] == "rolled_back_before")
        },
    )
    .await;
    // The version that served before serves again, on disk and in the predictions.
    assert_eq!(
        chocoline::infer::installed::current_version(&line.installed, "bloom"),
        Some(1)
    );
    let after = next_bloom(sub, &mut child, &log, "predictions after the rollback").await;
    assert!(after.iter().all(|(v, _)| v != "flat"), "{after:?}");
    sigterm_and_wait(&mut child).await;
    line.stop_sim.cancel();
}

/// The bad version's steps, its rollback's reason, and its predictions' confidence.
fn check_the_rollback(got: &[common::Got]) {
    let steps: Vec<String> = results(got)
        .iter()
        .filter(|r| r["version"] == 2)
        .map(|r| r["step"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(steps, ["received", "installed", "serving", "rolled_back"]);
    let back = results(got)
        .into_iter()
        .find(|r| r["step"] == "rolled_back")
        .unwrap();
    assert_eq!(back["error_kind"], "health_confidence", "{back}");
    assert!(
        back["message"]
            .as_str()
            .unwrap()
            .contains("version 1 serves again"),
        "{back}"
    );
    let flat: Vec<f64> = bloom(got)
        .into_iter()
        .filter(|(v, _)| v == "flat")
        .map(|(_, c)| c)
        .collect();
    assert!(
        !flat.is_empty() && flat.iter().all(|c| *c < 0.34),
        "{flat:?}"
    );
    let serving = results(got)
        .into_iter()
        .find(|r| r["version"] == 2 && r["step"] == "serving")
        .unwrap();
    let ms = back["ts"].as_i64().unwrap() - serving["ts"].as_i64().unwrap();
    // The judgement needs health_min_predictions (3) of the new version's predictions; from
    // the vector time of the third to the rollback is the reaction time.
    let third = got
        .iter()
        .filter(|g| g.topic.ends_with("/predictions/bloom") && g.payload["model_version"] == "flat")
        .filter_map(|g| g.payload["ts"].as_i64())
        .nth(2);
    let react = third.map(|t| back["ts"].as_i64().unwrap() - t);
    eprintln!(
        "bad version: serving → rolled back in {ms} ms, {} predictions published in between; \
         third prediction's vector → rolled back: {react:?} ms",
        flat.len()
    );
}
