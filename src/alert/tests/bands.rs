//! The signal (band) rules: the working temperature against the product's tempering band,
//! humidity against its sugar-bloom limit, and one evaluation per poll however many
//! models carry the signal.

use super::*;

#[test]
fn working_temperature_outside_band_raises_fat_bloom() {
    let mut e = engine();
    // Dark band [31, 32], tolerance 0.1 °C: 32.05 is tolerated, 32.5 is not.
    let temps = [31.5, 32.05, 32.5, 32.5, 32.5, 32.5, 31.9, 31.8, 31.7];
    let recs = temps
        .iter()
        .enumerate()
        .map(|(i, t)| bloom(i as i64, 0.0, 0.0, *t))
        .collect();
    let out = feed(&mut e, recs);
    let a = alerts(&out);
    assert_eq!(a.len(), 2, "{a:#?}");
    assert_eq!(
        (a[0].kind, a[0].state, a[0].ts),
        (
            AlertKind::FatBloomRisk,
            AlertState::Raised,
            TimestampMs(4000)
        )
    );
    assert!(a[0].id.contains(":temperature:"));
    assert_eq!(
        a[0].evidence["band"]["band"],
        serde_json::json!([31.0, 32.0])
    );
    assert!((a[0].evidence["band"]["excursion"].as_f64().unwrap() - 0.5).abs() < 1e-9);
    assert_eq!(
        (a[1].state, a[1].ts),
        (AlertState::Cleared, TimestampMs(8000))
    );
}

#[test]
fn signal_rules_evaluate_once_per_poll() {
    // Two predictions at the same data time (two models) must not count twice.
    let mut e = engine();
    let mut recs = Vec::new();
    for i in 0..2 {
        recs.push(bloom(i, 0.0, 0.0, 33.0));
        recs.push(bloom(i, 0.0, 0.0, 33.0));
    }
    assert!(
        alerts(&feed(&mut e, recs)).is_empty(),
        "2 polls < 3 consecutive"
    );
}

#[test]
fn humidity_above_the_products_sugar_bloom_limit_raises_sugar_bloom() {
    let specs = vec![model(
        "air",
        &[("humidity_mean_60", "humidity", "mean", 60)],
    )];
    let mut e = AlertEngine::new(&AlertsConfig::default(), &products(), "plant", "L1", &specs);
    let air = |s: i64, rh: f64| {
        let mut r = bloom(s, 0.0, 0.0, 31.5);
        if let Record::Prediction(p) = &mut r {
            p.model = "air".into();
            p.features.model = "air".into();
            p.features.names = vec!["humidity_mean_60".to_string()].into();
            p.features.values = vec![rh];
        }
        r
    };
    // DARK70 is dark chocolate: limit 83 % RH, pre-alarm 5 % RH below it (78), raised
    // 0.5 above that, 3 polls in a row; cleared back at or below 78.
    let recs = [60.0, 78.2, 78.6, 79.0, 79.5, 77.0, 75.0, 74.0]
        .iter()
        .enumerate()
        .map(|(s, rh)| air(s as i64, *rh))
        .collect();
    let out = feed(&mut e, recs);
    let a = alerts(&out);
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(
        (a[0].kind, a[0].state),
        (AlertKind::SugarBloomRisk, AlertState::Raised)
    );
    assert_eq!(a[0].ts, TimestampMs(4000));
    assert!(a[0].id.contains(":humidity:"), "{}", a[0].id);
    assert_eq!(a[0].evidence["band"]["limit"], 83.0);
    assert_eq!(a[0].evidence["band"]["pre_alarm"], 78.0);
    assert!(
        a[0].message
            .contains("pre-alarm level 78 % RH (5 % RH below its sugar-bloom limit 83 % RH)"),
        "{}",
        a[0].message
    );
    assert_eq!(
        (a[1].state, a[1].ts),
        (AlertState::Cleared, TimestampMs(7000))
    );
}
