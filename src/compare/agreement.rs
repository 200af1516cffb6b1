//! How often the serving model and its candidate said the same thing about the same feature
//! vector: both predictions of one vector carry its timestamp, so they pair by `ts`.

use std::collections::BTreeMap;

use crate::domain::PredictionOutput;

/// Agreement over the vectors both models scored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Agreement {
    /// Vectors scored by both.
    pub paired: u64,
    /// Vectors only the serving model scored (the candidate failed, or was not loaded yet).
    pub serving_only: u64,
    /// Vectors only the candidate scored.
    pub candidate_only: u64,
    /// Vectors on which both gave the same label (classifier) or decision (anomaly); for a
    /// regressor, values within [`VALUE_TOLERANCE`] of each other.
    pub same: u64,
    /// Classifier and anomaly detector: `(serving, candidate)` label → vectors.
    pub table: BTreeMap<(String, String), u64>,
    /// Regressor: the sum and the largest of `|serving − candidate|`.
    pub abs_diff_sum: f64,
    /// Regressor: the largest `|serving − candidate|`.
    pub abs_diff_max: f64,
}

/// Two regressor values this close count as the same answer (yield in percentage points).
pub const VALUE_TOLERANCE: f64 = 0.5;

impl Agreement {
    /// Pair the serving and candidate outputs by vector time.
    pub fn of(
        serving: &BTreeMap<i64, PredictionOutput>,
        cand: &BTreeMap<i64, PredictionOutput>,
    ) -> Self {
        let mut a = Agreement::default();
        for (ts, s) in serving {
            match cand.get(ts) {
                Some(c) => a.pair(s, c),
                None => a.serving_only += 1,
            }
        }
        a.candidate_only = cand.keys().filter(|ts| !serving.contains_key(ts)).count() as u64;
        a
    }

    fn pair(&mut self, s: &PredictionOutput, c: &PredictionOutput) {
        self.paired += 1;
        if let (PredictionOutput::Value { value: x }, PredictionOutput::Value { value: y }) = (s, c)
        {
            let d = (x - y).abs();
            self.abs_diff_sum += d;
            self.abs_diff_max = self.abs_diff_max.max(d);
            self.same += u64::from(d <= VALUE_TOLERANCE);
            return;
        }
        let (ls, lc) = (verdict(s), verdict(c));
        self.same += u64::from(ls == lc);
        *self.table.entry((ls, lc)).or_default() += 1;
    }

    /// Share of paired vectors with the same answer; None when nothing paired.
    pub fn share(&self) -> Option<f64> {
        (self.paired > 0).then(|| self.same as f64 / self.paired as f64)
    }

    /// Regressor: mean `|serving − candidate|`; None when nothing paired.
    pub fn mean_abs_diff(&self) -> Option<f64> {
        (self.paired > 0).then(|| self.abs_diff_sum / self.paired as f64)
    }
}

/// A classifier's label, or `anomaly` / `normal`; a regressor's value has no label.
pub fn verdict(o: &PredictionOutput) -> String {
    match o {
        PredictionOutput::Class { label, .. } => label.clone(),
        PredictionOutput::Anomaly { is_anomaly, .. } => {
            if *is_anomaly { "anomaly" } else { "normal" }.to_string()
        }
        PredictionOutput::Value { value } => format!("{value:.1}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(l: &str) -> PredictionOutput {
        PredictionOutput::Class {
            label: l.into(),
            probabilities: vec![],
        }
    }

    #[test]
    fn labels_pair_by_vector_time_and_unpaired_vectors_are_counted() {
        let serving: BTreeMap<_, _> = [
            (1, class("none")),
            (2, class("none")),
            (3, class("fat_bloom")),
        ]
        .into();
        let cand: BTreeMap<_, _> = [
            (2, class("fat_bloom")),
            (3, class("fat_bloom")),
            (4, class("none")),
        ]
        .into();
        let a = Agreement::of(&serving, &cand);
        assert_eq!(
            (a.paired, a.serving_only, a.candidate_only, a.same),
            (2, 1, 1, 1)
        );
        assert_eq!(a.share(), Some(0.5));
        assert_eq!(a.table[&("none".into(), "fat_bloom".into())], 1);
        assert_eq!(a.table[&("fat_bloom".into(), "fat_bloom".into())], 1);
    }

    #[test]
    fn values_agree_within_the_tolerance() {
        let v = |value| PredictionOutput::Value { value };
        let serving: BTreeMap<_, _> = [(1, v(80.0)), (2, v(80.0))].into();
        let cand: BTreeMap<_, _> = [(1, v(80.4)), (2, v(82.0))].into();
        let a = Agreement::of(&serving, &cand);
        assert_eq!(a.same, 1);
        assert!((a.mean_abs_diff().unwrap() - 1.2).abs() < 1e-9);
        assert!((a.abs_diff_max - 2.0).abs() < 1e-9);
        assert_eq!(Agreement::of(&BTreeMap::new(), &cand).share(), None);
    }
}
