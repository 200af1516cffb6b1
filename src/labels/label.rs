//! One lab result for one batch (docs/capture.md, "Labels"), its JSON form and its
//! validation: grade `A` | `B` | `reject`, defect `none` | `fat_bloom` | `sugar_bloom` |
//! `gritty` | `off_flavour`, yield in (0, 100] or not measured.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use crate::domain::Defect;

/// Longest batch id accepted (the capture writes integer strings).
pub(crate) const MAX_BATCH_ID: usize = 64;

/// A label, or a field of one, is not valid. Each message starts with the key it is about.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LabelError {
    /// Empty, too long, or with spaces or control characters.
    #[error("batch_id: {0:?} is not a batch id (1 to 64 characters, no spaces)")]
    BatchId(String),
    /// Not one of the grades.
    #[error("grade: {0:?} is not one of A, B, reject")]
    Grade(String),
    /// Not one of the defects.
    #[error("defect: {0:?} is not one of none, fat_bloom, sugar_bloom, gritty, off_flavour")]
    Defect(String),
    /// Not a number.
    #[error("yield_pct: {0:?} is not a number")]
    YieldNotNumber(String),
    /// Not finite, or outside (0, 100].
    #[error("yield_pct: {0} is not in (0, 100]")]
    YieldRange(f64),
    /// A JSON label payload that does not parse (unknown grade, missing key, …).
    #[error("not a label: {0}")]
    Payload(String),
}

/// The lab's quality grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grade {
    /// First grade.
    A,
    /// Second grade.
    B,
    /// Out of specification.
    #[serde(rename = "reject")]
    Reject,
}

impl Grade {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::A => "A",
            Grade::B => "B",
            Grade::Reject => "reject",
        }
    }
}

impl FromStr for Grade {
    type Err = LabelError;

    /// The contract's spelling, in any case, surrounding spaces ignored.
    fn from_str(s: &str) -> Result<Self, LabelError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "a" => Ok(Grade::A),
            "b" => Ok(Grade::B),
            "reject" => Ok(Grade::Reject),
            _ => Err(LabelError::Grade(s.to_string())),
        }
    }
}

impl FromStr for Defect {
    type Err = LabelError;

    /// The contract's spelling, in any case, surrounding spaces ignored; empty is `none`.
    fn from_str(s: &str) -> Result<Self, LabelError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "none" => Ok(Defect::None),
            "fat_bloom" => Ok(Defect::FatBloom),
            "sugar_bloom" => Ok(Defect::SugarBloom),
            "gritty" => Ok(Defect::Gritty),
            "off_flavour" => Ok(Defect::OffFlavour),
            _ => Err(LabelError::Defect(s.to_string())),
        }
    }
}

/// Where a label came from: `cli`, `csv:{file name}` or `mqtt` (any other text is kept as
/// it is, so that a newer writer's labels still read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum LabelSource {
    /// `chocoline label --batch …`.
    Cli,
    /// `chocoline label --csv FILE`: the file's name.
    Csv(String),
    /// The MQTT command topic.
    Mqtt,
    /// Anything else.
    Other(String),
}

impl From<String> for LabelSource {
    fn from(s: String) -> Self {
        match s.as_str() {
            "cli" => LabelSource::Cli,
            "mqtt" => LabelSource::Mqtt,
            _ => match s.strip_prefix("csv:") {
                Some(file) => LabelSource::Csv(file.to_string()),
                None => LabelSource::Other(s),
            },
        }
    }
}

impl From<LabelSource> for String {
    fn from(s: LabelSource) -> Self {
        s.to_string()
    }
}

impl fmt::Display for LabelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelSource::Cli => f.write_str("cli"),
            LabelSource::Csv(file) => write!(f, "csv:{file}"),
            LabelSource::Mqtt => f.write_str("mqtt"),
            LabelSource::Other(s) => f.write_str(s),
        }
    }
}

/// One line of `labels/labels.jsonl`: the lab's result for one batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// The batch id, as in the capture's `batch` lines.
    pub batch_id: String,
    /// Quality grade.
    pub grade: Grade,
    /// Defect found (`none` when the key is missing).
    #[serde(default)]
    pub defect: Defect,
    /// Measured yield in percent; None (`null`) when not measured.
    pub yield_pct: Option<f64>,
    /// Where it came from.
    pub source: LabelSource,
    /// When it was stored, ms since the epoch.
    pub at: i64,
}

impl Label {
    /// A label from the text a person typed or a lab sheet holds: every field is checked.
    /// `defect` and `yield_pct` may be missing or empty.
    pub fn parse(
        batch_id: &str,
        grade: &str,
        defect: Option<&str>,
        yield_pct: Option<&str>,
        source: LabelSource,
        at: i64,
    ) -> Result<Label, LabelError> {
        let label = Label {
            batch_id: batch_id.trim().to_string(),
            grade: grade.parse()?,
            defect: defect.unwrap_or("").parse()?,
            yield_pct: parse_yield(yield_pct.unwrap_or(""))?,
            source,
            at,
        };
        label.validate()?;
        Ok(label)
    }

    /// A label from a JSON payload (as stored, or as sent over MQTT), checked.
    pub fn from_json(text: &str) -> Result<Label, LabelError> {
        let label: Label =
            serde_json::from_str(text).map_err(|e| LabelError::Payload(e.to_string()))?;
        label.validate()?;
        Ok(label)
    }

    /// Check what the types do not: the batch id and the yield's range.
    pub fn validate(&self) -> Result<(), LabelError> {
        let id = &self.batch_id;
        if id.is_empty()
            || id.len() > MAX_BATCH_ID
            || id.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(LabelError::BatchId(id.clone()));
        }
        match self.yield_pct {
            Some(y) if !(y.is_finite() && y > 0.0 && y <= 100.0) => Err(LabelError::YieldRange(y)),
            _ => Ok(()),
        }
    }

    /// The stored line: JSON with its `\n`.
    pub fn to_line(&self) -> String {
        let mut s = serde_json::to_string(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

impl Label {
    /// `grade B defect none yield 81.2` (`yield not measured` when none): the result
    /// without its batch.
    pub fn result(&self) -> String {
        let y = self
            .yield_pct
            .map_or("not measured".to_string(), |y| y.to_string());
        format!(
            "grade {} defect {} yield {y}",
            self.grade.as_str(),
            self.defect.as_str()
        )
    }
}

impl fmt::Display for Label {
    /// `batch 1001 grade B defect none yield 81.2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "batch {} {}", self.batch_id, self.result())
    }
}

/// A yield as typed: empty is not measured; otherwise a number in (0, 100].
pub fn parse_yield(text: &str) -> Result<Option<f64>, LabelError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let y: f64 = t
        .parse()
        .map_err(|_| LabelError::YieldNotNumber(text.to_string()))?;
    if y.is_finite() && y > 0.0 && y <= 100.0 {
        Ok(Some(y))
    } else {
        Err(LabelError::YieldRange(y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTRACT: &str = r#"{"batch_id":"1001","grade":"B","defect":"none","yield_pct":81.2,"source":"cli","at":1796561000000}"#;

    #[test]
    fn the_contract_example_round_trips_byte_for_byte() {
        let l = Label::from_json(CONTRACT).unwrap();
        assert_eq!(l.grade, Grade::B);
        assert_eq!(l.source, LabelSource::Cli);
        assert_eq!(l.to_line(), format!("{CONTRACT}\n"));
        let p = Label::parse(
            "1001",
            "B",
            None,
            Some("81.2"),
            LabelSource::Cli,
            1_796_561_000_000,
        );
        assert_eq!(p.unwrap(), l);
        assert_eq!(l.to_string(), "batch 1001 grade B defect none yield 81.2");
    }

    #[test]
    fn every_spelling_of_the_contract_is_accepted() {
        for (s, g) in [
            ("A", Grade::A),
            ("b", Grade::B),
            (" reject ", Grade::Reject),
        ] {
            assert_eq!(s.parse::<Grade>().unwrap(), g);
            assert_eq!(g.as_str().parse::<Grade>().unwrap(), g);
        }
        for d in ["none", "fat_bloom", "sugar_bloom", "gritty", "off_flavour"] {
            let parsed: Defect = d.parse().unwrap();
            assert_eq!(parsed.as_str(), d);
            assert_eq!(serde_json::to_string(&parsed).unwrap(), format!("\"{d}\""));
        }
        assert_eq!("".parse::<Defect>().unwrap(), Defect::None);
        assert_eq!(serde_json::to_string(&Grade::Reject).unwrap(), "\"reject\"");
    }

    #[test]
    fn sources_keep_their_text() {
        for s in ["cli", "mqtt", "csv:lab-2026-03.csv", "future"] {
            let src = LabelSource::from(s.to_string());
            assert_eq!(String::from(src), s);
        }
        assert_eq!(
            LabelSource::from("csv:x.csv".to_string()),
            LabelSource::Csv("x.csv".into())
        );
    }

    #[test]
    fn each_problem_has_its_error_naming_the_key() {
        let p = |id: &str, g: &str, d: &str, y: &str| {
            Label::parse(id, g, Some(d), Some(y), LabelSource::Cli, 0).unwrap_err()
        };
        assert_eq!(p("1001", "C", "", ""), LabelError::Grade("C".into()));
        assert_eq!(
            p("1001", "A", "bloom", ""),
            LabelError::Defect("bloom".into())
        );
        assert_eq!(
            p("1001", "A", "", "abc"),
            LabelError::YieldNotNumber("abc".into())
        );
        assert_eq!(p("1001", "A", "", "0"), LabelError::YieldRange(0.0));
        assert_eq!(p("1001", "A", "", "100.5"), LabelError::YieldRange(100.5));
        assert!(matches!(p("1001", "A", "", "NaN"), LabelError::YieldRange(y) if y.is_nan()));
        assert!(matches!(
            p("1001", "A", "", "inf"),
            LabelError::YieldRange(_)
        ));
        assert_eq!(p(" ", "A", "", ""), LabelError::BatchId(String::new()));
        assert_eq!(p("10 01", "A", "", ""), LabelError::BatchId("10 01".into()));
        assert_eq!(
            p(&"9".repeat(65), "A", "", ""),
            LabelError::BatchId("9".repeat(65))
        );
        let keys = [
            (p("1", "C", "", ""), "grade:"),
            (p("1", "A", "x", ""), "defect:"),
            (p("1", "A", "", "x"), "yield_pct:"),
            (p("1", "A", "", "-1"), "yield_pct:"),
            (p("", "A", "", ""), "batch_id:"),
        ];
        for (e, key) in keys {
            assert!(e.to_string().starts_with(key), "{e}");
        }
        assert_eq!(
            Label::parse("1", "A", None, Some("100"), LabelSource::Cli, 0)
                .unwrap()
                .yield_pct,
            Some(100.0)
        );
    }

    #[test]
    fn payloads_are_checked_like_typed_labels() {
        let bad_grade = CONTRACT.replace(r#""grade":"B""#, r#""grade":"C""#);
        assert!(matches!(
            Label::from_json(&bad_grade),
            Err(LabelError::Payload(_))
        ));
        let bad_yield = CONTRACT.replace("81.2", "181.2");
        assert_eq!(
            Label::from_json(&bad_yield),
            Err(LabelError::YieldRange(181.2))
        );
        let no_defect = CONTRACT.replace(r#""defect":"none","#, "");
        assert_eq!(Label::from_json(&no_defect).unwrap().defect, Defect::None);
        let unmeasured = CONTRACT.replace("81.2", "null");
        let l = Label::from_json(&unmeasured).unwrap();
        assert_eq!(l.yield_pct, None);
        assert!(l.to_line().contains(r#""yield_pct":null"#));
        assert!(l.to_string().ends_with("yield not measured"));
        assert!(Label::from_json(&CONTRACT[..40]).is_err());
    }
}
