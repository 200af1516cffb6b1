//! The loop closed on a simulated line (issue #18's acceptance path; docs/shadow.md) with
//! real components: the line simulator as a Modbus server at speed, rumqttd, the `chocoline`
//! binary (`run`, `export`, `model verify`, `model compare`), sled and the capture on disk.
//!
//! 1. `chocoline run` with `[capture]` on; the lab (this test, reading the simulator's own
//!    batch records: grade, defect, measured yield) posts a label over MQTT on
//!    `{prefix}/cmd/label` for every batch the capture has closed, and checks each reply.
//!    Half way the agent is killed with SIGKILL and started again: every label acknowledged
//!    before the kill is still in the journal.
//! 2. `chocoline export` of everything: `batches.csv` has exactly the labelled batches, and
//!    the journal is unchanged (a kill -9 in the middle of an export: `tests/export.rs`).
//! 3. Retraining: under `CHOCOLINE_INTEROP=1` (mandatory in `.ci/run`), `python3 -m training
//!    train --model quality --model yield --export OUT` on a small simulated set plus the
//!    export; without Python the candidate is a copy of the serving folders with another
//!    version (the test says so): the shadow and compare mechanics are the same.
//! 4. `chocoline model verify` passes on the new folders; the agent runs again with them as
//!    `[models.<name>] candidate`; labels keep coming; `chocoline model compare` prints the
//!    agreement and both models' labelled figures, leaving out the batches the new model
//!    was trained on.
//!
//! `CLOSE_LOOP_HOURS` (default 12) and `CLOSE_LOOP_SHADOW_HOURS` (default 12) set the
//! simulated hours of the two runs (the acceptance run in the closing note used 48).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chocoline::domain::TimestampMs;
use chocoline::simulate::source::SignalSource;
use chocoline::simulate::{BatchRecord, LineSim, Scenario};
use common::agent::{PREFIX, Ports, write_config_with_model_copy};
use common::*;
use tokio_util::sync::CancellationToken;

/// Simulated seconds per second.
const SPEED: f64 = 1200.0;

/// The simulator, shared with the lab that reads its batch records.
#[derive(Clone)]
struct Lab(Arc<Mutex<LineSim>>);

impl SignalSource for Lab {
    fn value(&self, signal: &str) -> Option<f64> {
        self.0.lock().unwrap().value(signal)
    }
    fn is_dropped(&self, signal: &str) -> bool {
        self.0.lock().unwrap().is_dropped(signal)
    }
    fn step(&mut self, dt: Duration) {
        self.0.lock().unwrap().step(dt);
    }
}

impl Lab {
    fn closed(&self) -> Vec<BatchRecord> {
        self.0.lock().unwrap().take_closed_batches()
    }
}

fn hours(var: &str) -> f64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12.0)
}

async fn serve(cfg: &chocoline::config::Config, port: u16, stop: CancellationToken) -> Lab {
    let sim = LineSim::new(Scenario::Normal, 7, TimestampMs::now());
    let lab = Lab(Arc::new(Mutex::new(sim)));
    common::agent::serve_source(cfg, port, stop, SPEED, lab.clone()).await;
    lab
}

fn agent(cfg: &Path, log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    common::cli::chocoline()
        .args(["run", "--config"])
        .arg(cfg)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the agent did not stop within 30 s of SIGTERM");
}

/// The lab's side: labels posted, replies judged.
struct Desk {
    sub: Subscriber,
    /// Closed in the simulator, not yet known to the capture.
    pending: Vec<BatchRecord>,
    /// Posted: batch id → the label posted.
    posted: BTreeMap<String, serde_json::Value>,
}

impl Desk {
    /// Post a label for every closed batch the capture knows.
    async fn post(&mut self, lab: &Lab, data_dir: &Path) {
        self.pending.extend(lab.closed());
        let known = chocoline::capture::read::batches(data_dir).unwrap();
        let (ready, wait): (Vec<_>, Vec<_>) = self
            .pending
            .drain(..)
            .partition(|b| known.contains_key(&b.batch_id.to_string()));
        self.pending = wait;
        for b in ready {
            let id = b.batch_id.to_string();
            let label = serde_json::json!({
                "batch_id": id, "grade": b.quality_grade, "defect": b.defect.as_str(),
                "yield_pct": (b.yield_pct * 10.0).round() / 10.0, "request_id": format!("lab-{id}"),
            });
            let topic = format!("{PREFIX}/cmd/label");
            self.sub
                .publish(&topic, label.to_string().into_bytes(), false)
                .await;
            self.posted.insert(id, label);
        }
    }

    /// Replies received: request id → ok.
    fn replies(&self) -> BTreeMap<String, bool> {
        replies_in(&self.sub.messages())
    }

    /// Batch ids whose label the agent acknowledged as stored.
    fn stored(&self) -> BTreeSet<String> {
        let r = self.replies();
        (self.posted.keys())
            .filter(|id| r.get(&format!("lab-{id}")) == Some(&true))
            .cloned()
            .collect()
    }

    async fn all_answered(&self, secs: u64) {
        let ids: Vec<String> = self.posted.keys().map(|id| format!("lab-{id}")).collect();
        // The predicate gets the messages under the subscriber's lock: never lock it again.
        let ok = self.sub.wait_until(secs, |msgs| {
            let r = replies_in(msgs);
            ids.iter().all(|id| r.contains_key(id))
        });
        assert!(
            ok.await,
            "not every label was answered: {:?}",
            self.replies()
        );
        let refused: Vec<_> = self.replies().into_iter().filter(|(_, ok)| !ok).collect();
        assert!(refused.is_empty(), "labels refused: {refused:?}");
    }
}

/// The label replies among `msgs`: request id → ok.
fn replies_in(msgs: &[Got]) -> BTreeMap<String, bool> {
    (msgs.iter())
        .filter(|m| m.topic == format!("{PREFIX}/cmd/label/result"))
        .filter_map(|m| {
            let id = m.payload["request_id"].as_str()?.to_string();
            Some((id, m.payload["ok"].as_bool()?))
        })
        .collect()
}

/// Run the line for `sim_hours`, labelling as batches close; kill -9 and restart the agent at
/// `kill_at` (a share of the run) when given.
async fn run_line(
    cfg: &Path,
    data: &Path,
    lab: &Lab,
    desk: &mut Desk,
    sim_hours: f64,
    kill_at: Option<f64>,
    log: &Path,
) {
    let real = Duration::from_secs_f64(sim_hours * 3600.0 / SPEED);
    let start = Instant::now();
    let mut child = agent(cfg, log);
    let mut killed = kill_at.is_none();
    while start.elapsed() < real {
        tokio::time::sleep(Duration::from_millis(500)).await;
        desk.post(lab, data).await;
        if !killed && start.elapsed().as_secs_f64() >= real.as_secs_f64() * kill_at.unwrap_or(1.0) {
            desk.all_answered(30).await;
            let acked = desk.stored();
            child.kill().unwrap();
            child.wait().unwrap();
            let journal = chocoline::labels::latest(data).unwrap();
            let lost: Vec<_> = acked
                .iter()
                .filter(|id| !journal.contains_key(*id))
                .collect();
            assert!(
                lost.is_empty(),
                "acknowledged labels lost by SIGKILL: {lost:?}"
            );
            eprintln!(
                "SIGKILL with {} labels acknowledged: all {} in the journal",
                acked.len(),
                journal.len()
            );
            child = agent(cfg, log);
            killed = true;
        }
    }
    // The last batches: let the capture close them and their labels be answered.
    tokio::time::sleep(Duration::from_secs(3)).await;
    desk.post(lab, data).await;
    desk.all_answered(30).await;
    stop(child);
}

fn ok(o: &std::process::Output, what: &str) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{what}: {}\n{out}", cli::stderr(o));
    out
}

/// Retrain quality and yield on a small simulated set plus the export (Python), or copy the
/// serving folders with another version (no Python): the new model folders.
fn retrain(tmp: &Path, models: &Path, export: &Path) -> (PathBuf, bool) {
    let new = tmp.join("new-models");
    if !interop() {
        eprintln!(
            "CHOCOLINE_INTEROP is not 1: no retraining; the candidate is a copy of the serving model with version 9.9.9-copy"
        );
        for m in ["quality", "yield"] {
            std::fs::create_dir_all(new.join(m)).unwrap();
            for f in ["model.onnx", "golden.csv", "manifest.json"] {
                std::fs::copy(models.join(m).join(f), new.join(m).join(f)).unwrap();
            }
            let path = new.join(m).join("manifest.json");
            let mut v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            v["version"] = "9.9.9-copy".into();
            std::fs::write(&path, v.to_string()).unwrap();
        }
        return (new, false);
    }
    let sim = common::training::small_simulated_set(&tmp.join("sim"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let t = Instant::now();
    let o = Command::new("python3")
        .args([
            "-m", "training", "train", "--model", "quality", "--model", "yield", "--data",
        ])
        .arg(&sim)
        .arg("--export")
        .arg(export)
        .arg("--out")
        .arg(&new)
        .current_dir(&root)
        .env("CHOCOLINE_BIN", env!("CARGO_BIN_EXE_chocoline"))
        .output()
        .unwrap();
    let out = ok(&o, "python3 -m training train --export");
    eprintln!("retrained in {:.0} s:\n{out}", t.elapsed().as_secs_f64());
    (new, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_line_closes_the_loop() {
    let broker = rumqttd();
    let ports = Ports::on(broker.port());
    let tmp = tempfile::tempdir().unwrap();
    let (cfg_path, models) = write_config_with_model_copy(tmp.path(), &ports);
    let base = std::fs::read_to_string(&cfg_path).unwrap() + "\n[capture]\nenabled = true\n";
    std::fs::write(&cfg_path, &base).unwrap();
    let cfg = chocoline::config::load(&cfg_path).unwrap().config;
    let data = cfg.store.data_dir.clone();
    let stop_sim = CancellationToken::new();
    let lab = serve(&cfg, ports.modbus, stop_sim.clone()).await;
    let sub = Subscriber::connect(broker.port(), PREFIX).await;
    let mut desk = Desk {
        sub,
        pending: Vec::new(),
        posted: BTreeMap::new(),
    };
    let log = tmp.path().join("agent.log");

    // 1. The line runs; every closed batch is labelled over MQTT; SIGKILL half way.
    run_line(
        &cfg_path,
        &data,
        &lab,
        &mut desk,
        hours("CLOSE_LOOP_HOURS"),
        Some(0.5),
        &log,
    )
    .await;
    let labelled = desk.stored();
    assert!(
        labelled.len() >= 3,
        "too few batches labelled: {labelled:?}"
    );
    eprintln!("phase 1: {} batches labelled over MQTT", labelled.len());

    // 2. Export (a kill -9 in the middle of one: tests/export.rs).
    let export = export_all(&data, &cfg_path, &tmp.path().join("export"), &labelled);

    // 3. Retrain; 4. verify, shadow, compare.
    let (new, retrained) = retrain(tmp.path(), &models, &export);
    serve_candidates(&cfg_path, &base, &new);
    run_line(
        &cfg_path,
        &data,
        &lab,
        &mut desk,
        hours("CLOSE_LOOP_SHADOW_HOURS"),
        None,
        &log,
    )
    .await;
    stop_sim.cancel();
    let shadow = desk
        .sub
        .messages()
        .iter()
        .filter(|m| {
            m.topic
                .starts_with(&format!("{PREFIX}/shadow/predictions/"))
        })
        .count();
    assert!(shadow > 0, "no shadow prediction published");

    for m in ["quality", "yield"] {
        compare(&data, &cfg_path, m, retrained.then_some(labelled.len()));
    }
}

/// `chocoline export` of the whole capture into `out`: exactly the labelled batches, the
/// journal unchanged.
fn export_all(data: &Path, cfg: &Path, out: &Path, labelled: &BTreeSet<String>) -> PathBuf {
    let journal = chocoline::labels::journal::journal_path(data);
    let before = std::fs::read(&journal).unwrap();
    let o = cli::chocoline()
        .args(["export", "--data-dir"])
        .arg(data)
        .arg("--config")
        .arg(cfg)
        .arg("--output")
        .arg(out)
        .output()
        .unwrap();
    eprintln!("{}", ok(&o, "export"));
    let after = std::fs::read(&journal).unwrap();
    assert_eq!(after, before, "the export changed the labels");
    let batches_csv = std::fs::read_to_string(out.join("batches.csv")).unwrap();
    let exported: BTreeSet<String> = (batches_csv.lines().skip(1))
        .filter_map(|l| l.split(',').next())
        .map(String::from)
        .collect();
    assert_eq!(
        &exported, labelled,
        "batches.csv holds exactly the labelled batches"
    );
    out.to_path_buf()
}

/// `model verify` on the new folders, then the configuration with them as candidates,
/// accepted by check-config.
fn serve_candidates(cfg: &Path, base: &str, new: &Path) {
    for m in ["quality", "yield"] {
        let o = cli::chocoline()
            .args(["model", "verify"])
            .arg(new.join(m))
            .output()
            .unwrap();
        eprintln!("{}", ok(&o, "model verify"));
    }
    let text = format!(
        "{base}\n[models.quality]\ncandidate = \"{}\"\n\n[models.yield]\ncandidate = \"{}\"\n",
        new.join("quality").display(),
        new.join("yield").display()
    );
    std::fs::write(cfg, text).unwrap();
    let o = cli::chocoline()
        .args(["check-config", "--config"])
        .arg(cfg)
        .output()
        .unwrap();
    ok(&o, "check-config with candidates");
}

/// `model compare` of `model`: agreement and judged batches printed; with a retrained
/// candidate, the `trained_on` batches of its export left out.
fn compare(data: &Path, cfg: &Path, model: &str, trained_on: Option<usize>) {
    let o = cli::chocoline()
        .args(["model", "compare", "--data-dir"])
        .arg(data)
        .args(["--model", model, "--config"])
        .arg(cfg)
        .output()
        .unwrap();
    let text = ok(&o, "model compare");
    eprintln!("{text}");
    assert!(text.contains("candidate: "), "{text}");
    assert!(text.contains("agreement: "), "{text}");
    let line = (text.lines())
        .find_map(|l| l.strip_prefix("labelled batches judged: "))
        .unwrap_or_else(|| panic!("no judged count: {text}"));
    let judged: u64 = line.split(' ').next().and_then(|n| n.parse().ok()).unwrap();
    assert!(judged >= 1, "no labelled batch judged: {text}");
    if let Some(n) = trained_on {
        assert!(
            line.contains(&format!("left out: {n} inside a range")),
            "{text}"
        );
        assert!(
            text.contains("+line."),
            "the candidate's version names its line data: {text}"
        );
    }
}
