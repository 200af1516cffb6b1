//! Unit tests of the export's time handling.

use super::*;

#[test]
fn times_are_rfc3339_or_epoch_ms() {
    assert_eq!(parse_time("1796560000000"), Ok(1_796_560_000_000));
    assert_eq!(parse_time("2026-12-06T10:00:00Z"), Ok(1_796_551_200_000));
    assert_eq!(parse_time("2026-12-06T10:00:00.5Z"), Ok(1_796_551_200_500));
    assert!(parse_time("yesterday").unwrap_err().contains("RFC 3339"));
    assert_eq!(
        ts_text(Some(1_796_551_200_000), ""),
        "2026-12-06T10:00:00.000Z"
    );
    assert_eq!(ts_text(None, "the end"), "the end");
}

#[test]
fn columns_follow_the_simulator_header() {
    let c = Columns::new("bid", "rcp", |s| format!("r_{s}"));
    let names: Vec<&str> = c.signals.iter().map(|(s, _)| s.as_str()).collect();
    let header = samples_header();
    assert_eq!(names, header[3..header.len() - 3]);
    assert_eq!(c.signals[0].1, format!("r_{}", names[0]));
    assert_eq!((c.batch_id.as_str(), c.recipe.as_str()), ("bid", "rcp"));
}
