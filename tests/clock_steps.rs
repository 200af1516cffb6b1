//! Clock steps (issue #22 point 1): the process clock reads an injected [`ManualSource`] that
//! the tests step by +1 year and −1 h mid-run, as NTP does to a controller that booted
//! without an RTC. A real sled store on disk: no alert is lost, retention is not expired
//! wholesale and does not stall, payloads stamped before the first sync say so.
//!
//! The process clock is global to this test binary: the tests take [`LOCK`] in turn.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chocoline::clock::{self, ManualSource};
use chocoline::domain::{AlertKind, Record, TimestampMs};
use chocoline::store::Store;
use common::publisher::{envelope, outbox_of, store_cfg};
use common::{alert, prediction};

static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const YEAR_MS: i64 = 365 * 24 * 3_600_000;
const HOUR_MS: i64 = 3_600_000;
const MINUTE: Duration = Duration::from_secs(60);

/// A manual clock installed as the process clock, synchronised.
fn install() -> Arc<ManualSource> {
    let src = Arc::new(ManualSource::new(TimestampMs(1_700_000_000_000)));
    src.set_synced(Some(true));
    clock::process().set_source(src.clone());
    src
}

/// A store whose predictions expire after one hour (count bound far away).
fn store(dir: &std::path::Path) -> Store {
    let mut c = store_cfg(dir);
    c.prediction_history_max = 100_000;
    c.prediction_retention = chocoline::config::Duration::from_secs(3600);
    chocoline::store::open(&c, envelope("p")).unwrap()
}

/// One prediction per minute for `minutes`, stamped by the process clock.
async fn predict_for(s: &Store, src: &ManualSource, minutes: u64, next: &mut u64) {
    for _ in 0..minutes {
        src.advance(MINUTE);
        let ts = TimestampMs::now();
        s.append(&[prediction(*next, ts.0)]).await.unwrap();
        *next += 1;
    }
}

fn kept(s: &Store, appended: u64) -> u64 {
    appended - s.counters().predictions_pruned
}

#[tokio::test]
async fn year_forward_step_does_not_expire_the_history_wholesale() {
    let _g = LOCK.lock().await;
    let src = install();
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let mut n = 0;
    predict_for(&s, &src, 30, &mut n).await;
    assert_eq!(kept(&s, n), 30);

    src.step(YEAR_MS);
    predict_for(&s, &src, 1, &mut n).await;
    let status = clock::process().status();
    assert_eq!(status.steps, 1);
    assert_eq!(status.last_step.unwrap().delta_ms, YEAR_MS);
    // Before: the 30 entries were a year older than the newest one and all went at once.
    assert_eq!(kept(&s, n), 31, "history expired wholesale by the step");

    // They expire after an hour of monotonic time, as without the step.
    predict_for(&s, &src, 40, &mut n).await;
    let k = kept(&s, n);
    assert!((60..=62).contains(&k), "kept {k} after 71 min");
    predict_for(&s, &src, 60, &mut n).await;
    let k = kept(&s, n);
    assert!(
        (60..=61).contains(&k),
        "kept {k}: pre-step entries never expired"
    );
}

#[tokio::test]
async fn hour_backward_step_does_not_stall_retention() {
    let _g = LOCK.lock().await;
    let src = install();
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let mut n = 0;
    predict_for(&s, &src, 120, &mut n).await;
    let steady = kept(&s, n);
    assert!((60..=61).contains(&steady), "kept {steady}");

    src.step(-HOUR_MS);
    predict_for(&s, &src, 60, &mut n).await;
    assert_eq!(
        clock::process().status().last_step.unwrap().delta_ms,
        -HOUR_MS
    );
    // Entries stamped before the step expire one step later than they would have; pruning
    // goes on all the while, the history stays bounded.
    let k = kept(&s, n);
    assert!(k <= 2 * steady, "kept {k}");
    predict_for(&s, &src, 70, &mut n).await;
    let k = kept(&s, n);
    assert!(
        (60..=61).contains(&k),
        "kept {k}: retention stalled after the step"
    );
}

#[tokio::test]
async fn alerts_raised_around_steps_all_reach_the_outbox() {
    let _g = LOCK.lock().await;
    let src = install();
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let mut ids = Vec::new();
    for (i, step) in [0, YEAR_MS, 0, -HOUR_MS, 0, -YEAR_MS, 0]
        .into_iter()
        .enumerate()
    {
        src.advance(Duration::from_secs(10));
        src.step(step);
        let now = TimestampMs::now();
        let Record::Alert(mut a) = alert(i as u64, AlertKind::Gritty) else {
            unreachable!()
        };
        a.raised_at = now;
        a.ts = now;
        ids.push(a.id.clone());
        let mut pred = 1000 + i as u64;
        predict_for(&s, &src, 1, &mut pred).await;
        s.append(&[Record::Alert(a)]).await.unwrap();
    }
    assert_eq!(clock::process().status().steps, 3);
    let outbox = outbox_of(&s);
    let alerts: Vec<String> = outbox
        .iter()
        .filter(|(_, m)| m.topic == "p/alerts/gritty")
        .map(|(_, m)| {
            let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
            v["alert_id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        alerts, ids,
        "every raised alert reaches the outbox, in order"
    );
}

#[tokio::test]
async fn records_stamped_before_the_first_sync_are_marked() {
    let _g = LOCK.lock().await;
    let src = install();
    src.set_synced(Some(false));
    clock::process().set_source(src.clone());
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let mut n = 0;
    predict_for(&s, &src, 1, &mut n).await;
    assert!(!clock::process().status().synced);
    src.set_synced(Some(true));
    src.step(YEAR_MS);
    predict_for(&s, &src, 1, &mut n).await;
    let payloads: Vec<serde_json::Value> = outbox_of(&s)
        .iter()
        .map(|(_, m)| serde_json::from_slice(&m.payload).unwrap())
        .collect();
    assert_eq!(payloads.len(), 2);
    assert_eq!(payloads[0]["clock_synced"], serde_json::json!(false));
    assert!(payloads[1].get("clock_synced").is_none(), "{}", payloads[1]);
    let schema = common::schema::load(&common::schema::file_for("chocoline.prediction/1"));
    for p in &payloads {
        common::schema::validate(&schema, p).unwrap();
    }
}
