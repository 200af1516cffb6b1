//! Registry, service and stage on real ONNX files: lock-free serving, typed errors, hot
//! reload that keeps the previous model on every kind of failure.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chocoline::domain::{BatchContext, FeatureLevel, FeatureVector, PredictionOutput, TimestampMs};
use chocoline::infer::config::{ModelsConfig, OptimizeAt};
use chocoline::infer::registry::RegistryEvent;
use chocoline::infer::{InferError, Registry, Service};
use common::models::{Kind, make_model_dir};

fn cfg(dir: &Path, optimize: OptimizeAt) -> ModelsConfig {
    ModelsConfig {
        dir: dir.to_owned(),
        enabled: vec!["bloom".into(), "yield".into(), "anomaly".into()],
        optimize,
        verify_golden: true,
        watch: true,
        installed_dir: None,
        per_model: Default::default(),
    }
}

fn setup(optimize: OptimizeAt) -> (tempfile::TempDir, Service) {
    let tmp = tempfile::tempdir().unwrap();
    make_model_dir(tmp.path(), "bloom", "1.0.0", Kind::Classifier);
    make_model_dir(tmp.path(), "yield", "1.0.0", Kind::Regressor);
    make_model_dir(tmp.path(), "anomaly", "1.0.0", Kind::Anomaly);
    let (reg, errors) = Registry::open(&cfg(tmp.path(), optimize));
    assert!(errors.is_empty(), "{errors:?}");
    (tmp, Service::new(Arc::new(reg)))
}

fn names() -> Arc<[String]> {
    (0..6).map(|i| format!("f{i}")).collect::<Vec<_>>().into()
}

fn fv(model: &str, values: Vec<f64>) -> FeatureVector {
    FeatureVector {
        model: model.into(),
        spec_version: 1,
        level: FeatureLevel::Sample,
        names: names(),
        values,
        ts: TimestampMs(1_700_000_000_000),
        batch: BatchContext::default(),
        flags: BTreeMap::new(),
    }
}

/// Golden rows of a fixture: features and the raw expected columns.
fn golden(case: &str) -> (Vec<Vec<f64>>, Vec<csv::StringRecord>) {
    let rows = common::models::fixture_rows(case);
    let mut rdr =
        csv::Reader::from_path(common::models::fixtures().join(format!("{case}.csv"))).unwrap();
    (rows, rdr.records().map(Result::unwrap).collect())
}

#[test]
fn predictions_match_sklearn_and_carry_name_and_version() {
    let (_tmp, svc) = setup(OptimizeAt::Startup);
    let (rows, want) = golden("rf_clf_3c_str");
    for (x, w) in rows.iter().zip(&want).take(20) {
        let p = svc.predict(&fv("bloom", x.clone())).unwrap();
        assert_eq!((&*p.model, &*p.model_version), ("bloom", "1.0.0"));
        let PredictionOutput::Class {
            label,
            probabilities,
        } = &p.output
        else {
            panic!()
        };
        assert_eq!(label, &w[6]);
        let classes: Vec<&str> = probabilities.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(classes, ["alpha", "beta", "gamma"]);
        let mut max = 0.0f64;
        for (j, (_, prob)) in probabilities.iter().enumerate() {
            let e: f64 = w[7 + j].parse().unwrap();
            assert!((prob - e).abs() <= 1e-5);
            max = max.max(e);
        }
        assert!(
            (p.confidence - max).abs() <= 1e-5,
            "confidence = max probability"
        );
    }
    let (rows, want) = golden("gb_reg_1t");
    let p = svc.predict(&fv("yield", rows[0].clone())).unwrap();
    let PredictionOutput::Value { value } = p.output else {
        panic!()
    };
    assert!((value - want[0][6].parse::<f64>().unwrap()).abs() <= 1e-5);
    assert_eq!(p.confidence, 1.0, "inside the reference range");
    let mut far = rows[0].clone();
    far[0] = 1e6;
    far[1] = -1e6;
    let p = svc.predict(&fv("yield", far)).unwrap();
    assert!(
        (p.confidence - (1.0 - 2.0 / 6.0)).abs() < 1e-12,
        "2 of 6 features extrapolated"
    );

    let (rows, want) = golden("iforest");
    for (x, w) in rows.iter().zip(&want) {
        let p = svc.predict(&fv("anomaly", x.clone())).unwrap();
        let PredictionOutput::Anomaly {
            decision,
            is_anomaly,
            ..
        } = p.output
        else {
            panic!()
        };
        let e: f64 = w[7].parse().unwrap();
        assert!((decision - e).abs() <= 1e-5);
        assert_eq!(is_anomaly, &w[6] == "-1", "sklearn predict: -1 = outlier");
        assert!((0.0..=1.0).contains(&p.confidence));
    }
}

#[test]
fn typed_errors_for_bad_vectors() {
    let (_tmp, svc) = setup(OptimizeAt::Startup);
    let ok = common::models::fixture_rows("rf_clf_3c_str")[0].clone();
    assert!(matches!(
        svc.predict(&fv("nope", ok.clone())),
        Err(InferError::ModelNotFound(n)) if n == "nope"
    ));
    let mut short = fv("bloom", ok[..5].to_vec());
    short.names = names()[..5].to_vec().into();
    let e = svc.predict(&short).unwrap_err();
    assert!(
        matches!(&e, InferError::InvalidFeatures { reason, .. } if reason.contains("5 values")),
        "{e}"
    );
    let mut nan = ok.clone();
    nan[3] = f64::NAN;
    let e = svc.predict(&fv("bloom", nan)).unwrap_err();
    assert!(
        matches!(&e, InferError::InvalidFeatures { reason, .. } if reason.contains("\"f3\"")),
        "{e}"
    );
    let mut renamed = fv("bloom", ok.clone());
    let mut n = names().to_vec();
    n.swap(0, 1);
    renamed.names = n.into();
    assert!(matches!(
        svc.predict(&renamed),
        Err(InferError::InvalidFeatures { .. })
    ));
    let mut v2 = fv("bloom", ok);
    v2.spec_version = 2;
    assert!(matches!(
        svc.predict(&v2),
        Err(InferError::InvalidFeatures { .. })
    ));
}

#[test]
fn batch_equals_single_predictions_in_order() {
    let (_tmp, svc) = setup(OptimizeAt::FirstUse);
    let rows = common::models::fixture_rows("rf_clf_3c_str");
    let mut fvs = Vec::new();
    for (i, x) in rows.iter().enumerate().take(30) {
        let model = ["bloom", "yield", "anomaly"][i % 3];
        fvs.push(fv(model, x.clone()));
    }
    fvs.insert(7, fv("missing", rows[0].clone()));
    let batch = svc.predict_batch(&fvs);
    assert_eq!(batch.len(), fvs.len());
    for (f, b) in fvs.iter().zip(&batch) {
        assert_eq!(b, &svc.predict(f));
    }
    assert!(matches!(batch[7], Err(InferError::ModelNotFound(_))));
}

#[test]
fn hot_reload_swaps_only_verified_models() {
    let (tmp, svc) = setup(OptimizeAt::Startup);
    let reg = svc.registry().clone();
    let x = common::models::fixture_rows("rf_clf_3c_str")[0].clone();
    assert!(reg.poll_changes().is_empty(), "nothing changed yet");

    // A new version appears on disk: picked up by polling.
    make_model_dir(tmp.path(), "bloom", "1.1.0", Kind::Classifier);
    let ev = reg.poll_changes();
    assert_eq!(
        ev,
        vec![RegistryEvent::Reloaded {
            name: "bloom".into(),
            from: Some("1.0.0".into()),
            to: "1.1.0".into()
        }]
    );
    assert_eq!(
        &*svc.predict(&fv("bloom", x.clone())).unwrap().model_version,
        "1.1.0"
    );

    // Corrupt model file: checksum failure, 1.1.0 keeps serving.
    let dir = tmp.path().join("bloom");
    let onnx = std::fs::read(dir.join("model.onnx")).unwrap();
    std::fs::write(dir.join("model.onnx"), &onnx[..onnx.len() / 2]).unwrap();
    let ev = reg.poll_changes();
    assert!(
        matches!(
            &ev[..],
            [RegistryEvent::ReloadFailed {
                error: InferError::Checksum { .. },
                ..
            }]
        ),
        "{ev:?}"
    );
    assert_eq!(
        &*svc.predict(&fv("bloom", x.clone())).unwrap().model_version,
        "1.1.0"
    );

    // A model whose outputs disagree with its golden rows (here: a regressor's ONNX behind the
    // classifier's manifest and golden file, checksum updated): refused.
    make_model_dir(tmp.path(), "bloom", "1.2.0", Kind::Classifier);
    let other = std::fs::read(common::models::fixtures().join("rf_clf_3c_int.onnx")).unwrap();
    std::fs::write(dir.join("model.onnx"), &other).unwrap();
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(&other));
    let m = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    let start = m.find("\"sha256\": \"").unwrap() + 11;
    let m = format!("{}{}{}", &m[..start], sha, &m[start + 64..]);
    std::fs::write(dir.join("manifest.json"), m).unwrap();
    let ev = reg.reload("bloom");
    assert!(
        matches!(
            &ev,
            RegistryEvent::ReloadFailed {
                error: InferError::GoldenMismatch { .. },
                ..
            }
        ),
        "{ev:?}"
    );
    assert_eq!(
        &*svc.predict(&fv("bloom", x.clone())).unwrap().model_version,
        "1.1.0"
    );

    // Broken manifest: refused too.
    std::fs::write(dir.join("manifest.json"), b"{ not json").unwrap();
    let ev = reg.reload_all();
    assert!(ev.iter().any(|e| matches!(e, RegistryEvent::ReloadFailed { name, error: InferError::Manifest { .. } } if name == "bloom")));
    assert_eq!(
        &*svc.predict(&fv("bloom", x.clone())).unwrap().model_version,
        "1.1.0"
    );

    // Fixed: serves again.
    make_model_dir(tmp.path(), "bloom", "1.3.0", Kind::Classifier);
    assert!(matches!(
        reg.reload("bloom"),
        RegistryEvent::Reloaded { .. }
    ));
    assert_eq!(
        &*svc.predict(&fv("bloom", x)).unwrap().model_version,
        "1.3.0"
    );
}

#[test]
fn readers_never_block_or_fail_during_reloads() {
    let (tmp, svc) = setup(OptimizeAt::Startup);
    let x = common::models::fixture_rows("rf_clf_3c_str")[0].clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Each reader counts itself in after its first prediction, and the reloads start only
    // when all are reading: otherwise a reader the scheduler starts late may not get a single
    // prediction in before `stop` (a flake seen on a busy machine).
    let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (svc, x, stop) = (svc.clone(), x.clone(), stop.clone());
            let started = started.clone();
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let p = svc.predict(&fv("bloom", x.clone())).unwrap();
                    assert!(["1.0.0", "2.0.0", "3.0.0"].contains(&&*p.model_version));
                    n += 1;
                    if n == 1 {
                        started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
                n
            })
        })
        .collect();
    while started.load(std::sync::atomic::Ordering::SeqCst) < 3 {
        std::thread::yield_now();
    }
    for v in ["2.0.0", "3.0.0"] {
        make_model_dir(tmp.path(), "bloom", v, Kind::Classifier);
        assert!(matches!(
            svc.registry().reload("bloom"),
            RegistryEvent::Reloaded { .. }
        ));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
}

#[test]
fn missing_model_at_startup_is_reported_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    make_model_dir(tmp.path(), "bloom", "1.0.0", Kind::Classifier);
    let (reg, errors) = Registry::open(&cfg(tmp.path(), OptimizeAt::Startup));
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(reg.get("bloom").is_ok());
    assert!(matches!(
        reg.get("yield"),
        Err(InferError::ModelNotFound(_))
    ));
}

#[tokio::test]
async fn stage_turns_vectors_into_predictions_and_skips_bad_ones() {
    let (_tmp, svc) = setup(OptimizeAt::Startup);
    let (in_tx, in_rx) = tokio::sync::mpsc::channel(8);
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel(8);
    let metrics = chocoline::metrics::Registry::new();
    let hb = chocoline::health::Liveness::new().register("infer", chocoline::flow::STALL, None);
    let stage_metrics = metrics.clone();
    let task = tokio::spawn(async move {
        chocoline::infer::stage::run(svc, in_rx, out_tx, hb, &stage_metrics).await
    });
    let rows = common::models::fixture_rows("gb_reg_1t");
    in_tx.send(fv("yield", rows[0].clone())).await.unwrap();
    in_tx.send(fv("yield", vec![1.0])).await.unwrap(); // wrong width: skipped
    in_tx.send(fv("bloom", rows[1].clone())).await.unwrap();
    drop(in_tx);
    let a = out_rx.recv().await.unwrap();
    let b = out_rx.recv().await.unwrap();
    assert_eq!((&*a.model, &*b.model), ("yield", "bloom"));
    assert!(
        out_rx.recv().await.is_none(),
        "stage ends when its input closes"
    );
    assert_eq!(task.await.unwrap(), 2, "predictions made");
    let errors = metrics.counter(
        "chocoline_inference_errors_total",
        "Vectors a model could not score.",
        &[("model", "yield")],
    );
    assert_eq!(
        errors.get(),
        1,
        "the wrong-width vector counts as an inference error"
    );
}
