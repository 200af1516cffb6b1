//! The lines of a capture segment (docs/capture.md, "Lines"): what the capture stage writes
//! and what `chocoline label` and `export` read. One JSON object per line, tagged by `"k"`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{FeatureLevel, Prediction, PredictionOutput, Quality, ReasonCode};

/// One line of a capture segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Line {
    /// One poll cycle of one device.
    Sample(SampleLine),
    /// A batch that closed.
    Batch(BatchLine),
    /// A model's prediction, with the feature vector it was computed from.
    Prediction(PredictionLine),
}

impl Line {
    /// Milliseconds since the epoch of the line.
    pub fn ts(&self) -> i64 {
        match self {
            Line::Sample(s) => s.ts,
            Line::Batch(b) => b.ts,
            Line::Prediction(p) => p.ts,
        }
    }
}

/// `{"k":"sample", …}`: one poll cycle of one device, as acquired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleLine {
    /// Start of the poll cycle, ms since the epoch.
    pub ts: i64,
    /// `[[devices]] name`.
    pub device: String,
    /// Engineering value per register; None where it was NaN (a failed read).
    pub values: BTreeMap<String, Option<f64>>,
    /// Quality per register.
    pub quality: BTreeMap<String, Quality>,
}

/// `{"k":"batch", …}`: a batch that closed (the batch-id register changed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchLine {
    /// When it was written: the first sample of the next batch.
    pub ts: i64,
    /// The batch id as an integer string.
    pub batch_id: String,
    /// The product register's value at the batch's last sample.
    pub product: Option<String>,
    /// The lot signals' values joined with `/`.
    pub lot: Option<String>,
    /// First sample with this batch id.
    pub start_ms: i64,
    /// First sample of the next batch (exclusive end).
    pub end_ms: i64,
    /// Samples of the batch-id device the batch spanned.
    pub samples: u64,
}

/// `{"k":"prediction", …}`: what a model computed, and from what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionLine {
    /// Time of the feature vector, ms since the epoch.
    pub ts: i64,
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: String,
    /// Rolling window (`sample`) or closed batch (`batch`).
    pub level: FeatureLevel,
    /// Batch id, as in the batch lines.
    pub batch_id: Option<String>,
    /// The output, as in the `{prefix}/predictions/{model}` payloads.
    pub output: PredictionOutput,
    /// Confidence, 0–1.
    pub confidence: f64,
    /// Whether the model may raise alerts.
    pub decides: bool,
    /// Feature values by name, in the model's input order; None where not finite.
    pub features: Vec<(String, Option<f64>)>,
    /// Problems found in the inputs, per signal.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub flags: BTreeMap<String, Vec<ReasonCode>>,
    /// `"shadow":true`: made by the model's shadow candidate (`[models.<name>] candidate`,
    /// docs/shadow.md), whose own manifest version is in `version`; absent for the serving
    /// model's predictions.
    #[serde(default, skip_serializing_if = "crate::domain::is_false")]
    pub shadow: bool,
}

impl From<&Prediction> for PredictionLine {
    fn from(p: &Prediction) -> Self {
        let fv = &p.features;
        PredictionLine {
            ts: p.ts.0,
            model: p.model.to_string(),
            version: p.model_version.to_string(),
            level: fv.level,
            batch_id: p.batch.batch_id.clone(),
            output: p.output.clone(),
            confidence: p.confidence,
            decides: p.decides,
            features: (fv.names.iter().zip(&fv.values))
                .map(|(n, v)| (n.clone(), v.is_finite().then_some(*v)))
                .collect(),
            flags: fv.flags.clone(),
            shadow: p.shadow,
        }
    }
}

/// A line's JSON text with its `\n`.
pub fn encode(line: &Line) -> String {
    let mut s = serde_json::to_string(line).unwrap_or_default();
    s.push('\n');
    s
}

/// A line from its text; None for a torn or foreign line (readers skip it).
pub fn decode(text: &str) -> Option<Line> {
    serde_json::from_str(text).ok()
}

/// Segment file name for the segment numbered `n` whose first line is at `first_ts`.
pub fn segment_name(first_ts: i64, n: u64) -> String {
    format!("capture-{:013}-{n:06}.jsonl", first_ts.max(0))
}

/// The segment files of the capture folder `dir`, by number (files only; other names are
/// ignored; a missing folder has none).
pub fn list_segments(dir: &std::path::Path) -> std::io::Result<Vec<(u64, std::path::PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(n) = entry.file_name().to_str().and_then(segment_number) else {
            continue;
        };
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            found.push((n, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// The number of a segment file name, or None when the name is not a segment's.
pub fn segment_number(name: &str) -> Option<u64> {
    let rest = name.strip_prefix("capture-")?.strip_suffix(".jsonl")?;
    let (ts, n) = rest.split_once('-')?;
    (ts.len() == 13 && ts.bytes().all(|b| b.is_ascii_digit())).then_some(())?;
    n.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_torn_ones_are_none() {
        let s = Line::Sample(SampleLine {
            ts: 5,
            device: "plc".into(),
            values: [("batch_id".to_string(), Some(1001.0)), ("ph".into(), None)].into(),
            quality: [
                ("batch_id".to_string(), Quality::Good),
                ("ph".into(), Quality::CommError),
            ]
            .into(),
        });
        let text = encode(&s);
        assert!(text.starts_with(r#"{"k":"sample","ts":5,"#), "{text}");
        assert!(text.contains(r#""ph":null"#) && text.contains(r#""ph":"comm_error""#));
        assert_eq!(decode(text.trim_end()), Some(s));
        let b = Line::Batch(BatchLine {
            ts: 9,
            batch_id: "1001".into(),
            product: Some("3".into()),
            lot: None,
            start_ms: 1,
            end_ms: 9,
            samples: 8,
        });
        assert_eq!(decode(&encode(&b)), Some(b));
        assert_eq!(decode(&text[..text.len() / 2]), None);
    }

    #[test]
    fn a_shadow_prediction_line_says_so_and_a_serving_one_is_unchanged() {
        let line = |shadow: bool, version: &str| {
            Line::Prediction(PredictionLine {
                ts: 7,
                model: "bloom".into(),
                version: version.into(),
                level: FeatureLevel::Sample,
                batch_id: Some("1001".into()),
                output: PredictionOutput::Value { value: 1.0 },
                confidence: 0.5,
                decides: !shadow,
                features: vec![("x".into(), Some(2.0))],
                flags: BTreeMap::new(),
                shadow,
            })
        };
        let serving = encode(&line(false, "2.0.0"));
        assert!(!serving.contains("shadow"), "{serving}");
        let shadow = encode(&line(true, "2.1.0"));
        assert!(shadow.contains(r#""shadow":true"#), "{shadow}");
        let strip = |t: &str, v: &str| t.replace(r#","shadow":true"#, "").replace(v, "V");
        assert_eq!(
            strip(&shadow, "2.1.0").replace("false", "B"),
            strip(&serving, "2.0.0").replace("true", "B"),
            "the same fields but the flag, the version and decides"
        );
        assert_eq!(decode(&shadow), Some(line(true, "2.1.0")));
        // A line written before the flag existed reads as a serving prediction's.
        assert_eq!(decode(&serving), Some(line(false, "2.0.0")));
    }

    #[test]
    fn segment_names_sort_in_writing_order_and_parse_back() {
        assert_eq!(
            segment_name(1_796_560_000_000, 7),
            "capture-1796560000000-000007.jsonl"
        );
        assert_eq!(
            segment_number("capture-1796560000000-000007.jsonl"),
            Some(7)
        );
        assert_eq!(segment_number("capture-17-000007.jsonl"), None);
        assert_eq!(segment_number("labels.jsonl"), None);
    }
}
