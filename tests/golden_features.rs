//! Training–serving skew test: every case of `models/golden_features.jsonl` (written by the
//! Python training pipeline, format in docs/feature-spec.md) must be reproduced by the Rust
//! transforms to 1e-6, both by the window evaluator and by the streaming batch accumulator.

use std::path::Path;

use chocoline::features::Accumulator;
use chocoline::features::spec::parse_transform;

#[derive(serde::Deserialize)]
struct Case {
    case: String,
    transform: String,
    #[serde(default)]
    params: serde_json::Map<String, serde_json::Value>,
    t: Vec<f64>,
    x: Vec<Option<f64>>,
    expected: Option<f64>,
}

const TOLERANCE: f64 = 1e-6;

#[test]
fn golden_feature_pairs_match_python() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/golden_features.jsonl");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} must exist (written by models/): {e}", path.display()));
    let mut n = 0;
    let mut failures = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let c: Case = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
        assert_eq!(
            c.t.len(),
            c.x.len(),
            "case {}: t and x differ in length",
            c.case
        );
        let tr = parse_transform(&c.transform, &c.params)
            .unwrap_or_else(|e| panic!("case {}: {e}", c.case));
        let x: Vec<f64> = c.x.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
        let window = tr.apply(
            &c.t.iter()
                .copied()
                .zip(x.iter().copied())
                .collect::<Vec<_>>(),
        );
        let mut acc = Accumulator::new(tr);
        for (t, x) in c.t.iter().zip(&x) {
            acc.push(*t, *x);
        }
        for (how, got) in [("window", window), ("streaming", acc.value())] {
            let ok = match c.expected {
                None => got.is_nan(),
                Some(want) => (got - want).abs() <= TOLERANCE * want.abs().max(1.0),
            };
            if !ok {
                failures.push(format!(
                    "{} ({}, {how}): got {got}, want {:?}",
                    c.case, c.transform, c.expected
                ));
            }
        }
        n += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {n} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        n >= 500,
        "only {n} golden cases; the contract asks for ≥ 500"
    );
    eprintln!("golden features: {n} cases reproduced to {TOLERANCE}");
}
