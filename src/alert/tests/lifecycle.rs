//! The engine in its stage and across a reload: the task forwards every record then the
//! alerts it caused and ends with its input; `reconfigure` keeps open alerts and applies
//! the new thresholds.

use super::*;

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
