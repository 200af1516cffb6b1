//! Throughput of the features + validate cores on a line-like load: 13 signals per sample,
//! a sample-level model of 14 features over 60-sample windows, a batch-level model of 6.
//! Prints samples/s and the ratio to the replay anchor (50,000 samples/s on one core, for the
//! whole pipeline — this is the share left for inference). Run:
//! `cargo bench --bench features`.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use chocoline::domain::TimestampMs;
use chocoline::features::config::FeaturesConfig;
use chocoline::features::{EngineSetup, FeatureEngine, FeatureSpec};
use chocoline::pipeline::replay::SampleBuilder;
use chocoline::simulate::LineSim;
use chocoline::validate::Validator;

fn spec(json: &str) -> FeatureSpec {
    FeatureSpec::from_manifest_str("bench", json).expect("bench spec")
}

fn main() {
    let mut sample_features = Vec::new();
    for s in [
        "temperature",
        "tunnel_temp",
        "humidity",
        "particle_size",
        "moisture",
        "ph",
        "conche_temp",
    ] {
        sample_features.push(format!(
            r#"{{"name":"{s}_mean","signal":"{s}","transform":"mean","window":60}}"#
        ));
        sample_features.push(format!(
            r#"{{"name":"{s}_std","signal":"{s}","transform":"std","window":60}}"#
        ));
    }
    let bloom = spec(&format!(
        r#"{{"name":"bloom","level":"sample","feature_spec_version":1,"features":[{}]}}"#,
        sample_features.join(",")
    ));
    let quality = spec(
        r#"{"name":"quality","level":"batch","feature_spec_version":1,"features":[
        {"name":"m","signal":"moisture","transform":"mean","window":"batch"},
        {"name":"t","signal":"temperature","transform":"mean","window":"batch"},
        {"name":"ts","signal":"temperature","transform":"std","window":"batch"},
        {"name":"p","signal":"ph","transform":"mean","window":"batch"},
        {"name":"c","signal":"cocoa_pct","transform":"last","window":"batch"},
        {"name":"ps","signal":"particle_size","transform":"max","window":"batch"}]}"#,
    );
    let mut engine = FeatureEngine::new(
        &FeaturesConfig::default(),
        EngineSetup::default(),
        vec![bloom, quality],
    );
    let names: Vec<String> = LineSim::signals().iter().map(|s| s.to_string()).collect();
    let builder = SampleBuilder::new(&names, HashMap::new());
    let n = 200_000i64;
    // Pre-build the samples so that only the stage code is timed.
    let samples: Vec<_> = (0..n)
        .map(|i| {
            let w = (i as f64 * 0.01).sin();
            let vals: Vec<Option<f64>> = (0..LineSim::signals().len())
                .map(|k| {
                    Some(match k {
                        7 => (1000 + i / 9000) as f64,
                        8..=12 => 3.0,
                        _ => 20.0 + k as f64 + w + ((i * 7919 + k as i64 * 31) % 97) as f64 * 0.001,
                    })
                })
                .collect();
            builder.build(TimestampMs(1_800_000_000_000 + i * 1000), &vals)
        })
        .collect();
    let mut validator = Validator::new();
    let mut out = Vec::new();
    let start = Instant::now();
    for s in &samples {
        engine.push(s, &mut out);
        for v in out.drain(..) {
            black_box(validator.check(v));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let rate = n as f64 / secs;
    println!(
        "features+validate: {n} samples in {secs:.3} s = {rate:.0} samples/s ({:.2} µs/sample); \
         anchor 50,000 samples/s for the whole replay → ratio {:.1}x; accepted {} refused {}",
        1e6 / rate,
        rate / 50_000.0,
        validator.stats().accepted,
        validator.stats().refused
    );
}
