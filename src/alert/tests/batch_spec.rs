//! `out_of_range_batch`: raised on P(reject) where the batch model decides, on the product
//! spec beside one that does not; a model that does not decide is evidence only, while the
//! band rules still read its vectors.

use super::*;

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
