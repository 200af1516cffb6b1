//! Engine and stage tests: hand-computed windows, batch closing, flags.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc;

use super::*;
use crate::domain::{FeatureLevel, Quality, Reading, ReasonCode, Sample, TimestampMs};
use crate::features::config::FeaturesConfig;

fn sample_spec() -> FeatureSpec {
    FeatureSpec::from_manifest_str(
        "bloom",
        r#"{"name":"bloom","level":"sample","feature_spec_version":1,"features":[
            {"name":"t_mean3","signal":"temperature","transform":"mean","window":3},
            {"name":"t_last","signal":"temperature","transform":"last","window":1},
            {"name":"h_max2","signal":"humidity","transform":"max","window":2}]}"#,
    )
    .unwrap()
}

fn batch_spec() -> FeatureSpec {
    FeatureSpec::from_manifest_str(
        "quality",
        r#"{"name":"quality","level":"batch","feature_spec_version":1,"features":[
            {"name":"m_mean","signal":"moisture","transform":"mean","window":"batch"},
            {"name":"m_delta","signal":"moisture","transform":"delta","window":"batch"}]}"#,
    )
    .unwrap()
}

fn reading(name: &str, value: f64, ts: i64, quality: Quality) -> Reading {
    Reading {
        device: "dev".into(),
        name: name.into(),
        value,
        unit: "".into(),
        raw: vec![],
        ts: TimestampMs(ts),
        quality,
    }
}

fn sample(ts: i64, vals: &[(&str, f64)]) -> Sample {
    Sample {
        device: "dev".into(),
        ts: TimestampMs(ts),
        readings: vals
            .iter()
            .map(|(n, v)| reading(n, *v, ts, Quality::Good))
            .collect(),
        missed_cycles: 0,
    }
}

fn engine(specs: Vec<FeatureSpec>) -> FeatureEngine {
    let setup = EngineSetup {
        products: BTreeMap::from([(2, "DARK70".to_string())]),
        default_product: None,
        poll_intervals: Default::default(),
        default_poll: Duration::from_secs(1),
    };
    FeatureEngine::new(&FeaturesConfig::default(), setup, specs)
}

#[test]
fn sample_level_windows_by_count() {
    let mut e = engine(vec![sample_spec()]);
    let mut out = Vec::new();
    let temps = [30.0, 31.0, 32.5, 29.5];
    let hums = [50.0, 55.0, 52.0, 51.0];
    for (i, (t, h)) in temps.iter().zip(hums).enumerate() {
        e.push(
            &sample(i as i64 * 1000, &[("temperature", *t), ("humidity", h)]),
            &mut out,
        );
    }
    assert_eq!(out.len(), 4, "one vector per sample");
    let last = &out[3];
    assert_eq!(last.level, FeatureLevel::Sample);
    // Last three temperatures 31, 32.5, 29.5 → 31; humidity max of (52, 51) → 52.
    assert_eq!(last.values, vec![31.0, 29.5, 52.0]);
    assert!(last.flags.is_empty(), "{:?}", last.flags);
    // While the ring fills, the window is what there is: first vector mean = 30.
    assert_eq!(out[0].values[0], 30.0);
    // A sample without any of the model's signals emits nothing.
    e.push(&sample(5000, &[("moisture", 1.2)]), &mut out);
    assert_eq!(out.len(), 4);
}

#[test]
fn batch_closes_on_id_change_and_skips_the_partial_first_batch() {
    let mut e = engine(vec![batch_spec()]);
    let mut out = Vec::new();
    let mut ts = 0;
    let mut feed = |e: &mut FeatureEngine, batch: f64, m: f64, out: &mut Vec<_>| {
        ts += 1000;
        e.push(
            &sample(ts, &[("batch_id", batch), ("recipe", 2.0), ("moisture", m)]),
            out,
        );
    };
    feed(&mut e, 7.0, 9.0, &mut out); // partial batch 7 (started before we did)
    feed(&mut e, 8.0, 1.0, &mut out);
    assert!(
        out.is_empty(),
        "the partial first batch must not be emitted"
    );
    feed(&mut e, 8.0, 2.0, &mut out);
    feed(&mut e, 8.0, 1.5, &mut out);
    feed(&mut e, 9.0, 5.0, &mut out);
    assert_eq!(out.len(), 1);
    let v = &out[0];
    assert_eq!(v.level, FeatureLevel::Batch);
    assert_eq!(v.batch.batch_id.as_deref(), Some("8"));
    assert_eq!(
        v.batch.product.as_deref(),
        Some("DARK70"),
        "recipe 2 maps to its code"
    );
    // Batch 8 moisture 1, 2, 1.5: mean 1.5, delta 0.5.
    assert_eq!(v.values, vec![1.5, 0.5]);
    assert_eq!(v.ts, TimestampMs(4000), "time of the batch's last sample");
    assert_eq!(e.batch().batch_id.as_deref(), Some("9"));
    assert_eq!(e.stats().batches_closed, 1);
}

#[test]
fn reading_problems_travel_as_flags() {
    let mut e = engine(vec![sample_spec()]);
    let mut out = Vec::new();
    // Humidity never read → missing.
    e.push(&sample(0, &[("temperature", 30.0)]), &mut out);
    assert_eq!(out[0].flags["humidity"], vec![ReasonCode::Missing]);
    // Comm error on temperature.
    let mut s = sample(1000, &[("humidity", 50.0)]);
    s.readings
        .push(reading("temperature", f64::NAN, 1000, Quality::CommError));
    e.push(&s, &mut out);
    assert_eq!(out[1].flags["temperature"], vec![ReasonCode::CommError]);
    assert!(!out[1].flags.contains_key("humidity"));
    // The window still has the finite 30.0, so the value is computed.
    assert_eq!(out[1].values[0], 30.0);
    // Temperature fine now; humidity not read for 3 s (> 2 poll intervals) → stale.
    e.push(&sample(4000, &[("temperature", 30.2)]), &mut out);
    assert_eq!(out[2].flags["humidity"], vec![ReasonCode::Stale]);
    assert!(!out[2].flags.contains_key("temperature"));
}

#[test]
fn stuck_sensor_is_flagged_on_the_vector() {
    let cfg = FeaturesConfig {
        stuck_samples: 4,
        ..FeaturesConfig::default()
    };
    let mut e = FeatureEngine::new(&cfg, EngineSetup::default(), vec![sample_spec()]);
    let mut out = Vec::new();
    for i in 0..6 {
        e.push(
            &sample(
                i * 1000,
                &[("temperature", 31.0), ("humidity", 50.0 + i as f64)],
            ),
            &mut out,
        );
    }
    let stuck: Vec<bool> = out
        .iter()
        .map(|v| {
            v.flags
                .get("temperature")
                .is_some_and(|f| f.contains(&ReasonCode::Stuck))
        })
        .collect();
    assert_eq!(stuck, vec![false, false, false, true, true, true]);
}

#[tokio::test]
async fn stage_runs_until_input_closes() {
    let (tx, rx) = mpsc::channel(4);
    let (otx, mut orx) = mpsc::channel(4);
    let (ctx, _updates) = crate::flow::StageContext::standalone("features");
    let metrics = ctx.metrics.clone();
    let liveness = crate::health::Liveness::new();
    let source = liveness.register("acquire", crate::flow::STALL, None);
    let (first_tx, first_rx) = tokio::sync::oneshot::channel();
    let watch = stage::SourceWatch {
        source,
        first_cycle: Some(first_tx),
    };
    let task = tokio::spawn(stage::run(engine(vec![sample_spec()]), rx, otx, ctx, watch));
    for i in 0..3 {
        tx.send(sample(
            i * 1000,
            &[("temperature", 30.0 + i as f64), ("humidity", 50.0)],
        ))
        .await
        .unwrap();
    }
    drop(tx);
    let mut got = Vec::new();
    while let Some(v) = orx.recv().await {
        got.push(v.values[0]);
    }
    assert_eq!(got, vec![30.0, 30.5, 31.0]);
    assert_eq!(task.await.unwrap(), 3, "samples received");
    assert!(
        first_rx.await.is_ok(),
        "the first sample announces the first cycle"
    );
    let polls = metrics.counter(
        "chocoline_polls_total",
        "Poll cycles per device.",
        &[("device", "dev")],
    );
    assert_eq!(
        polls.get(),
        3,
        "every sample counts as a poll of its device"
    );
}

#[test]
fn vectors_carry_the_lot_named_by_the_lot_signals() {
    let cfg = FeaturesConfig {
        lot_signals: vec!["roast_time".into(), "bean_quality".into()],
        ..FeaturesConfig::default()
    };
    let mut e = FeatureEngine::new(&cfg, EngineSetup::default(), vec![sample_spec()]);
    let mut out = Vec::new();
    // Only one of the two figures read yet: no lot.
    e.push(
        &sample(0, &[("temperature", 31.0), ("roast_time", 22.0)]),
        &mut out,
    );
    // Both read: the lot is their values.
    let lot_figures = [("roast_time", 22.0), ("bean_quality", 71.5)];
    e.push(
        &sample(
            1000,
            &[("temperature", 31.0), lot_figures[0], lot_figures[1]],
        ),
        &mut out,
    );
    // A new lot: one figure changes.
    e.push(
        &sample(2000, &[("temperature", 31.0), ("bean_quality", 64.0)]),
        &mut out,
    );
    let lots: Vec<Option<&str>> = out.iter().map(|v| v.batch.lot.as_deref()).collect();
    assert_eq!(lots, vec![None, Some("22/71.5"), Some("22/64")]);
}
