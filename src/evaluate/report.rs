//! The evaluation as a Markdown table (docs/evaluation.md) and the check of a fresh evaluation
//! against a committed one (CI: no figure may get worse).

use std::fmt::Write as _;

use super::score::{KindFigures, Summary};

fn minutes(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |m| format!("{m:.1}"))
}

/// Markdown: one row per alert kind, then normal running and the alarm-management figures.
pub fn markdown(s: &Summary, what: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Evaluation of {what}: {} runs, {} samples.\n",
        s.runs, s.samples
    );
    let _ = writeln!(
        out,
        "| alert | events | detected | missed | recall | raises | true | false | off target | precision | delay p50 min | delay p95 min |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (kind, f) in &s.kinds {
        let _ = writeln!(
            out,
            "| `{kind}` | {} | {} | {} | {:.3} | {} | {} | {} | {} | {:.3} | {} | {} |",
            f.events,
            f.detected,
            f.missed,
            f.recall,
            f.raises,
            f.true_raises,
            f.false_raises,
            f.off_target,
            f.precision,
            minutes(f.delay_p50_min),
            minutes(f.delay_p95_min)
        );
    }
    let per_kind: Vec<String> = s
        .normal_false
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "\nNormal running: {:.1} days, {} false alerts ({:.2} per 24 h){}.",
        s.normal_days,
        s.normal_false.values().sum::<u64>(),
        s.normal_false_per_day,
        if per_kind.is_empty() {
            String::new()
        } else {
            format!(": {}", per_kind.join(", "))
        }
    );
    let a = &s.alarms;
    let _ = writeln!(
        out,
        "\nAlarm management (ISA-18.2 / EEMUA 191): {:.3} raises per hour, at most {} in 10 minutes, {} chattering, {} standing at the end of a run, longest open {:.0} min. Inference failures: {}.",
        a.raises_per_hour,
        a.peak_raises_10min,
        a.chattering,
        a.standing_at_end,
        a.longest_open_min,
        s.infer_errors
    );
    out
}

/// Figures of `now` that are worse than in `before` (the committed evaluation), one line
/// each: lower recall or precision, a longer p95 delay (beyond `slack_min` minutes), more
/// false alerts per day of normal running, or any inference failure.
pub fn regressions(before: &Summary, now: &Summary, slack_min: f64) -> Vec<String> {
    let mut out = Vec::new();
    const EPS: f64 = 1e-9;
    for (kind, b) in &before.kinds {
        let zero = KindFigures::default();
        let n = now.kinds.get(kind).unwrap_or(&zero);
        if n.recall + EPS < b.recall {
            out.push(format!("{kind}: recall {:.3} < {:.3}", n.recall, b.recall));
        }
        if n.precision + EPS < b.precision {
            out.push(format!(
                "{kind}: precision {:.3} < {:.3}",
                n.precision, b.precision
            ));
        }
        if let (Some(bp), Some(np)) = (b.delay_p95_min, n.delay_p95_min)
            && np > bp + slack_min
        {
            out.push(format!("{kind}: delay p95 {np:.1} min > {bp:.1} min"));
        }
    }
    if now.normal_false_per_day > before.normal_false_per_day + EPS {
        out.push(format!(
            "normal running: {:.2} false alerts per 24 h > {:.2}",
            now.normal_false_per_day, before.normal_false_per_day
        ));
    }
    if now.infer_errors > 0 {
        out.push(format!("{} inference failures", now.infer_errors));
    }
    out
}
