//! The feature spec of one model, parsed from its manifest (`feature_spec_version`,
//! `level`, `features`; docs/feature-spec.md and docs/manifest.md). Only version 1 is
//! supported: any other version is refused, so a model trained with transforms this agent
//! does not implement can never be served with silently different inputs.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::domain::FeatureLevel;

use super::transform::Transform;

/// Feature-spec versions this agent implements.
pub const SUPPORTED_VERSIONS: &[u32] = &[1];

/// Why a manifest's feature spec was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The manifest is not valid JSON or lacks a field.
    #[error("model {model}: manifest feature spec unreadable: {source}")]
    Json {
        /// Model name.
        model: String,
        /// Parser error.
        source: serde_json::Error,
    },
    /// Unsupported `feature_spec_version`.
    #[error(
        "model {model}: feature_spec_version {found} is not supported (this agent supports {SUPPORTED_VERSIONS:?})"
    )]
    UnsupportedVersion {
        /// Model name.
        model: String,
        /// Version in the manifest.
        found: u32,
    },
    /// Something wrong with one entry.
    #[error("model {model}: feature {index} \"{feature}\": {problem}")]
    Entry {
        /// Model name.
        model: String,
        /// 0-based position in `features`.
        index: usize,
        /// Feature name.
        feature: String,
        /// What is wrong.
        problem: String,
    },
    /// No features at all.
    #[error("model {model}: the feature spec is empty")]
    Empty {
        /// Model name.
        model: String,
    },
}

/// Which samples a feature is computed over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Window {
    /// The newest N samples of the signal.
    Samples(usize),
    /// The samples of the last span of data time (Rust-side extension: a string such as
    /// `"10m"`; version-1 manifests written by `models/` use counts).
    Duration(Duration),
    /// All samples of the closed batch.
    Batch,
}

/// One model input.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureEntry {
    /// Input name.
    pub name: String,
    /// Canonical signal name (before `signal_map`).
    pub signal: String,
    /// Transform.
    pub transform: Transform,
    /// Window.
    pub window: Window,
}

/// A model's complete feature spec.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSpec {
    /// Model name.
    pub model: Arc<str>,
    /// Feature-spec version (always supported once parsed).
    pub version: u32,
    /// Sample or batch level.
    pub level: FeatureLevel,
    /// Inputs in model order.
    pub entries: Vec<FeatureEntry>,
    /// Input names in model order (shared by every vector this spec emits).
    pub names: Arc<[String]>,
}

#[derive(Deserialize)]
struct RawManifest {
    name: String,
    #[serde(default = "default_level")]
    level: String,
    feature_spec_version: u32,
    features: Vec<RawEntry>,
}

fn default_level() -> String {
    "sample".into()
}

#[derive(Deserialize)]
struct RawEntry {
    name: String,
    signal: String,
    transform: String,
    window: serde_json::Value,
    #[serde(default)]
    params: serde_json::Map<String, serde_json::Value>,
}

impl FeatureSpec {
    /// Parse the feature spec out of a manifest's JSON text. `model` names the model in
    /// errors when the manifest cannot even be read.
    pub fn from_manifest_str(model: &str, json: &str) -> Result<Self, SpecError> {
        let raw: RawManifest = serde_json::from_str(json).map_err(|source| SpecError::Json {
            model: model.to_string(),
            source,
        })?;
        let model = raw.name;
        if !SUPPORTED_VERSIONS.contains(&raw.feature_spec_version) {
            return Err(SpecError::UnsupportedVersion {
                model,
                found: raw.feature_spec_version,
            });
        }
        let level = match raw.level.as_str() {
            "sample" => FeatureLevel::Sample,
            "batch" => FeatureLevel::Batch,
            other => {
                return Err(SpecError::Entry {
                    model,
                    index: 0,
                    feature: String::new(),
                    problem: format!("level \"{other}\" is neither \"sample\" nor \"batch\""),
                });
            }
        };
        if raw.features.is_empty() {
            return Err(SpecError::Empty { model });
        }
        let mut entries = Vec::with_capacity(raw.features.len());
        for (index, e) in raw.features.into_iter().enumerate() {
            let bad = |problem: String| SpecError::Entry {
                model: model.clone(),
                index,
                feature: e.name.clone(),
                problem,
            };
            if entries.iter().any(|x: &FeatureEntry| x.name == e.name) {
                return Err(bad("duplicate feature name".into()));
            }
            let transform = parse_transform(&e.transform, &e.params).map_err(&bad)?;
            let window = parse_window(&e.window).map_err(&bad)?;
            match (level, window) {
                (FeatureLevel::Batch, Window::Batch) => {}
                (FeatureLevel::Sample, Window::Samples(_) | Window::Duration(_)) => {}
                (FeatureLevel::Batch, _) => {
                    return Err(bad("a batch-level model needs window \"batch\"".into()));
                }
                (FeatureLevel::Sample, Window::Batch) => {
                    return Err(bad("window \"batch\" in a sample-level model".into()));
                }
            }
            entries.push(FeatureEntry {
                name: e.name.clone(),
                signal: e.signal.clone(),
                transform,
                window,
            });
        }
        let names: Arc<[String]> = entries.iter().map(|e| e.name.clone()).collect();
        Ok(FeatureSpec {
            model: model.into(),
            version: raw.feature_spec_version,
            level,
            entries,
            names,
        })
    }
}

/// Parse a transform name and its params (used by the golden-pair test too).
pub fn parse_transform(
    name: &str,
    params: &serde_json::Map<String, serde_json::Value>,
) -> Result<Transform, String> {
    Ok(match name {
        "last" => Transform::Last,
        "mean" => Transform::Mean,
        "std" => Transform::Std,
        "min" => Transform::Min,
        "max" => Transform::Max,
        "slope" => Transform::Slope,
        "delta" => Transform::Delta,
        "ewma" => {
            let alpha = params
                .get("alpha")
                .and_then(serde_json::Value::as_f64)
                .ok_or("ewma needs a numeric params.alpha")?;
            if !(alpha > 0.0 && alpha <= 1.0) {
                return Err(format!("ewma alpha {alpha} is outside (0, 1]"));
            }
            Transform::Ewma { alpha }
        }
        other => {
            return Err(format!(
                "unknown transform \"{other}\" (version 1 has last, mean, std, min, max, slope, ewma, delta)"
            ));
        }
    })
}

fn parse_window(v: &serde_json::Value) -> Result<Window, String> {
    match v {
        // `usize::try_from`, not `as`: on 32-bit ARM a count above u32::MAX would wrap to a
        // small window instead of being refused.
        serde_json::Value::Number(n) => match n.as_u64().and_then(|k| usize::try_from(k).ok()) {
            Some(k) if k >= 1 => Ok(Window::Samples(k)),
            _ => Err(format!(
                "window {n} is not a positive sample count (1..={})",
                usize::MAX
            )),
        },
        serde_json::Value::String(s) if s == "batch" => Ok(Window::Batch),
        serde_json::Value::String(s) => humantime::parse_duration(s)
            .ok()
            .filter(|d| !d.is_zero())
            .map(Window::Duration)
            .ok_or_else(|| format!("window \"{s}\" is neither \"batch\" nor a duration")),
        other => Err(format!("window {other} is neither a count nor \"batch\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(version: u32, level: &str, features: &str) -> String {
        format!(
            r#"{{"name":"bloom","level":"{level}","feature_spec_version":{version},"features":[{features}],"other":1}}"#
        )
    }

    #[test]
    fn parses_sample_and_batch_specs() {
        let s = FeatureSpec::from_manifest_str(
            "bloom",
            &manifest(
                1,
                "sample",
                r#"{"name":"t_mean","signal":"temperature","transform":"mean","window":60,"params":{}},
                   {"name":"t_ewma","signal":"temperature","transform":"ewma","window":"10m","params":{"alpha":0.1}}"#,
            ),
        )
        .unwrap();
        assert_eq!(s.level, FeatureLevel::Sample);
        assert_eq!(s.entries[0].window, Window::Samples(60));
        assert_eq!(s.entries[1].transform, Transform::Ewma { alpha: 0.1 });
        assert_eq!(
            s.entries[1].window,
            Window::Duration(Duration::from_secs(600))
        );
        assert_eq!(&*s.names, &["t_mean".to_string(), "t_ewma".to_string()]);

        let b = FeatureSpec::from_manifest_str(
            "q",
            &manifest(
                1,
                "batch",
                r#"{"name":"m","signal":"moisture","transform":"mean","window":"batch"}"#,
            ),
        )
        .unwrap();
        assert_eq!(b.entries[0].window, Window::Batch);
    }

    #[test]
    fn refuses_unsupported_version_and_bad_entries() {
        let e = FeatureSpec::from_manifest_str(
            "bloom",
            &manifest(
                2,
                "sample",
                r#"{"name":"a","signal":"x","transform":"mean","window":3}"#,
            ),
        )
        .unwrap_err();
        assert!(
            matches!(e, SpecError::UnsupportedVersion { found: 2, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("feature_spec_version 2"));
        for (f, needle) in [
            (
                r#"{"name":"a","signal":"x","transform":"median","window":3}"#,
                "unknown transform",
            ),
            (
                r#"{"name":"a","signal":"x","transform":"ewma","window":3}"#,
                "alpha",
            ),
            (
                r#"{"name":"a","signal":"x","transform":"ewma","window":3,"params":{"alpha":1.5}}"#,
                "alpha",
            ),
            (
                r#"{"name":"a","signal":"x","transform":"mean","window":0}"#,
                "positive",
            ),
            (
                r#"{"name":"a","signal":"x","transform":"mean","window":"batch"}"#,
                "sample-level",
            ),
            (
                r#"{"name":"a","signal":"x","transform":"mean","window":3},{"name":"a","signal":"y","transform":"max","window":3}"#,
                "duplicate",
            ),
        ] {
            let e = FeatureSpec::from_manifest_str("bloom", &manifest(1, "sample", f)).unwrap_err();
            assert!(e.to_string().contains(needle), "{e} lacks {needle}");
        }
        assert!(matches!(
            FeatureSpec::from_manifest_str("bloom", &manifest(1, "sample", "")),
            Err(SpecError::Empty { .. })
        ));
        assert!(matches!(
            FeatureSpec::from_manifest_str("bloom", "{not json"),
            Err(SpecError::Json { .. })
        ));
    }

    /// 2^32 samples: a count `as usize` would wrap to 0 on 32-bit ARM (armv7). There it must be
    /// refused by name; on 64-bit targets it is a (huge) valid count, taken exactly.
    #[test]
    fn a_window_beyond_usize_is_refused_not_wrapped() {
        let f = r#"{"name":"a","signal":"x","transform":"mean","window":4294967296}"#;
        let r = FeatureSpec::from_manifest_str("bloom", &manifest(1, "sample", f));
        #[cfg(target_pointer_width = "32")]
        {
            let e = r.unwrap_err().to_string();
            assert!(e.contains("window 4294967296"), "{e}");
            assert!(e.contains("1..=4294967295"), "{e}");
        }
        #[cfg(target_pointer_width = "64")]
        assert_eq!(r.unwrap().entries[0].window, Window::Samples(1 << 32));
    }
}

/// Why the specs of the enabled models could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The manifest file could not be read.
    #[error("model {model}: cannot read {path}: {source}")]
    Io {
        /// Model folder name.
        model: String,
        /// Manifest path.
        path: std::path::PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The spec is refused.
    #[error(transparent)]
    Spec(#[from] SpecError),
}

/// Load the feature specs of `enabled` models from `<dir>/<name>/manifest.json`, refusing
/// any unsupported `feature_spec_version` (the agent must not start with such a model).
pub fn load_specs(
    dir: &std::path::Path,
    enabled: &[String],
) -> Result<Vec<FeatureSpec>, LoadError> {
    let folders: Vec<(String, std::path::PathBuf)> =
        enabled.iter().map(|n| (n.clone(), dir.join(n))).collect();
    load_specs_in(&folders)
}

/// Load the feature specs of models given as `(name, folder)` (the folder holding
/// `manifest.json`: shipped or installed).
pub fn load_specs_in(
    folders: &[(String, std::path::PathBuf)],
) -> Result<Vec<FeatureSpec>, LoadError> {
    folders
        .iter()
        .map(|(name, folder)| {
            let path = folder.join("manifest.json");
            let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Io {
                model: name.clone(),
                path: path.clone(),
                source,
            })?;
            Ok(FeatureSpec::from_manifest_str(name, &text)?)
        })
        .collect()
}
