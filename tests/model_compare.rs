//! `chocoline model compare` (issue #18; docs/shadow.md, "Compare") on a capture and labels
//! written here line by line, so every figure it prints can be worked out by hand:
//! agreement of serving and candidate on the same vectors, both models' figures on the
//! labelled batches, the batches a model was trained on left out, and the refusals.

mod common;

use std::path::Path;

use chocoline::capture::line::{BatchLine, Line, PredictionLine, encode, segment_name};
use chocoline::capture::read::capture_dir;
use chocoline::domain::{FeatureLevel, PredictionOutput};
use chocoline::labels::{Label, LabelSource};
use common::cli::{run, stderr};

const T0: i64 = 1_796_560_000_000;
const HOUR: i64 = 3_600_000;

fn grade(label: &str) -> PredictionOutput {
    PredictionOutput::Class {
        label: label.into(),
        probabilities: ["A", "B", "reject"]
            .iter()
            .map(|c| ((*c).to_string(), f64::from(u8::from(*c == label))))
            .collect(),
    }
}

fn prediction(ts: i64, batch: &str, output: PredictionOutput, version: &str, shadow: bool) -> Line {
    Line::Prediction(PredictionLine {
        ts,
        model: "quality".into(),
        version: version.into(),
        level: FeatureLevel::Batch,
        batch_id: Some(batch.into()),
        output,
        confidence: 0.9,
        decides: !shadow,
        features: vec![("conche_time_h".into(), Some(12.0))],
        flags: Default::default(),
        shadow,
    })
}

fn batch(id: &str, start: i64) -> Line {
    Line::Batch(BatchLine {
        ts: start + HOUR,
        batch_id: id.into(),
        product: Some("3".into()),
        lot: None,
        start_ms: start,
        end_ms: start + HOUR,
        samples: 3600,
    })
}

/// Six batches, one an hour. Truth: A A B B A reject. Serving says A A A B A B (4 of 6
/// right); the candidate A A B B A A (5 of 6), and scores batches 2–6 only.
fn data_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let truth = ["A", "A", "B", "B", "A", "reject"];
    let serving = ["A", "A", "A", "B", "A", "B"];
    let candidate = ["A", "A", "B", "B", "A", "A"];
    let mut text = String::new();
    let mut labels = Vec::new();
    for i in 0..6 {
        let id = format!("{}", 1001 + i);
        let start = T0 + i as i64 * HOUR;
        text += &encode(&batch(&id, start));
        let ts = start + HOUR;
        text += &encode(&prediction(ts, &id, grade(serving[i]), "2.0.0", false));
        if i > 0 {
            text += &encode(&prediction(
                ts,
                &id,
                grade(candidate[i]),
                "2.0.0+line.0badc0de",
                true,
            ));
        }
        labels.push(Label::parse(&id, truth[i], None, Some("80.5"), LabelSource::Cli, T0).unwrap());
    }
    std::fs::create_dir_all(capture_dir(d.path())).unwrap();
    std::fs::write(capture_dir(d.path()).join(segment_name(T0, 0)), text).unwrap();
    chocoline::labels::append(d.path(), &labels).unwrap();
    d
}

fn compare(d: &Path, rest: &[&str]) -> std::process::Output {
    let dir = d.display().to_string();
    let mut args = vec!["model", "compare", "--data-dir", &dir];
    args.extend_from_slice(rest);
    run(&args)
}

/// The words of the report's accuracy row: name, serving, candidate.
fn accuracy_row(text: &str) -> Vec<&str> {
    let row = (text.lines())
        .find(|l| l.trim_start().starts_with("accuracy"))
        .expect("accuracy row");
    row.split_whitespace().collect()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn agreement_and_labelled_figures_of_both_models() {
    let d = data_dir();
    let o = compare(d.path(), &["--model", "quality"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("serving:   2.0.0 ×6 (6 predictions)"),
        "{text}"
    );
    assert!(
        text.contains("candidate: 2.0.0+line.0badc0de ×5 (5 predictions)"),
        "{text}"
    );
    // Batches 2–6 paired: same on 1002, 1004, 1005 (3 of 5); 1001 serving only.
    assert!(
        text.contains("agreement: 60.0 % the same label on 5 vectors scored by both (serving only 1, candidate only 0)"),
        "{text}"
    );
    assert!(
        text.contains("serving B            candidate A                   1"),
        "{text}"
    );
    // Judged: batches 2–6 (1001 has no candidate answer). Serving right on 1002, 1004, 1005
    // (3/5), candidate on 1002, 1003, 1004, 1005 (4/5).
    assert!(
        text.contains("labelled batches judged: 5 (left out: 0 inside a range a model was trained on, 0 without this label, 1 not answered by every model)"),
        "{text}"
    );
    assert_eq!(
        accuracy_row(&text),
        ["accuracy", "0.600", "0.800"],
        "{text}"
    );
}

#[test]
fn batches_a_model_was_trained_on_are_not_judged() {
    let d = data_dir();
    let model = tempfile::tempdir().unwrap();
    // Trained on an export covering batches 1002 and 1003 (hours 1–3).
    let manifest = serde_json::json!({"name": "quality", "version": "2.0.0+line.0badc0de",
        "data": {"exports": [{"folder": "w49", "since_ms": T0 + HOUR, "until_ms": T0 + 3 * HOUR}]}});
    std::fs::write(model.path().join("manifest.json"), manifest.to_string()).unwrap();
    let o = compare(
        d.path(),
        &[
            "--model",
            "quality",
            "--trained",
            &model.path().display().to_string(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("labelled batches judged: 3 (left out: 2 inside a range"),
        "{text}"
    );
    // Judged 1004, 1005, 1006: serving right on 1004, 1005; candidate on 1004, 1005.
    assert_eq!(
        accuracy_row(&text),
        ["accuracy", "0.667", "0.667"],
        "{text}"
    );
    assert!(text.contains("trained on (not judged): "), "{text}");
}

#[test]
fn an_unknown_model_or_data_dir_exits_2() {
    let d = data_dir();
    let o = compare(d.path(), &["--model", "bloom"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("holds no prediction of model `bloom`"),
        "{}",
        stderr(&o)
    );
    let o = compare(&d.path().join("nope"), &["--model", "quality"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no data directory at"),
        "{}",
        stderr(&o)
    );
    let bad = tempfile::tempdir().unwrap();
    std::fs::write(
        bad.path().join("manifest.json"),
        r#"{"data":{"exports":[{"since_ms":"x"}]}}"#,
    )
    .unwrap();
    let o = compare(
        d.path(),
        &[
            "--model",
            "quality",
            "--trained",
            &bad.path().display().to_string(),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("data.exports[0].since_ms missing or not an integer"),
        "{}",
        stderr(&o)
    );
}
