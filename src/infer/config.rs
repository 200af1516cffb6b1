//! `[models]`: which exported models to load and how.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Model registry settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsConfig {
    /// Directory holding one folder per model (`<dir>/<name>/{manifest.json, model.onnx,
    /// golden.csv}`). Default "/usr/share/chocoline/models".
    #[serde(default = "default_dir")]
    pub dir: PathBuf,
    /// Where `chocoline model install` (and fleet deployment) put signed model bundles:
    /// `<installed_dir>/<name>/current` takes precedence over `<dir>/<name>` (docs/fleet.md).
    /// Must be writable by whoever installs. Default: none (installs are refused).
    #[serde(default)]
    pub installed_dir: Option<PathBuf>,
    /// Models to load, by folder name. Default: quality, yield, bloom, anomaly.
    #[serde(default = "default_enabled")]
    pub enabled: Vec<String>,
    /// When to optimise a model: "startup" or "first_use". Default "startup".
    #[serde(default)]
    pub optimize: OptimizeAt,
    /// Run a model's golden rows before it serves (at startup and on reload). Default true.
    #[serde(default = "default_true")]
    pub verify_golden: bool,
    /// Reload a model when its files change (it is also reloaded on SIGHUP). Default true.
    #[serde(default = "default_true")]
    pub watch: bool,
}

impl ModelsConfig {
    /// The folder model `name` is loaded from: the installed version `current` names under
    /// `installed_dir`, else `<dir>/<name>`. The registry, the feature specs and the drift
    /// references all read the same folder.
    pub fn folder(&self, name: &str) -> PathBuf {
        self.installed_dir
            .as_deref()
            .and_then(|i| super::installed::resolve(i, name))
            .unwrap_or_else(|| self.dir.join(name))
    }

    /// `(name, folder)` of every enabled model.
    pub fn folders(&self) -> Vec<(String, PathBuf)> {
        self.enabled
            .iter()
            .map(|n| (n.clone(), self.folder(n)))
            .collect()
    }
}

/// When models are optimised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizeAt {
    /// All models are loaded and optimised before the agent reports ready.
    #[default]
    Startup,
    /// A model is optimised when first asked for a prediction.
    FirstUse,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            dir: default_dir(),
            installed_dir: None,
            enabled: default_enabled(),
            optimize: OptimizeAt::default(),
            verify_golden: true,
            watch: true,
        }
    }
}

fn default_dir() -> PathBuf {
    PathBuf::from("/usr/share/chocoline/models")
}
fn default_enabled() -> Vec<String> {
    ["quality", "yield", "bloom", "anomaly"]
        .into_iter()
        .map(String::from)
        .collect()
}
fn default_true() -> bool {
    true
}
