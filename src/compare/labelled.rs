//! Both models judged against the lab: one answer per batch and model, compared with the
//! batch's label.
//!
//! - **The batch's answer.** A batch-level model (quality, yield) scores a batch once, when
//!   it closes: its last prediction of the batch is the answer. A window-level classifier
//!   (bloom) scores every window: the label it gave most often over the batch is the answer
//!   (a tie goes to the label first in alphabetical order).
//! - **The truth.** Grade for a classifier whose classes are grades (`A`, `B`, `reject`);
//!   the defect for one whose classes are bloom labels (`fat_bloom`, `sugar_bloom`; any
//!   other defect counts as `none`); the measured yield for a regressor. An anomaly detector
//!   has no lab label: it is compared by agreement only.

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::{Defect, PredictionOutput};
use crate::labels::Label;

/// What the lab's label says that a model's output can be checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The quality grade.
    Grade,
    /// Fat or sugar bloom, else `none`.
    Bloom,
    /// The measured yield, %.
    Yield,
}

impl Target {
    /// The target a model's output is checked against; None for an anomaly detector or a
    /// classifier of other classes.
    pub fn of(o: &PredictionOutput) -> Option<Target> {
        match o {
            PredictionOutput::Value { .. } => Some(Target::Yield),
            PredictionOutput::Anomaly { .. } => None,
            PredictionOutput::Class { probabilities, .. } => {
                let has = |c: &str| probabilities.iter().any(|(l, _)| l == c);
                if has("reject") {
                    Some(Target::Grade)
                } else if has("fat_bloom") {
                    Some(Target::Bloom)
                } else {
                    None
                }
            }
        }
    }

    /// The label's answer for this target; None when the label has none (yield not measured).
    pub fn truth(self, l: &Label) -> Option<Answer> {
        match self {
            Target::Grade => Some(Answer::Label(l.grade.as_str().into())),
            Target::Bloom => Some(Answer::Label(
                match l.defect {
                    Defect::FatBloom | Defect::SugarBloom => l.defect.as_str(),
                    _ => "none",
                }
                .into(),
            )),
            Target::Yield => l.yield_pct.map(Answer::Value),
        }
    }
}

/// One answer about one batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A class label.
    Label(String),
    /// A value.
    Value(f64),
}

/// What one model said over one batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    labels: BTreeMap<String, u64>,
    last_value: Option<(i64, f64)>,
    last_label: Option<(i64, String)>,
    batch_level: bool,
}

impl Tally {
    /// Take one prediction of the batch (`batch_level`: the model scores closed batches).
    pub fn add(&mut self, ts: i64, o: &PredictionOutput, batch_level: bool) {
        self.batch_level |= batch_level;
        match o {
            PredictionOutput::Value { value } => keep_last(&mut self.last_value, ts, *value),
            PredictionOutput::Class { label, .. } => {
                *self.labels.entry(label.clone()).or_default() += 1;
                keep_last(&mut self.last_label, ts, label.clone());
            }
            PredictionOutput::Anomaly { .. } => {}
        }
    }

    /// The batch's answer (see the module docs); None when nothing was predicted.
    pub fn answer(&self) -> Option<Answer> {
        if let Some((_, v)) = self.last_value {
            return Some(Answer::Value(v));
        }
        if self.batch_level {
            return self
                .last_label
                .as_ref()
                .map(|(_, l)| Answer::Label(l.clone()));
        }
        let most = self.labels.values().copied().max()?;
        (self.labels.iter())
            .find(|(_, n)| **n == most)
            .map(|(l, _)| Answer::Label(l.clone()))
    }
}

fn keep_last<T>(slot: &mut Option<(i64, T)>, ts: i64, v: T) {
    if slot.as_ref().is_none_or(|(t, _)| ts >= *t) {
        *slot = Some((ts, v));
    }
}

/// One model's figures on the labelled batches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Batches judged.
    pub batches: u64,
    /// Classifier: batches whose answer is the label.
    pub correct: u64,
    /// Classifier: macro-averaged F1 over the classes seen in the labels or the answers.
    pub macro_f1: Option<f64>,
    /// Regressor: mean absolute error.
    pub mae: Option<f64>,
    /// Regressor: mean of (predicted − measured).
    pub bias: Option<f64>,
}

impl Figures {
    /// Figures of `(answer, truth)` pairs.
    pub fn of(pairs: &[(Answer, Answer)]) -> Figures {
        let mut f = Figures {
            batches: pairs.len() as u64,
            ..Figures::default()
        };
        let values: Vec<(f64, f64)> = (pairs.iter())
            .filter_map(|p| match p {
                (Answer::Value(a), Answer::Value(t)) => Some((*a, *t)),
                _ => None,
            })
            .collect();
        let labels: Vec<(&str, &str)> = (pairs.iter())
            .filter_map(|p| match p {
                (Answer::Label(a), Answer::Label(t)) => Some((a.as_str(), t.as_str())),
                _ => None,
            })
            .collect();
        if !values.is_empty() {
            let n = values.len() as f64;
            f.mae = Some(values.iter().map(|(a, t)| (a - t).abs()).sum::<f64>() / n);
            f.bias = Some(values.iter().map(|(a, t)| a - t).sum::<f64>() / n);
        }
        if !labels.is_empty() {
            f.correct = labels.iter().filter(|(a, t)| a == t).count() as u64;
            f.macro_f1 = Some(macro_f1(&labels));
        }
        f
    }

    /// Classifier: share of batches whose answer is the label.
    pub fn accuracy(&self) -> Option<f64> {
        (self.macro_f1.is_some() && self.batches > 0)
            .then(|| self.correct as f64 / self.batches as f64)
    }
}

/// Macro-averaged F1 of `(answer, truth)` over every class that appears in either.
fn macro_f1(pairs: &[(&str, &str)]) -> f64 {
    let classes: BTreeSet<&str> = pairs.iter().flat_map(|(a, t)| [*a, *t]).collect();
    let f1 = |c: &str| {
        let tp = pairs.iter().filter(|(a, t)| *a == c && *t == c).count() as f64;
        let predicted = pairs.iter().filter(|(a, _)| *a == c).count() as f64;
        let actual = pairs.iter().filter(|(_, t)| *t == c).count() as f64;
        if predicted + actual == 0.0 {
            0.0
        } else {
            2.0 * tp / (predicted + actual)
        }
    };
    classes.iter().map(|c| f1(c)).sum::<f64>() / classes.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(l: &str) -> PredictionOutput {
        PredictionOutput::Class {
            label: l.into(),
            probabilities: vec![("none".into(), 0.5), ("fat_bloom".into(), 0.5)],
        }
    }

    #[test]
    fn a_window_model_answers_with_its_most_frequent_label_a_batch_model_with_its_last() {
        let mut t = Tally::default();
        for (ts, l) in [
            (1, "none"),
            (2, "fat_bloom"),
            (3, "fat_bloom"),
            (4, "none"),
            (5, "fat_bloom"),
        ] {
            t.add(ts, &class(l), false);
        }
        assert_eq!(t.answer(), Some(Answer::Label("fat_bloom".into())));
        let mut b = Tally::default();
        b.add(9, &class("B"), true);
        b.add(3, &class("A"), true);
        assert_eq!(b.answer(), Some(Answer::Label("B".into())));
        assert_eq!(Tally::default().answer(), None);
        assert_eq!(Target::of(&class("none")), Some(Target::Bloom));
    }

    #[test]
    fn figures_count_hits_f1_and_errors() {
        let l = |s: &str| Answer::Label(s.into());
        let f = Figures::of(&[
            (l("A"), l("A")),
            (l("B"), l("A")),
            (l("B"), l("B")),
            (l("A"), l("A")),
        ]);
        assert_eq!((f.batches, f.correct), (4, 3));
        // A: tp 2, predicted 2, actual 3 → 0.8; B: tp 1, predicted 2, actual 1 → 2/3.
        assert!((f.macro_f1.unwrap() - (0.8 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(f.accuracy(), Some(0.75));
        let v = Figures::of(&[
            (Answer::Value(80.0), Answer::Value(81.0)),
            (Answer::Value(83.0), Answer::Value(82.0)),
        ]);
        assert_eq!((v.mae, v.bias, v.accuracy()), (Some(1.0), Some(0.0), None));
    }
}
