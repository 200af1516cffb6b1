//! Model folders a build must refuse, each with a reason naming the field (the committed quality
//! manifest with one thing broken at a time), and the registry's file watcher: it reports a new
//! version, then a failed reload with its machine-readable kind, and stops when nobody listens.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chocoline::infer::config::{ModelsConfig, OptimizeAt};
use chocoline::infer::manifest::{Manifest, Role};
use chocoline::infer::registry::{RegistryEvent, load_served, watch};
use chocoline::infer::{InferError, Registry};
use common::models::{Kind, make_model_dir};
use serde_json::{Value, json};

fn committed_quality() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/quality/manifest.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn load(dir: &Path, manifest: &Value) -> Result<Manifest, InferError> {
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string(manifest).unwrap(),
    )
    .unwrap();
    Manifest::load(dir)
}

#[test]
fn the_committed_manifest_loads() {
    let dir = tempfile::tempdir().unwrap();
    let m = load(dir.path(), &committed_quality()).unwrap();
    assert_eq!(m.version, "2.0.0");
    // The quality model beat its rule on the tuning seeds (models/README.md).
    assert!(m.decision.decides);
    // A manifest without the key (older models) still decides.
    let mut old = committed_quality();
    old["decision"].as_object_mut().unwrap().remove("decides");
    assert!(load(dir.path(), &old).unwrap().decision.decides);
    // The committed anomaly detector (SPC) beat its spec rule too, and names the signals
    // of its contributions output.
    let anomaly = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/anomaly");
    let a = Manifest::load(&anomaly).unwrap();
    assert!(a.decision.decides);
    let z = a.output(Role::Contributions).unwrap();
    assert_eq!(z.columns.len(), a.features.len() - 1);
    assert!(z.columns.iter().any(|c| &**c == "tunnel_temp_mean_60"));
    // A contributions output without column names is refused.
    let mut bad: Value =
        serde_json::from_str(&std::fs::read_to_string(anomaly.join("manifest.json")).unwrap())
            .unwrap();
    for o in bad["onnx"]["outputs"].as_array_mut().unwrap() {
        o.as_object_mut().unwrap().remove("columns");
    }
    let err = load(dir.path(), &bad).unwrap_err().to_string();
    assert!(err.contains("names no columns"), "{err}");
}

#[test]
fn broken_manifests_are_refused_naming_the_problem() {
    type Mutation = fn(&mut Value);
    let cases: &[(&str, Mutation)] = &[
        ("schema \"chocoline.manifest/9\"", |m| {
            m["schema"] = json!("chocoline.manifest/9")
        }),
        ("feature_spec_version 7 is not supported", |m| {
            m["feature_spec_version"] = json!(7)
        }),
        ("no features", |m| m["features"] = json!([])),
        ("must be a plain file name", |m| {
            m["onnx"]["file"] = json!("../other/model.onnx")
        }),
        ("features[1] \"temperature_mean\": duplicate name", |m| {
            m["features"][1]["name"] = json!("temperature_mean")
        }),
        ("transform \"median\" is not in feature spec 1", |m| {
            m["features"][0]["transform"] = json!("median")
        }),
        ("window 0 must be a positive sample count", |m| {
            m["features"][0]["window"] = json!(0)
        }),
        ("window \"hour\" must be a positive sample count", |m| {
            m["features"][0]["window"] = json!("hour")
        }),
        ("ewma needs alpha in (0, 1]", |m| {
            m["features"][0]["transform"] = json!("ewma");
            m["features"][0]["params"] = json!({"alpha": 1.5});
        }),
        ("has no output with role \"probabilities\"", |m| {
            m["onnx"]["outputs"] = json!([{"name": "label", "role": "label"}])
        }),
        ("has no output with role \"value\"", |m| {
            m["task"] = json!("regressor")
        }),
        ("has no output with role \"decision_function\"", |m| {
            m["task"] = json!("anomaly")
        }),
        ("classifier without classes", |m| m["classes"] = json!([])),
        ("empty version", |m| m["version"] = json!("")),
        ("unknown variant `ranker`", |m| m["task"] = json!("ranker")),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (needle, mutate) in cases {
        let mut m = committed_quality();
        mutate(&mut m);
        let err = load(dir.path(), &m).unwrap_err();
        assert_eq!(err.kind(), "manifest", "{err}");
        let text = err.to_string();
        assert!(text.contains("manifest.json: invalid manifest"), "{text}");
        assert!(text.contains(needle), "want {needle:?} in {text}");
    }
}

#[test]
fn unreadable_manifest_and_missing_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = Manifest::load(dir.path()).unwrap_err();
    assert_eq!(err.kind(), "manifest");
    std::fs::write(dir.path().join("manifest.json"), "{\"schema\": ").unwrap();
    let err = Manifest::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("EOF"), "{err}");

    // A valid manifest whose model.onnx is absent: an I/O error naming the file.
    load(dir.path(), &committed_quality()).unwrap();
    let err = load_served(dir.path(), true, true).err().unwrap();
    assert_eq!(err.kind(), "io", "{err}");
    assert!(err.to_string().contains("model.onnx"), "{err}");
}

#[tokio::test]
async fn the_watcher_reports_reloads_and_failures_then_stops_when_unheard() {
    let tmp = tempfile::tempdir().unwrap();
    make_model_dir(tmp.path(), "bloom", "1.0.0", Kind::Classifier);
    let (reg, errors) = Registry::open(&ModelsConfig {
        dir: tmp.path().to_owned(),
        enabled: vec!["bloom".into()],
        optimize: OptimizeAt::Startup,
        verify_golden: true,
        watch: true,
        installed_dir: None,
        per_model: Default::default(),
    });
    assert!(errors.is_empty(), "{errors:?}");
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let watcher = tokio::spawn(watch(Arc::new(reg), Duration::from_millis(20), tx));

    // File modification times have a coarse granularity on some file systems.
    tokio::time::sleep(Duration::from_millis(50)).await;
    make_model_dir(tmp.path(), "bloom", "1.1.0", Kind::Classifier);
    let ev = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ev,
        RegistryEvent::Reloaded {
            name: "bloom".into(),
            from: Some("1.0.0".into()),
            to: "1.1.0".into()
        }
    );

    tokio::time::sleep(Duration::from_millis(50)).await;
    let onnx = tmp.path().join("bloom/model.onnx");
    let bytes = std::fs::read(&onnx).unwrap();
    std::fs::write(&onnx, &bytes[..bytes.len() / 2]).unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .unwrap()
        .unwrap();
    match ev {
        RegistryEvent::ReloadFailed { name, error } => {
            assert_eq!(name, "bloom");
            assert_eq!(error.kind(), "checksum", "{error}");
        }
        other => panic!("expected a failed reload, got {other:?}"),
    }

    drop(rx);
    tokio::time::timeout(Duration::from_secs(30), watcher)
        .await
        .expect("the watcher stops once its receiver is gone")
        .unwrap();
}
