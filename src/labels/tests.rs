//! The journal: appends under the lock, torn lines, corrections, refusals, concurrent writers.

use std::path::Path;

use super::journal::{DIR, JOURNAL, journal_path};
use super::*;
use crate::capture::line::{BatchLine, Line, encode, segment_name};
use crate::capture::read::capture_dir;

fn label(batch: &str, grade: &str, yield_pct: Option<&str>, at: i64) -> Label {
    Label::parse(batch, grade, None, yield_pct, LabelSource::Cli, at).unwrap()
}

/// A capture with one segment holding a `batch` line per id.
fn capture(data_dir: &Path, ids: &[&str]) {
    let dir = capture_dir(data_dir);
    std::fs::create_dir_all(&dir).unwrap();
    let text: String = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            encode(&Line::Batch(BatchLine {
                ts: 1000 + i as i64,
                batch_id: id.to_string(),
                product: None,
                lot: None,
                start_ms: i as i64,
                end_ms: 1000 + i as i64,
                samples: 10,
            }))
        })
        .collect();
    std::fs::write(dir.join(segment_name(0, 1)), text).unwrap();
}

#[test]
fn appended_labels_read_back_and_the_last_of_a_batch_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    assert!(read(d).unwrap().is_empty());
    assert!(latest(d).unwrap().is_empty());
    append(
        d,
        &[
            label("1001", "B", Some("81.2"), 1),
            label("1002", "A", None, 2),
        ],
    )
    .unwrap();
    append(d, &[label("1001", "reject", None, 3)]).unwrap();
    assert!(d.join(DIR).join(journal::LOCK).exists());
    let all = read(d).unwrap();
    assert_eq!(all.iter().map(|l| l.at).collect::<Vec<_>>(), [1, 2, 3]);
    let now = latest(d).unwrap();
    assert_eq!(now["1001"].grade, Grade::Reject);
    assert_eq!(now["1002"].grade, Grade::A);
    let text = std::fs::read_to_string(journal_path(d)).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(text.ends_with('\n'));
    append(d, &[]).unwrap();
    assert_eq!(std::fs::read_to_string(journal_path(d)).unwrap(), text);
}

#[test]
fn an_invalid_label_stores_nothing_of_its_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bad = label("1002", "A", None, 2);
    bad.yield_pct = Some(f64::NAN);
    let e = append(tmp.path(), &[label("1001", "B", None, 1), bad]).unwrap_err();
    assert!(matches!(e, LabelsError::Invalid { index: 1, .. }), "{e}");
    assert!(e.to_string().contains("yield_pct"), "{e}");
    assert!(!journal_path(tmp.path()).exists());
}

#[test]
fn labels_for_unknown_batches_are_refused_and_nothing_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    capture(d, &["1001", "1002"]);
    append_checked(d, &[label("1001", "B", Some("81.2"), 1)]).unwrap();
    let before = std::fs::read(journal_path(d)).unwrap();
    let batch = [
        label("1002", "A", None, 2),
        label("9999", "A", None, 3),
        label("42", "B", None, 4),
    ];
    let e = append_checked(d, &batch).unwrap_err();
    let LabelsError::UnknownBatches { unknown, known, .. } = &e else {
        panic!("{e}");
    };
    assert_eq!(unknown, &[(1, "9999".to_string()), (2, "42".to_string())]);
    assert_eq!(*known, 2);
    let text = e.to_string();
    assert!(
        text.starts_with("unknown batch 9999 (and 1 more: 42)"),
        "{text}"
    );
    assert!(text.contains("knows 2 batches"), "{text}");
    assert_eq!(std::fs::read(journal_path(d)).unwrap(), before);
}

#[test]
fn no_capture_means_no_batch_is_known() {
    let tmp = tempfile::tempdir().unwrap();
    let e = append_checked(tmp.path(), &[label("1001", "A", None, 1)]).unwrap_err();
    assert!(e.to_string().contains("knows 0 batches"), "{e}");
    assert!(!journal_path(tmp.path()).exists());
}

#[test]
fn a_torn_last_line_is_skipped_and_the_next_append_starts_a_new_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    append(d, &[label("1001", "B", Some("81.2"), 1)]).unwrap();
    let whole = label("1002", "A", None, 2).to_line();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(journal_path(d))
        .unwrap();
    std::io::Write::write_all(&mut f, &whole.as_bytes()[..whole.len() / 2]).unwrap();
    let j = scan(d).unwrap();
    assert_eq!((j.labels.len(), j.skipped), (1, 1));
    append(d, &[label("1003", "A", None, 3)]).unwrap();
    let j = scan(d).unwrap();
    assert_eq!(j.labels.iter().map(|l| l.at).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(j.skipped, 1);
    let text = std::fs::read_to_string(journal_path(d)).unwrap();
    assert_eq!(text.lines().count(), 3);
}

#[test]
fn an_unwritable_labels_folder_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(DIR), "a file").unwrap();
    let e = append(tmp.path(), &[label("1", "A", None, 1)]).unwrap_err();
    assert!(matches!(e, LabelsError::Io { .. }));
    assert!(e.to_string().contains(DIR), "{e}");
    std::fs::remove_file(tmp.path().join(DIR)).unwrap();
    std::fs::create_dir_all(journal_path(tmp.path())).unwrap();
    let e = read(tmp.path()).unwrap_err();
    assert!(e.to_string().contains(JOURNAL), "{e}");
}

#[test]
fn concurrent_writers_never_interleave() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_path_buf();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let d = d.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let id = format!("{}", t * 1000 + i);
                    append(&d, &[label(&id, "A", Some("90"), i64::from(t * 1000 + i))]).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let j = scan(&d).unwrap();
    assert_eq!((j.labels.len(), j.skipped), (400, 0));
    assert_eq!(latest(&d).unwrap().len(), 400);
    assert_eq!(
        std::fs::read_to_string(journal_path(&d))
            .unwrap()
            .lines()
            .count(),
        400
    );
}
