//! Parity of chocoline's ONNX-ML ops (through tract) with scikit-learn.
//!
//! `committed_fixtures` runs the small committed exports (tests/fixtures/onnx) everywhere;
//! `generated_matrix` (when `CHOCOLINE_INTEROP=1`) runs tests/parity/gen_matrix.py for the full
//! matrix — 58 models × 10,000 fresh rows — and applies the same checks: max abs diff ≤ 1e-5 on
//! probabilities / values / scores, labels identical except exact ties (counted, printed).

use std::path::Path;

use chocoline::infer::model::{Column, Model, Output};

const TOL: f64 = 1e-5;

struct Expected {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    n_features: usize,
}

fn read_csv(path: &Path) -> Expected {
    let mut rdr = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let rows: Vec<Vec<String>> = rdr
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    let n_features = header.iter().take_while(|h| h.starts_with('x')).count();
    Expected {
        header,
        rows,
        n_features,
    }
}

#[derive(Default, Debug)]
struct CaseReport {
    max_diff: f64,
    ties: usize,
    boundary: usize,
    tie_label_diffs: usize,
    rows: usize,
}

fn col(e: &Expected, name: &str) -> Option<usize> {
    e.header.iter().position(|h| h == name)
}

fn check_outputs(case: &str, e: &Expected, outs: &[Output], row0: usize, rep: &mut CaseReport) {
    let tie_col = col(e, "tie");
    let boundary_col = col(e, "boundary");
    for out in outs {
        for j in 0..out.width {
            let name = if out.width == 1 {
                out.name.clone()
            } else {
                format!("{}_{j}", out.name)
            };
            let c = col(e, &name).unwrap_or_else(|| panic!("{case}: no expected column {name}"));
            let alt = col(e, &format!("alt:{name}"));
            let n = match &out.column {
                Column::Real(v) => v.len() / out.width,
                Column::Int(v) => v.len() / out.width,
                Column::Text(v) => v.len() / out.width,
            };
            for r in 0..n {
                let boundary = boundary_col.is_some_and(|b| e.rows[row0 + r][b] == "1");
                // On float-rounding boundary rows compare with sklearn's trees fed exactly the
                // float32-scaled values the graph computes (see gen_matrix.py).
                let c = match (boundary, alt) {
                    (true, Some(a)) => a,
                    _ => c,
                };
                let want = &e.rows[row0 + r][c];
                match &out.column {
                    Column::Real(_) => {
                        let got = out.real(r, j).unwrap();
                        let want: f64 = want.parse().unwrap();
                        let d = (got - want).abs();
                        assert!(
                            d <= TOL,
                            "{case} row {} column {name}: got {got}, sklearn {want} (diff {d:e})",
                            row0 + r
                        );
                        rep.max_diff = rep.max_diff.max(d);
                    }
                    Column::Int(_) | Column::Text(_) => {
                        let got = out.cell(r, j).unwrap();
                        let tie = tie_col.is_some_and(|t| e.rows[row0 + r][t] == "1");
                        if got != *want {
                            assert!(
                                tie,
                                "{case} row {} {name}: got {got:?}, sklearn {want:?} (not a tie)",
                                row0 + r
                            );
                            rep.tie_label_diffs += 1;
                        }
                    }
                }
            }
        }
    }
}

fn run_case(dir: &Path, case: &str) -> CaseReport {
    let e = read_csv(&dir.join(format!("{case}.csv")));
    let model = Model::load_file(&dir.join(format!("{case}.onnx")), Some(e.n_features))
        .unwrap_or_else(|err| panic!("{case}: {err}"));
    let rows: Vec<f32> = e
        .rows
        .iter()
        .flat_map(|r| r[..e.n_features].iter().map(|v| v.parse::<f32>().unwrap()))
        .collect();
    let mut rep = CaseReport {
        rows: e.rows.len(),
        ..Default::default()
    };
    if let Some(b) = col(&e, "boundary") {
        rep.boundary = e.rows.iter().filter(|r| r[b] == "1").count();
    }
    if let Some(t) = col(&e, "tie") {
        rep.ties = e.rows.iter().filter(|r| r[t] == "1").count();
    }
    // The whole file as one batch (tree-outer loop) …
    let outs = model.run(&rows).unwrap();
    check_outputs(case, &e, &outs, 0, &mut rep);
    // … and the first rows one by one (single-row path, reused state).
    for r in 0..e.rows.len().min(50) {
        let row = &rows[r * e.n_features..(r + 1) * e.n_features];
        let outs = model.run(row).unwrap();
        check_outputs(case, &e, &outs, r, &mut rep);
    }
    rep
}

fn run_dir(dir: &Path) -> usize {
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let cases = cases.as_array().unwrap();
    let mut total_ties = 0;
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let rep = run_case(dir, name);
        eprintln!(
            "{name:28} rows {:6}  max|diff| {:.2e}  ties {:3}  labels differing on ties {}  scaler rounding-boundary rows {}",
            rep.rows, rep.max_diff, rep.ties, rep.tie_label_diffs, rep.boundary
        );
        total_ties += rep.tie_label_diffs;
    }
    eprintln!(
        "{} cases; labels differing on exact ties: {total_ties}",
        cases.len()
    );
    cases.len()
}

#[test]
fn committed_fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx");
    let n = run_dir(&dir);
    assert!(n >= 58, "expected the full fixture matrix, found {n} cases");
}

#[test]
fn generated_matrix() {
    if std::env::var("CHOCOLINE_INTEROP").as_deref() != Ok("1") {
        eprintln!("SKIPPED: CHOCOLINE_INTEROP != 1 (needs python3 + scikit-learn + skl2onnx)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parity/gen_matrix.py");
    let status = std::process::Command::new("python3")
        .arg(&script)
        .arg(tmp.path())
        .args(["--rows", "10000"])
        .status()
        .expect("python3 is required when CHOCOLINE_INTEROP=1");
    assert!(status.success(), "gen_matrix.py failed");
    run_dir(tmp.path());
}
