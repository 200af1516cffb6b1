//! `chocoline label` through the real binary (issue #18; docs/capture.md, "Labels"), on a data
//! directory whose capture segment holds two closed batches and their samples: one label, a
//! lab sheet, refusals that store nothing (unknown batch, bad grade, bad sheet row), a
//! correction, and a journal torn by a writer killed mid-write.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use chocoline::capture::line::{BatchLine, Line, SampleLine, encode, segment_name};
use chocoline::domain::Quality;
use chocoline::labels::{self, Defect, Grade, LabelSource};
use common::cli::{run, stderr};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn sample(ts: i64, batch: f64) -> Line {
    Line::Sample(SampleLine {
        ts,
        device: "plc".into(),
        values: [
            ("batch_id".to_string(), Some(batch)),
            ("cocoa_pct".into(), None),
        ]
        .into(),
        quality: [
            ("batch_id".to_string(), Quality::Good),
            ("cocoa_pct".into(), Quality::CommError),
        ]
        .into(),
    })
}

fn batch(id: &str, start_ms: i64, end_ms: i64) -> Line {
    Line::Batch(BatchLine {
        ts: end_ms,
        batch_id: id.into(),
        product: Some("3".into()),
        lot: Some("77".into()),
        start_ms,
        end_ms,
        samples: 2,
    })
}

/// A data directory whose capture knows batches 1001 and 1002 (and has 1003 running).
fn data_dir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("capture");
    std::fs::create_dir_all(&dir).expect("capture dir");
    let t0 = 1_796_560_000_000;
    let lines = [
        sample(t0, 1001.0),
        sample(t0 + 1000, 1001.0),
        sample(t0 + 2000, 1002.0),
        batch("1001", t0, t0 + 2000),
        sample(t0 + 3000, 1002.0),
        sample(t0 + 4000, 1003.0),
        batch("1002", t0 + 2000, t0 + 4000),
        sample(t0 + 5000, 1003.0),
    ];
    let text: String = lines.iter().map(encode).collect();
    std::fs::write(dir.join(segment_name(t0, 1)), text).expect("segment");
    tmp
}

fn journal(d: &Path) -> PathBuf {
    d.join("labels").join("labels.jsonl")
}

fn label(d: &Path, rest: &[&str]) -> Output {
    let mut args = vec!["label", "--data-dir", d.to_str().expect("utf-8 path")];
    args.extend_from_slice(rest);
    run(&args)
}

#[test]
fn a_label_is_stored_and_reported() {
    let tmp = data_dir();
    let d = tmp.path();
    let out = label(d, &["--batch", "1001", "--grade", "B", "--yield", "81.2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "stored 1 label: batch 1001 grade B defect none yield 81.2"
    );
    let text = std::fs::read_to_string(journal(d)).expect("journal");
    assert!(
        text.starts_with(r#"{"batch_id":"1001","grade":"B","defect":"none","yield_pct":81.2,"source":"cli","at":"#),
        "{text}"
    );
    let stored = labels::read(d).expect("read");
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].grade, stored[0].source.clone()),
        (Grade::B, LabelSource::Cli)
    );
}

#[test]
fn refusals_exit_2_and_leave_the_journal_byte_identical() {
    let tmp = data_dir();
    let d = tmp.path();
    let ok = label(
        d,
        &["--batch", "1002", "--grade", "A", "--defect", "gritty"],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    let before = std::fs::read(journal(d)).expect("journal");

    let out = label(d, &["--batch", "1003", "--grade", "A"]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains("unknown batch 1003") && e.contains("knows 2 batches"),
        "{e}"
    );

    let out = label(d, &["--batch", "1001", "--grade", "C"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(r#"grade: "C" is not one of A, B, reject"#),
        "{}",
        stderr(&out)
    );

    for bad in [
        &["--yield", "0"][..],
        &["--yield", "-3"],
        &["--defect", "bloom"],
    ] {
        let mut args = vec!["--batch", "1001", "--grade", "A"];
        args.extend_from_slice(bad);
        let out = label(d, &args);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }
    let out = label(d, &["--batch", "1001"]);
    assert_eq!(out.status.code(), Some(2), "a label needs its grade");
    assert_eq!(std::fs::read(journal(d)).expect("journal"), before);
}

#[test]
fn a_sheet_with_one_bad_row_stores_nothing_and_a_good_one_stores_all() {
    let tmp = data_dir();
    let d = tmp.path();
    let sheet = d.join("lab.csv");
    std::fs::write(
        &sheet,
        "batch_id,grade,defect,yield_pct\n1001,A,,92.5\n1002,B,sugar bloom,\n",
    )
    .expect("sheet");
    let out = label(d, &["--csv", sheet.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains(&format!("{}:3: defect:", sheet.display())),
        "{e}"
    );
    assert!(!journal(d).exists(), "nothing stored");

    std::fs::write(
        &sheet,
        "batch_id,grade,defect,yield_pct\n1001,A,,92.5\n1999,B,,\n",
    )
    .expect("sheet");
    let out = label(d, &["--csv", sheet.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(&format!(
        "{}:3: batch_id: unknown batch 1999",
        sheet.display()
    )));
    assert!(!journal(d).exists(), "nothing stored");

    std::fs::write(
        &sheet,
        "batch_id,grade,defect,yield_pct\n1001,A,,92.5\n1002,reject,sugar_bloom,\n",
    )
    .expect("sheet");
    let out = label(d, &["--csv", sheet.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("stored 2 labels from "),
        "{}",
        stdout(&out)
    );
    let now = labels::latest(d).expect("latest");
    assert_eq!(now.len(), 2);
    assert_eq!(now["1002"].defect, Defect::SugarBloom);
    assert_eq!(now["1001"].yield_pct, Some(92.5));
    assert_eq!(now["1001"].source, LabelSource::Csv("lab.csv".into()));
}

#[test]
fn a_correction_wins_and_a_torn_line_is_skipped() {
    let tmp = data_dir();
    let d = tmp.path();
    assert!(
        label(d, &["--batch", "1001", "--grade", "B", "--yield", "81.2"])
            .status
            .success()
    );
    // A writer killed -9 in the middle of its write: half a line, no newline.
    let mut text = std::fs::read(journal(d)).expect("journal");
    let half = r#"{"batch_id":"1002","grade":"A","def"#;
    text.extend_from_slice(half.as_bytes());
    std::fs::write(journal(d), &text).expect("torn");
    let j = labels::scan(d).expect("scan");
    assert_eq!((j.labels.len(), j.skipped), (1, 1));

    let out = label(
        d,
        &[
            "--batch",
            "1001",
            "--grade",
            "reject",
            "--defect",
            "fat_bloom",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("(corrects grade B defect none yield 81.2)"),
        "{}",
        stdout(&out)
    );
    let j = labels::scan(d).expect("scan");
    assert_eq!((j.labels.len(), j.skipped), (2, 1));
    let now = labels::latest(d).expect("latest");
    assert_eq!(
        (now["1001"].grade, now["1001"].defect),
        (Grade::Reject, Defect::FatBloom)
    );
    assert_eq!(now["1001"].yield_pct, None);
    let text = std::fs::read_to_string(journal(d)).expect("journal");
    assert_eq!(text.lines().count(), 3, "the torn line stays alone: {text}");
    assert!(text.ends_with('\n'));
}

#[test]
fn help_lists_every_option() {
    let out = run(&["label", "--help"]);
    assert!(out.status.success());
    let help = stdout(&out);
    for opt in [
        "--data-dir",
        "--batch",
        "--grade",
        "--defect",
        "--yield",
        "--csv",
    ] {
        assert!(help.contains(opt), "{opt} missing from:\n{help}");
    }
    assert!(
        help.contains("A, B or reject") && help.contains("off_flavour"),
        "{help}"
    );
}

#[test]
fn concurrent_processes_never_interleave() {
    let tmp = data_dir();
    let d = tmp.path().to_str().expect("utf-8").to_string();
    let children: Vec<_> = (0..4)
        .map(|i| {
            let grade = ["A", "B", "reject", "A"][i];
            common::cli::chocoline()
                .args([
                    "label",
                    "--data-dir",
                    &d,
                    "--batch",
                    "1001",
                    "--grade",
                    grade,
                ])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success());
    }
    let j = labels::scan(tmp.path()).expect("scan");
    assert_eq!((j.labels.len(), j.skipped), (4, 0));
}
