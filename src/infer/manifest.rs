//! `manifest.json` (schema `chocoline.manifest/1`, docs/manifest.md): parsing and the checks
//! the registry makes before a model may serve.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::error::InferError;

/// The manifest schema this build reads.
pub const SCHEMA: &str = "chocoline.manifest/1";
/// The feature spec versions this build's features stage produces.
pub const SUPPORTED_FEATURE_SPEC: &[u32] = &[1];
/// Transforms of feature spec version 1 (docs/feature-spec.md).
pub const TRANSFORMS_V1: &[&str] = &[
    "last", "mean", "std", "min", "max", "slope", "ewma", "delta",
];

/// What the model is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Label + class probabilities.
    Classifier,
    /// One value.
    Regressor,
    /// Anomaly scores (`score_samples`, `decision_function`, optional per-signal
    /// `contributions`).
    Anomaly,
}

/// Role of an ONNX output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Predicted class.
    Label,
    /// `[N, n_classes]` probabilities.
    Probabilities,
    /// `[N, 1]` regression value.
    Value,
    /// IsolationForest `score_samples`.
    ScoreSamples,
    /// IsolationForest `decision_function`.
    DecisionFunction,
    /// `[N, k]` per-signal contributions to an anomaly score (the SPC detector's robust
    /// z-scores); the output's `columns` name the k signals.
    Contributions,
}

impl Role {
    /// Golden-column name stem.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Label => "label",
            Role::Probabilities => "probabilities",
            Role::Value => "value",
            Role::ScoreSamples => "score_samples",
            Role::DecisionFunction => "decision_function",
            Role::Contributions => "contributions",
        }
    }
}

/// `onnx.outputs[]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OutputSpec {
    /// ONNX output name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Column names of a `[N, k]` output (role `contributions`), one per column.
    #[serde(default)]
    pub columns: Vec<Arc<str>>,
}

/// `onnx`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OnnxSpec {
    /// File name inside the model folder.
    pub file: String,
    /// Hex sha256 of that file.
    pub sha256: String,
    /// Input name.
    #[serde(default)]
    pub input: Option<String>,
    /// Outputs and roles.
    pub outputs: Vec<OutputSpec>,
}

/// `features[]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FeatureSpec {
    /// Input name.
    pub name: String,
    /// Canonical signal.
    pub signal: String,
    /// Transform.
    pub transform: String,
    /// Sample count or "batch".
    pub window: serde_json::Value,
    /// Transform parameters.
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// `decision`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Decision {
    /// Classifier alert probability, or anomaly decision threshold.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Class the threshold applies to.
    #[serde(default)]
    pub positive: Option<String>,
    /// Whether the model's output may raise alerts. `false` when, on the tuning seeds, the
    /// model did not beat its transparent rule (models/README.md): its predictions are then
    /// published as evidence, and only the agent's rules raise. Default `true`.
    #[serde(default = "yes")]
    pub decides: bool,
}

fn yes() -> bool {
    true
}

impl Default for Decision {
    fn default() -> Self {
        Decision {
            threshold: None,
            positive: None,
            decides: true,
        }
    }
}

/// `golden`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Golden {
    /// File name.
    pub file: String,
    /// Row count.
    #[serde(default)]
    pub rows: Option<usize>,
    /// Max abs difference allowed.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
}

fn default_tolerance() -> f64 {
    1e-5
}

/// One feature's reference (only the range is used here).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReferenceFeature {
    /// Feature name.
    pub name: String,
    /// Bin edges: first = training min, last = training max.
    #[serde(default)]
    pub edges: Vec<f64>,
}

/// `reference`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct Reference {
    /// Per feature.
    #[serde(default)]
    pub features: Vec<ReferenceFeature>,
}

/// The manifest fields the registry uses (other keys are ignored: the monitor and tools read
/// them).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Manifest {
    /// Must be [`SCHEMA`].
    pub schema: String,
    /// Model name.
    pub name: String,
    /// Semver.
    pub version: String,
    /// Task.
    pub task: Task,
    /// "batch" | "sample".
    #[serde(default)]
    pub level: Option<String>,
    /// ONNX file and outputs.
    pub onnx: OnnxSpec,
    /// Class labels in probability-column order.
    #[serde(default)]
    pub classes: Vec<String>,
    /// Feature spec version.
    pub feature_spec_version: u32,
    /// Inputs in order.
    pub features: Vec<FeatureSpec>,
    /// Decision rule.
    #[serde(default)]
    pub decision: Decision,
    /// Training reference.
    #[serde(default)]
    pub reference: Reference,
    /// Golden rows.
    #[serde(default)]
    pub golden: Option<Golden>,
}

impl Manifest {
    /// Read and check `<dir>/manifest.json`.
    pub fn load(dir: &Path) -> Result<Manifest, InferError> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|e| InferError::Manifest {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| InferError::Manifest {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        m.check()
            .map_err(|reason| InferError::Manifest { path, reason })?;
        Ok(m)
    }

    /// Path of the ONNX file.
    pub fn onnx_path(&self, dir: &Path) -> PathBuf {
        dir.join(&self.onnx.file)
    }

    /// The output with a role.
    pub fn output(&self, role: Role) -> Option<&OutputSpec> {
        self.onnx.outputs.iter().find(|o| o.role == role)
    }

    /// Whether `other` takes the same inputs as this model: same name, task, level, feature
    /// spec version and features (names, signals, transforms, windows, parameters, in order),
    /// so that it can score the very vectors built for this one (a shadow candidate,
    /// docs/shadow.md). The error names the first difference.
    pub fn same_inputs(&self, other: &Manifest) -> Result<(), String> {
        let differs = |what: &str, a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
            Err(format!("its {what} is {b:?}, the serving model's {a:?}"))
        };
        if self.name != other.name {
            return differs("name", &self.name, &other.name);
        }
        if self.task != other.task {
            return differs("task", &self.task, &other.task);
        }
        if self.level != other.level {
            return differs("level", &self.level, &other.level);
        }
        if self.feature_spec_version != other.feature_spec_version {
            let (a, b) = (self.feature_spec_version, other.feature_spec_version);
            return differs("feature_spec_version", &a, &b);
        }
        if self.features != other.features {
            let names = |m: &Manifest| {
                m.features
                    .iter()
                    .map(|f| f.name.clone())
                    .collect::<Vec<_>>()
            };
            let (a, b) = (names(self), names(other));
            if a != b {
                return differs("feature list", &a, &b);
            }
            return Err(
                "its features have the serving model's names but other signals, \
                        transforms, windows or parameters"
                    .into(),
            );
        }
        Ok(())
    }

    /// Schema, features and roles are supported by this build.
    #[expect(
        clippy::too_many_lines,
        reason = "manifest check: a flat list of independent refusals, each one message"
    )]
    pub fn check(&self) -> Result<(), String> {
        if self.schema != SCHEMA {
            return Err(format!(
                "schema {:?}, this build reads {SCHEMA:?}",
                self.schema
            ));
        }
        if !SUPPORTED_FEATURE_SPEC.contains(&self.feature_spec_version) {
            return Err(format!(
                "feature_spec_version {} is not supported (supported: {SUPPORTED_FEATURE_SPEC:?})",
                self.feature_spec_version
            ));
        }
        if self.features.is_empty() {
            return Err("no features".into());
        }
        if self.onnx.file.contains('/') || self.onnx.file.contains("..") {
            return Err(format!(
                "onnx.file {:?} must be a plain file name",
                self.onnx.file
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, f) in self.features.iter().enumerate() {
            if !seen.insert(f.name.as_str()) {
                return Err(format!("features[{i}] {:?}: duplicate name", f.name));
            }
            if !TRANSFORMS_V1.contains(&f.transform.as_str()) {
                return Err(format!(
                    "features[{i}] {:?}: transform {:?} is not in feature spec 1 ({TRANSFORMS_V1:?})",
                    f.name, f.transform
                ));
            }
            let window_ok = match &f.window {
                serde_json::Value::String(s) => s == "batch",
                serde_json::Value::Number(n) => n.as_u64().is_some_and(|n| n >= 1),
                _ => false,
            };
            if !window_ok {
                return Err(format!(
                    "features[{i}] {:?}: window {} must be a positive sample count or \"batch\"",
                    f.name, f.window
                ));
            }
            if f.transform == "ewma" {
                let alpha = f.params.get("alpha").and_then(serde_json::Value::as_f64);
                if !alpha.is_some_and(|a| a > 0.0 && a <= 1.0) {
                    return Err(format!(
                        "features[{i}] {:?}: ewma needs alpha in (0, 1]",
                        f.name
                    ));
                }
            }
        }
        let need: &[Role] = match self.task {
            Task::Classifier => &[Role::Label, Role::Probabilities],
            Task::Regressor => &[Role::Value],
            // score_samples is optional: a plain skl2onnx IsolationForest export only has the
            // decision function (the service then reports it as the score too).
            Task::Anomaly => &[Role::DecisionFunction],
        };
        for role in need {
            if self.output(*role).is_none() {
                return Err(format!(
                    "{:?} model has no output with role {:?}",
                    self.task,
                    role.as_str()
                ));
            }
        }
        if let Some(o) = self.output(Role::Contributions)
            && o.columns.is_empty()
        {
            return Err(format!(
                "output {:?} (role contributions) names no columns",
                o.name
            ));
        }
        if self.task == Task::Classifier && self.classes.is_empty() {
            return Err("classifier without classes".into());
        }
        if self.version.is_empty() {
            return Err("empty version".into());
        }
        Ok(())
    }
}
