//! Test support for the registry and the infer stage: copies of the committed bloom model
//! and a vector it scores.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::config::{ModelSettings, ModelsConfig};
use crate::domain::{BatchContext, FeatureLevel, FeatureVector, TimestampMs};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Copy the files of `from` into `root/folder`; returns the folder.
fn copy(from: &Path, root: &Path, folder: &str) -> PathBuf {
    let to = root.join(folder);
    std::fs::create_dir_all(&to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    to
}

/// Set `key` of the manifest in `dir` to `value`.
pub(crate) fn edit_manifest(dir: &Path, key: &str, value: serde_json::Value) {
    let path = dir.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    m[key] = value;
    std::fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

/// The committed bloom model in `root/folder`, its manifest version set to `version`.
pub(crate) fn bloom_copy(root: &Path, folder: &str, version: &str) -> PathBuf {
    let dir = copy(&repo("models/bloom"), root, folder);
    edit_manifest(&dir, "version", version.into());
    dir
}

/// A small classifier named bloom whose inputs are not the committed bloom's (f0…f5).
pub(crate) fn other_inputs(root: &Path, folder: &str) -> PathBuf {
    copy(
        &repo("tests/fixtures/bad-configs/candidate-other-features"),
        root,
        folder,
    )
}

/// `[models]` serving `bloom` from `dir/bloom`, with `candidate` as its shadow candidate.
pub(crate) fn config(dir: &Path, candidate: Option<&Path>) -> ModelsConfig {
    let mut cfg = ModelsConfig {
        dir: dir.to_owned(),
        enabled: vec!["bloom".into()],
        ..ModelsConfig::default()
    };
    if let Some(c) = candidate {
        let t = ModelSettings {
            folder: None,
            candidate: Some(c.to_owned()),
        };
        cfg.per_model.insert("bloom".into(), t);
    }
    cfg
}

/// The first golden row of the committed bloom model as a feature vector.
pub(crate) fn bloom_vector() -> FeatureVector {
    let mut rdr = csv::Reader::from_path(repo("models/bloom/golden.csv")).unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let row = rdr.records().next().unwrap().unwrap();
    let n = header.iter().take_while(|h| *h != "label").count();
    FeatureVector {
        model: Arc::from("bloom"),
        spec_version: 1,
        level: FeatureLevel::Sample,
        names: header[..n].to_vec().into(),
        values: (0..n).map(|i| row[i].parse().unwrap()).collect(),
        ts: TimestampMs(1_000),
        batch: BatchContext::default(),
        flags: Default::default(),
    }
}
