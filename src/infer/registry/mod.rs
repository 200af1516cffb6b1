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
//! `[models] watch` is on) or explicitly by [`Registry::reload_all`] (on SIGHUP), after
//! [`Registry::configure`] has taken the new `[models.<name>]` folders.
//!
//! A slot may also hold a shadow candidate (`[models.<name>] candidate`, docs/shadow.md),
//! loaded with the same checks and swapped the same way ([`candidate`]); it never affects
//! what serves.
//!
//! | file | job |
//! |---|---|
//! | [`served`] | one loaded folder ([`Served`]) and its outcome counters |
//! | [`candidate`] | the shadow candidate of a slot |
//! | [`watch`] | a stand-alone watcher of the model files |

pub mod candidate;
pub mod served;
#[cfg(test)]
mod tests;
pub mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwapOption;

use super::config::{ModelsConfig, OptimizeAt};
use super::error::InferError;
use super::manifest::Manifest;

pub use candidate::CandidateEvent;
pub use served::{OutcomeCounts, Outcomes, Served, load_as, load_served};
pub use watch::watch;

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
    /// The folder shipped for it (`[models.<name>] folder`, else `[models] dir`/<name>);
    /// replaced by [`Registry::configure`].
    base: Mutex<PathBuf>,
    /// `[models] installed_dir`, where installed bundles take precedence over `base`.
    installed: Option<PathBuf>,
    name: String,
    current: ArcSwapOption<Served>,
    stamp: Mutex<Stamp>,
    /// The shadow candidate, if one is configured.
    candidate: candidate::CandidateSlot,
}

impl Slot {
    fn new(cfg: &ModelsConfig, name: &str) -> Slot {
        Slot {
            base: Mutex::new(cfg.shipped(name)),
            installed: cfg.installed_dir.clone(),
            name: name.to_owned(),
            current: ArcSwapOption::new(None),
            stamp: Mutex::new((PathBuf::new(), Vec::new())),
            candidate: candidate::CandidateSlot::new(cfg.candidate(name)),
        }
    }

    /// The folder to load from: the installed version `current` names, else the shipped one
    /// (as [`ModelsConfig::folder`]).
    fn dir(&self) -> PathBuf {
        self.installed
            .as_deref()
            .and_then(|i| super::installed::resolve(i, &self.name))
            .unwrap_or_else(|| read(&self.base))
    }

    /// At start, when the installed version (`dir`) is refused, the shipped folder loaded
    /// instead, if it loads and takes the same features: nothing else would serve. The case
    /// this is for: a new agent binary that no longer includes an operator an installed bundle
    /// uses. The refusal is logged as an error; the slot's stamp stays on the installed
    /// folder, so a new install or a rollback there is picked up by the next poll, as usual.
    ///
    /// The feature engine and the drift monitor still read the installed manifest
    /// (`ModelsConfig::folder`), so the shipped model must take the same inputs
    /// ([`Manifest::same_inputs`], as a shadow candidate). Otherwise, or when `dir` is the
    /// shipped folder, or the shipped model is refused too: `None`, the slot stays empty and
    /// the refusal is reported.
    fn shipped_instead(
        &self,
        dir: &Path,
        refused: &InferError,
        verify_golden: bool,
        eager: bool,
    ) -> Option<Served> {
        let shipped = read(&self.base);
        if shipped == dir {
            return None;
        }
        let installed = Manifest::load(dir).ok()?;
        let served = load_as(&shipped, Some(&self.name), verify_golden, eager).ok()?;
        installed.same_inputs(&served.manifest).ok()?;
        tracing::error!(model = %self.name, installed = %dir.display(), kind = refused.kind(),
            error = %refused, serving = %shipped.display(), version = %served.version,
            "installed model refused at start; the shipped model serves instead");
        Some(served)
    }
}

/// The value behind a mutex (a poisoned one still holds a usable path).
fn read<T: Clone>(m: &Mutex<T>) -> T {
    match m.lock() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

/// Replace the value behind a mutex.
fn write<T>(m: &Mutex<T>, v: T) {
    match m.lock() {
        Ok(mut g) => *g = v,
        Err(p) => *p.into_inner() = v,
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
    /// (predictions for them fail with `ModelNotFound`) until a reload succeeds. An installed
    /// version refused at start falls back to the shipped folder (logged, not reported) when
    /// that one loads (`Slot::shipped_instead`). Shadow candidates are loaded after them; a
    /// candidate refused is logged, never reported here: it does not concern what serves.
    pub fn open(cfg: &ModelsConfig) -> (Registry, Vec<InferError>) {
        let eager = cfg.optimize == OptimizeAt::Startup;
        let mut errors = Vec::new();
        let mut slots = BTreeMap::new();
        for name in &cfg.enabled {
            let slot = Slot::new(cfg, name);
            let dir = slot.dir();
            write(&slot.stamp, stamp(&dir));
            match load_as(&dir, Some(name), cfg.verify_golden, eager) {
                Ok(s) => slot.current.store(Some(Arc::new(s))),
                Err(e) => match slot.shipped_instead(&dir, &e, cfg.verify_golden, eager) {
                    Some(s) => slot.current.store(Some(Arc::new(s))),
                    None => errors.push(e),
                },
            }
            slots.insert(name.clone(), slot);
        }
        let reg = Registry {
            slots,
            verify_golden: cfg.verify_golden,
            eager,
        };
        for e in reg.reload_candidates() {
            e.log("start");
        }
        (reg, errors)
    }

    /// Take the folders of a new configuration: each model's shipped folder
    /// (`[models.<name>] folder`) and shadow candidate. Nothing is loaded: the next
    /// [`Registry::reload_all`] and [`Registry::reload_candidates`] load from them. Models
    /// not enabled at open are not added (`[models] enabled` needs a restart).
    pub fn configure(&self, cfg: &ModelsConfig) {
        for (name, slot) in &self.slots {
            write(&slot.base, cfg.shipped(name));
            slot.candidate.set_folder(cfg.candidate(name));
        }
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
        write(&slot.stamp, stamp(&dir));
        match load_as(&dir, Some(name), self.verify_golden, true) {
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
