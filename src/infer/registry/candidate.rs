//! The shadow candidate of a slot (`[models.<name>] candidate`, docs/shadow.md): a second
//! model folder loaded with the same checks as the serving one (manifest, sha256, golden
//! rows, always optimised at load) plus one more — its manifest must describe the same
//! inputs as the serving model's (name, task, level, feature spec and feature list), since it
//! scores the same vectors. That is checked when the candidate loads: should the serving
//! model later reload with other inputs, the candidate fails on its vectors (logged once by
//! the infer stage, counted) until a reload refuses or replaces it.
//!
//! It is read lock-free like the serving model and swapped the same way, but it never
//! concerns what serves: a candidate that cannot load is refused (logged, reported as a
//! [`CandidateEvent::Refused`]) and the slot then holds no candidate until a reload loads one;
//! the serving model is untouched either way.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;

use super::{Registry, Served, Slot, Stamp, load_as, read, stamp, write};
use crate::infer::error::InferError;
use crate::infer::manifest::Manifest;

/// A slot's candidate: the folder configured and what was loaded from it.
pub(super) struct CandidateSlot {
    folder: Mutex<Option<PathBuf>>,
    current: ArcSwapOption<Served>,
    stamp: Mutex<Stamp>,
}

impl CandidateSlot {
    /// Nothing loaded yet from `folder`.
    pub(super) fn new(folder: Option<&Path>) -> Self {
        CandidateSlot {
            folder: Mutex::new(folder.map(Path::to_owned)),
            current: ArcSwapOption::new(None),
            stamp: Mutex::new((PathBuf::new(), Vec::new())),
        }
    }

    /// The folder to load from next (None: no candidate).
    pub(super) fn set_folder(&self, folder: Option<&Path>) {
        write(&self.folder, folder.map(Path::to_owned));
    }
}

/// What a candidate reload did.
#[derive(Debug, Clone, PartialEq)]
pub enum CandidateEvent {
    /// A candidate (a new version, or the same one re-verified) now shadows the model.
    Loaded {
        /// Model.
        name: String,
        /// Candidate version before (None if none).
        from: Option<String>,
        /// Candidate version now.
        to: String,
        /// Its folder.
        folder: PathBuf,
    },
    /// The candidate was refused; nothing shadows the model until a reload loads one.
    Refused {
        /// Model.
        name: String,
        /// The candidate's folder.
        folder: PathBuf,
        /// Why.
        error: InferError,
    },
    /// The configuration names no candidate any more: the one loaded was dropped.
    Removed {
        /// Model.
        name: String,
        /// Version dropped.
        version: String,
    },
}

impl CandidateEvent {
    /// The model the event is about.
    pub fn name(&self) -> &str {
        match self {
            CandidateEvent::Loaded { name, .. }
            | CandidateEvent::Refused { name, .. }
            | CandidateEvent::Removed { name, .. } => name,
        }
    }

    /// Log it; `cause` says what triggered the reload (start, SIGHUP, file change).
    pub fn log(&self, cause: &str) {
        match self {
            CandidateEvent::Loaded {
                name,
                from,
                to,
                folder,
            } => log_loaded(name, from.as_deref(), to, folder, cause),
            CandidateEvent::Refused {
                name,
                folder,
                error,
            } => log_refused(name, folder, error, cause),
            CandidateEvent::Removed { name, version } => {
                tracing::info!(model = %name, version = %version, cause, "shadow candidate removed");
            }
        }
    }
}

fn log_loaded(name: &str, from: Option<&str>, to: &str, folder: &Path, cause: &str) {
    tracing::info!(model = %name, from = ?from, to = %to, folder = %folder.display(), cause,
        "shadow candidate loaded");
}

fn log_refused(name: &str, folder: &Path, error: &InferError, cause: &str) {
    tracing::error!(model = %name, folder = %folder.display(), kind = error.kind(),
        error = %error, cause, warning = "candidate_unavailable",
        "shadow candidate refused (candidate_unavailable); the serving model is unaffected");
}

/// Why `candidate` cannot score the vectors `serving` is fed, if it cannot.
fn same_inputs(serving: &Manifest, candidate: &Manifest, dir: &Path) -> Result<(), InferError> {
    serving
        .same_inputs(candidate)
        .map_err(|reason| InferError::Manifest {
            path: dir.join("manifest.json"),
            reason: format!("a shadow candidate must score the serving model's vectors: {reason}"),
        })
}

impl Registry {
    /// The shadow candidate of `name`, if one is loaded (lock-free).
    pub fn candidate(&self, name: &str) -> Option<Arc<Served>> {
        self.slots.get(name)?.candidate.current.load_full()
    }

    /// The candidate folder configured for `name`, loaded or not.
    pub fn candidate_folder(&self, name: &str) -> Option<PathBuf> {
        read(&self.slots.get(name)?.candidate.folder)
    }

    /// Load `name`'s candidate from its configured folder (always optimised and verified
    /// now), or drop it when none is configured. None: nothing configured, nothing loaded.
    pub fn reload_candidate(&self, name: &str) -> Option<CandidateEvent> {
        let slot = self.slots.get(name)?;
        let c = &slot.candidate;
        let Some(dir) = read(&c.folder) else {
            let old = c.current.swap(None)?;
            return Some(CandidateEvent::Removed {
                name: name.to_owned(),
                version: old.version.to_string(),
            });
        };
        write(&c.stamp, stamp(&dir));
        let loaded = load_as(&dir, Some(name), self.verify_golden, true)
            .and_then(|new| fits(slot, &new, &dir).map(|()| new));
        Some(match loaded {
            Ok(new) => {
                let to = new.version.to_string();
                let old = c.current.swap(Some(Arc::new(new)));
                CandidateEvent::Loaded {
                    name: name.to_owned(),
                    from: old.map(|o| o.version.to_string()),
                    to,
                    folder: dir,
                }
            }
            Err(error) => {
                c.current.store(None);
                CandidateEvent::Refused {
                    name: name.to_owned(),
                    folder: dir,
                    error,
                }
            }
        })
    }

    /// Reload (or drop) every model's candidate, after [`Registry::configure`] (SIGHUP).
    pub fn reload_candidates(&self) -> Vec<CandidateEvent> {
        let names: Vec<String> = self.slots.keys().cloned().collect();
        names
            .iter()
            .filter_map(|n| self.reload_candidate(n))
            .collect()
    }

    /// Reload the candidates whose files changed since they were last (re)loaded.
    pub fn poll_candidate_changes(&self) -> Vec<CandidateEvent> {
        let changed: Vec<String> = self
            .slots
            .iter()
            .filter(|(_, slot)| {
                let c = &slot.candidate;
                read(&c.folder).is_some_and(|dir| read(&c.stamp) != stamp(&dir))
            })
            .map(|(n, _)| n.clone())
            .collect();
        changed
            .iter()
            .filter_map(|n| self.reload_candidate(n))
            .collect()
    }
}

/// Whether `new` may shadow `slot`'s model: it takes the serving model's inputs (the loaded
/// manifest, else the one in the serving folder); with neither readable, it must at least
/// carry the model's name, under which its predictions go out.
fn fits(slot: &Slot, new: &Served, dir: &Path) -> Result<(), InferError> {
    let serving = match slot.current.load_full() {
        Some(s) => Some(s.manifest.clone()),
        None => Manifest::load(&slot.dir()).ok(),
    };
    match serving {
        Some(m) => same_inputs(&m, &new.manifest, dir),
        None if new.manifest.name == slot.name => Ok(()),
        None => Err(InferError::Manifest {
            path: dir.join("manifest.json"),
            reason: format!(
                "a shadow candidate of {} names model {:?}",
                slot.name, new.manifest.name
            ),
        }),
    }
}
