//! A shadow candidate's prediction (docs/shadow.md): its own topic, the serving payload plus
//! `"shadow": true`; a serving prediction's message unchanged.

use serde_json::Value;

use super::*;

fn envelope() -> Envelope {
    Envelope {
        site: "s".into(),
        line: "l".into(),
        topic_prefix: "p".into(),
        topics: TopicsConfig::default(),
        max_message_bytes: 1 << 20,
    }
}

fn bloom(shadow: bool) -> Record {
    use crate::domain::{FeatureLevel, FeatureVector};
    Record::Prediction(Prediction {
        model: "bloom".into(),
        model_version: if shadow { "2.1.0" } else { "2.0.0" }.into(),
        ts: TimestampMs(1),
        batch: BatchContext::default(),
        output: PredictionOutput::Value { value: 1.0 },
        confidence: 1.0,
        features: FeatureVector {
            model: "bloom".into(),
            spec_version: 1,
            level: FeatureLevel::Sample,
            names: vec!["x".to_string()].into(),
            values: vec![2.0],
            ts: TimestampMs(1),
            batch: BatchContext::default(),
            flags: Default::default(),
        },
        decides: !shadow,
        shadow,
    })
}

#[test]
fn a_shadow_prediction_has_its_own_topic_and_says_so_and_a_serving_one_is_unchanged() {
    let env = envelope();
    let serving = env.draft(&bloom(false));
    assert_eq!(serving.topic, "p/predictions/bloom");
    assert!(!serving.body.contains_key("shadow"), "{:?}", serving.body);
    let shadow = env.draft(&bloom(true));
    assert_eq!(shadow.topic, "p/shadow/predictions/bloom");
    assert_eq!(shadow.class, MessageClass::Prediction);
    assert_eq!(shadow.body["shadow"], Value::Bool(true));
    assert_eq!(shadow.body["decides"], Value::Bool(false));
    assert_eq!(shadow.body["model_version"], "2.1.0");
    let keys = |d: &Draft| d.body.keys().cloned().collect::<Vec<_>>();
    let mut with_flag = keys(&serving);
    with_flag.push("shadow".into());
    with_flag.sort();
    assert_eq!(keys(&shadow), with_flag, "same payload plus the flag");
}
