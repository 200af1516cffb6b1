//! Test helpers: build a model folder (manifest.json + model.onnx + golden.csv, per
//! docs/manifest.md) from a committed fixture export and its scikit-learn outputs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The committed fixture directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx")
}

/// Which fixture and how to describe it.
pub enum Kind {
    /// rf_clf_3c_str: classes alpha/beta/gamma.
    Classifier,
    /// gb_reg_1t.
    Regressor,
    /// iforest.
    Anomaly,
}

/// Write `<root>/<name>/` from a fixture; returns the folder.
#[expect(
    clippy::too_many_lines,
    reason = "test support: writes one model folder (onnx, manifest, golden) per fixture kind"
)]
pub fn make_model_dir(root: &Path, name: &str, version: &str, kind: Kind) -> PathBuf {
    let (case, task, outputs, classes) = match kind {
        Kind::Classifier => (
            "rf_clf_3c_str",
            "classifier",
            r#"[{"name": "label", "role": "label"}, {"name": "probabilities", "role": "probabilities"}]"#,
            r#"["alpha", "beta", "gamma"]"#,
        ),
        Kind::Regressor => (
            "gb_reg_1t",
            "regressor",
            r#"[{"name": "variable", "role": "value"}]"#,
            "[]",
        ),
        Kind::Anomaly => (
            "iforest",
            "anomaly",
            r#"[{"name": "label", "role": "label"}, {"name": "scores", "role": "decision_function"}]"#,
            "[]",
        ),
    };
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let onnx = std::fs::read(fixtures().join(format!("{case}.onnx"))).unwrap();
    std::fs::write(dir.join("model.onnx"), &onnx).unwrap();
    let sha = hex::encode(Sha256::digest(&onnx));

    // golden.csv: rename the fixture's columns to the manifest's conventions.
    let mut rdr = csv::Reader::from_path(fixtures().join(format!("{case}.csv"))).unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let keep: Vec<(usize, String)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let renamed = match (h.as_str(), &kind) {
                (x, _) if x.starts_with('x') => format!("f{}", &x[1..]),
                ("label", Kind::Classifier) => "label".into(),
                ("probabilities_0", _) => "p_alpha".into(),
                ("probabilities_1", _) => "p_beta".into(),
                ("probabilities_2", _) => "p_gamma".into(),
                ("variable", Kind::Regressor) => "value".into(),
                ("scores", Kind::Anomaly) => "decision_function".into(),
                _ => return None,
            };
            Some((i, renamed))
        })
        .collect();
    let mut w = csv::Writer::from_path(dir.join("golden.csv")).unwrap();
    w.write_record(keep.iter().map(|(_, n)| n.as_str()))
        .unwrap();
    let mut rows = 0;
    for rec in rdr.records() {
        let rec = rec.unwrap();
        w.write_record(keep.iter().map(|(i, _)| &rec[*i])).unwrap();
        rows += 1;
    }
    w.flush().unwrap();

    let features: Vec<String> = (0..6)
        .map(|i| {
            format!(
                r#"{{"name": "f{i}", "signal": "temperature", "transform": "mean", "window": 60, "params": {{}}}}"#
            )
        })
        .collect();
    let reference: Vec<String> = (0..6)
        .map(|i| {
            format!(r#"{{"name": "f{i}", "edges": [-100.0, 0.0, 100.0], "counts": [0, 1, 1, 0]}}"#)
        })
        .collect();
    let manifest = format!(
        r#"{{
  "schema": "chocoline.manifest/1",
  "name": "{name}",
  "version": "{version}",
  "task": "{task}",
  "level": "sample",
  "onnx": {{"file": "model.onnx", "sha256": "{sha}", "input": "X", "outputs": {outputs}}},
  "classes": {classes},
  "feature_spec_version": 1,
  "features": [{features}],
  "decision": {{"threshold": 0.0}},
  "reference": {{"samples": 10, "features": [{reference}]}},
  "golden": {{"file": "golden.csv", "rows": {rows}, "tolerance": 1e-5}}
}}"#,
        features = features.join(", "),
        reference = reference.join(", "),
    );
    std::fs::write(dir.join("manifest.json"), manifest).unwrap();
    dir
}

/// The fixture's feature rows (x columns) as f64.
pub fn fixture_rows(case: &str) -> Vec<Vec<f64>> {
    let mut rdr = csv::Reader::from_path(fixtures().join(format!("{case}.csv"))).unwrap();
    let n = rdr
        .headers()
        .unwrap()
        .iter()
        .take_while(|h| h.starts_with('x'))
        .count();
    rdr.records()
        .map(|r| {
            r.unwrap()
                .iter()
                .take(n)
                .map(|v| v.parse().unwrap())
                .collect()
        })
        .collect()
}
