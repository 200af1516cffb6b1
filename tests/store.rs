//! The sled store on a real disk: durability across reopen, ids never reused, corrupt
//! database moved aside, disk budget (predictions dropped first, alerts last with a critical
//! store_full), unwritable data dir, lock, retention, inspect.

mod common;

use chocoline::config::ByteSize;
use chocoline::domain::AlertKind;
use chocoline::store::config::StoreConfig;
use chocoline::store::open::{DB_DIR, LOCK_FILE};
use chocoline::store::{MessageClass, Outbox, Store, StoreError};
use common::publisher::{envelope, outbox_of, store_cfg};
use common::*;

fn open(c: &StoreConfig) -> Store {
    chocoline::store::open(c, envelope("p")).unwrap()
}

#[tokio::test]
async fn appended_records_survive_reopen_and_ids_continue() {
    let dir = tempfile::tempdir().unwrap();
    let c = store_cfg(dir.path());
    let first = {
        let s = open(&c);
        s.append(&[
            alert(0, AlertKind::Gritty),
            prediction(1, 1_700_000_000_000),
            drift(2),
            data_quality(3),
        ])
        .await
        .unwrap()
    };
    let s = open(&c);
    let mut msgs = outbox_of(&s);
    // The alert left raised is closed with reason `restart` when the store opens again.
    assert_eq!(msgs.len(), 5);
    let close = msgs.pop().unwrap().1;
    assert_eq!(close.topic, "p/alerts/gritty");
    assert!(String::from_utf8_lossy(&close.payload).contains(r#""cleared_reason":"restart""#));
    assert_eq!(
        msgs.iter().map(|m| m.1.id.clone()).collect::<Vec<_>>(),
        first.iter().map(|a| a.id.clone()).collect::<Vec<_>>()
    );
    assert_eq!(msgs[0].1.topic, "p/alerts/gritty");
    assert_eq!(msgs[1].1.topic, "p/predictions/bloom");
    assert_eq!(msgs[2].1.topic, "p/drift");
    assert_eq!(msgs[3].1.topic, "p/data_quality");
    let next = s.append(&[alert(9, AlertKind::Anomaly)]).await.unwrap();
    assert_eq!(
        next[0].seq,
        first[3].seq + 2,
        "sequence must continue after reopen (after the restart close)"
    );
    // Ack removes exactly one entry and the next read starts after it.
    let ob = Outbox::new(s.clone());
    assert!(ob.ack(first[0].seq).unwrap());
    assert!(!ob.ack(first[0].seq).unwrap());
    assert_eq!(s.outbox_depth(), 5);
    assert_eq!(ob.read(0, 1).unwrap()[0].0, first[1].seq);
}

#[tokio::test]
async fn second_process_gets_in_use_not_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let c = store_cfg(dir.path());
    let _s = open(&c);
    match chocoline::store::open(&c, envelope("p")) {
        Err(StoreError::Locked { .. }) => {}
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("opened a locked store"),
    }
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("corrupt"))
        .collect();
    assert!(aside.is_empty(), "a locked store must never be moved aside");
}

#[tokio::test]
async fn corrupt_database_is_moved_aside_with_a_store_corrupt_alert() {
    let dir = tempfile::tempdir().unwrap();
    let c = store_cfg(dir.path());
    let old_epoch = {
        let s = open(&c);
        for i in 0..50 {
            s.append(&[alert(i, AlertKind::Gritty)]).await.unwrap();
        }
        s.epoch().to_string()
    };
    // Overwrite every file of the database with garbage.
    let db = dir.path().join(DB_DIR);
    let mut n = 0;
    for entry in walk(&db) {
        let len = std::fs::metadata(&entry).unwrap().len().max(64) as usize;
        let garbage: Vec<u8> = (0..len).map(|i| (i * 7919 % 251) as u8).collect();
        std::fs::write(&entry, garbage).unwrap();
        n += 1;
    }
    assert!(n > 0);
    let s = open(&c);
    let moved = s
        .moved_aside()
        .expect("database not moved aside")
        .to_path_buf();
    // A fresh database gets a new epoch, so its ids never collide with delivered ones.
    assert_ne!(s.epoch(), old_epoch);
    assert!(moved.exists());
    assert!(
        moved
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("db.corrupt-")
    );
    let msgs = outbox_of(&s);
    let corrupt: Vec<_> = msgs
        .iter()
        .filter(|m| m.1.topic == "p/alerts/store_corrupt")
        .collect();
    assert_eq!(
        corrupt.len(),
        2,
        "raised + cleared store_corrupt expected: {msgs:?}"
    );
    let raised: serde_json::Value = serde_json::from_slice(&corrupt[0].1.payload).unwrap();
    assert_eq!(raised["state"], "raised");
    assert_eq!(raised["severity"], "critical");
    assert!(
        raised["evidence"]["moved_to"]
            .as_str()
            .unwrap()
            .contains("db.corrupt-")
    );
    drop(s);
    // And the fresh database is healthy: reopening does not move anything again.
    let s = open(&c);
    assert!(s.moved_aside().is_none());
}

fn walk(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(p).unwrap().filter_map(Result::ok) {
        let path = e.path();
        if path.is_dir() {
            out.extend(walk(&path))
        } else {
            out.push(path)
        }
    }
    out
}

#[tokio::test]
async fn unwritable_data_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where a directory should be: cannot be created even as root.
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "x").unwrap();
    let c = store_cfg(&blocker.join("data"));
    let err = chocoline::store::open(&c, envelope("p"))
        .err()
        .expect("opened under a file");
    assert!(
        matches!(err, StoreError::DataDirNotWritable { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("not writable") && msg.contains("not-a-dir/data"),
        "{msg}"
    );
}

#[tokio::test]
async fn full_store_drops_predictions_first_and_alerts_last_with_critical_store_full() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = store_cfg(dir.path());
    c.max_bytes = ByteSize(96 * 1024);
    let s = open(&c);
    // Phase 1: predictions only, far more than fit.
    for i in 0..200 {
        s.append(&[prediction(i, 1_700_000_000_000 + i as i64 * 1000)])
            .await
            .unwrap();
        assert!(
            s.used_bytes() <= s.budget() + 4096,
            "budget exceeded: {}",
            s.used_bytes()
        );
    }
    let k = s.counters();
    assert!(k.predictions_pruned > 0 && k.outbox_dropped > 0, "{k:?}");
    assert_eq!(k.alerts_dropped, 0);
    let msgs = outbox_of(&s);
    // The newest predictions survive: the last one appended is still there.
    assert!(
        msgs.last().unwrap().1.class == MessageClass::Alert
            || msgs.iter().any(|m| m.1.class == MessageClass::Prediction)
    );
    let warn: Vec<_> = msgs
        .iter()
        .filter(|m| m.1.topic == "p/alerts/store_full")
        .collect();
    assert!(
        !warn.is_empty(),
        "no store_full warning while dropping undelivered predictions"
    );
    let w: serde_json::Value = serde_json::from_slice(&warn[0].1.payload).unwrap();
    assert_eq!(w["severity"], "warning");

    // Phase 2: alerts. While undelivered predictions remain, no alert may be dropped.
    let mut i = 0;
    while outbox_of(&s)
        .iter()
        .any(|m| m.1.class == MessageClass::Prediction)
    {
        s.append(&[alert(i, AlertKind::Anomaly)]).await.unwrap();
        assert_eq!(
            s.counters().alerts_dropped,
            0,
            "an alert was dropped while predictions were queued"
        );
        i += 1;
        assert!(i < 10_000);
    }
    // Phase 3: only alerts left; more alerts force dropping the oldest alerts — critical.
    for j in 0..200 {
        s.append(&[alert(100_000 + j, AlertKind::Anomaly)])
            .await
            .unwrap();
    }
    let k = s.counters();
    assert!(k.alerts_dropped > 0, "{k:?}");
    let crit = outbox_of(&s)
        .into_iter()
        .filter(|m| m.1.topic == "p/alerts/store_full")
        .map(|m| serde_json::from_slice::<serde_json::Value>(&m.1.payload).unwrap())
        .filter(|v| v["severity"] == "critical")
        .count();
    assert!(
        crit >= 1,
        "no critical store_full alert after dropping alerts"
    );
    // The very latest alert is kept (oldest are dropped first).
    let last = outbox_of(&s)
        .into_iter()
        .rev()
        .find(|m| m.1.topic == "p/alerts/anomaly")
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&last.1.payload).unwrap();
    assert_eq!(v["alert_id"], "alert-100199");
}

#[tokio::test]
async fn prediction_history_is_a_ring_bounded_by_age_and_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = store_cfg(dir.path());
    c.prediction_history_max = 50;
    c.prediction_retention = chocoline::config::Duration::from_secs(3600);
    let s = open(&c);
    for i in 0..80 {
        s.append(&[prediction(i, 1_700_000_000_000 + i as i64 * 1000)])
            .await
            .unwrap();
    }
    let snap = s.snapshot().unwrap();
    assert_eq!(snap.counters.predictions_pruned, 30, "count bound");
    // Jump two hours ahead: everything older than 1 h goes.
    s.append(&[prediction(999, 1_700_000_000_000 + 80_000 + 7_200_000)])
        .await
        .unwrap();
    assert_eq!(s.counters().predictions_pruned, 80);
    assert_eq!(s.snapshot().unwrap().last_predictions.len(), 1);
}

#[tokio::test]
async fn inspect_reads_the_daemon_snapshot_while_locked_and_the_db_otherwise() {
    use chocoline::cli::inspect::{Source, load, render};
    let dir = tempfile::tempdir().unwrap();
    let c = store_cfg(dir.path());
    let s = open(&c);
    s.append(&[
        alert(1, AlertKind::FatBloomRisk),
        prediction(2, 1_700_000_000_000),
        drift(3),
    ])
    .await
    .unwrap();
    s.write_snapshot().unwrap();
    let (snap, src) = load(dir.path()).unwrap();
    assert_eq!(src, Source::DaemonSnapshot);
    assert_eq!(snap.outbox_depth, 3);
    assert_eq!(snap.last_alerts.len(), 1);
    let text = render(
        dir.path(),
        &snap,
        src,
        chocoline::domain::TimestampMs(snap.taken_ms + 2500),
    );
    assert!(text.contains("outbox depth        3"), "{text}");
    assert!(text.contains("fat_bloom_risk"), "{text}");
    assert!(
        text.contains("snapshot of the running daemon, taken 2.5 s ago"),
        "{text}"
    );
    drop(s);
    assert!(dir.path().join(LOCK_FILE).exists());
    let (snap, src) = load(dir.path()).unwrap();
    assert_eq!(src, Source::Live);
    assert_eq!(snap.outbox_depth, 3);
    assert!(snap.oldest_undelivered.unwrap().id.ends_with("-0"));
    assert_eq!(snap.drift_windows.len(), 1);
}

#[tokio::test]
async fn stage_group_commits_everything_it_receives() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&store_cfg(dir.path()));
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let stage = tokio::spawn(chocoline::store::stage::run(s.clone(), rx));
    for i in 0..500 {
        tx.send(alert(i, AlertKind::Gritty)).await.unwrap();
    }
    drop(tx);
    stage.await.unwrap();
    assert_eq!(s.outbox_depth(), 500);
    assert_eq!(*s.durable().borrow(), 500);
    let ids: Vec<_> = outbox_of(&s).into_iter().map(|m| m.1.id).collect();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 500);
    assert!(dir.path().join("inspect.json").exists());
}

/// `chocoline inspect` through the binary on a closed store: the report and `--json` show
/// the same outbox depth and the stored alert.
#[tokio::test]
async fn inspect_binary_prints_the_report_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&store_cfg(dir.path()));
    s.append(&[
        alert(1, AlertKind::Gritty),
        prediction(2, 1_700_000_000_000),
    ])
    .await
    .unwrap();
    drop(s);
    let data_dir = dir.path().to_str().unwrap();
    let o = common::cli::chocoline()
        .args(["inspect", "--data-dir", data_dir])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("outbox depth        2"), "{text}");
    assert!(text.contains("database opened directly"), "{text}");
    assert!(text.contains("gritty"), "{text}");
    let o = common::cli::chocoline()
        .args(["inspect", "--json", "--data-dir", data_dir])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["outbox_depth"], 2);
    assert_eq!(v["last_alerts"][0]["kind"], "gritty");
}

/// The store keeps each model's newest prediction and drift window in memory for the
/// Sparkplug edge node: a record older than the one held does not replace it.
#[tokio::test]
async fn the_newest_prediction_and_drift_window_of_each_model_are_kept() {
    use chocoline::domain::Record;
    let dir = tempfile::tempdir().unwrap();
    let s = open(&store_cfg(dir.path()));
    assert!(s.latest().models.is_empty());
    let t0 = 1_700_000_000_000;
    // i % 3: 0 classifier, 1 regressor, 2 anomaly; all named "bloom" by the helper.
    s.append(&[
        prediction(3, t0 + 2000),
        prediction(1, t0 + 1000),
        drift(2),
        drift(1),
    ])
    .await
    .unwrap();
    let l = s.latest();
    let bloom = &l.models["bloom"];
    assert_eq!((bloom.label.as_deref(), bloom.value), (Some("none"), None));
    assert_eq!((bloom.version.as_str(), bloom.confidence), ("1.2.0", 0.7));
    let d = l.drift["bloom"];
    assert_eq!(d.ts.0, 1_700_000_060_000 + 2 * 60_000);
    assert!(d.drifted && d.drifted_share == 0.5);
    // A newer anomaly prediction replaces it: label normal/anomaly, value = decision.
    let mut a = prediction(2, t0 + 3000);
    if let Record::Prediction(p) = &mut a {
        p.model = "anomaly".into();
    }
    s.append(&[a, prediction(1, t0 + 4000)]).await.unwrap();
    let l = s.latest();
    assert_eq!(l.models["anomaly"].label.as_deref(), Some("normal"));
    assert_eq!(l.models["anomaly"].value, Some(0.03));
    assert_eq!(
        (l.models["bloom"].label.as_deref(), l.models["bloom"].value),
        (None, Some(97.5))
    );
}
