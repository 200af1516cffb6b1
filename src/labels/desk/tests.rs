//! The desk: every refusal with the CLI's message and nothing stored; a good label stored
//! with source `mqtt`; replies echo what can be read of the request.

use std::path::Path;

use super::*;
use crate::capture::line::{BatchLine, Line, encode, segment_name};
use crate::capture::read::capture_dir;
use crate::domain::Defect;
use crate::labels::journal::journal_path;
use crate::labels::{Grade, read};

const AT: TimestampMs = TimestampMs(1_796_561_000_000);

fn cmd(text: &str) -> Inbound {
    Inbound::capped(text.as_bytes(), MAX_PAYLOAD, false)
}

/// A capture that knows `ids`.
fn capture(d: &Path, ids: &[&str]) {
    let dir = capture_dir(d);
    std::fs::create_dir_all(&dir).unwrap();
    let text: String = (ids.iter())
        .map(|id| {
            encode(&Line::Batch(BatchLine {
                ts: 2,
                batch_id: (*id).to_string(),
                product: None,
                lot: None,
                start_ms: 0,
                end_ms: 1,
                samples: 1,
            }))
        })
        .collect();
    std::fs::write(dir.join(segment_name(0, 1)), text).unwrap();
}

fn refusal(text: &str) -> Refusal {
    parse(&cmd(text), AT).unwrap_err()
}

#[test]
fn a_full_request_parses_into_the_label_the_cli_would_store() {
    let r = parse(
        &cmd(
            r#"{"schema":"chocoline.label/1","batch_id":"1001","grade":"b","defect":"Fat_Bloom","yield_pct":81.2,"request_id":"lims-77"}"#,
        ),
        AT,
    )
    .unwrap();
    assert_eq!(r.request_id.as_deref(), Some("lims-77"));
    let cli = Label::parse(
        "1001",
        "b",
        Some("Fat_Bloom"),
        Some("81.2"),
        LabelSource::Mqtt,
        AT.0,
    )
    .unwrap();
    assert_eq!(r.label, cli);
    let bare = parse(&cmd(r#"{"batch_id":"7","grade":"reject"}"#), AT).unwrap();
    assert_eq!(
        (bare.label.grade, bare.label.defect, bare.label.yield_pct),
        (Grade::Reject, Defect::None, None)
    );
    assert_eq!(bare.request_id, None);
    let nulls = r#"{"batch_id":"7","grade":"A","defect":null,"yield_pct":null,"request_id":null}"#;
    assert!(parse(&cmd(nulls), AT).is_ok());
}

#[test]
fn values_are_refused_with_the_cli_s_messages() {
    let msg = |text: &str| {
        let r = refusal(text);
        assert_eq!(r.kind(), "invalid", "{r}");
        r.to_string()
    };
    assert_eq!(
        msg(r#"{"batch_id":"1001","grade":"C"}"#),
        r#"grade: "C" is not one of A, B, reject"#
    );
    assert!(msg(r#"{"batch_id":"1001","grade":"A","defect":"bloom"}"#).starts_with("defect:"));
    assert_eq!(
        msg(r#"{"batch_id":"1001","grade":"A","yield_pct":120}"#),
        "yield_pct: 120 is not in (0, 100]"
    );
    assert_eq!(
        msg(r#"{"batch_id":"1001","grade":"A","yield_pct":0}"#),
        "yield_pct: 0 is not in (0, 100]"
    );
    assert!(msg(r#"{"batch_id":"10 01","grade":"A"}"#).starts_with("batch_id:"));
    assert!(msg(r#"{"batch_id":"","grade":"A"}"#).starts_with("batch_id:"));
}

#[test]
fn payloads_that_are_not_a_label_object_are_refused_naming_why() {
    for (text, says) in [
        (
            "grade A for 1001",
            "payload: not JSON: expected value at line 1 column 1",
        ),
        (r#"["1001","A"]"#, "payload: a JSON array, not an object"),
        ("  42", "payload: a JSON number, not an object"),
        (
            r#"{"batch_id":"1001","grade":"A""#,
            "payload: EOF while parsing an object",
        ),
        (r#"{"batch_id":"1001"}"#, "payload: missing field `grade`"),
        (
            r#"{"batch_id":"1001","grade":"A","colour":"brown"}"#,
            "payload: unknown field `colour`",
        ),
        (
            r#"{"batch":"1001","grade":"A"}"#,
            "payload: unknown field `batch`",
        ),
        (
            r#"{"batch_id":1001,"grade":"A"}"#,
            "payload: invalid type: integer",
        ),
        (
            r#"{"batch_id":"1001","grade":"A","yield_pct":"81.2"}"#,
            "payload: invalid type: string",
        ),
        (
            r#"{"batch_id":"1001","grade":"A","grade":"B"}"#,
            "payload: duplicate field `grade`",
        ),
        (
            r#"{"batch_id":"1001","grade":"A","schema":"chocoline.label/2"}"#,
            "schema: \"chocoline.label/2\"",
        ),
    ] {
        let r = parse(&cmd(text), AT).map_err(|e| e.to_string());
        let Err(r) = r else {
            panic!("{text}: accepted")
        };
        assert!(r.starts_with(says), "{text}: {r}");
    }
    let long = format!(
        r#"{{"batch_id":"1","grade":"A","request_id":"{}"}}"#,
        "r".repeat(129)
    );
    assert_eq!(
        refusal(&long).to_string(),
        "request_id: 129 characters, more than 128"
    );
    let ok = format!(
        r#"{{"batch_id":"1","grade":"A","request_id":"{}"}}"#,
        "é".repeat(128)
    );
    assert!(parse(&cmd(&ok), AT).is_ok(), "128 characters, more bytes");
}

#[test]
fn oversized_and_retained_commands_are_refused_before_parsing() {
    let big = format!(
        r#"{{"batch_id":"1","grade":"A","x":"{}"}}"#,
        " ".repeat(MAX_PAYLOAD)
    );
    let c = Inbound::capped(big.as_bytes(), MAX_PAYLOAD, false);
    assert!(c.payload.is_empty(), "not copied");
    let r = parse(&c, AT).unwrap_err();
    assert_eq!(r.kind(), "too_large");
    assert_eq!(
        r.to_string(),
        format!(
            "payload: {} bytes, more than the 65536 a label may have",
            big.len()
        )
    );
    assert_eq!(echo(&c), (None, None));
    let retained = Inbound::capped(br#"{"batch_id":"1","grade":"A"}"#, MAX_PAYLOAD, true);
    assert_eq!(parse(&retained, AT).unwrap_err().kind(), "retained");
}

#[test]
fn a_refusal_echoes_what_can_be_read_and_is_kept_short() {
    let c = cmd(r#"{"batch_id":"1001","grade":"C","request_id":"r-1"}"#);
    let r = refused(&c, &parse(&c, AT).unwrap_err(), AT);
    assert_eq!(
        (r.request_id.as_deref(), r.batch_id.as_deref()),
        (Some("r-1"), Some("1001"))
    );
    assert_eq!((r.stored, r.error_kind.as_deref()), (None, Some("invalid")));
    let c = cmd(&format!(
        r#"{{"batch_id":"{}","grade":"{}"}}"#,
        "9".repeat(65),
        "x".repeat(5000)
    ));
    let r = refused(&c, &parse(&c, AT).unwrap_err(), AT);
    assert_eq!((r.request_id, r.batch_id), (None, None));
    let e = r.error.unwrap();
    assert!(
        e.len() <= MAX_ERROR + '…'.len_utf8() && e.ends_with('…'),
        "{e}"
    );
    let c = cmd(&format!(
        r#"{{"batch_id":"1","grade":"A","request_id":"{}"}}"#,
        "r".repeat(129)
    ));
    assert_eq!(
        echo(&c),
        (None, Some("1".to_string())),
        "an invalid request_id is not echoed"
    );
    let b = busy(&cmd(r#"{"request_id":"r-2"}"#), AT);
    assert_eq!(
        (b.request_id.as_deref(), b.error_kind.as_deref()),
        (Some("r-2"), Some("busy"))
    );
}

#[test]
fn the_desk_stores_known_batches_and_refuses_the_rest_storing_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut desk = Desk::new(d);
    let good = cmd(r#"{"batch_id":"1001","grade":"B","yield_pct":81.2,"request_id":"r-1"}"#);
    let r = desk.handle(&good, AT).unwrap();
    assert_eq!(r.error_kind.as_deref(), Some("unknown_batch"));
    assert!(
        r.error.as_deref().unwrap().contains("knows 0 batches"),
        "{r:?}"
    );
    assert!(!journal_path(d).exists(), "nothing stored");

    capture(d, &["1001", "1002"]);
    let r = desk.handle(&good, AT).unwrap();
    let s = r.stored.unwrap();
    assert_eq!((s.grade.as_str(), s.yield_pct, s.at), ("B", Some(81.2), AT));
    assert_eq!(r.request_id.as_deref(), Some("r-1"));
    assert_eq!(r.error, None);
    let stored = read(d).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].source, LabelSource::Mqtt);
    assert_eq!(
        stored[0].to_string(),
        "batch 1001 grade B defect none yield 81.2"
    );

    let before = std::fs::read(journal_path(d)).unwrap();
    for bad in [
        r#"{"batch_id":"9999","grade":"A"}"#,
        r#"{"batch_id":"1002","grade":"C"}"#,
        "not json",
    ] {
        let r = desk.handle(&cmd(bad), AT).unwrap();
        assert!(r.stored.is_none() && r.error.is_some(), "{bad}: {r:?}");
    }
    let r = desk
        .handle(&cmd(r#"{"batch_id":"9999","grade":"A"}"#), AT)
        .unwrap();
    assert_eq!(
        r.error.unwrap(),
        format!(
            "unknown batch 9999: no batch line with that id in {} (it knows 2 batches)",
            capture_dir(d).display()
        )
    );
    assert_eq!(
        std::fs::read(journal_path(d)).unwrap(),
        before,
        "journal unchanged"
    );
    assert!(
        desk.handle(&cmd(""), AT).is_none(),
        "an empty payload is not answered"
    );
}
