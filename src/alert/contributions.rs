//! Which signals made an anomaly: the evidence an operator reads first.
//!
//! The SPC anomaly detector reports a robust z-score per input (`contributions`, see
//! models/training/anomaly.py). An alert that says only "anomaly, score −7.1" sends the
//! operator hunting; one that says "tunnel_temp_mean_60 z +9.8" sends them to the cooling
//! tunnel. The top [`TOP`] inputs by |z| go into the message and the evidence.

use std::sync::Arc;

use serde_json::{Value, json};

/// Inputs named in an anomaly alert.
pub const TOP: usize = 3;

/// The `n` largest contributions by |z|, largest first; NaN ones are left out.
pub fn top(contributions: &[(Arc<str>, f64)], n: usize) -> Vec<(&str, f64)> {
    let mut v: Vec<(&str, f64)> = contributions
        .iter()
        .filter(|(_, z)| z.is_finite())
        .map(|(c, z)| (c.as_ref(), *z))
        .collect();
    v.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(b.0)));
    v.truncate(n);
    v
}

/// `"; top signals: tunnel_temp_mean_60 z +9.8, …"`, or empty without contributions.
pub fn describe(contributions: &[(Arc<str>, f64)]) -> String {
    let t = top(contributions, TOP);
    if t.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = t.iter().map(|(c, z)| format!("{c} z {z:+.1}")).collect();
    format!("; top signals: {}", parts.join(", "))
}

/// Evidence entry: `[{"signal": …, "z": …}, …]`, top [`TOP`] by |z|.
pub fn evidence(contributions: &[(Arc<str>, f64)]) -> Value {
    Value::Array(
        top(contributions, TOP)
            .into_iter()
            .map(|(c, z)| json!({ "signal": c, "z": z }))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(v: &[(&str, f64)]) -> Vec<(Arc<str>, f64)> {
        v.iter().map(|(n, z)| ((*n).into(), *z)).collect()
    }

    #[test]
    fn largest_magnitude_first_and_nan_left_out() {
        let v = c(&[
            ("a", 1.0),
            ("b", -9.0),
            ("c", f64::NAN),
            ("d", 4.0),
            ("e", 0.5),
        ]);
        assert_eq!(top(&v, 3), vec![("b", -9.0), ("d", 4.0), ("a", 1.0)]);
        assert_eq!(describe(&v), "; top signals: b z -9.0, d z +4.0, a z +1.0");
        assert_eq!(evidence(&v)[0], json!({"signal": "b", "z": -9.0}));
    }

    #[test]
    fn nothing_to_say_without_contributions() {
        assert_eq!(describe(&[]), "");
        assert_eq!(evidence(&[]), json!([]));
    }
}
