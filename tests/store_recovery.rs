//! What the store does after an abrupt stop, on real sled files: a torn log (flipped byte or
//! cut in sled's newest file) never makes an id carry two payloads and every undelivered loss
//! is reported; alerts left raised by the previous run are closed with reason `restart`;
//! `inspect` leaves a corrupt database exactly as it found it.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use chocoline::domain::{AlertKind, AlertState, Record};
use chocoline::store::ledger::LEDGER_FILE;
use chocoline::store::open::DB_DIR;
use chocoline::store::{Outbox, Store};
use common::publisher::{envelope, outbox_of, store_cfg};
use common::*;
use serde_json::Value;

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Every file under `dir` with its bytes.
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// sled's newest file in `db/` (most recently modified, the largest on a tie): its log.
fn newest_file(db: &Path) -> PathBuf {
    let mut files: Vec<_> = contents(db).into_keys().collect();
    files.sort_by_key(|p| {
        let m = std::fs::metadata(p).unwrap();
        (m.modified().unwrap(), m.len())
    });
    files.pop().unwrap()
}

/// A small deterministic generator (the trials must be reproducible).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

/// A crash image: 140 messages in 14 group commits, the first 40 delivered and acknowledged,
/// then the data directory copied while the store is still open (what `kill -9` leaves).
struct Image {
    dir: tempfile::TempDir,
    all: HashMap<String, Vec<u8>>,
    undelivered: HashSet<String>,
}

async fn crash_image() -> Image {
    let live = tempfile::tempdir().unwrap();
    let s = chocoline::store::open(&store_cfg(live.path()), envelope("p")).unwrap();
    for b in 0..14u64 {
        let recs: Vec<Record> = (0..10)
            .map(|j| prediction(b * 10 + j, 1_700_000_000_000 + (b * 10 + j) as i64))
            .collect();
        s.append(&recs).await.unwrap();
    }
    let msgs = outbox_of(&s);
    assert_eq!(msgs.len(), 140);
    let ob = Outbox::new(s.clone());
    let mut undelivered = HashSet::new();
    for (i, (seq, m)) in msgs.iter().enumerate() {
        if i < 40 {
            assert!(ob.ack(*seq).unwrap());
        } else {
            undelivered.insert(m.id.clone());
        }
    }
    s.flush().await.unwrap();
    let image = tempfile::tempdir().unwrap();
    copy_tree(&live.path().join(DB_DIR), &image.path().join(DB_DIR));
    std::fs::copy(
        live.path().join(LEDGER_FILE),
        image.path().join(LEDGER_FILE),
    )
    .unwrap();
    drop(s);
    Image {
        dir: image,
        all: msgs.into_iter().map(|(_, m)| (m.id, m.payload)).collect(),
        undelivered,
    }
}

#[derive(Debug, Default)]
struct Outcomes {
    intact: usize,
    rolled_back: usize,
    quarantined: usize,
    lost: usize,
}

/// One trial on a copy of the image; returns what happened.
async fn trial(img: &Image, rng: &mut Lcg, cut: bool, out: &mut Outcomes) {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(img.dir.path(), dir.path());
    let target = newest_file(&dir.path().join(DB_DIR));
    let mut bytes = std::fs::read(&target).unwrap();
    let at = rng.below(bytes.len() as u64) as usize;
    let what = if cut {
        bytes.truncate(at);
        format!("cut {} at {at}", target.display())
    } else {
        bytes[at] ^= 1 + rng.below(255) as u8;
        format!("flip {} at {at}", target.display())
    };
    std::fs::write(&target, &bytes).unwrap();

    // Never a panic, never an error: recover or quarantine.
    let s = chocoline::store::open(&store_cfg(dir.path()), envelope("p"))
        .unwrap_or_else(|e| panic!("{what}: open failed: {e}"));
    let msgs = outbox_of(&s);
    let present: HashSet<&str> = msgs.iter().map(|m| m.1.id.as_str()).collect();
    for (_, m) in &msgs {
        if let Some(before) = img.all.get(&m.id) {
            assert_eq!(&m.payload, before, "{what}: id {} with a new payload", m.id);
        }
    }
    // New messages never take an id that was used before the stop.
    let fresh = s
        .append(&[prediction(999, 1_800_000_000_000)])
        .await
        .unwrap();
    for a in &fresh {
        assert!(!img.all.contains_key(&a.id), "{what}: id {} reused", a.id);
    }
    let lost = img
        .undelivered
        .iter()
        .filter(|id| !present.contains(id.as_str()))
        .count();
    let notice = msgs.iter().find_map(|(_, m)| {
        let v: Value = serde_json::from_slice(&m.payload).ok()?;
        (m.topic == "p/alerts/store_corrupt" && v["state"] == "raised").then_some(v)
    });
    match &notice {
        Some(v) if s.moved_aside().is_some() => {
            out.quarantined += 1;
            assert!(
                v["evidence"]["lost_undelivered"].as_u64().unwrap() >= lost as u64,
                "{what}: {lost} lost, evidence {}",
                v["evidence"]
            );
        }
        Some(v) => {
            out.rolled_back += 1;
            assert!(
                v["evidence"]["lost_undelivered"].as_u64().unwrap() >= lost as u64,
                "{what}: {lost} lost, evidence {}",
                v["evidence"]
            );
        }
        None => {
            assert_eq!(
                lost, 0,
                "{what}: {lost} undelivered messages lost unreported"
            );
            out.intact += 1;
        }
    }
    out.lost += lost;
}

#[tokio::test]
async fn torn_logs_never_reuse_an_id_and_every_loss_is_reported() {
    let img = crash_image().await;
    let mut rng = Lcg(0x5eed_2026_1204);
    let mut out = Outcomes::default();
    let trials = std::env::var("CHOCOLINE_TORN_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    for t in 0..trials {
        trial(&img, &mut rng, t % 2 == 1, &mut out).await;
    }
    eprintln!("torn-log trials: {trials}, {out:?}");
    assert_eq!(out.intact + out.rolled_back + out.quarantined, trials);
    // The trials must actually exercise losses, or they prove nothing.
    assert!(out.rolled_back + out.quarantined > 0, "{out:?}");
}

#[tokio::test]
async fn ids_carry_a_generation_that_grows_on_every_open() {
    let dir = tempfile::tempdir().unwrap();
    let c = store_cfg(dir.path());
    let mut epochs = vec![];
    for _ in 0..3 {
        let s = chocoline::store::open(&c, envelope("p")).unwrap();
        let a = s.append(&[data_quality(1)]).await.unwrap();
        assert!(a[0].id.contains(s.epoch()));
        epochs.push(s.epoch().to_string());
    }
    let (db, gens): (Vec<_>, Vec<_>) = epochs.iter().map(|e| e.split_once('.').unwrap()).unzip();
    assert!(db.iter().all(|d| *d == db[0]), "{epochs:?}");
    assert_eq!(gens, ["1", "2", "3"]);
    // A lost ledger: the database epoch changes, so ids stay unique.
    std::fs::remove_file(dir.path().join(LEDGER_FILE)).unwrap();
    let s = chocoline::store::open(&c, envelope("p")).unwrap();
    assert_ne!(s.epoch().split('.').next().unwrap(), db[0]);
}

#[tokio::test]
async fn alerts_left_raised_are_cleared_under_their_id_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let c = store_cfg(dir.path());
    {
        let s = chocoline::store::open(&c, envelope("p")).unwrap();
        let raised = alert(1, AlertKind::Gritty);
        let mut cleared = alert(2, AlertKind::Anomaly);
        s.append(&[raised, alert(2, AlertKind::Anomaly)])
            .await
            .unwrap();
        if let Record::Alert(a) = &mut cleared {
            a.state = AlertState::Cleared;
        }
        s.append(&[cleared]).await.unwrap();
        assert_eq!(s.open_alerts().unwrap().len(), 1);
    }
    let events = |s: &Store| -> Vec<Value> {
        outbox_of(s)
            .into_iter()
            .map(|(_, m)| serde_json::from_slice(&m.payload).unwrap())
            .filter(|v: &Value| v["alert_id"] == "alert-1")
            .collect()
    };
    let s = chocoline::store::open(&c, envelope("p")).unwrap();
    let e = events(&s);
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(e[0]["state"], "raised");
    assert_eq!(e[1]["state"], "cleared");
    assert_eq!(e[1]["evidence"]["cleared_reason"], "restart");
    assert!(s.open_alerts().unwrap().is_empty());
    let schema = common::schema::load(&common::schema::file_for("chocoline.alert/1"));
    common::schema::validate(&schema, &e[1]).unwrap();
    drop(s);
    // Closed once: a second restart sends nothing more for it.
    let s = chocoline::store::open(&c, envelope("p")).unwrap();
    assert_eq!(events(&s).len(), 2);
}

#[tokio::test]
async fn inspect_leaves_a_corrupt_database_exactly_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = chocoline::store::open(&store_cfg(dir.path()), envelope("p")).unwrap();
        for i in 0..20 {
            s.append(&[alert(i, AlertKind::Gritty)]).await.unwrap();
        }
    }
    // A healthy database first: inspect reads it, and nothing changes.
    let before = contents(dir.path());
    let (snap, _) = chocoline::cli::inspect::load(dir.path()).unwrap();
    assert_eq!(snap.outbox_depth, 20);
    assert_eq!(contents(dir.path()), before);
    // Then a torn one.
    let target = newest_file(&dir.path().join(DB_DIR));
    let mut bytes = std::fs::read(&target).unwrap();
    let n = bytes.len();
    for b in &mut bytes[n / 3..n / 3 + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(&target, &bytes).unwrap();
    let before = contents(dir.path());
    let _ = chocoline::cli::inspect::load(dir.path());
    assert_eq!(
        contents(dir.path()),
        before,
        "inspect changed the files it was asked to look at"
    );
}
