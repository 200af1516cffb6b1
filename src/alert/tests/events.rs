//! The rules fed by other stages' events: the share of refused vectors (data quality) and
//! the monitor's drift windows.

use super::*;

#[test]
fn data_quality_share_raises_and_clears() {
    let cfg = AlertsConfig {
        share_window: 10,
        ..AlertsConfig::default()
    };
    let mut e = AlertEngine::new(&cfg, &products(), "plant", "L1", &specs());
    // 10 good, then 5 refused: share 0.1, 0.2 (1st ≥ 0.2), 0.3, 0.4 → raised at the 3rd.
    let mut recs: Vec<Record> = (0..10).map(|i| bloom(i, 0.0, 0.0, 31.5)).collect();
    recs.extend((10..15).map(dq));
    // Then good vectors: share falls as the refused ones roll out; ≤ 0.05 means none left
    // in the window of 10, three times in a row.
    recs.extend((15..40).map(|i| bloom(i, 0.0, 0.0, 31.5)));
    let out = feed(&mut e, recs);
    let a: Vec<_> = alerts(&out)
        .into_iter()
        .filter(|a| a.kind == AlertKind::DataQuality)
        .collect();
    assert_eq!(a.len(), 2, "{a:#?}");
    assert_eq!(
        (a[0].state, a[0].ts),
        (AlertState::Raised, TimestampMs(13_000))
    );
    assert_eq!(a[0].evidence["flags"]["temperature"][0], "stuck");
    // The last refused vector (t=14) leaves the 10-window at t=24; 3rd clean evaluation t=26.
    assert_eq!(
        (a[1].state, a[1].ts),
        (AlertState::Cleared, TimestampMs(26_000))
    );
}

#[test]
fn drift_window_share() {
    let mut e = engine();
    let w = |s: i64, share: f64| {
        Record::Drift(DriftWindow {
            model: "bloom".into(),
            model_version: "1.0.0".into(),
            start: TimestampMs(s - 3_600_000),
            end: TimestampMs(s),
            samples: 3600,
            features: vec![],
            drifted_share: share,
        })
    };
    // Defaults raise 0.34 / clear 0.05: two of six features are not enough, three of six
    // are; one of ten still holds the alert, none clears it.
    let out = feed(
        &mut e,
        vec![w(1, 2.0 / 6.0), w(2, 3.0 / 6.0), w(3, 0.1), w(4, 0.0)],
    );
    let a = alerts(&out);
    assert_eq!(a.len(), 2);
    assert_eq!(
        (a[0].kind, a[0].state, a[0].ts),
        (AlertKind::Drift, AlertState::Raised, TimestampMs(2))
    );
    assert_eq!((a[1].state, a[1].ts), (AlertState::Cleared, TimestampMs(4)));
}
