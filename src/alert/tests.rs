//! Alert engine tests: consecutive counts, dedup, clear with the raise's id, band rules,
//! batch spec, drift, data quality, yield.
//!
//! This file holds the fixtures every topic shares (a DARK70 product, the `bloom` and
//! `quality` models' band inputs, record builders, `feed` and `alerts`); the tests sit
//! beside it by the engine part they exercise (see `engine.rs`'s layout):
//!
//! - `predictions`: the rules fed by model outputs (bloom probabilities, anomaly share,
//!   `tempering_z`, yield, low confidence);
//! - `bands`: the signal rules (working temperature, humidity against the sugar-bloom
//!   limit), evaluated once per poll;
//! - `batch_spec`: `out_of_range_batch` from P(reject) or the product spec, and what a
//!   model that does not decide still contributes;
//! - `settling`: the rules wait for their window after a product change;
//! - `events`: the drift-window and data-quality share rules;
//! - `lifecycle`: the stage task and a live reconfiguration.

use std::collections::BTreeMap;

use super::config::{AlertsConfig, Chocolate, ProductConfig};
use super::*;
use crate::domain::{
    Alert, AlertKind, AlertState, BatchContext, DataQualityEvent, DriftWindow, FeatureLevel,
    FeatureVector, Prediction, PredictionOutput, ReasonCode, Record, TimestampMs,
};

mod bands;
mod batch_spec;
mod events;
mod lifecycle;
mod predictions;
mod settling;

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
        shadow: false,
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
        shadow: false,
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

fn dq(s: i64) -> Record {
    Record::DataQuality(DataQualityEvent {
        model: "bloom".into(),
        ts: TimestampMs(s * 1000),
        batch: ctx(),
        flags: BTreeMap::from([("temperature".to_string(), vec![ReasonCode::Stuck])]),
    })
}

/// `record` with the model's `decides` flag set to `decides`.
fn deciding(mut record: Record, decides: bool) -> Record {
    if let Record::Prediction(p) = &mut record {
        p.decides = decides;
    }
    record
}
