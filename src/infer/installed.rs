//! Reading the installed-models layout under `[models] installed_dir` (written by
//! `crate::fleet::install`; docs/fleet.md):
//!
//! ```text
//! <model>/v<N>/            one complete, verified version
//! <model>/current -> v<N>  what serves; takes precedence over `[models] dir`/<model>
//! <model>/previous -> v<M> what a rollback returns to
//! ```
//!
//! The registry only reads this layout; it lives here, not in `fleet`, so that the registry
//! does not depend on the installer.

use std::fs;
use std::path::{Path, PathBuf};

/// The symlink naming the serving version.
pub const CURRENT: &str = "current";
/// The symlink naming the version a rollback returns to.
pub const PREVIOUS: &str = "previous";

/// The folder serving for `model` from `installed_dir`, if a version is installed.
pub fn resolve(installed_dir: &Path, model: &str) -> Option<PathBuf> {
    let link = installed_dir.join(model).join(CURRENT);
    fs::symlink_metadata(&link).ok()?;
    fs::canonicalize(&link).ok().filter(|p| p.is_dir())
}

/// The installed bundle version of `model`, if any.
pub fn current_version(installed_dir: &Path, model: &str) -> Option<u64> {
    link_target(&installed_dir.join(model), CURRENT).and_then(|t| parse_version(&t))
}

/// The folder name of bundle version `v`.
pub fn version_dir(v: u64) -> String {
    format!("v{v}")
}

/// The bundle version a folder name `v<N>` stands for.
pub fn parse_version(dir_name: &str) -> Option<u64> {
    let digits = dir_name.strip_prefix('v')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The file name a symlink in `model_dir` points to.
pub fn link_target(model_dir: &Path, link: &str) -> Option<String> {
    let t = fs::read_link(model_dir.join(link)).ok()?;
    Some(t.file_name()?.to_string_lossy().into_owned())
}

/// The model name a folder stands for: its own name, or for an installed version
/// (`<installed_dir>/<model>/v<N>`, or `.stage-v<N>` while installing) its parent's.
pub fn folder_model_name(dir: &Path) -> Option<String> {
    let own = dir.file_name()?.to_string_lossy().into_owned();
    let version = own.strip_prefix(".stage-").unwrap_or(&own);
    if parse_version(version).is_some() {
        return Some(dir.parent()?.file_name()?.to_string_lossy().into_owned());
    }
    Some(own)
}
