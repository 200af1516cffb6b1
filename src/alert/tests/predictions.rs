//! Rules fed by model outputs: a bloom probability raised on consecutive evaluations, once,
//! and cleared under the raise's id; predicted yield and low confidence (lower is worse);
//! the anomaly share over its window and the signals it names; the working temperature's
//! z-score from an anomaly model's contributions (`tempering_z`).

use super::*;

#[test]
fn fat_bloom_probability_consecutive_dedup_and_clear() {
    let mut e = engine();
    // Default rule: raise 0.6, clear 0.4, 3 consecutive.
    let p = [
        0.1, 0.7, 0.7, 0.5, 0.7, 0.7, 0.7, 0.8, 0.9, 0.5, 0.45, 0.3, 0.2, 0.1, 0.7,
    ];
    let recs = p
        .iter()
        .enumerate()
        .map(|(i, pf)| bloom(i as i64, *pf, 0.0, 31.5))
        .collect();
    let out = feed(&mut e, recs);
    assert_eq!(
        out.iter()
            .filter(|r| matches!(r, Record::Prediction(_)))
            .count(),
        p.len(),
        "inputs pass through"
    );
    let a: Vec<_> = alerts(&out)
        .into_iter()
        .filter(|a| a.kind == AlertKind::FatBloomRisk)
        .collect();
    assert_eq!(a.len(), 2, "{a:#?}");
    // Raised on the third consecutive ≥ 0.6 (index 6), once despite 8 and 9 staying high.
    assert_eq!(a[0].state, AlertState::Raised);
    assert_eq!(a[0].ts, TimestampMs(6000));
    // Cleared after three ≤ 0.4 (indices 11, 12, 13), carrying the raise's id and time.
    assert_eq!(a[1].state, AlertState::Cleared);
    assert_eq!(a[1].ts, TimestampMs(13_000));
    assert_eq!(a[1].id, a[0].id);
    assert_eq!(a[1].raised_at, TimestampMs(6000));
    assert_eq!(a[0].id, "plant:L1:fat_bloom_risk:bloom:6000");
    assert_eq!((a[0].site.as_str(), a[0].line.as_str()), ("plant", "L1"));
    assert_eq!(a[0].batch, ctx());
    let ev = &a[0].evidence;
    assert_eq!(ev["model_version"], "1.0.0");
    assert_eq!(ev["probabilities"]["fat_bloom"], 0.7);
    assert_eq!(ev["rule"]["raise"], 0.6);
    assert_eq!(ev["features"]["temp_mean"], 31.5);
    // Exactly one alert open at any time for the kind and scope: no other kinds fired.
    assert!(
        alerts(&out)
            .iter()
            .all(|a| a.kind == AlertKind::FatBloomRisk)
    );
}

#[test]
fn yield_low_and_low_confidence_are_lower_is_worse() {
    let mut e = engine();
    let y = |s: i64, v: f64, conf: f64| {
        Record::Prediction(Prediction {
            model: "yield".into(),
            model_version: "1.0.0".into(),
            ts: TimestampMs(s),
            batch: ctx(),
            output: PredictionOutput::Value { value: v },
            confidence: conf,
            decides: true,
            shadow: false,
            features: FeatureVector {
                model: "yield".into(),
                spec_version: 1,
                level: FeatureLevel::Batch,
                names: vec!["x".to_string()].into(),
                values: vec![1.0],
                ts: TimestampMs(s),
                batch: ctx(),
                flags: BTreeMap::new(),
            },
        })
    };
    let mut recs = vec![
        y(1, 80.0, 0.9),
        y(2, 74.0, 0.9),
        y(3, 77.0, 0.9),
        y(4, 79.0, 0.9),
    ];
    // low_confidence: ≤ 0.5 ten times in a row.
    recs.extend((5..15).map(|s| y(s, 80.0, 0.3)));
    let out = feed(&mut e, recs);
    let a: Vec<_> = alerts(&out)
        .iter()
        .map(|a| (a.kind, a.state, a.ts.0))
        .collect();
    assert_eq!(
        a,
        vec![
            (AlertKind::YieldLow, AlertState::Raised, 2),
            (AlertKind::YieldLow, AlertState::Cleared, 4),
            (AlertKind::LowConfidence, AlertState::Raised, 14),
        ]
    );
}

#[test]
fn anomaly_share_over_window() {
    let cfg = AlertsConfig {
        share_window: 4,
        ..AlertsConfig::default()
    };
    let mut e = AlertEngine::new(&cfg, &products(), "plant", "L1", &specs());
    let an = |s: i64, bad: bool| {
        Record::Prediction(Prediction {
            model: "anomaly".into(),
            model_version: "1.0.0".into(),
            ts: TimestampMs(s),
            batch: ctx(),
            output: PredictionOutput::Anomaly {
                score: if bad { -0.7 } else { -0.4 },
                decision: if bad { -0.1 } else { 0.1 },
                is_anomaly: bad,
                contributions: vec![
                    ("tunnel_temp_mean_60".into(), if bad { 9.5 } else { 3.0 }),
                    ("ph_mean_60".into(), -1.2),
                ],
            },
            confidence: 0.9,
            decides: true,
            shadow: false,
            features: FeatureVector {
                model: "anomaly".into(),
                spec_version: 1,
                level: FeatureLevel::Sample,
                names: vec!["x".to_string()].into(),
                values: vec![1.0],
                ts: TimestampMs(s),
                batch: ctx(),
                flags: BTreeMap::new(),
            },
        })
    };
    // Rule: share ≥ 0.5 for 5 consecutive vectors raises; ≤ 0.2 for 5 clears.
    let pattern = [
        false, true, true, true, true, true, true, false, false, false, false, false, false, false,
        false,
    ];
    let out = feed(
        &mut e,
        pattern
            .iter()
            .enumerate()
            .map(|(i, b)| an(i as i64, *b))
            .collect(),
    );
    let a: Vec<_> = alerts(&out)
        .iter()
        .map(|a| (a.kind, a.state, a.ts.0))
        .collect();
    // Shares: .0 .5 .67 .75 1 1 1 .75 .5 .25 0 0 0 0 0, evaluated only once the window of 4
    // is full (index 3): ≥ .5 from index 3, 5th at index 7; ≤ .2 from index 10, 5th at 14.
    assert_eq!(
        a,
        vec![
            (AlertKind::Anomaly, AlertState::Raised, 7),
            (AlertKind::Anomaly, AlertState::Cleared, 14)
        ]
    );
    // The raise names the signals of the vector it was raised on (index 7), largest |z|
    // first, in the message and the evidence.
    let raised = alerts(&out)[0].clone();
    assert!(
        raised
            .message
            .contains("top signals: tunnel_temp_mean_60 z +3.0, ph_mean_60 z -1.2"),
        "{}",
        raised.message
    );
    assert_eq!(
        raised.evidence["top_signals"][0],
        serde_json::json!({"signal": "tunnel_temp_mean_60", "z": 3.0})
    );
}

#[test]
fn tempering_temperature_far_above_its_product_level_raises_fat_bloom() {
    let specs = vec![model(
        "anomaly",
        &[
            ("temperature_mean_60", "temperature", "mean", 60),
            ("tunnel_temp_mean_60", "tunnel_temp", "mean", 60),
        ],
    )];
    let mut e = AlertEngine::new(&AlertsConfig::default(), &products(), "plant", "L1", &specs);
    let an = |s: i64, z: f64| {
        Record::Prediction(Prediction {
            model: "anomaly".into(),
            model_version: "3.0.0".into(),
            ts: TimestampMs(s * 1000),
            batch: ctx(),
            output: PredictionOutput::Anomaly {
                score: -z,
                decision: 5.0 - z,
                is_anomaly: false,
                contributions: vec![
                    ("temperature_mean_60".into(), z),
                    ("tunnel_temp_mean_60".into(), 0.3),
                ],
            },
            confidence: 0.9,
            decides: true,
            shadow: false,
            features: FeatureVector {
                model: "anomaly".into(),
                spec_version: 1,
                level: FeatureLevel::Sample,
                names: vec!["temperature_mean_60".into(), "tunnel_temp_mean_60".into()].into(),
                values: vec![31.6, 13.0],
                ts: TimestampMs(s * 1000),
                batch: ctx(),
                flags: BTreeMap::new(),
            },
        })
    };
    // The first 60 vectors of the product settle (not counted); then z 2.9 (under the
    // default 3.0), three at 3.2 raise, 2.5 holds, three at or below 2.0 clear.
    let mut zs = vec![0.0; 60];
    zs.extend([2.9, 3.2, 3.2, 3.2, 2.5, 2.0, 1.0, 0.5]);
    let recs = zs
        .iter()
        .enumerate()
        .map(|(s, z)| an(s as i64, *z))
        .collect();
    let out = feed(&mut e, recs);
    let a: Vec<_> = alerts(&out)
        .iter()
        .filter(|a| a.kind == AlertKind::FatBloomRisk)
        .map(|a| (a.state, a.ts.0 / 1000))
        .collect();
    assert_eq!(a, vec![(AlertState::Raised, 63), (AlertState::Cleared, 67)]);
    let raised = alerts(&out)[0].clone();
    assert!(raised.id.contains(":tempering_z:"), "{}", raised.id);
    assert_eq!(raised.evidence["tempering_z"]["z"], 3.2);
    // Disabled with 0: nothing.
    let cfg = AlertsConfig {
        temp_rise_z: 0.0,
        ..AlertsConfig::default()
    };
    let mut e = AlertEngine::new(&cfg, &products(), "plant", "L1", &specs);
    let recs = zs
        .iter()
        .enumerate()
        .map(|(s, z)| an(s as i64, *z))
        .collect();
    let out = feed(&mut e, recs);
    assert!(
        alerts(&out)
            .iter()
            .all(|a| a.kind != AlertKind::FatBloomRisk)
    );
}

/// `record` as its model's shadow candidate's (docs/shadow.md).
fn shadowed(mut record: Record) -> Record {
    if let Record::Prediction(p) = &mut record {
        p.shadow = true;
        p.decides = false;
    }
    record
}

#[test]
fn a_shadow_prediction_raises_and_clears_nothing() {
    // High P(fat_bloom), low confidence and a working temperature far above the band: as the
    // serving model's, evidence only (`decides: false`), the band and confidence rules still
    // raise; as a shadow candidate's, nothing does.
    let recs = |f: fn(Record) -> Record| -> Vec<Record> {
        (0..12)
            .map(|i| {
                let mut r = bloom(i, 0.9, 0.0, 36.0);
                if let Record::Prediction(p) = &mut r {
                    p.confidence = 0.2;
                }
                f(r)
            })
            .collect()
    };
    let out = feed(&mut engine(), recs(|r| deciding(r, false)));
    assert!(!alerts(&out).is_empty(), "the control raises something");
    let out = feed(&mut engine(), recs(shadowed));
    assert_eq!(
        out.len(),
        12,
        "passed on, nothing added: {:?}",
        alerts(&out)
    );

    // Nor does it clear: an open fat-bloom alert stays open under low shadow probabilities.
    let mut e = engine();
    let mut recs: Vec<Record> = (0..3).map(|i| bloom(i, 0.9, 0.0, 31.5)).collect();
    recs.extend((3..9).map(|i| shadowed(bloom(i, 0.0, 0.0, 31.5))));
    let out = feed(&mut e, recs);
    let a = alerts(&out);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].state, AlertState::Raised);
    assert_eq!(e.open_alerts().len(), 1);
}
