//! The drift reference of one model, read from its manifest (`reference`, docs/manifest.md):
//! frozen bin edges, reference counts, mean, σ and calibrated thresholds per feature.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

/// Thresholds used when a manifest gives none: the domain conventions' defaults.
pub const DEFAULT_THRESHOLDS: Thresholds = Thresholds {
    psi: 0.1,
    js: 0.1,
    w1_sigma: 0.1,
};

/// Why a reference is refused.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// Unreadable manifest.
    #[error("model {model}: manifest reference unreadable: {source}")]
    Json {
        /// Model name.
        model: String,
        /// Parser error.
        source: serde_json::Error,
    },
    /// Inconsistent bins.
    #[error("model {model}: reference feature \"{feature}\": {problem}")]
    Bins {
        /// Model name.
        model: String,
        /// Feature name.
        feature: String,
        /// What is wrong.
        problem: String,
    },
}

/// Drift thresholds of one feature.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Thresholds {
    /// PSI threshold.
    pub psi: f64,
    /// Jensen–Shannon distance threshold.
    pub js: f64,
    /// W1/σ threshold.
    pub w1_sigma: f64,
}

/// Reference of one feature.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FeatureReference {
    /// Feature name.
    pub name: String,
    /// `k + 1` strictly increasing edges.
    pub edges: Vec<f64>,
    /// `k + 2` counts: underflow, k regular bins, overflow.
    pub counts: Vec<u64>,
    /// Reference mean.
    pub mean: f64,
    /// Reference σ.
    pub std: f64,
    /// Calibrated thresholds (defaults when absent).
    #[serde(default)]
    pub thresholds: Option<Thresholds>,
    /// Counts over the same bins per product code (optional): a window is then compared
    /// with the mixture of its products' references (see `window.rs`).
    #[serde(default)]
    pub by_product: BTreeMap<String, Vec<u64>>,
}

impl FeatureReference {
    /// Bin index of a finite value (docs/manifest.md): 0 underflow, 1…k regular (the last
    /// closed on the right), k + 1 overflow.
    pub fn bin(&self, x: f64) -> usize {
        let k = self.edges.len() - 1;
        let i = self.edges.partition_point(|e| *e <= x);
        if i == k + 1 && self.edges.last().is_some_and(|e| *e == x) {
            k
        } else {
            i
        }
    }
}

/// The drift reference of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelReference {
    /// Model name.
    pub model: Arc<str>,
    /// Model version.
    pub version: Arc<str>,
    /// Per feature.
    pub features: Vec<FeatureReference>,
}

#[derive(Deserialize)]
struct RawManifest {
    name: String,
    version: String,
    #[serde(default)]
    reference: Option<RawReference>,
}

#[derive(Deserialize)]
struct RawReference {
    features: Vec<FeatureReference>,
}

impl ModelReference {
    /// Parse from a manifest's JSON text; `Ok(None)` when the manifest has no reference.
    pub fn from_manifest_str(model: &str, json: &str) -> Result<Option<Self>, ReferenceError> {
        let raw: RawManifest =
            serde_json::from_str(json).map_err(|source| ReferenceError::Json {
                model: model.to_string(),
                source,
            })?;
        let Some(r) = raw.reference else {
            return Ok(None);
        };
        for f in &r.features {
            let bad = |problem: String| ReferenceError::Bins {
                model: raw.name.clone(),
                feature: f.name.clone(),
                problem,
            };
            if f.edges.len() < 2 {
                return Err(bad(format!("{} edges, need at least 2", f.edges.len())));
            }
            if !f.edges.windows(2).all(|w| w[0] < w[1]) || f.edges.iter().any(|e| !e.is_finite()) {
                return Err(bad("edges are not finite and strictly increasing".into()));
            }
            if f.counts.len() != f.edges.len() + 1 {
                return Err(bad(format!(
                    "{} counts for {} edges (need edges + 1: underflow, bins, overflow)",
                    f.counts.len(),
                    f.edges.len()
                )));
            }
            if let Some((p, c)) = f
                .by_product
                .iter()
                .find(|(_, c)| c.len() != f.counts.len() || c.iter().sum::<u64>() == 0)
            {
                return Err(bad(format!(
                    "by_product \"{p}\": {} counts summing to {} (need {} counts, not all 0)",
                    c.len(),
                    c.iter().sum::<u64>(),
                    f.counts.len()
                )));
            }
        }
        Ok(Some(ModelReference {
            model: raw.name.into(),
            version: raw.version.into(),
            features: r.features,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(edges: Vec<f64>) -> FeatureReference {
        FeatureReference {
            name: "f".into(),
            counts: vec![0; edges.len() + 1],
            edges,
            mean: 0.0,
            std: 1.0,
            thresholds: None,
            by_product: BTreeMap::new(),
        }
    }

    #[test]
    fn bins_follow_the_manifest_table() {
        let f = feature(vec![0.9, 1.3, 1.5, 2.1]); // k = 3
        assert_eq!(f.bin(0.5), 0);
        assert_eq!(f.bin(0.9), 1);
        assert_eq!(f.bin(1.29), 1);
        assert_eq!(f.bin(1.3), 2);
        assert_eq!(f.bin(1.5), 3);
        assert_eq!(f.bin(2.1), 3, "last regular bin is closed on the right");
        assert_eq!(f.bin(2.1000001), 4);
    }

    #[test]
    fn parses_and_refuses() {
        let ok = r#"{"name":"q","version":"1.0.0","reference":{"samples":3,"features":[
            {"name":"m","edges":[0,1,2],"counts":[0,2,1,0],"mean":1,"std":0.5,
             "thresholds":{"psi":0.2,"js":0.15,"w1_sigma":0.3}}]}}"#;
        let r = ModelReference::from_manifest_str("q", ok).unwrap().unwrap();
        assert_eq!(r.features[0].thresholds.unwrap().js, 0.15);
        let bad = ok.replace("[0,2,1,0]", "[0,2,1]");
        assert!(
            ModelReference::from_manifest_str("q", &bad)
                .unwrap_err()
                .to_string()
                .contains("counts")
        );
        let bad = ok.replace("[0,1,2]", "[0,2,1]");
        assert!(ModelReference::from_manifest_str("q", &bad).is_err());
        let by = ok.replace(
            r#""mean":1"#,
            r#""by_product":{"DARK70":[0,1,1,0]},"mean":1"#,
        );
        let r = ModelReference::from_manifest_str("q", &by)
            .unwrap()
            .unwrap();
        assert_eq!(r.features[0].by_product["DARK70"], vec![0, 1, 1, 0]);
        for wrong in ["[0,1,1]", "[0,0,0,0]"] {
            let bad = by.replace("[0,1,1,0]", wrong);
            let e = ModelReference::from_manifest_str("q", &bad).unwrap_err();
            assert!(e.to_string().contains("by_product \"DARK70\""), "{e}");
        }
        assert!(
            ModelReference::from_manifest_str("q", r#"{"name":"q","version":"1"}"#)
                .unwrap()
                .is_none()
        );
    }
}
