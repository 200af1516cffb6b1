//! `chocoline model …` through the real binary: bad files and bad CSVs must exit 2 with a
//! clear message (never a panic); verify must catch a mismatch (exit 1).

mod common;

use std::path::Path;
use std::process::Output;

use common::models::{Kind, fixtures, make_model_dir};

use common::cli::run as chocoline;

use common::cli::stderr;

fn assert_bad_input(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p.to_string_lossy().into_owned()
}

fn input_csv(dir: &Path, header: bool) -> String {
    let rows = common::models::fixture_rows("rf_clf_3c_str");
    let mut s = String::new();
    if header {
        s.push_str("a,b,c,d,e,f\n");
    }
    for r in &rows {
        let cells: Vec<String> = r.iter().map(|v| v.to_string()).collect();
        s.push_str(&cells.join(","));
        s.push('\n');
    }
    write(
        dir,
        if header { "in_h.csv" } else { "in.csv" },
        s.as_bytes(),
    )
}

#[test]
fn predict_writes_every_output_and_matches_sklearn() {
    let tmp = tempfile::tempdir().unwrap();
    let onnx = fixtures().join("rf_clf_3c_str.onnx");
    for header in [true, false] {
        let input = input_csv(tmp.path(), header);
        let out = tmp.path().join("out.csv");
        let o = chocoline(&[
            "model",
            "predict",
            "--onnx",
            onnx.to_str().unwrap(),
            "--input",
            &input,
            "--output",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let mut got = csv::Reader::from_path(&out).unwrap();
        assert_eq!(
            got.headers().unwrap().iter().collect::<Vec<_>>(),
            [
                "label",
                "probabilities_0",
                "probabilities_1",
                "probabilities_2"
            ]
        );
        let mut want = csv::Reader::from_path(fixtures().join("rf_clf_3c_str.csv")).unwrap();
        let mut n = 0;
        for (g, w) in got.records().zip(want.records()) {
            let (g, w) = (g.unwrap(), w.unwrap());
            assert_eq!(&g[0], &w[6], "label");
            for j in 0..3 {
                let (a, b): (f64, f64) = (g[1 + j].parse().unwrap(), w[7 + j].parse().unwrap());
                assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
            }
            n += 1;
        }
        assert_eq!(n, 64);
    }
}

#[test]
fn predict_to_stdout_for_a_regressor_and_isolation_forest() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input_csv(tmp.path(), false);
    for (case, header) in [("gb_reg_1t", "variable"), ("iforest", "label,scores")] {
        let onnx = fixtures().join(format!("{case}.onnx"));
        let o = chocoline(&[
            "model",
            "predict",
            "--onnx",
            onnx.to_str().unwrap(),
            "--input",
            &input,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = String::from_utf8(o.stdout).unwrap();
        assert_eq!(text.lines().next(), Some(header));
        assert_eq!(text.lines().count(), 65);
    }
}

#[test]
fn predict_rejects_bad_model_files() {
    let tmp = tempfile::tempdir().unwrap();
    let input = input_csv(tmp.path(), false);
    let good = std::fs::read(fixtures().join("rf_clf_3c_str.onnx")).unwrap();
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated.onnx", good[..good.len() / 2].to_vec()),
        ("truncated_head.onnx", good[..40].to_vec()),
        ("garbage.onnx", garbage),
        ("text.onnx", b"x0,x1\n1,2\n".to_vec()),
        ("empty.onnx", Vec::new()),
    ];
    for (name, bytes) in cases {
        let path = write(tmp.path(), name, &bytes);
        let o = chocoline(&["model", "predict", "--onnx", &path, "--input", &input]);
        assert_bad_input(&o, name);
    }
    let o = chocoline(&[
        "model",
        "predict",
        "--onnx",
        "/nonexistent/m.onnx",
        "--input",
        &input,
    ]);
    assert_bad_input(&o, "/nonexistent/m.onnx");
}

#[test]
fn predict_rejects_bad_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let onnx = fixtures().join("rf_clf_3c_str.onnx");
    let onnx = onnx.to_str().unwrap();
    let wrong_width = write(tmp.path(), "w.csv", b"1,2,3,4,5,6\n1,2,3,4,5\n");
    let o = chocoline(&["model", "predict", "--onnx", onnx, "--input", &wrong_width]);
    assert_bad_input(&o, "data row 2 has 5 columns, the model takes 6");
    let all_wrong = write(tmp.path(), "w7.csv", b"1,2,3,4,5,6,7\n");
    let o = chocoline(&["model", "predict", "--onnx", onnx, "--input", &all_wrong]);
    assert_bad_input(&o, "7 columns");
    let text = write(tmp.path(), "t.csv", b"a,b,c,d,e,f\n1,2,3,oops,5,6\n");
    let o = chocoline(&["model", "predict", "--onnx", onnx, "--input", &text]);
    assert_bad_input(&o, "line 2, column 4: \"oops\" is not a number");
    let empty = write(tmp.path(), "e.csv", b"a,b,c,d,e,f\n");
    let o = chocoline(&["model", "predict", "--onnx", onnx, "--input", &empty]);
    assert_bad_input(&o, "no data rows");
    let o = chocoline(&[
        "model",
        "predict",
        "--onnx",
        onnx,
        "--input",
        "/nonexistent.csv",
    ]);
    assert_bad_input(&o, "/nonexistent.csv");
}

#[test]
fn verify_passes_then_catches_a_wrong_golden_value_and_a_wrong_checksum() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = make_model_dir(tmp.path(), "bloom", "1.0.0", Kind::Classifier);
    make_model_dir(tmp.path(), "yield", "1.0.0", Kind::Regressor);
    make_model_dir(tmp.path(), "anomaly", "1.0.0", Kind::Anomaly);
    let o = chocoline(&["model", "verify", tmp.path().to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert_eq!(out.matches("  OK").count(), 3, "{out}");
    assert!(
        out.contains("p_alpha") && out.contains("max|diff|"),
        "{out}"
    );

    // Shift one golden probability by 1e-3: the report must say MISMATCH, exit 1.
    let golden = std::fs::read_to_string(dir.join("golden.csv")).unwrap();
    let mut lines: Vec<String> = golden.lines().map(String::from).collect();
    let mut cells: Vec<String> = lines[1].split(',').map(String::from).collect();
    let p: f64 = cells[7].parse().unwrap();
    cells[7] = (p + 1e-3).to_string();
    lines[1] = cells.join(",");
    std::fs::write(dir.join("golden.csv"), lines.join("\n") + "\n").unwrap();
    let o = chocoline(&["model", "verify", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("MISMATCH"));

    // Corrupt the sha256 in the manifest: exit 1 naming the checksum.
    let m = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    let m = m.replace("\"sha256\": \"", "\"sha256\": \"00");
    std::fs::write(dir.join("manifest.json"), m).unwrap();
    let o = chocoline(&["model", "verify", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("sha256"), "{}", stderr(&o));
}

#[test]
fn list_shows_versions_and_checks() {
    let tmp = tempfile::tempdir().unwrap();
    make_model_dir(tmp.path(), "bloom", "2.1.0", Kind::Classifier);
    let o = chocoline(&["model", "list", "--dir", tmp.path().to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(
        out.contains("bloom 2.1.0 (Classifier") && out.contains("ok") && out.contains("f5"),
        "{out}"
    );
    let o = chocoline(&["model", "list", "--dir", "/nonexistent"]);
    assert_eq!(o.status.code(), Some(2));
}

/// `model list --config` shows what the agent would load: a `[models.<name>] folder` outside
/// `[models] dir` as the serving one (the folder of the same name in `dir` as not serving),
/// and a shadow candidate with its role; relative paths are the configuration file's.
#[test]
fn list_from_a_config_shows_the_serving_folder_and_the_candidate() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    make_model_dir(&models, "bloom", "2.0.0", Kind::Classifier);
    make_model_dir(
        &tmp.path().join("promoted"),
        "bloom",
        "2.1.0",
        Kind::Classifier,
    );
    make_model_dir(
        &tmp.path().join("trial"),
        "bloom",
        "2.2.0",
        Kind::Classifier,
    );
    // The candidate's checksum is wrong: its line says so and the exit code is 1.
    let manifest = tmp.path().join("trial/bloom/manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("\"sha256\": \"", "\"sha256\": \"00"),
    )
    .unwrap();
    let cfg = write(
        tmp.path(),
        "agent.toml",
        b"[models]\ndir = \"models\"\nenabled = [\"bloom\"]\n\n[models.bloom]\n\
          folder = \"promoted/bloom\"\ncandidate = \"trial/bloom\"\n",
    );
    let o = chocoline(&["model", "list", "--config", &cfg]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let promoted = tmp.path().join("promoted/bloom");
    let trial = tmp.path().join("trial/bloom");
    assert!(
        lines[0].starts_with("bloom 2.0.0 (Classifier")
            && lines[0].contains(&format!(
                "enabled, not serving: bloom serves from {}",
                promoted.display()
            ))
            && lines[0].contains("ok;"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("bloom 2.1.0 (Classifier")
            && lines[1].contains(&format!(
                "enabled, serving bloom, from {}",
                promoted.display()
            ))
            && lines[1].contains("ok;"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("bloom 2.2.0 (Classifier")
            && lines[2].contains(&format!(
                "shadow candidate of bloom, from {}",
                trial.display()
            ))
            && lines[2].contains("sha256 MISMATCH"),
        "{out}"
    );

    // Without the table, the folder in `dir` serves and nothing else is listed.
    std::fs::write(&cfg, "[models]\ndir = \"models\"\nenabled = [\"bloom\"]\n").unwrap();
    let o = chocoline(&["model", "list", "--config", &cfg]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.contains("bloom 2.0.0 (Classifier, sample, enabled) sha256"),
        "{out}"
    );
}
