//! The served models: loaded from `<dir>/<name>/` (manifest.json + model.onnx + golden.csv),
//! checked (schema, feature spec, sha256, golden rows), and served lock-free.
//!
//! Each configured name has a slot holding an `ArcSwapOption<Served>`: a prediction loads the
//! current `Arc` without taking any lock, and a reload builds and verifies the replacement
//! completely *before* one atomic store — a reader sees the old model or the new one, never a
//! half-loaded one. On any failure (unreadable files, checksum, manifest, tract, golden
//! mismatch) the previous model keeps serving and the failure is returned as a
//! [`RegistryEvent::ReloadFailed`].
//!
//! Reloads are triggered by [`Registry::poll_changes`] (file size / mtime changed; the
//! agent's reload controller, `crate::pipeline::reload`, calls it periodically when
//! `[models] watch` is on) or explicitly by [`Registry::reload_all`] (on SIGHUP).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use sha2::{Digest, Sha256};

use super::config::{ModelsConfig, OptimizeAt};
use super::error::InferError;
use super::golden::{self, GoldenReport};
use super::manifest::Manifest;
use super::model::Model;

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
                self.build(&bytes)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    fn build(&self, bytes: &[u8]) -> Result<Arc<Model>, InferError> {
        let path = self.manifest.onnx_path(&self.dir);
        let model = Model::load_bytes(bytes, &path, Some(self.manifest.features.len()))?;
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

/// Load and check one model folder. `eager` optimises (and golden-checks) now.
pub fn load_served(dir: &Path, verify_golden: bool, eager: bool) -> Result<Served, InferError> {
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
    let name = super::installed::folder_model_name(dir).unwrap_or_else(|| manifest.name.clone());
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
    if served.manifest.name != name {
        tracing::warn!(folder = %name, manifest = %served.manifest.name, "model folder and manifest name differ; serving under the manifest name");
    }
    if eager {
        let built = served.build(&bytes)?;
        let _ = served.model.set(Ok(built));
    } else if let Ok(mut slot) = served.bytes.lock() {
        *slot = Some(bytes);
    }
    Ok(served)
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistryEvent {
    /// A new version (or the same one, re-verified) now serves.
    Reloaded {
        /// Model.
        name: String,
        /// Version serving before (None if none was).
        from: Option<String>,
        /// Version serving now.
        to: String,
    },
    /// The reload failed; the previous model (if any) keeps serving.
    ReloadFailed {
        /// Model.
        name: String,
        /// Why.
        error: InferError,
    },
}

/// File identity used to notice changes: the folder serving (an install moves it) and each
/// file's size and mtime.
type Stamp = (PathBuf, Vec<Option<(u64, SystemTime)>>);

fn stamp(dir: &Path) -> Stamp {
    let mut files = vec![dir.join("manifest.json")];
    if let Ok(m) = Manifest::load(dir) {
        files.push(m.onnx_path(dir));
        if let Some(g) = &m.golden {
            files.push(dir.join(&g.file));
        }
    }
    let files = files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .ok()
                .and_then(|m| m.modified().ok().map(|t| (m.len(), t)))
        })
        .collect();
    (dir.to_owned(), files)
}

struct Slot {
    /// `[models] dir`/<name>: the folder shipped with the package.
    base: PathBuf,
    /// `[models] installed_dir`, where installed bundles take precedence over `base`.
    installed: Option<PathBuf>,
    name: String,
    current: ArcSwapOption<Served>,
    stamp: Mutex<Stamp>,
}

impl Slot {
    /// The folder to load from: the installed version `current` names, else the shipped one
    /// (as [`ModelsConfig::folder`]).
    fn dir(&self) -> PathBuf {
        self.installed
            .as_deref()
            .and_then(|i| super::installed::resolve(i, &self.name))
            .unwrap_or_else(|| self.base.clone())
    }
}

/// All configured models.
pub struct Registry {
    slots: BTreeMap<String, Slot>,
    verify_golden: bool,
    eager: bool,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("models", &self.slots.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    /// Load every enabled model. Models that fail are reported and their slot stays empty
    /// (predictions for them fail with `ModelNotFound`) until a reload succeeds.
    pub fn open(cfg: &ModelsConfig) -> (Registry, Vec<InferError>) {
        let eager = cfg.optimize == OptimizeAt::Startup;
        let mut errors = Vec::new();
        let mut slots = BTreeMap::new();
        for name in &cfg.enabled {
            let mut slot = Slot {
                base: cfg.dir.join(name),
                installed: cfg.installed_dir.clone(),
                name: name.clone(),
                current: ArcSwapOption::new(None),
                stamp: Mutex::new((PathBuf::new(), Vec::new())),
            };
            let dir = slot.dir();
            slot.stamp = Mutex::new(stamp(&dir));
            match load_served(&dir, cfg.verify_golden, eager) {
                Ok(s) => slot.current.store(Some(Arc::new(s))),
                Err(e) => errors.push(e),
            }
            slots.insert(name.clone(), slot);
        }
        (
            Registry {
                slots,
                verify_golden: cfg.verify_golden,
                eager,
            },
            errors,
        )
    }

    /// The model serving under `name` (lock-free).
    pub fn get(&self, name: &str) -> Result<Arc<Served>, InferError> {
        self.slots
            .get(name)
            .and_then(|s| s.current.load_full())
            .ok_or_else(|| InferError::ModelNotFound(name.to_owned()))
    }

    /// Configured names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.slots.keys().map(String::as_str)
    }

    /// Rebuild `name` from disk, verify it, then swap it in. Always optimises now: a reload
    /// must prove the new model before it serves.
    pub fn reload(&self, name: &str) -> RegistryEvent {
        let Some(slot) = self.slots.get(name) else {
            return RegistryEvent::ReloadFailed {
                name: name.to_owned(),
                error: InferError::ModelNotFound(name.to_owned()),
            };
        };
        let dir = slot.dir();
        if let Ok(mut s) = slot.stamp.lock() {
            *s = stamp(&dir);
        }
        match load_served(&dir, self.verify_golden, true) {
            Ok(new) => {
                let to = new.version.to_string();
                let old = slot.current.swap(Some(Arc::new(new)));
                RegistryEvent::Reloaded {
                    name: name.to_owned(),
                    from: old.map(|o| o.version.to_string()),
                    to,
                }
            }
            Err(error) => RegistryEvent::ReloadFailed {
                name: name.to_owned(),
                error,
            },
        }
    }

    /// Reload every model (SIGHUP).
    pub fn reload_all(&self) -> Vec<RegistryEvent> {
        let names: Vec<String> = self.slots.keys().cloned().collect();
        names.iter().map(|n| self.reload(n)).collect()
    }

    /// Reload the models whose files changed since they were last (re)loaded.
    pub fn poll_changes(&self) -> Vec<RegistryEvent> {
        let changed: Vec<String> = self
            .slots
            .iter()
            .filter(|(_, slot)| {
                let now = stamp(&slot.dir());
                slot.stamp.lock().map(|s| *s != now).unwrap_or(true)
            })
            .map(|(n, _)| n.clone())
            .collect();
        changed.iter().map(|n| self.reload(n)).collect()
    }

    /// Whether models are optimised at startup.
    pub fn eager(&self) -> bool {
        self.eager
    }
}

/// Poll for changed model files every `every` and report what reloads did, until `events`
/// closes (a stand-alone watcher; the agent's reload controller polls by itself). Reloads run
/// on the blocking pool: optimising a model takes milliseconds of CPU.
pub async fn watch(
    registry: Arc<Registry>,
    every: Duration,
    events: tokio::sync::mpsc::Sender<RegistryEvent>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if events.is_closed() {
            return;
        }
        let reg = Arc::clone(&registry);
        let Ok(done) = tokio::task::spawn_blocking(move || reg.poll_changes()).await else {
            continue;
        };
        for e in done {
            log_event(&e);
            if events.send(e).await.is_err() {
                return;
            }
        }
    }
}

/// Log what one reload did.
fn log_event(e: &RegistryEvent) {
    match e {
        RegistryEvent::Reloaded { name, from, to } => {
            tracing::info!(model = %name, from = ?from, to = %to, "model reloaded")
        }
        RegistryEvent::ReloadFailed { name, error } => {
            tracing::error!(model = %name, error = %error, kind = error.kind(), "model reload failed; previous model keeps serving")
        }
    }
}
