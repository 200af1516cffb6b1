//! Alert engine tests: consecutive counts, dedup, clear with the raise's id, band rules,
//! batch spec, drift, data quality, yield.

use std::collections::BTreeMap;

use super::config::{AlertsConfig, Chocolate, ProductConfig};
use super::*;
use crate::domain::{
    Alert, AlertKind, AlertState, BatchContext, DataQualityEvent, DriftWindow, FeatureLevel,
    FeatureVector, Prediction, PredictionOutput, ReasonCode, Record, TimestampMs,
};

/// Band inputs of one model: (feature, signal, transform, window in samples).
fn model(name: &str, inputs: &[(&str, &str, &str, usize)]) -> ModelInputs {
    ModelInputs {
        model: name.to_string(),
        inputs: inputs
            .iter()
            .map(|&(feature, signal, transform, window)| BandInput {
                feature: feature.to_string(),
                signal: signal.to_string(),
                transform: transform.to_string(),
                window,
            })
            .collect(),
    }
}

fn specs() -> Vec<ModelInputs> {
    vec![
        model(
            "bloom",
            &[
                ("temp_mean", "temperature", "mean", 60),
                ("temp_std", "temperature", "std", 60),
                ("moist_last", "moisture", "last", 1),
                ("ps_mean", "particle_size", "mean", 60),
            ],
        ),
        // Batch-level: batch windows count as 0 samples.
        model(
            "quality",
            &[
                ("moisture_mean", "moisture", "mean", 0),
                ("ph_mean", "ph", "mean", 0),
            ],
        ),
    ]
}

fn products() -> Vec<ProductConfig> {
    vec![ProductConfig {
        code: "DARK70".into(),
        recipe_id: 1,
        chocolate: Chocolate::Dark,
        working_temp: None,
        moisture_pct: [1.0, 2.0],
        ph: [5.0, 5.5],
        particle_size_max_um: 25.0,
        cocoa_pct: Some(70.0),
    }]
}

fn engine() -> AlertEngine {
    AlertEngine::new(
        &AlertsConfig::default(),
        &products(),
        "plant",
        "L1",
        &specs(),
    )
}

fn ctx() -> BatchContext {
    BatchContext {
        batch_id: Some("42".into()),
        product: Some("DARK70".into()),
        lot: None,
    }
}

/// A bloom prediction at second `s` with P(fat_bloom) = pf, P(sugar_bloom) = ps.
fn bloom(s: i64, pf: f64, ps: f64, temp: f64) -> Record {
    let names: Vec<String> = ["temp_mean", "temp_std", "moist_last", "ps_mean"]
        .map(String::from)
        .into();
    Record::Prediction(Prediction {
        model: "bloom".into(),
        model_version: "1.0.0".into(),
        ts: TimestampMs(s * 1000),
        batch: ctx(),
        output: PredictionOutput::Class {
            label: "none".into(),
            probabilities: vec![
                ("none".into(), 1.0 - pf - ps),
                ("fat_bloom".into(), pf),
                ("sugar_bloom".into(), ps),
            ],
        },
        confidence: 0.9,
        decides: true,
        features: FeatureVector {
            model: "bloom".into(),
            spec_version: 1,
            level: FeatureLevel::Sample,
            names: names.into(),
            values: vec![temp, 0.05, 1.5, 20.0],
            ts: TimestampMs(s * 1000),
            batch: ctx(),
            flags: BTreeMap::new(),
        },
    })
}

fn alerts(out: &[Record]) -> Vec<&Alert> {
    out.iter()
        .filter_map(|r| match r {
            Record::Alert(a) => Some(a),
            _ => None,
        })
        .collect()
}

fn feed(e: &mut AlertEngine, recs: Vec<Record>) -> Vec<Record> {
    let mut out = Vec::new();
    for r in recs {
        e.handle(r, &mut out);
    }
    out
}

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

fn quality(batch: &str, s: i64, p_reject: f64, moisture: f64) -> Record {
    let b = BatchContext {
        batch_id: Some(batch.into()),
        product: Some("DARK70".into()),
        lot: None,
    };
    Record::Prediction(Prediction {
        model: "quality".into(),
        model_version: "2.0.0".into(),
        ts: TimestampMs(s),
        batch: b.clone(),
        output: PredictionOutput::Class {
            label: "A".into(),
            probabilities: vec![("A".into(), 1.0 - p_reject), ("reject".into(), p_reject)],
        },
        confidence: 0.9,
        decides: true,
        features: FeatureVector {
            model: "quality".into(),
            spec_version: 1,
            level: FeatureLevel::Batch,
            names: vec!["moisture_mean".to_string(), "ph_mean".to_string()].into(),
            values: vec![moisture, 5.3],
            ts: TimestampMs(s),
            batch: b,
            flags: BTreeMap::new(),
        },
    })
}

fn batch_alerts(out: &[Record]) -> Vec<(AlertKind, AlertState, String)> {
    alerts(out)
        .iter()
        .map(|a| {
            (
                a.kind,
                a.state,
                a.batch.batch_id.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn out_of_range_batch_by_reject_where_the_model_decides() {
    let mut e = engine();
    let out = feed(
        &mut e,
        vec![
            quality("1", 1, 0.1, 1.5),
            quality("2", 2, 0.1, 2.4), // moisture mean above 2.0, the model says good: evidence only
            quality("3", 3, 0.7, 2.4), // predicted reject, and out of spec
            quality("4", 4, 0.2, 1.5), // predicted good: clears
        ],
    );
    assert_eq!(
        batch_alerts(&out),
        vec![
            (AlertKind::OutOfRangeBatch, AlertState::Raised, "3".into()),
            (AlertKind::OutOfRangeBatch, AlertState::Cleared, "4".into()),
        ]
    );
    let a = alerts(&out);
    assert_eq!(a[0].evidence["p_reject"], 0.7);
    assert_eq!(a[0].evidence["spec_violations"][0]["signal"], "moisture");
    assert!(
        a[0].message.contains("P(reject) 0.70; 1 aggregate"),
        "{}",
        a[0].message
    );
}

#[test]
fn out_of_range_batch_by_spec_beside_a_model_that_does_not_decide() {
    let mut e = engine();
    let out = feed(
        &mut e,
        vec![
            deciding(quality("1", 1, 0.1, 1.5), false),
            deciding(quality("2", 2, 0.1, 2.4), false), // out of spec: raises
            deciding(quality("3", 3, 0.9, 1.5), false), // in spec; P(reject) is evidence only
        ],
    );
    assert_eq!(
        batch_alerts(&out),
        vec![
            (AlertKind::OutOfRangeBatch, AlertState::Raised, "2".into()),
            (AlertKind::OutOfRangeBatch, AlertState::Cleared, "3".into()),
        ]
    );
    assert_eq!(
        alerts(&out)[0].evidence["spec_violations"][0]["signal"],
        "moisture"
    );
}

fn dq(s: i64) -> Record {
    Record::DataQuality(DataQualityEvent {
        model: "bloom".into(),
        ts: TimestampMs(s * 1000),
        batch: ctx(),
        flags: BTreeMap::from([("temperature".to_string(), vec![ReasonCode::Stuck])]),
    })
}

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

#[tokio::test]
async fn stage_forwards_records_then_alerts_and_ends_with_its_input() {
    use tokio::sync::mpsc;
    let (tx, rx) = mpsc::channel(8);
    let (otx, mut orx) = mpsc::channel(8);
    let (ctx, _updates) = crate::flow::StageContext::standalone("alert");
    let metrics = ctx.metrics.clone();
    let task = tokio::spawn(stage::run(engine(), rx, otx, ctx));
    // Two producers share the input, as monitor and validate do.
    let tx2 = tx.clone();
    for i in 0..3 {
        tx.send(bloom(i, 0.9, 0.0, 31.5)).await.unwrap();
    }
    tx2.send(dq(3)).await.unwrap();
    drop((tx, tx2));
    let mut got = Vec::new();
    while let Some(r) = orx.recv().await {
        got.push(r);
    }
    let sent = task.await.unwrap();
    assert_eq!(
        got.len(),
        5,
        "3 predictions + 1 alert + 1 data-quality event"
    );
    assert!(matches!(&got[3], Record::Alert(a) if a.kind == AlertKind::FatBloomRisk));
    assert!(matches!(&got[4], Record::DataQuality(_)));
    assert_eq!(sent, 5, "the stage counts what it sent to the store");
    let raised = metrics.counter(
        "chocoline_alerts_raised_total",
        "Alerts raised per kind.",
        &[("kind", AlertKind::FatBloomRisk.as_str())],
    );
    assert_eq!(raised.get(), 1);
}

#[test]
fn band_rules_wait_for_the_window_after_a_product_change() {
    let mut prods = products();
    prods.push(ProductConfig {
        code: "MILK35".into(),
        recipe_id: 3,
        chocolate: Chocolate::Milk,
        working_temp: None,
        moisture_pct: [1.0, 2.0],
        ph: [5.0, 5.5],
        particle_size_max_um: 25.0,
        cocoa_pct: None,
    });
    let mut e = AlertEngine::new(&AlertsConfig::default(), &prods, "plant", "L1", &specs());
    let milk = |s: i64| {
        let Record::Prediction(mut p) = bloom(s, 0.0, 0.0, 31.5) else {
            unreachable!()
        };
        p.batch.product = Some("MILK35".into());
        Record::Prediction(p)
    };
    // DARK70 at 31.5 °C is in band; the recipe switches to MILK35 [30, 31] while the
    // 60-sample temperature mean still says 31.5: the first 60 evaluations are skipped.
    let mut recs: Vec<Record> = (0..5).map(|i| bloom(i, 0.0, 0.0, 31.5)).collect();
    recs.extend((5..65).map(milk));
    assert!(alerts(&feed(&mut e, recs)).is_empty());
    // Still 31.5 after the window: now it is a real excursion (0.5 °C > 0.2), raised at the
    // 3rd evaluation.
    let a = feed(&mut e, (65..68).map(milk).collect());
    let a = alerts(&a);
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].kind, a[0].ts),
        (AlertKind::FatBloomRisk, TimestampMs(67_000))
    );
}

#[test]
fn reconfigure_keeps_open_alerts_and_applies_new_thresholds() {
    let mut e = engine();
    // Default rule (raise 0.6, clear 0.4, 3 consecutive) raises at index 2.
    let out = feed(&mut e, (0..3).map(|i| bloom(i, 0.7, 0.0, 31.5)).collect());
    let raised: Vec<_> = alerts(&out).into_iter().cloned().collect();
    assert_eq!(raised.len(), 1, "{raised:#?}");
    // New rule: clear only at ≤ 0.1, after one evaluation. 0.3 would have cleared the old
    // rule (three of them); under the new one the alert must stay open.
    let mut cfg = AlertsConfig::default();
    cfg.fat_bloom_risk.clear = 0.1;
    cfg.fat_bloom_risk.consecutive = 1;
    e.reconfigure(&cfg, &products());
    assert_eq!(e.open_alerts().len(), 1, "the open alert survives");
    let out = feed(&mut e, (3..6).map(|i| bloom(i, 0.3, 0.0, 31.5)).collect());
    assert!(alerts(&out).is_empty(), "cleared under the old threshold");
    let out = feed(&mut e, vec![bloom(6, 0.05, 0.0, 31.5)]);
    let cleared = alerts(&out);
    assert_eq!(cleared.len(), 1, "{cleared:#?}");
    assert_eq!(cleared[0].state, AlertState::Cleared);
    assert_eq!(cleared[0].id, raised[0].id, "cleared under the raise's id");
    assert_eq!(cleared[0].evidence["rule"]["clear"], 0.1);
}

/// `record` with the model's `decides` flag set to `decides`.
fn deciding(mut record: Record, decides: bool) -> Record {
    if let Record::Prediction(p) = &mut record {
        p.decides = decides;
    }
    record
}

#[test]
fn a_model_that_does_not_decide_is_evidence_only() {
    // P(fat_bloom) 0.95 for ten polls, in band: the model alone would raise fat_bloom_risk.
    let mut e = engine();
    let recs = (0..10)
        .map(|s| deciding(bloom(s, 0.95, 0.0, 31.5), false))
        .collect();
    assert!(alerts(&feed(&mut e, recs)).is_empty());
    // The band rule still raises on the same evidence-only model's vectors.
    let hot = (10..20)
        .map(|s| deciding(bloom(s, 0.95, 0.0, 34.0), false))
        .collect();
    let out = feed(&mut e, hot);
    let a = alerts(&out);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].kind, AlertKind::FatBloomRisk);
    assert!(a[0].id.contains(":temperature:"), "{}", a[0].id);

    // A batch with P(reject) 0.9 inside the spec raises only from a deciding model; beside a
    // model that does not decide, a spec violation raises.
    let mut e = engine();
    let out = feed(
        &mut e,
        vec![
            deciding(quality("1", 1, 0.9, 1.5), false),
            deciding(quality("2", 2, 0.9, 2.4), false),
        ],
    );
    let a = alerts(&out);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].batch.batch_id.as_deref(), Some("2"));
    assert_eq!(
        a[0].evidence["p_reject"], 0.9,
        "the model's output stays as evidence"
    );
    let mut e = engine();
    let out = feed(&mut e, vec![deciding(quality("1", 1, 0.9, 1.5), true)]);
    assert_eq!(alerts(&out).len(), 1);
}

/// `record` made while `product` runs.
fn during(mut record: Record, product: &str) -> Record {
    if let Record::Prediction(p) = &mut record {
        p.batch.product = Some(product.into());
        p.features.batch.product = Some(product.into());
    }
    record
}

#[test]
fn bloom_probabilities_wait_for_the_window_after_a_product_change() {
    // The bloom spec's longest window is 60 samples: for 60 evaluations after a product
    // change the window mixes two products, and the model's probabilities raise nothing.
    let mut e = engine();
    let mut recs: Vec<Record> = (0..10)
        .map(|s| during(bloom(s, 0.1, 0.0, 31.5), "DARK70"))
        .collect();
    recs.extend((10..69).map(|s| during(bloom(s, 0.95, 0.0, 31.5), "WHITE30")));
    assert!(alerts(&feed(&mut e, recs)).is_empty());
    // Once the window holds only the new product, the same probabilities raise (3 in a row).
    let out = feed(
        &mut e,
        (69..73)
            .map(|s| during(bloom(s, 0.95, 0.0, 31.5), "WHITE30"))
            .collect(),
    );
    let a = alerts(&out);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].kind, AlertKind::FatBloomRisk);
    assert_eq!(
        a[0].ts,
        TimestampMs(72_000),
        "60 evaluations skipped (s = 10..69), raised on the third after"
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
