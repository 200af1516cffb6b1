//! Replay: CSV rows become samples, and samples flow through every stage to records (with a
//! test double and with the real inference service).

use std::collections::BTreeMap;

use super::*;
use crate::alert::config::{AlertsConfig, Chocolate, ProductConfig};
use crate::domain::{AlertKind, AlertState, PredictionOutput, ReasonCode};
use crate::features::config::FeaturesConfig;
use crate::features::{EngineSetup, FeatureSpec};

/// Test double for the infer stage: P(fat_bloom) = 0.9 when the temperature mean is
/// above 33 °C. It only exercises the wiring; real models are tested with real ONNX files.
struct Threshold;

impl Predictor for Threshold {
    fn predict(&mut self, v: &FeatureVector) -> Result<Option<Prediction>, String> {
        let hot = v.values.first().is_some_and(|t| *t > 33.0);
        let pf = if hot { 0.9 } else { 0.05 };
        Ok(Some(Prediction {
            model: v.model.clone(),
            model_version: "0.0.1".into(),
            ts: v.ts,
            batch: v.batch.clone(),
            output: PredictionOutput::Class {
                label: if hot { "fat_bloom" } else { "none" }.into(),
                probabilities: vec![("none".into(), 1.0 - pf), ("fat_bloom".into(), pf)],
            },
            confidence: 0.9,
            features: v.clone(),
            decides: true,
            shadow: false,
        }))
    }
}

fn csv_text() -> String {
    let mut s =
        String::from("ts_ms,batch_id,recipe,temperature,moisture,scenario,fault,bloom_label\n");
    for i in 0..50 {
        let temp = if (10..20).contains(&i) {
            34.0
        } else {
            31.5 + 0.01 * (i % 3) as f64
        };
        let moisture = if (25..35).contains(&i) {
            String::new()
        } else {
            format!("{}", 1.5 + 0.001 * (i % 2) as f64)
        };
        s.push_str(&format!(
            "{},7,1,{temp},{moisture},normal,,none\n",
            1000 * i
        ));
    }
    s
}

#[test]
fn csv_rows_become_samples_with_comm_errors_for_empty_cells() {
    let text = csv_text();
    let mut r = CsvSamples::new(text.as_bytes(), &BTreeMap::new(), HashMap::new()).unwrap();
    let s = r.next_sample().unwrap().unwrap();
    let names: Vec<&str> = s.readings.iter().map(|r| r.name.as_ref()).collect();
    assert_eq!(names, vec!["batch_id", "recipe", "temperature", "moisture"]);
    assert_eq!(s.ts, TimestampMs(0));
    let mut n = 1;
    while let Some(s) = r.next_sample().unwrap() {
        if s.ts == TimestampMs(25_000) {
            assert_eq!(s.readings[3].quality, Quality::CommError);
            assert!(s.readings[3].value.is_nan());
        }
        n += 1;
    }
    assert_eq!(n, 50);
    let bad = "ts_ms,temperature\n0,abc\n";
    let e = CsvSamples::new(bad.as_bytes(), &BTreeMap::new(), HashMap::new())
        .unwrap()
        .next_sample()
        .unwrap_err();
    assert!(e.to_string().contains("\"temperature\": \"abc\""), "{e}");
    assert!(CsvSamples::new("a,b\n".as_bytes(), &BTreeMap::new(), HashMap::new()).is_err());
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "test: one replay through every stage, read top to bottom"
)]
fn samples_flow_through_every_stage() {
    let spec = FeatureSpec::from_manifest_str(
        "bloom",
        r#"{"name":"bloom","level":"sample","feature_spec_version":1,"features":[
            {"name":"t","signal":"temperature","transform":"mean","window":3},
            {"name":"m","signal":"moisture","transform":"last","window":1}]}"#,
    )
    .unwrap();
    let fcfg = FeaturesConfig::default();
    let setup = EngineSetup {
        products: BTreeMap::from([(1, "DARK70".to_string())]),
        ..EngineSetup::default()
    };
    let products = vec![ProductConfig {
        code: "DARK70".into(),
        recipe_id: 1,
        chocolate: Chocolate::Dark,
        working_temp: None,
        moisture_pct: [1.0, 2.0],
        ph: [5.0, 5.5],
        particle_size_max_um: 25.0,
        cocoa_pct: None,
    }];
    let alerts = AlertsConfig {
        share_window: 5,
        ..AlertsConfig::default()
    };
    let mut p = OfflinePipeline::new(
        FeatureEngine::new(&fcfg, setup, vec![spec.clone()]),
        Threshold,
        Monitor::new(vec![], true),
        AlertEngine::new(
            &alerts,
            &products,
            "s",
            "l",
            &crate::pipeline::build::band_inputs(&[spec]),
        ),
    );
    let text = csv_text();
    let mut r = CsvSamples::new(text.as_bytes(), &BTreeMap::new(), HashMap::new()).unwrap();
    let mut out = Vec::new();
    while let Some(s) = r.next_sample().unwrap() {
        p.push(&s, &mut out);
    }
    let c = p.counts().clone();
    assert_eq!((c.samples, c.vectors), (50, 50));
    // Moisture cells empty for rows 25..35: those vectors are refused (comm error).
    assert_eq!(c.refused, 10);
    assert_eq!(c.predictions, 40);
    let dq = out.iter().filter_map(|r| match r {
        Record::DataQuality(e) => Some(e),
        _ => None,
    });
    assert!(
        dq.clone()
            .all(|e| e.flags["moisture"] == vec![ReasonCode::CommError])
    );
    let kinds: Vec<(AlertKind, AlertState, String)> = out
        .iter()
        .filter_map(|r| match r {
            Record::Alert(a) => Some((
                a.kind,
                a.state,
                a.id.split(':').nth(3).unwrap_or("").to_string(),
            )),
            _ => None,
        })
        .collect();
    // Fat bloom raised by the model (scope bloom) and by the band (scope temperature),
    // both cleared; data quality raised during the dropout and cleared after it.
    for (kind, scope) in [
        (AlertKind::FatBloomRisk, "bloom"),
        (AlertKind::FatBloomRisk, "temperature"),
        (AlertKind::DataQuality, "line"),
    ] {
        let states: Vec<AlertState> = kinds
            .iter()
            .filter(|k| k.0 == kind && k.2 == scope)
            .map(|k| k.1)
            .collect();
        assert_eq!(
            states,
            vec![AlertState::Raised, AlertState::Cleared],
            "{kind} {scope}: {kinds:?}"
        );
    }
    assert_eq!(c.alerts, 6);
}

/// The real service, asked one vector at a time.
struct OneByOne(crate::infer::service::Service);

impl Predictor for OneByOne {
    fn predict(&mut self, v: &FeatureVector) -> Result<Option<Prediction>, String> {
        Predictor::predict(&mut self.0, v)
    }
}

#[test]
fn chunks_give_the_same_records_as_one_sample_at_a_time() {
    // The repository's real models and config, 25 simulated minutes of the normal line
    // with a dropout and a hot spell (refused vectors, alerts raised and cleared), run
    // with one prediction per vector and in chunks of several sizes: every record must
    // be the same, in the same order.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cfg = crate::config::load(&root.join("config/demo.toml"))
        .unwrap()
        .config;
    cfg.models.dir = root.join("models");
    cfg.models.verify_golden = false;
    let start = TimestampMs(1_767_225_600_000);
    let mut sim = crate::simulate::LineSim::new(crate::simulate::Scenario::Normal, 3, start);
    let names: Vec<String> = crate::simulate::LineSim::signals()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let b = SampleBuilder::new(&names, HashMap::new());
    let mut samples = Vec::new();
    for i in 0..1500 {
        let mut values: Vec<Option<f64>> = names.iter().map(|n| sim.value(n)).collect();
        // A dropout (refused vectors in the middle of chunks) and a hot spell.
        if (400..420).contains(&i) {
            values[3] = None;
        }
        if (700..1000).contains(&i) {
            for (n, v) in names.iter().zip(values.iter_mut()) {
                if n == "temperature" {
                    *v = v.map(|x| x + 4.0);
                }
            }
        }
        samples.push(b.build(sim.now(), &values));
        sim.step(std::time::Duration::from_secs(1));
    }
    // The reference runs the service one vector at a time (the trait's default
    // `predict_batch`), the way the live infer stage calls it.
    let p = build(&cfg).unwrap();
    let mut one = OfflinePipeline::new(p.features, OneByOne(p.predictor), p.monitor, p.alerts);
    let mut want = Vec::new();
    for s in &samples {
        one.push(s, &mut want);
    }
    assert!(
        want.iter().any(|r| matches!(r, Record::Alert(_))),
        "the run must raise something for the comparison to mean anything"
    );
    assert!(want.iter().any(|r| matches!(r, Record::DataQuality(_))));
    let json = |rs: &[Record]| -> Vec<String> {
        rs.iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect()
    };
    for chunk in [1, 7, 256] {
        let mut p = build(&cfg).unwrap();
        let mut got = Vec::new();
        for c in samples.chunks(chunk) {
            p.push_chunk(c, &mut got);
        }
        assert_eq!(p.counts(), one.counts(), "chunk {chunk}");
        assert_eq!(json(&got), json(&want), "chunk {chunk}");
    }
}
