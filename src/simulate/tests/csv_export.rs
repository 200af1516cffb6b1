//! The CSV export: the documented samples and batches schema, dropped values left empty
//! during `sensor-dropout`, and a zero interval refused.

use crate::simulate::export::{ExportOptions, export_csv, samples_header};

use super::*;

#[test]
fn export_writes_documented_schema() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ExportOptions {
        scenario: Scenario::SensorDropout,
        seed: 3,
        start: START,
        duration: Duration::from_secs(3 * 3600),
        interval: Duration::from_secs(10),
        plan: FaultPlan::default(),
    };
    let summary = export_csv(dir.path(), &opts).unwrap();
    assert_eq!(summary.samples, 1080);
    let text = std::fs::read_to_string(dir.path().join("samples.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header, samples_header());
    assert_eq!(&header[..3], &["ts_ms", "batch_id", "recipe"]);
    assert_eq!(header.len(), 3 + 11 + 3);
    let mi = header.iter().position(|h| *h == "moisture").unwrap();
    let fi = header.iter().position(|h| *h == "fault").unwrap();
    let mut empty = 0;
    for line in lines {
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols.len(), header.len());
        let faulty = cols[fi] == "sensor-dropout";
        assert_eq!(cols[mi].is_empty(), faulty, "{line}");
        empty += usize::from(faulty);
    }
    assert_eq!(empty, 720);
    let batches = std::fs::read_to_string(dir.path().join("batches.csv")).unwrap();
    assert!(batches.starts_with(export::BATCHES_HEADER));
    assert_eq!(batches.lines().count() as u64, summary.batches + 1);
    // Interval 0 is refused with a clear error.
    let bad = ExportOptions {
        interval: Duration::ZERO,
        ..opts
    };
    assert!(
        export_csv(dir.path(), &bad)
            .unwrap_err()
            .to_string()
            .contains("interval")
    );
}
