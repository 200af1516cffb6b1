//! Monitor tests: windows by time and count, drift on a shifted distribution, none on the
//! reference distribution itself.

use std::collections::BTreeMap;

use super::config::DriftConfig;
use super::reference::{FeatureReference, ModelReference, Thresholds};
use super::*;
use crate::domain::{
    BatchContext, FeatureLevel, FeatureVector, Prediction, PredictionOutput, Record, TimestampMs,
};
use crate::settings::units::Duration;

/// Reference: feature "x" uniform on [0, 10) in 10 unit bins, 100 per bin.
fn reference() -> ModelReference {
    ModelReference {
        model: "bloom".into(),
        version: "1.0.0".into(),
        features: vec![FeatureReference {
            name: "x".into(),
            edges: (0..=10).map(f64::from).collect(),
            counts: std::iter::once(0)
                .chain(std::iter::repeat_n(100, 10))
                .chain([0])
                .collect(),
            mean: 5.0,
            std: 10.0 / 12f64.sqrt(),
            thresholds: Some(Thresholds {
                psi: 0.2,
                js: 0.1,
                w1_sigma: 0.1,
            }),
            by_product: BTreeMap::new(),
        }],
    }
}

fn prediction(ts_ms: i64, x: f64) -> Prediction {
    Prediction {
        model: "bloom".into(),
        model_version: "1.0.0".into(),
        ts: TimestampMs(ts_ms),
        batch: BatchContext::default(),
        output: PredictionOutput::Value { value: 0.0 },
        confidence: 0.9,
        decides: true,
        shadow: false,
        features: FeatureVector {
            model: "bloom".into(),
            spec_version: 1,
            level: FeatureLevel::Sample,
            names: vec!["other".to_string(), "x".to_string()].into(),
            values: vec![123.0, x],
            ts: TimestampMs(ts_ms),
            batch: BatchContext::default(),
            flags: BTreeMap::new(),
        },
    }
}

fn cfg(window_s: u64, samples: Option<u64>) -> DriftConfig {
    DriftConfig {
        window: Duration::from_secs(window_s),
        window_samples: samples,
        batch_settle: Duration::from_secs(0),
        ..DriftConfig::default()
    }
}

#[test]
fn reference_like_window_is_not_drifted() {
    let mut m = ModelMonitor::new(reference(), &cfg(1000, None));
    // 0.5, 1.5, … 9.5 cycles through the 10 bins evenly: the window matches the reference.
    let mut got = None;
    for i in 0..1001 {
        if let Some(w) = m.observe(&prediction(i * 1000, (i % 10) as f64 + 0.5)) {
            got = Some(w);
        }
    }
    let w = got.expect("a window closes at 1000 s");
    assert_eq!(w.samples, 1000);
    assert_eq!(w.start, TimestampMs(0));
    assert_eq!(w.end, TimestampMs(999_000));
    let f = &w.features[0];
    assert_eq!(f.feature, "x");
    assert!(f.psi < 1e-9 && f.js < 1e-6 && f.w1_sigma < 1e-9, "{f:?}");
    assert!(!f.drifted);
    assert_eq!(w.drifted_share, 0.0);
    assert_eq!(f.thresholds, [0.2, 0.1, 0.1]);
}

#[test]
fn shifted_window_drifts_with_hand_checked_w1() {
    let mut m = ModelMonitor::new(reference(), &cfg(3600, Some(100)));
    let mut got = None;
    for i in 0..100 {
        // All values in bin [9, 10): W1 from uniform(0,10) centres .5…9.5 to 9.5 is 4.5.
        got = m.observe(&prediction(i, 9.5));
    }
    let w = got.expect("a window closes after 100 vectors");
    let f = &w.features[0];
    assert!(
        (f.w1_sigma - 4.5 / (10.0 / 12f64.sqrt())).abs() < 1e-9,
        "{}",
        f.w1_sigma
    );
    // PSI: one bin q=1 vs p=.1 → .9·ln 10; nine bins q=ε vs p=.1 → (ε−.1)·ln(10ε) each.
    let e = stats::PSI_EPSILON;
    let want = 0.9 * 10f64.ln() + 9.0 * (e - 0.1) * (e / 0.1).ln();
    assert!((f.psi - want).abs() < 1e-9, "{} vs {want}", f.psi);
    assert!(f.drifted);
    assert_eq!(w.drifted_share, 1.0);
    // A constant input has no change for Page–Hinkley to see.
    assert!(!f.page_hinkley);
    // The extra PH entries exist and are not part of the share.
    assert_eq!(w.features.len(), 3);
}

#[test]
fn overrides_replace_manifest_thresholds() {
    let c = DriftConfig {
        psi_threshold: Some(9.0),
        js_threshold: Some(0.9),
        w1_threshold: Some(9.0),
        ..cfg(10, Some(10))
    };
    let mut m = ModelMonitor::new(reference(), &c);
    let w = (0..10)
        .filter_map(|i| m.observe(&prediction(i, 9.5)))
        .next_back()
        .unwrap();
    assert_eq!(w.features[0].thresholds, [9.0, 0.9, 9.0]);
}

#[test]
fn monitor_passes_predictions_through_and_appends_windows() {
    let mut mon = Monitor::new(
        vec![ModelMonitor::new(reference(), &cfg(3600, Some(2)))],
        true,
    );
    let mut out = Vec::new();
    mon.handle(prediction(0, 1.0), &mut out);
    mon.handle(prediction(1, 1.0), &mut out);
    let mut other = prediction(2, 1.0);
    other.model = "quality".into();
    mon.handle(other, &mut out);
    assert!(matches!(out[0], Record::Prediction(_)));
    assert!(matches!(out[1], Record::Prediction(_)));
    assert!(matches!(out[2], Record::Drift(_)));
    assert!(matches!(out[3], Record::Prediction(_)));
    assert_eq!(out.len(), 4);
}

#[test]
fn shadow_predictions_pass_through_uncounted() {
    let mut mon = Monitor::new(
        vec![ModelMonitor::new(reference(), &cfg(3600, Some(2)))],
        true,
    );
    let shadow = |ts| Prediction {
        shadow: true,
        decides: false,
        ..prediction(ts, 1.0)
    };
    let mut out = Vec::new();
    mon.handle(prediction(0, 1.0), &mut out);
    mon.handle(shadow(0), &mut out);
    mon.handle(shadow(1), &mut out);
    assert_eq!(
        out.len(),
        3,
        "a window of two closed on shadow vectors: {out:?}"
    );
    assert!(out.iter().all(|r| matches!(r, Record::Prediction(_))));
    mon.handle(prediction(1, 1.0), &mut out);
    let Some(Record::Drift(w)) = out.last() else {
        panic!("the second serving vector closes the window: {out:?}")
    };
    assert_eq!(w.samples, 2);
}

#[test]
fn page_hinkley_flags_the_window_with_the_step() {
    let mut m = ModelMonitor::new(reference(), &cfg(3600, Some(100)));
    let mut windows = Vec::new();
    for i in 0..400 {
        // The reference is uniform over 0.5..9.5 (σ ≈ 2.9): a step to 20 is ≈ 5σ, far over
        // the tolerated 1σ (`page_hinkley_feature_delta`).
        let x = if i < 300 { (i % 10) as f64 + 0.5 } else { 20.0 };
        windows.extend(m.observe(&prediction(i, x)));
    }
    let ph: Vec<bool> = windows.iter().map(|w| w.features[0].page_hinkley).collect();
    assert_eq!(ph, vec![false, false, false, true]);
    // Confidence is constant 0.9: its detector stays quiet.
    assert!(windows.iter().all(|w| !w.features[2].page_hinkley));
}

#[test]
fn sparse_time_windows_go_on_until_they_hold_min_window_samples() {
    // One vector per 2 h (a batch-level model): an hourly window would close on every
    // vector and judge a single value; with min_window_samples = 3 a window holds three.
    let c = DriftConfig {
        min_window_samples: 3,
        ..cfg(3600, None)
    };
    let mut m = ModelMonitor::new(reference(), &c);
    let closed: Vec<_> = (0..7)
        .filter_map(|i| m.observe(&prediction(i * 7_200_000, (i % 10) as f64 + 0.5)))
        .collect();
    assert_eq!(
        closed.len(),
        2,
        "vectors 0-2 and 3-5; the 7th opens the third"
    );
    assert!(closed.iter().all(|w| w.samples == 3));
    assert_eq!(closed[1].start, TimestampMs(3 * 7_200_000));
    // With the minimum at 1 every vector past the hour closes a one-vector window.
    let mut m = ModelMonitor::new(
        reference(),
        &DriftConfig {
            min_window_samples: 1,
            ..cfg(3600, None)
        },
    );
    let n = (0..7)
        .filter_map(|i| m.observe(&prediction(i * 7_200_000, 0.5)))
        .count();
    assert_eq!(n, 6);
}

fn in_batch(mut p: Prediction, batch: &str, product: &str) -> Prediction {
    p.batch = BatchContext {
        batch_id: Some(batch.into()),
        product: Some(product.into()),
        lot: None,
    };
    p
}

#[test]
fn a_window_of_one_product_is_compared_with_that_products_reference() {
    // Product A fills bins [0, 5), product B bins [5, 10): together the uniform reference.
    let mut r = reference();
    let f = &mut r.features[0];
    let a: Vec<u64> = f
        .counts
        .iter()
        .enumerate()
        .map(|(i, c)| if (1..=5).contains(&i) { *c } else { 0 })
        .collect();
    let b: Vec<u64> = f.counts.iter().zip(&a).map(|(c, a)| c - a).collect();
    f.by_product = BTreeMap::from([("A".to_string(), a), ("B".to_string(), b)]);
    let only_a = |m: &mut ModelMonitor, product: &str| {
        (0..1001)
            .filter_map(|i| {
                m.observe(&in_batch(
                    prediction(i * 1000, (i % 5) as f64 + 0.5),
                    "1",
                    product,
                ))
            })
            .next()
            .expect("a window closes at 1000 s")
    };
    // Per-product reference: an hour of A looks like A.
    let w = only_a(&mut ModelMonitor::new(r.clone(), &cfg(1000, None)), "A");
    assert!(!w.features[0].drifted, "{:?}", w.features[0]);
    assert!(w.features[0].psi < 1e-6);
    // The same values under product B, or without per-product counts, are drifted.
    let w = only_a(&mut ModelMonitor::new(r.clone(), &cfg(1000, None)), "B");
    assert!(w.features[0].drifted);
    let w = only_a(&mut ModelMonitor::new(reference(), &cfg(1000, None)), "A");
    assert!(w.features[0].drifted);
    // A product the manifest does not know: the all-products reference.
    let w = only_a(&mut ModelMonitor::new(r, &cfg(1000, None)), "C");
    assert!(w.features[0].drifted);
}

#[test]
fn vectors_right_after_a_batch_change_are_not_counted() {
    let c = DriftConfig {
        batch_settle: Duration::from_secs(100),
        ..cfg(1000, None)
    };
    let mut m = ModelMonitor::new(reference(), &c);
    let mut closed = Vec::new();
    // Batch 1 from 0 s, batch 2 from 600 s; window 1000 s; one vector per second.
    for i in 0..1500 {
        let batch = if i < 600 { "1" } else { "2" };
        let p = in_batch(prediction(i * 1000, (i % 10) as f64 + 0.5), batch, "A");
        closed.extend(m.observe(&p));
    }
    // Batch 1 is counted from 100 s; its window (500 vectors, < 1000 s) is dropped at the
    // change. Batch 2 is counted from 700 s: one window 700..1699 s would need t = 1700 s.
    assert!(closed.is_empty(), "{closed:?}");
    let more: Vec<_> = (1500..1800)
        .filter_map(|i| {
            m.observe(&in_batch(
                prediction(i * 1000, (i % 10) as f64 + 0.5),
                "2",
                "A",
            ))
        })
        .collect();
    assert_eq!(more.len(), 1);
    assert_eq!(more[0].start, TimestampMs(700_000));
    assert_eq!(more[0].samples, 1000);
    assert!(!more[0].features[0].drifted);
}

#[test]
fn a_feature_drifts_when_two_of_its_three_statistics_agree() {
    // A constant window far from the reference: every statistic is large. Thresholds set so
    // that only PSI, then PSI and JS, exceed.
    let window = |psi: f64, js: f64| {
        let c = DriftConfig {
            psi_threshold: Some(psi),
            js_threshold: Some(js),
            w1_threshold: Some(1e9),
            ..cfg(10, Some(10))
        };
        let mut m = ModelMonitor::new(reference(), &c);
        let w: Vec<_> = (0..10)
            .filter_map(|i| m.observe(&prediction(i, 9.5)))
            .collect();
        w[0].features[0].drifted
    };
    assert!(!window(0.01, 1.5), "PSI alone");
    assert!(window(0.01, 0.01), "PSI and JS");
}

/// Windows of 1000 s at one vector a second; the wall clock steps back `back_ms` after 500
/// vectors. Returns the number of vectors in each closed window.
fn windows_across_a_step(back_ms: i64) -> Vec<u64> {
    let mut m = ModelMonitor::new(reference(), &cfg(1000, None));
    let mut sizes = Vec::new();
    for i in 0..2600_i64 {
        let ts = 1_700_000_000_000 + i * 1000 - if i >= 500 { back_ms } else { 0 };
        if let Some(w) = m.observe(&prediction(ts, (i % 10) as f64 + 0.5)) {
            sizes.push(w.samples);
        }
    }
    sizes
}

#[test]
fn a_clock_stepped_back_does_not_stall_the_window() {
    // Without the step: windows of 1000 vectors.
    assert_eq!(windows_across_a_step(0), vec![1000, 1000]);
    // An hour back mid-window: the window keeps the data time it had covered (the second
    // the step happened in is not counted: one vector more). Before: it waited until the
    // clock was back where it had been, and no window closed in these 2600 vectors.
    assert_eq!(windows_across_a_step(3_600_000), vec![1001, 1000]);
}
