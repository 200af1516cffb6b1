//! One loaded model folder: [`Served`] (manifest, checksum, the runnable model, optimised
//! now or on first use) and the outcome counters of its predictions.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest, Sha256};

use crate::infer::error::InferError;
use crate::infer::golden::{self, GoldenReport};
use crate::infer::manifest::Manifest;
use crate::infer::model::Model;

/// A model ready to serve (or to be optimised on first use).
#[derive(Debug)]
pub struct Served {
    /// Model name (folder name).
    pub name: Arc<str>,
    /// Manifest version.
    pub version: Arc<str>,
    /// The manifest.
    pub manifest: Manifest,
    /// sha256 of model.onnx (verified).
    pub sha256: String,
    /// The folder.
    pub dir: PathBuf,
    /// Golden report of the last verification, if one ran.
    pub golden: OnceLock<GoldenReport>,
    /// What this version's predictions came to since it was loaded (the fleet health window
    /// compares a new version's against its predecessor's).
    pub outcomes: Outcomes,
    verify_golden: bool,
    bytes: Mutex<Option<Vec<u8>>>,
    model: OnceLock<Result<Arc<Model>, InferError>>,
}

impl Served {
    /// The runnable model, optimising (and verifying on the golden rows) on first use when
    /// the registry was opened with `optimize = "first_use"`.
    pub fn model(&self) -> Result<&Arc<Model>, InferError> {
        self.model
            .get_or_init(|| {
                let bytes = self
                    .bytes
                    .lock()
                    .map(|mut b| b.take())
                    .unwrap_or_else(|p| p.into_inner().take())
                    .unwrap_or_default();
                self.build(bytes)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn build(&self, bytes: Vec<u8>) -> Result<Arc<Model>, InferError> {
        let path = self.manifest.onnx_path(&self.dir);
        let model = Model::load_vec(bytes, &path, Some(self.manifest.features.len()))?;
        for o in &self.manifest.onnx.outputs {
            if !model.output_names().contains(&o.name) {
                return Err(InferError::Manifest {
                    path: self.dir.join("manifest.json"),
                    reason: format!(
                        "output {:?} (role {}) is not an output of {} (outputs: {:?})",
                        o.name,
                        o.role.as_str(),
                        path.display(),
                        model.output_names()
                    ),
                });
            }
        }
        if self.verify_golden {
            let report = golden::verify(&model, &self.manifest, &self.dir)?;
            if !report.passed() {
                return Err(InferError::GoldenMismatch {
                    model: self.name.to_string(),
                    reason: report.summary(),
                });
            }
            let _ = self.golden.set(report);
        }
        Ok(Arc::new(model))
    }
}

/// Prediction outcomes of one loaded version: relaxed atomic counters, a few nanoseconds per
/// prediction.
#[derive(Debug, Default)]
pub struct Outcomes {
    ok: std::sync::atomic::AtomicU64,
    errors: std::sync::atomic::AtomicU64,
    /// Sum of the confidences of the `ok` predictions, in millionths.
    confidence_micros: std::sync::atomic::AtomicU64,
}

/// A snapshot of [`Outcomes`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OutcomeCounts {
    /// Predictions made.
    pub ok: u64,
    /// Vectors the model could not score (invalid features, model failure).
    pub errors: u64,
    /// Mean confidence of the predictions made (0 when none).
    pub mean_confidence: f64,
}

impl Outcomes {
    /// Count one prediction with its confidence.
    pub fn predicted(&self, confidence: f64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.ok.fetch_add(1, Relaxed);
        let micros = (confidence.clamp(0.0, 1.0) * 1e6) as u64;
        self.confidence_micros.fetch_add(micros, Relaxed);
    }

    /// Count one vector that could not be scored.
    pub fn failed(&self) {
        self.errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn counts(&self) -> OutcomeCounts {
        use std::sync::atomic::Ordering::Relaxed;
        let ok = self.ok.load(Relaxed);
        let sum = self.confidence_micros.load(Relaxed);
        OutcomeCounts {
            ok,
            errors: self.errors.load(Relaxed),
            mean_confidence: if ok == 0 {
                0.0
            } else {
                sum as f64 / 1e6 / ok as f64
            },
        }
    }
}

/// Load and check one model folder. `eager` optimises (and golden-checks) now. A manifest
/// name other than the folder's (or, for an installed version, its model folder's) is
/// logged.
pub fn load_served(dir: &Path, verify_golden: bool, eager: bool) -> Result<Served, InferError> {
    let name = crate::infer::installed::folder_model_name(dir);
    load_as(dir, name.as_deref(), verify_golden, eager)
}

/// [`load_served`] for the model named `name` (a registry slot's: its folder may be named
/// anything, `[models.<name>] folder` and `candidate`); a manifest naming another model is
/// logged. None: no name to compare with.
pub fn load_as(
    dir: &Path,
    name: Option<&str>,
    verify_golden: bool,
    eager: bool,
) -> Result<Served, InferError> {
    let manifest = Manifest::load(dir)?;
    let path = manifest.onnx_path(dir);
    let bytes = std::fs::read(&path).map_err(|e| InferError::Io {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if !actual.eq_ignore_ascii_case(manifest.onnx.sha256.trim()) {
        return Err(InferError::Checksum {
            path,
            expected: manifest.onnx.sha256.clone(),
            actual,
        });
    }
    let served = Served {
        name: Arc::from(manifest.name.as_str()),
        version: Arc::from(manifest.version.as_str()),
        manifest,
        sha256: actual,
        dir: dir.to_owned(),
        golden: OnceLock::new(),
        outcomes: Outcomes::default(),
        verify_golden,
        bytes: Mutex::new(None),
        model: OnceLock::new(),
    };
    if let Some(name) = name.filter(|n| *n != served.manifest.name) {
        tracing::warn!(model = %name, folder = %dir.display(), manifest = %served.manifest.name,
            "the model's manifest names another model; serving under the manifest name");
    }
    if eager {
        let built = served.build(bytes)?;
        let _ = served.model.set(Ok(built));
    } else if let Ok(mut slot) = served.bytes.lock() {
        *slot = Some(bytes);
    }
    Ok(served)
}
