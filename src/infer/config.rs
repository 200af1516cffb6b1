//! `[models]`: which exported models to load and how, and the `[models.<name>]` table of each
//! model that needs one (its own folder, its shadow candidate: docs/shadow.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Model registry settings. Deserialised by hand (`config_de.rs`): the fixed keys below,
/// and any other key must be a `[models.<name>]` table ([`ModelSettings`]); unknown keys are
/// refused at both levels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelsConfig {
    /// Directory holding one folder per model (`<dir>/<name>/{manifest.json, model.onnx,
    /// golden.csv}`). Default "/usr/share/chocoline/models".
    pub dir: PathBuf,
    /// Where `chocoline model install` (and fleet deployment) put signed model bundles:
    /// `<installed_dir>/<name>/current` takes precedence over `<dir>/<name>` (docs/fleet.md).
    /// Must be writable by whoever installs. Default: none (installs are refused).
    pub installed_dir: Option<PathBuf>,
    /// Models to load, by folder name. Default: quality, yield, bloom, anomaly.
    pub enabled: Vec<String>,
    /// When to optimise a model: "startup" or "first_use". Default "startup".
    pub optimize: OptimizeAt,
    /// Run a model's golden rows before it serves (at startup and on reload). Default true.
    pub verify_golden: bool,
    /// Reload a model when its files change (it is also reloaded on SIGHUP). Default true.
    pub watch: bool,
    /// `[models.<name>]` tables, by model name (each must name an enabled model). Default:
    /// none.
    #[serde(flatten)]
    pub per_model: BTreeMap<String, ModelSettings>,
}

/// `[models.<name>]`: settings of one enabled model. Relative paths are relative to the
/// configuration file's directory, like every path of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// The folder the model serves from instead of `<dir>/<name>` (a bundle installed under
    /// `installed_dir` still takes precedence, as over `<dir>/<name>`). Applied on SIGHUP:
    /// promoting a candidate is setting this to the candidate's folder. Default: none.
    #[serde(default)]
    pub folder: Option<PathBuf>,
    /// A shadow candidate's folder: it scores the same vectors as the serving model, its
    /// predictions are stored and published on `{prefix}/shadow/predictions/{model}` and
    /// never raise alerts (docs/shadow.md). Applied on SIGHUP. Default: none.
    #[serde(default)]
    pub candidate: Option<PathBuf>,
}

impl ModelsConfig {
    /// The folder model `name` is loaded from: the installed version `current` names under
    /// `installed_dir`, else [`ModelsConfig::shipped`]. The registry, the feature specs and
    /// the drift references all read the same folder.
    pub fn folder(&self, name: &str) -> PathBuf {
        self.installed_dir
            .as_deref()
            .and_then(|i| super::installed::resolve(i, name))
            .unwrap_or_else(|| self.shipped(name))
    }

    /// The folder of model `name` when no bundle is installed: `[models.<name>] folder`, else
    /// `<dir>/<name>`.
    pub fn shipped(&self, name: &str) -> PathBuf {
        self.per_model
            .get(name)
            .and_then(|m| m.folder.clone())
            .unwrap_or_else(|| self.dir.join(name))
    }

    /// Makes the relative folders of `[models]` (`dir`, `installed_dir`, each
    /// `[models.<name>]` `folder` and `candidate`) relative to `base`, the configuration
    /// file's directory. Empty paths are left alone for validation to report.
    pub fn resolve_relative(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if !p.as_os_str().is_empty() && p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.dir);
        self.installed_dir.as_mut().map(fix);
        for m in self.per_model.values_mut() {
            m.folder.as_mut().map(fix);
            m.candidate.as_mut().map(fix);
        }
    }

    /// The shadow candidate's folder of model `name`, if it has one.
    pub fn candidate(&self, name: &str) -> Option<&Path> {
        self.per_model.get(name)?.candidate.as_deref()
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
            per_model: BTreeMap::new(),
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
