//! The text `chocoline model compare` prints.

use std::fmt;

use super::{Comparison, Figures, Side, Target};

fn versions(s: &Side) -> String {
    let n: u64 = s.versions.values().sum();
    let v: Vec<String> = s
        .versions
        .iter()
        .map(|(v, c)| format!("{v} ×{c}"))
        .collect();
    format!("{} ({n} predictions)", v.join(", "))
}

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |x| format!("{:.1} %", 100.0 * x))
}

fn num(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |x| format!("{x:.3}"))
}

/// The rows of the figures table for a target: (name, figure of one side).
type Row = (&'static str, fn(&Figures) -> Option<f64>);

fn rows(t: Target) -> &'static [Row] {
    match t {
        Target::Grade | Target::Bloom => &[
            ("accuracy", Figures::accuracy),
            ("macro F1", |f| f.macro_f1),
        ],
        Target::Yield => &[("MAE (pp)", |f| f.mae), ("bias (pp)", |f| f.bias)],
    }
}

impl Comparison {
    fn fmt_agreement(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(a) = &self.agreement else {
            return writeln!(
                f,
                "candidate: none (no shadow prediction of `{}` in the capture)",
                self.model
            );
        };
        let what = match self.target {
            Some(Target::Yield) => format!(
                "within ±{} pp (mean |Δ| {}, max {:.3})",
                super::agreement::VALUE_TOLERANCE,
                num(a.mean_abs_diff()),
                a.abs_diff_max
            ),
            _ => "the same label".into(),
        };
        writeln!(
            f,
            "agreement: {} {what} on {} vectors scored by both (serving only {}, candidate only {})",
            pct(a.share()),
            a.paired,
            a.serving_only,
            a.candidate_only
        )?;
        for ((s, c), n) in &a.table {
            writeln!(f, "  serving {s:<12} candidate {c:<12} {n:>8}")?;
        }
        Ok(())
    }

    fn fmt_labelled(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(target) = self.target else {
            return writeln!(
                f,
                "labelled figures: none (the lab labels nothing this model predicts)"
            );
        };
        let j = &self.judged;
        writeln!(
            f,
            "labelled batches judged: {} (left out: {} inside a range a model was trained on, {} without this label, {} not answered by every model)",
            j.batches, j.in_training, j.no_truth, j.no_answer
        )?;
        if j.batches == 0 {
            return Ok(());
        }
        writeln!(
            f,
            "  {:<12} {:>10} {:>10}",
            "figure", "serving", "candidate"
        )?;
        for (name, get) in rows(target) {
            let side = |s: Option<&Side>| num(s.and_then(|s| s.figures.as_ref()).and_then(get));
            writeln!(
                f,
                "  {name:<12} {:>10} {:>10}",
                side(Some(&self.serving)),
                side(self.candidate.as_ref())
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "model compare: {}", self.model)?;
        writeln!(f, "serving:   {}", versions(&self.serving))?;
        if let Some(c) = &self.candidate {
            writeln!(f, "candidate: {}", versions(c))?;
        }
        self.fmt_agreement(f)?;
        self.fmt_labelled(f)?;
        if self.torn_lines > 0 {
            writeln!(f, "torn capture lines passed over: {}", self.torn_lines)?;
        }
        Ok(())
    }
}
