//! The candidate slot: loaded beside the serving model with the same checks, refused without
//! touching what serves, swapped and dropped by configuration, and promoted by configuration.

use std::sync::Arc;

use super::*;
use crate::infer::testing::{bloom_copy, config, edit_manifest, other_inputs};

fn version(s: Option<Arc<Served>>) -> Option<String> {
    s.map(|s| s.version.to_string())
}

#[test]
fn a_candidate_loads_beside_the_serving_model_and_follows_the_configuration() {
    let tmp = tempfile::tempdir().unwrap();
    bloom_copy(tmp.path(), "bloom", "2.0.0");
    let cand = bloom_copy(tmp.path(), "bloom-next", "2.1.0");
    let (reg, errors) = Registry::open(&config(tmp.path(), Some(&cand)));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(&*reg.get("bloom").unwrap().version, "2.0.0");
    assert_eq!(version(reg.candidate("bloom")).as_deref(), Some("2.1.0"));
    assert_eq!(reg.candidate_folder("bloom"), Some(cand.clone()));
    assert!(reg.poll_candidate_changes().is_empty(), "nothing changed");

    // A new candidate version on disk is picked up by the watch.
    edit_manifest(&cand, "version", "2.1.1-rc".into());
    let got = reg.poll_candidate_changes();
    assert!(
        matches!(&got[..], [CandidateEvent::Loaded { from: Some(f), to, .. }]
            if f == "2.1.0" && to == "2.1.1-rc"),
        "{got:?}"
    );

    // The configuration drops it, then names it again.
    reg.configure(&config(tmp.path(), None));
    let got = reg.reload_candidates();
    assert_eq!(
        got,
        vec![CandidateEvent::Removed {
            name: "bloom".into(),
            version: "2.1.1-rc".into()
        }]
    );
    assert!(reg.candidate("bloom").is_none() && reg.candidate_folder("bloom").is_none());
    assert!(
        reg.reload_candidates().is_empty(),
        "nothing configured, nothing loaded"
    );
    reg.configure(&config(tmp.path(), Some(&cand)));
    assert!(matches!(
        &reg.reload_candidates()[..],
        [CandidateEvent::Loaded { from: None, .. }]
    ));
    assert_eq!(
        &*reg.get("bloom").unwrap().version,
        "2.0.0",
        "serving unchanged"
    );
}

#[test]
fn a_refused_candidate_leaves_the_serving_model_alone() {
    let tmp = tempfile::tempdir().unwrap();
    bloom_copy(tmp.path(), "bloom", "2.0.0");
    let cand = bloom_copy(tmp.path(), "bloom-next", "2.1.0");
    edit_manifest(&cand, "onnx", {
        let mut o: serde_json::Value =
            serde_json::from_slice(&std::fs::read(tmp.path().join("bloom/manifest.json")).unwrap())
                .unwrap();
        o["onnx"]["sha256"] = "00".repeat(32).into();
        o["onnx"].clone()
    });
    let (reg, errors) = Registry::open(&config(tmp.path(), Some(&cand)));
    assert!(
        errors.is_empty(),
        "a candidate's refusal is not the serving model's: {errors:?}"
    );
    let serving = reg.get("bloom").unwrap();
    assert!(reg.candidate("bloom").is_none());
    let got = reg.reload_candidates();
    assert!(
        matches!(&got[..], [CandidateEvent::Refused { error, .. }] if error.kind() == "checksum"),
        "{got:?}"
    );
    assert!(Arc::ptr_eq(&serving, &reg.get("bloom").unwrap()));
}

#[test]
fn a_candidate_for_other_inputs_is_refused_and_a_loaded_one_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    bloom_copy(tmp.path(), "bloom", "2.0.0");
    let good = bloom_copy(tmp.path(), "bloom-next", "2.1.0");
    let other = other_inputs(tmp.path(), "bloom-other");
    let (reg, _) = Registry::open(&config(tmp.path(), Some(&good)));
    assert!(reg.candidate("bloom").is_some());
    reg.configure(&config(tmp.path(), Some(&other)));
    let got = reg.reload_candidates();
    let [CandidateEvent::Refused { error, .. }] = &got[..] else {
        panic!("{got:?}")
    };
    assert!(error.to_string().contains("feature list"), "{error}");
    assert!(
        reg.candidate("bloom").is_none(),
        "a refused candidate shadows nothing"
    );
    assert_eq!(&*reg.get("bloom").unwrap().version, "2.0.0");
}

#[test]
fn promotion_is_the_serving_folder_set_to_the_candidates() {
    let tmp = tempfile::tempdir().unwrap();
    bloom_copy(tmp.path(), "bloom", "2.0.0");
    let cand = bloom_copy(tmp.path(), "bloom-next", "2.1.0");
    let (reg, _) = Registry::open(&config(tmp.path(), Some(&cand)));
    let mut promoted = config(tmp.path(), None);
    promoted.per_model.insert(
        "bloom".into(),
        crate::infer::config::ModelSettings {
            folder: Some(cand.clone()),
            candidate: None,
        },
    );
    reg.configure(&promoted);
    let got = reg.reload_all();
    assert!(
        matches!(&got[..], [RegistryEvent::Reloaded { from: Some(f), to, .. }]
            if f == "2.0.0" && to == "2.1.0"),
        "{got:?}"
    );
    assert!(matches!(
        &reg.reload_candidates()[..],
        [CandidateEvent::Removed { .. }]
    ));
    assert_eq!(reg.get("bloom").unwrap().dir, cand);

    // Rollback: the old folder again.
    reg.configure(&config(tmp.path(), None));
    reg.reload_all();
    assert_eq!(&*reg.get("bloom").unwrap().version, "2.0.0");
}
