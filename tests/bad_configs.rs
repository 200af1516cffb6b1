//! Every case of `tests/fixtures/bad-configs/` through the real binary: exit code 2, and
//! stderr names the file, the line (or environment variable), the key and what is wrong.

mod common;

use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad-configs")
}

use common::cli::chocoline;

struct Expect {
    line: Option<i64>,
    env: Option<String>,
    key: String,
    message: String,
    count: Option<i64>,
    absent: Option<String>,
}

fn expect(path: &Path) -> Expect {
    let text = std::fs::read_to_string(path).unwrap();
    let doc: toml_edit::DocumentMut = text.parse().unwrap();
    let s = |k: &str| doc.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let i = |k: &str| doc.get(k).and_then(|v| v.as_integer());
    let e = Expect {
        line: i("line"),
        env: s("env"),
        key: s("key").unwrap_or_else(|| panic!("{}: no key", path.display())),
        message: s("message").unwrap_or_else(|| panic!("{}: no message", path.display())),
        count: i("count"),
        absent: s("absent"),
    };
    assert!(
        e.line.is_some() != e.env.is_some(),
        "{}: exactly one of line / env",
        path.display()
    );
    e
}

#[test]
fn every_bad_config_exits_2_naming_file_line_and_key() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "only {} cases", cases.len());

    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let exp = expect(&case.with_extension("expect"));
        let mut cmd = chocoline();
        cmd.arg("check-config").arg("--config").arg(case);
        if let Ok(env) = std::fs::read_to_string(case.with_extension("env")) {
            for line in env.lines().filter(|l| !l.trim().is_empty()) {
                let (k, v) = line.split_once('=').unwrap();
                cmd.env(k, v);
            }
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();

        let mut problems = Vec::new();
        if out.status.code() != Some(2) {
            problems.push(format!("exit code {:?}, expected 2", out.status.code()));
        }
        if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
            problems.push("panicked".into());
        }
        let place = match (&exp.line, &exp.env) {
            (Some(l), _) => format!("{name}:{l}: "),
            (_, Some(v)) => format!("{name}: environment variable {v}: "),
            _ => unreachable!(),
        };
        let wanted = if exp.key.is_empty() {
            place
        } else {
            format!("{place}{}", exp.key)
        };
        let hit = stderr
            .lines()
            .find(|l| l.contains(&wanted) && l.contains(&exp.message));
        if hit.is_none() {
            problems.push(format!("no line with {wanted:?} and {:?}", exp.message));
        }
        if let Some(n) = exp.count {
            let errors = stderr
                .lines()
                .filter(|l| l.contains(&format!("{name}:")))
                .count();
            // The last line is the "N configuration errors" summary.
            if errors as i64 != n + 1 {
                problems.push(format!("{} errors, expected {n}", errors.saturating_sub(1)));
            }
        }
        if let Some(secret) = &exp.absent
            && (stderr.contains(secret) || stdout.contains(secret))
        {
            problems.push(format!("output shows {secret:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{name}: {}\n--- stderr:\n{stderr}",
                problems.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
