//! `chocoline export` through the real binary (issue #18; docs/capture.md, "Export"), on a
//! data directory whose capture holds the four devices of config/demo.toml (tempering,
//! refiner and conche around the PLC that holds the batch id), three closed batches (two
//! labelled, one not) and a moisture value of `comm_error` quality: the exact files, the
//! refusals (empty range, output folder not empty), and, under `CHOCOLINE_INTEROP=1`, the
//! training pipeline's own loader reading the export.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chocoline::capture::line::{BatchLine, Line, SampleLine, encode, segment_name};
use chocoline::domain::Quality;
use chocoline::labels::{self, Defect, Grade, Label, LabelSource};
use chocoline::simulate::export::{BATCHES_HEADER, samples_header};
use common::cli::{run, stderr};

/// First sample: 2026-12-06T12:26:40Z.
const T0: i64 = 1_796_560_000_000;
/// PLC samples, one a second; batches 1001, 1002, 1003 of four samples each, then 1004.
const ROWS: i64 = 13;
/// The conche sample whose moisture read failed.
const COMM_ERROR_AT: i64 = 4;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn sample(i: i64, device: &str, values: &[(&str, f64)]) -> Line {
    let mut quality: BTreeMap<String, Quality> = values
        .iter()
        .map(|(k, _)| (k.to_string(), Quality::Good))
        .collect();
    if device == "conche" && i == COMM_ERROR_AT {
        quality.insert("moisture".into(), Quality::CommError);
    }
    Line::Sample(SampleLine {
        ts: T0 + i * 1000,
        device: device.into(),
        values: values
            .iter()
            .map(|(k, v)| (k.to_string(), Some(*v)))
            .collect(),
        quality,
    })
}

fn batch_of(i: i64) -> i64 {
    1001 + i / 4
}

fn recipe_of(batch: i64) -> f64 {
    if batch <= 1002 { 3.0 } else { 1.0 }
}

fn batch(id: i64, lot: &str) -> Line {
    let start_ms = T0 + (id - 1001) * 4000;
    Line::Batch(BatchLine {
        ts: start_ms + 4000,
        batch_id: id.to_string(),
        product: Some(format!("{}", recipe_of(id))),
        lot: Some(lot.into()),
        start_ms,
        end_ms: start_ms + 4000,
        samples: 4,
    })
}

/// The capture: per second tempering, (every other second) refiner and conche, then the
/// PLC; a batch line once the next batch's first sample is in.
fn data_dir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut lines = Vec::new();
    for i in 0..ROWS {
        let x = i as f64;
        lines.push(sample(
            i,
            "tempering",
            &[
                ("temperature", 30.0 + 0.25 * x),
                ("tunnel_temp", 12.5),
                ("humidity", 50.0 + x),
            ],
        ));
        if i % 2 == 0 {
            lines.push(sample(i, "refiner", &[("particle_size", 20.0 + x)]));
            let moisture = if i == COMM_ERROR_AT { 9.99 } else { 1.5 };
            lines.push(sample(
                i,
                "conche",
                &[("moisture", moisture), ("ph", 5.25), ("conche_temp", 55.0)],
            ));
        }
        let b = batch_of(i);
        lines.push(sample(
            i,
            "plc",
            &[
                ("batch_id", b as f64),
                ("recipe", recipe_of(b)),
                ("cocoa_pct", if b <= 1002 { 35.0 } else { 70.0 }),
                ("roast_time", 22.5),
                ("fermentation_index", 1.1),
                ("bean_quality", 80.0),
            ],
        ));
        if i > 0 && i % 4 == 0 {
            let lot = if b - 1 <= 1002 { "22.5/1.1/80" } else { "77" };
            lines.push(batch(b - 1, lot));
        }
    }
    let dir = tmp.path().join("capture");
    std::fs::create_dir_all(&dir).expect("capture dir");
    let text: String = lines.iter().map(encode).collect();
    std::fs::write(dir.join(segment_name(T0, 1)), text).expect("segment");
    let label = |id: &str, grade, yield_pct| Label {
        batch_id: id.into(),
        grade,
        defect: Defect::None,
        yield_pct: Some(yield_pct),
        source: LabelSource::Cli,
        at: T0 + 60_000,
    };
    labels::append_checked(
        tmp.path(),
        &[label("1001", Grade::B, 81.2), label("1002", Grade::A, 84.5)],
    )
    .expect("labels stored");
    tmp
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).expect("read file"));
            }
        }
    }
    out
}

fn demo_config() -> String {
    format!("{}/config/demo.toml", env!("CARGO_MANIFEST_DIR"))
}

fn export(d: &Path, out: &Path, rest: &[&str]) -> Output {
    let (d, out) = (d.to_str().expect("utf-8"), out.to_str().expect("utf-8"));
    let mut args = vec!["export", "--data-dir", d, "--output", out];
    args.extend_from_slice(rest);
    run(&args)
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The expected `samples.csv` row of PLC sample `i`.
fn expected_row(i: i64) -> String {
    let x = i as f64;
    let b = batch_of(i);
    let even = i - i % 2;
    let moisture = if even == COMM_ERROR_AT { "" } else { "1.5" };
    let cocoa = if b <= 1002 { 35 } else { 70 };
    format!(
        "{},{b},{},{},12.5,{},{},{moisture},5.25,55,{cocoa},22.5,1.1,80,,,",
        T0 + i * 1000,
        recipe_of(b),
        30.0 + 0.25 * x,
        50.0 + x,
        20 + even,
    )
}

/// `export.json` of the range `[T0, T0 + 12 s)`: range, counts and the batch ids.
fn check_meta(out: &Path) {
    let meta: chocoline::export::output::ExportMeta =
        serde_json::from_str(&read(out.join("export.json"))).expect("export.json");
    assert_eq!(meta.schema, "chocoline.export/1");
    assert_eq!((meta.since_ms, meta.until_ms), (T0, T0 + 12_000));
    assert_eq!((meta.rows, meta.batches), (12, 2));
    assert_eq!(meta.batch_ids, ["1001", "1002"]);
}

#[test]
fn export_writes_the_training_format_with_labels_joined() {
    let d = data_dir();
    let before = snapshot(d.path());
    let out_root = tempfile::tempdir().expect("temp dir");
    let out = out_root.path().join("run-1");
    let until = (T0 + 12_000).to_string();
    let o = export(
        d.path(),
        &out,
        &[
            "--config",
            &demo_config(),
            "--since",
            "2026-12-06T12:26:40Z",
            "--until",
            &until,
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    let samples = read(out.join("samples.csv"));
    let rows: Vec<&str> = samples.lines().collect();
    assert_eq!(rows[0], samples_header().join(","));
    assert_eq!(
        rows[0],
        "ts_ms,batch_id,recipe,temperature,tunnel_temp,humidity,particle_size,moisture,ph,\
         conche_temp,cocoa_pct,roast_time,fermentation_index,bean_quality,scenario,fault,bloom_label"
    );
    assert_eq!(
        rows.len(),
        1 + 12,
        "until is exclusive: batch 1004's sample is out"
    );
    assert_eq!(
        rows[1],
        "1796560000000,1001,3,30,12.5,50,20,1.5,5.25,55,35,22.5,1.1,80,,,"
    );
    // Odd seconds: refiner and conche forward-filled from the second before.
    assert_eq!(
        rows[2],
        "1796560001000,1001,3,30.25,12.5,51,20,1.5,5.25,55,35,22.5,1.1,80,,,"
    );
    // The comm_error moisture (9.99 in the file) is empty, and stays empty until the next
    // good reading: never the stale 1.5 before it.
    assert_eq!(
        rows[5],
        "1796560004000,1002,3,31,12.5,54,24,,5.25,55,35,22.5,1.1,80,,,"
    );
    assert_eq!(
        rows[6],
        "1796560005000,1002,3,31.25,12.5,55,24,,5.25,55,35,22.5,1.1,80,,,"
    );
    assert!(!samples.contains("9.99"));
    for (i, row) in rows[1..].iter().enumerate() {
        assert_eq!(*row, expected_row(i as i64), "row {}", i + 1);
    }

    let batches = read(out.join("batches.csv"));
    assert_eq!(
        batches,
        format!(
            "{BATCHES_HEADER}\n\
             1001,3,MILK35,milk,1796560000000,1796560004000,1,B,81.2,none\n\
             1002,3,MILK35,milk,1796560004000,1796560008000,1,A,84.5,none\n"
        )
    );
    assert!(out.join(".complete").is_file());
    check_meta(&out);
    let names: Vec<_> = std::fs::read_dir(&out)
        .expect("output")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 4, "no temporary files left: {names:?}");

    let text = stdout(&o);
    assert!(
        text.contains("exported 12 sample rows and 2 batches into"),
        "{text}"
    );
    assert!(text.contains("batches left out (no label): 1"), "{text}");
    assert_eq!(
        snapshot(d.path()),
        before,
        "the data directory is only read"
    );
}

#[test]
fn without_config_products_are_unknown_and_the_whole_capture_is_exported() {
    let d = data_dir();
    let out_root = tempfile::tempdir().expect("temp dir");
    let out = out_root.path().join("all");
    let o = export(d.path(), &out, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read(out.join("samples.csv")).lines().count(), 1 + 13);
    let batches = read(out.join("batches.csv"));
    assert!(
        batches.contains("\n1001,3,3,unknown,1796560000000,1796560004000,1,B,81.2,none\n"),
        "{batches}"
    );
}

#[test]
fn an_empty_range_exits_2_and_creates_nothing() {
    let d = data_dir();
    let out_root = tempfile::tempdir().expect("temp dir");
    let out = out_root.path().join("nothing");
    let since = (T0 + 100_000).to_string();
    let o = export(d.path(), &out, &["--since", &since]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("no captured samples between 2026-12-06T12:28:20.000Z and the end"),
        "{err}"
    );
    assert!(!out.exists(), "no output folder");
}

#[test]
fn an_output_folder_that_is_not_empty_or_inside_the_data_dir_exits_2() {
    let d = data_dir();
    let before = snapshot(d.path());
    let out_root = tempfile::tempdir().expect("temp dir");
    std::fs::write(out_root.path().join("old.csv"), "x").expect("write");
    let o = export(d.path(), out_root.path(), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("must not exist or be empty"),
        "{}",
        stderr(&o)
    );
    assert_eq!(snapshot(out_root.path()).len(), 1, "left as it was");

    let inside = d.path().join("export");
    let o = export(d.path(), &inside, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("inside the data directory"),
        "{}",
        stderr(&o)
    );
    assert_eq!(snapshot(d.path()), before);
}

/// Whether `python3` can import pandas.
fn has_pandas() -> bool {
    Command::new("python3")
        .args(["-c", "import pandas"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_training_pipeline_loads_the_export() {
    let interop = std::env::var("CHOCOLINE_INTEROP").is_ok_and(|v| v == "1");
    if !interop && !has_pandas() {
        eprintln!("SKIPPED: python3 with pandas not available (CHOCOLINE_INTEROP=1 requires it)");
        return;
    }
    let d = data_dir();
    let out_root = tempfile::tempdir().expect("temp dir");
    let out = out_root.path().join("run");
    let o = export(d.path(), &out, &["--config", &demo_config()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let script = "import sys\nfrom pathlib import Path\nfrom training.dataset import load_run\n\
                  r = load_run(Path(sys.argv[1]), need_batches=True)\n\
                  print(len(r.samples), len(r.batches))";
    let py = Command::new("python3")
        .args(["-c", script, out.to_str().expect("utf-8")])
        .current_dir(format!("{}/models", env!("CARGO_MANIFEST_DIR")))
        .output()
        .expect("python3 runs");
    assert!(
        py.status.success(),
        "the training pipeline refuses the export: {}",
        String::from_utf8_lossy(&py.stderr)
    );
    assert_eq!(stdout(&py).trim(), "13 2");
}

/// kill -9 in the middle of an export (issue #18): the labels and the data directory are
/// untouched (the export only reads them), the output folder has no `.complete`, and the
/// next export into a fresh folder is whole.
#[test]
fn an_export_killed_mid_way_loses_no_label_and_leaves_no_complete_marker() {
    let d = data_dir();
    // A long second segment, so the export is still writing when it is killed.
    let mut text = String::new();
    for i in ROWS..ROWS + 300_000 {
        let b = 1003 + i / 100_000;
        text += &encode(&sample(
            i,
            "plc",
            &[("batch_id", b as f64), ("recipe", 1.0), ("cocoa_pct", 70.0)],
        ));
    }
    let segment = d
        .path()
        .join("capture")
        .join(segment_name(T0 + ROWS * 1000, 2));
    std::fs::write(segment, text).expect("segment");
    let before = snapshot(d.path());
    let out_root = tempfile::tempdir().expect("temp dir");
    let out = out_root.path().join("killed");
    let mut child = common::cli::chocoline()
        .args(["export", "--data-dir"])
        .arg(d.path())
        .arg("--output")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("export runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !out.join("samples.csv.tmp").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the export never started writing"
        );
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the export ended before it was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    assert_eq!(snapshot(d.path()), before, "labels and capture untouched");
    assert!(
        !out.join(".complete").exists(),
        "a killed export is not marked complete"
    );
    let again = out_root.path().join("again");
    let o = export(d.path(), &again, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(again.join(".complete").is_file());
    let rows = read(again.join("samples.csv")).lines().count() as i64;
    assert_eq!(
        rows,
        1 + ROWS + 300_000,
        "the whole capture once the export runs to its end"
    );
}
