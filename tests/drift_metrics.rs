//! Drift windows on `/metrics`: the agent's telemetry turns each closed window into per-model
//! share / drifted-count gauges, a window counter and one PSI gauge per feature.

use std::sync::Arc;

use chocoline::domain::{DriftWindow, FeatureDrift, TimestampMs};
use chocoline::metrics::AlertSeries;
use chocoline::metrics::Registry;

fn feature(name: &str, psi: f64, drifted: bool) -> FeatureDrift {
    FeatureDrift {
        feature: name.into(),
        psi,
        js: psi / 10.0,
        w1_sigma: psi / 2.0,
        thresholds: [0.2, 0.1, 0.3],
        page_hinkley: false,
        drifted,
    }
}

fn window(model: &str, features: Vec<FeatureDrift>) -> DriftWindow {
    let n = features.len() as f64;
    let drifted = features.iter().filter(|f| f.drifted).count() as f64;
    DriftWindow {
        model: model.into(),
        model_version: Arc::from("1.0.0"),
        start: TimestampMs(1_700_000_000_000),
        end: TimestampMs(1_700_003_600_000),
        samples: 120,
        features,
        drifted_share: drifted / n,
    }
}

/// The value of the series `name{labels}` in the exposition text.
fn value(text: &str, series: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"));
    line[series.len()..].trim().parse().unwrap()
}

#[test]
fn drift_windows_become_gauges_and_a_counter_per_model() {
    let registry = Registry::new();
    let mut series = AlertSeries::new(&registry);
    series.drift(&window(
        "bloom",
        vec![
            feature("t_mean", 0.35, true),
            feature("h_mean", 0.05, false),
        ],
    ));
    series.drift(&window(
        "bloom",
        vec![
            feature("t_mean", 0.02, false),
            feature("h_mean", 0.01, false),
        ],
    ));
    series.drift(&window("yield", vec![feature("ph_last", 0.9, true)]));
    let text = registry.render();

    // The last bloom window replaced the first one's gauges; the counter counts both.
    assert_eq!(value(&text, "chocoline_drift_share{model=\"bloom\"}"), 0.0);
    assert_eq!(
        value(&text, "chocoline_drift_features_drifted{model=\"bloom\"}"),
        0.0
    );
    assert_eq!(
        value(&text, "chocoline_drift_windows_total{model=\"bloom\"}"),
        2.0
    );
    assert_eq!(
        value(
            &text,
            "chocoline_drift_psi{feature=\"t_mean\",model=\"bloom\"}"
        ),
        0.02
    );
    assert_eq!(value(&text, "chocoline_drift_share{model=\"yield\"}"), 1.0);
    assert_eq!(
        value(&text, "chocoline_drift_features_drifted{model=\"yield\"}"),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "chocoline_drift_psi{feature=\"ph_last\",model=\"yield\"}"
        ),
        0.9
    );
    assert!(text.contains("# HELP chocoline_drift_share"), "{text}");
}
