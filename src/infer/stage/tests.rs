//! The infer loop with a shadow candidate: each vector's serving prediction goes out as it
//! would without one, followed by the candidate's; a candidate that fails changes nothing of
//! the serving predictions.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::*;
use crate::health::Liveness;
use crate::infer::testing::{bloom_copy, bloom_vector, config, other_inputs};
use crate::infer::{Registry, RegistryEvent};

/// Run the stage over `n` copies of the bloom vector; everything it sent, and the metrics.
async fn drive(service: Service, n: usize) -> (Vec<Prediction>, crate::metrics::Registry) {
    let (vtx, vrx) = mpsc::channel(16);
    let (ptx, mut prx) = mpsc::channel(16);
    let metrics = crate::metrics::Registry::new();
    let hb = Liveness::new().register("infer", crate::flow::STALL, None);
    let task = {
        let metrics = metrics.clone();
        tokio::spawn(async move { run(service, vrx, ptx, hb, &metrics).await })
    };
    for i in 0..n {
        let mut v = bloom_vector();
        v.ts = crate::domain::TimestampMs(1_000 + i as i64);
        vtx.send(v).await.unwrap();
    }
    drop(vtx);
    let made = task.await.unwrap();
    assert_eq!(
        made, n as u64,
        "serving predictions counted, shadow ones not"
    );
    let mut out = Vec::new();
    while let Some(p) = prx.recv().await {
        out.push(p);
    }
    (out, metrics)
}

/// The serving predictions of a registry without any candidate, for comparison.
async fn alone(dir: &std::path::Path, n: usize) -> Vec<Prediction> {
    let (reg, errors) = Registry::open(&config(dir, None));
    assert!(errors.is_empty(), "{errors:?}");
    drive(Service::new(Arc::new(reg)), n).await.0
}

#[tokio::test]
async fn each_serving_prediction_is_followed_by_the_candidates() {
    let tmp = tempfile::tempdir().unwrap();
    bloom_copy(tmp.path(), "bloom", "2.0.0");
    let cand = bloom_copy(tmp.path(), "bloom-next", "2.1.0");
    let (reg, errors) = Registry::open(&config(tmp.path(), Some(&cand)));
    assert!(errors.is_empty(), "{errors:?}");
    let (got, metrics) = drive(Service::new(Arc::new(reg)), 2).await;
    assert_eq!(got.len(), 4, "{got:?}");
    let serving: Vec<Prediction> = got.iter().step_by(2).cloned().collect();
    assert_eq!(
        serving,
        alone(tmp.path(), 2).await,
        "serving predictions unchanged"
    );
    for pair in got.chunks(2) {
        let (s, c) = (&pair[0], &pair[1]);
        assert!(
            !s.shadow && s.decides && &*s.model_version == "2.0.0",
            "{s:?}"
        );
        assert!(
            c.shadow && !c.decides && &*c.model_version == "2.1.0",
            "{c:?}"
        );
        assert_eq!((&c.model, c.ts, &c.features), (&s.model, s.ts, &s.features));
        assert_eq!(c.output, s.output, "the same model under another version");
    }
    let read = |name| metrics.read(name, &[("model", "bloom")]);
    assert_eq!(read("chocoline_predictions_total"), Some(2.0));
    assert_eq!(read("chocoline_shadow_predictions_total"), Some(2.0));
}

#[tokio::test]
async fn a_failing_candidate_changes_nothing_of_the_serving_predictions() {
    let tmp = tempfile::tempdir().unwrap();
    let serving = bloom_copy(tmp.path(), "bloom", "2.0.0");
    let cand = other_inputs(tmp.path(), "bloom-other");
    // The serving manifest unreadable while the candidate loads, so that nothing refuses a
    // candidate for other inputs: it then fails on every bloom vector.
    std::fs::rename(serving.join("manifest.json"), tmp.path().join("m")).unwrap();
    let (reg, errors) = Registry::open(&config(tmp.path(), Some(&cand)));
    assert_eq!(errors.len(), 1, "the serving model was refused");
    std::fs::rename(tmp.path().join("m"), serving.join("manifest.json")).unwrap();
    assert!(matches!(
        reg.reload("bloom"),
        RegistryEvent::Reloaded { .. }
    ));
    assert!(reg.candidate("bloom").is_some());
    let service = Service::new(Arc::new(reg));

    let (got, metrics) = drive(service.clone(), 3).await;
    assert_eq!(got, alone(tmp.path(), 3).await);
    let read = |name| metrics.read(name, &[("model", "bloom")]);
    assert_eq!(read("chocoline_shadow_inference_errors_total"), Some(3.0));
    assert_eq!(read("chocoline_inference_errors_total"), Some(0.0));

    // Failures are logged once per run, and the run ends when the candidate scores again.
    let mut series = InferSeries::new(&crate::metrics::Registry::new());
    let mut failing = ShadowFailures::default();
    let v = bloom_vector();
    for _ in 0..3 {
        assert!(shadow(&service, &v, &mut series, &mut failing).is_none());
    }
    assert_eq!(failing.run("bloom"), 3);
    failing.scored(&v.model);
    assert_eq!(failing.run("bloom"), 0);
}
