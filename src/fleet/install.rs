//! Installing a checked bundle: stage, prove, swap — and rolling back.
//!
//! Layout under `[models] installed_dir`:
//!
//! ```text
//! .lock                    one install or rollback at a time
//! <model>/v<N>/            a complete, verified version (manifest.json, model.onnx, golden.csv)
//! <model>/current -> v<N>  what serves; takes precedence over `[models] dir`/<model>
//! <model>/previous -> v<M> what `rollback` returns to
//! <model>/.stage-v<N>/     an install in progress (removed by the next install)
//! ```
//!
//! The only step that changes what serves is one `rename(2)` of a symlink over `current`, after
//! the new folder was written, flushed (`fsync` of every file and folder) and passed the same
//! checks the registry makes (sha256, manifest, tract, golden rows). A process killed at any
//! moment leaves `current` naming either the old complete version or the new one; leftovers of
//! an interrupted install are removed by the next one. A running agent notices the new target
//! on its next model poll (`[models] watch`) or on SIGHUP.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::bundle::{self, Bundle};
use super::error::FleetError;
use super::keys::PublicKey;
use crate::infer::installed::{
    CURRENT, PREVIOUS, current_version, link_target, parse_version, version_dir,
};
use crate::infer::registry::load_served;

/// What an install needs to know.
#[derive(Debug, Clone)]
pub struct Installer<'a> {
    /// `[models] installed_dir`.
    pub dir: &'a Path,
    /// `[fleet] trusted_keys`, parsed.
    pub trusted: &'a [PublicKey],
    /// `[models] enabled`.
    pub enabled: &'a [String],
    /// Accept a bundle older than the installed one.
    pub allow_downgrade: bool,
    /// `[models] verify_golden`.
    pub verify_golden: bool,
}

/// A completed install.
#[derive(Debug, Clone, PartialEq)]
pub struct Installed {
    /// Model.
    pub model: String,
    /// Bundle version now serving.
    pub version: u64,
    /// Bundle version installed before, if any.
    pub previous: Option<u64>,
    /// The manifest's own version string.
    pub manifest_version: String,
    /// sha256 of the ONNX file.
    pub sha256: String,
}

impl Installer<'_> {
    /// Checks `bytes` as a bundle and installs it; on any error nothing serving changes.
    pub fn install(&self, bytes: &[u8]) -> Result<Installed, FleetError> {
        let b = bundle::open(bytes, self.trusted)?;
        let model = b.header.model.clone();
        if !self.enabled.contains(&model) {
            return Err(FleetError::ModelNotEnabled {
                model,
                enabled: self.enabled.join(", "),
            });
        }
        let _lock = lock(self.dir)?;
        let mdir = self.dir.join(&model);
        let before = current_version(self.dir, &model);
        self.check_version(&model, before, b.header.version)?;
        if rolled_back_marker(&mdir, b.header.version).exists() {
            return Err(FleetError::RolledBack {
                model,
                version: b.header.version,
            });
        }
        fs::create_dir_all(&mdir).map_err(|e| FleetError::io(&mdir, e))?;
        let staged = self.stage(&mdir, &b)?;
        pause("staged");
        let served = load_served(&staged, self.verify_golden, true).map_err(|source| {
            let _ = fs::remove_dir_all(&staged);
            FleetError::Model {
                model: model.clone(),
                version: b.header.version,
                source,
            }
        })?;
        let name = version_dir(b.header.version);
        let target = mdir.join(&name);
        if target.exists() {
            fs::remove_dir_all(&target).map_err(|e| FleetError::io(&target, e))?;
        }
        fs::rename(&staged, &target).map_err(|e| FleetError::io(&target, e))?;
        sync_dir(&mdir)?;
        pause("proven");
        if let Some(old) = link_target(&mdir, CURRENT) {
            relink(&mdir, PREVIOUS, &old)?;
            pause("previous linked");
        }
        relink(&mdir, CURRENT, &name)?;
        pause("current linked");
        prune(&mdir);
        Ok(Installed {
            model,
            version: b.header.version,
            previous: before,
            manifest_version: served.version.to_string(),
            sha256: served.sha256.clone(),
        })
    }

    fn check_version(
        &self,
        model: &str,
        installed: Option<u64>,
        offered: u64,
    ) -> Result<(), FleetError> {
        match installed {
            Some(i) if offered == i => Err(FleetError::AlreadyInstalled {
                model: model.to_owned(),
                version: i,
            }),
            Some(i) if offered < i && !self.allow_downgrade => Err(FleetError::Downgrade {
                model: model.to_owned(),
                installed: i,
                offered,
            }),
            _ => Ok(()),
        }
    }

    /// Writes the bundle's files into `.stage-v<N>` and flushes them.
    fn stage(&self, mdir: &Path, b: &Bundle) -> Result<PathBuf, FleetError> {
        let stage = mdir.join(format!(".stage-{}", version_dir(b.header.version)));
        if stage.exists() {
            fs::remove_dir_all(&stage).map_err(|e| FleetError::io(&stage, e))?;
        }
        fs::create_dir(&stage).map_err(|e| FleetError::io(&stage, e))?;
        for (name, body) in &b.files {
            let path = stage.join(name);
            let mut f = File::create(&path).map_err(|e| FleetError::io(&path, e))?;
            f.write_all(body)
                .and_then(|()| f.sync_all())
                .map_err(|e| FleetError::io(&path, e))?;
        }
        sync_dir(&stage)?;
        Ok(stage)
    }
}

/// Makes `previous` serve again (and what served the new `previous`), after checking it as
/// an install would; with no other installed version, removes `current` so that the shipped
/// model serves again. Returns `(from, to)` bundle versions (`to` None: the shipped model).
pub fn rollback(
    dir: &Path,
    model: &str,
    verify_golden: bool,
) -> Result<(u64, Option<u64>), FleetError> {
    let _lock = lock(dir)?;
    let mdir = dir.join(model);
    let no_previous = || FleetError::NoPrevious {
        model: model.to_owned(),
    };
    let cur = link_target(&mdir, CURRENT).ok_or_else(no_previous)?;
    let from = parse_version(&cur).ok_or_else(no_previous)?;
    let previous = link_target(&mdir, PREVIOUS)
        .and_then(|p| parse_version(&p).filter(|t| *t != from).map(|t| (p, t)));
    let Some((prev, to)) = previous else {
        // Only one version was ever installed: the shipped model serves again.
        let link = mdir.join(CURRENT);
        fs::remove_file(&link).map_err(|e| FleetError::io(&link, e))?;
        sync_dir(&mdir)?;
        return Ok((from, None));
    };
    load_served(&mdir.join(&prev), verify_golden, true).map_err(|source| FleetError::Model {
        model: model.to_owned(),
        version: to,
        source,
    })?;
    relink(&mdir, PREVIOUS, &cur)?;
    relink(&mdir, CURRENT, &prev)?;
    Ok((from, Some(to)))
}

/// Records that the agent rolled `version` of `model` back by itself: installing that version
/// again is refused (`rolled_back_before`); a fixed model ships under a new version.
pub fn mark_rolled_back(dir: &Path, model: &str, version: u64) -> Result<(), FleetError> {
    let mdir = dir.join(model);
    let path = rolled_back_marker(&mdir, version);
    File::create(&path)
        .and_then(|f| f.sync_all())
        .map_err(|e| FleetError::io(&path, e))?;
    sync_dir(&mdir)
}

fn rolled_back_marker(mdir: &Path, version: u64) -> PathBuf {
    mdir.join(format!(".rolled-back-{}", version_dir(version)))
}

/// `CHOCOLINE_FLEET_STEP_DELAY_MS`: sleep this long after each step of an install, so that a
/// kill test (tests/fleet_install.rs) lands in every step, not only in the longest one.
/// Unset in production: no delay.
fn pause(step: &str) {
    static DELAY: std::sync::OnceLock<Option<std::time::Duration>> = std::sync::OnceLock::new();
    let delay = DELAY.get_or_init(|| {
        std::env::var("CHOCOLINE_FLEET_STEP_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(std::time::Duration::from_millis)
    });
    if let Some(d) = delay {
        tracing::debug!(step, "install step done");
        std::thread::sleep(*d);
    }
}

/// Points `mdir/link` at `target` atomically: a new symlink renamed over the old one.
fn relink(mdir: &Path, link: &str, target: &str) -> Result<(), FleetError> {
    let tmp = mdir.join(format!(".{link}.tmp"));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(|e| FleetError::io(&tmp, e))?;
    let path = mdir.join(link);
    fs::rename(&tmp, &path).map_err(|e| FleetError::io(&path, e))?;
    sync_dir(mdir)
}

fn sync_dir(dir: &Path) -> Result<(), FleetError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| FleetError::io(dir, e))
}

/// Removes every version folder `current` and `previous` do not name, and leftovers of
/// interrupted installs. Best effort: a failure here leaves only disk space behind.
fn prune(mdir: &Path) {
    let keep: Vec<String> = [CURRENT, PREVIOUS]
        .iter()
        .filter_map(|l| link_target(mdir, l))
        .collect();
    let Ok(entries) = fs::read_dir(mdir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let stale_version = parse_version(&name).is_some() && !keep.contains(&name);
        if (stale_version || name.starts_with(".stage-"))
            && let Err(err) = fs::remove_dir_all(e.path())
        {
            tracing::warn!(path = %e.path().display(), error = %err, "cannot remove an old model version");
        }
    }
}

/// Holds `<dir>/.lock` exclusively until dropped.
fn lock(dir: &Path) -> Result<File, FleetError> {
    use fs2::FileExt;
    fs::create_dir_all(dir).map_err(|e| FleetError::io(dir, e))?;
    let path = dir.join(".lock");
    let f = File::create(&path).map_err(|e| FleetError::io(&path, e))?;
    f.try_lock_exclusive()
        .map_err(|_| FleetError::Busy { path: path.clone() })?;
    Ok(f)
}

#[cfg(test)]
#[path = "install_tests.rs"]
mod tests;
