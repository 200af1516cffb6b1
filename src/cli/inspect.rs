//! `chocoline inspect --data-dir DIR`: outbox depth, oldest undelivered age, last alerts, last
//! predictions, drift windows.
//!
//! Safe while the daemon runs: sled allows one process per database and has no read-only mode,
//! so when the daemon holds `DIR/chocoline.lock` this command reads the snapshot the daemon
//! rewrites every `[store] snapshot_interval` (`DIR/inspect.json`) and says how old it is.
//! When no process holds the lock it opens the database itself (without modifying it).

use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::domain::TimestampMs;
use crate::store::snapshot::{Snapshot, read_snapshot};
use crate::store::{StoreError, readonly::open_existing};

/// Where a snapshot came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The database was opened by this command.
    Live,
    /// The running daemon's snapshot file.
    DaemonSnapshot,
}

/// Get a snapshot of the store in `data_dir`, whichever way is safe.
pub fn load(data_dir: &Path) -> Result<(Snapshot, Source), StoreError> {
    match open_existing(data_dir) {
        Ok(store) => Ok((store.snapshot()?, Source::Live)),
        Err(StoreError::Locked { .. }) => Ok((read_snapshot(data_dir)?, Source::DaemonSnapshot)),
        Err(e) => Err(e),
    }
}

/// Run the subcommand.
pub fn run(data_dir: &Path, json: bool) -> ExitCode {
    let (snap, source) = match load(data_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("chocoline inspect: {e}");
            return ExitCode::from(if matches!(e, StoreError::Sled(_)) {
                EXIT_FAILURE
            } else {
                EXIT_BAD_INPUT
            });
        }
    };
    if json {
        match serde_json::to_string_pretty(&snap) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("chocoline inspect: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        }
    } else {
        print!("{}", render(data_dir, &snap, source, TimestampMs::now()));
    }
    ExitCode::SUCCESS
}

/// The human-readable report.
pub fn render(data_dir: &Path, s: &Snapshot, source: Source, now: TimestampMs) -> String {
    let mut o = render_state(data_dir, s, source, now);
    o += &render_losses(s);
    o += &render_history(s);
    o
}

/// How old `ms` is at `now`, in seconds.
fn age(now: TimestampMs, ms: i64) -> String {
    format!("{:.1} s", (now.0 - ms).max(0) as f64 / 1000.0)
}

/// Where the figures come from, the outbox and the disk.
fn render_state(data_dir: &Path, s: &Snapshot, source: Source, now: TimestampMs) -> String {
    let origin = match source {
        Source::Live => "database opened directly (no daemon running)".to_string(),
        Source::DaemonSnapshot => format!(
            "snapshot of the running daemon, taken {} ago",
            age(now, s.taken_ms)
        ),
    };
    let mut o = format!("data dir            {} ({origin})\n", data_dir.display());
    o += &format!("database epoch      {}\n", s.epoch);
    o += &format!("outbox depth        {}\n", s.outbox_depth);
    match &s.oldest_undelivered {
        Some(u) => {
            o += &format!(
                "oldest undelivered  {} old: {} on {}\n",
                age(now, u.created_ms),
                u.id,
                u.topic
            )
        }
        None => o += "oldest undelivered  none (everything delivered)\n",
    }
    o += &format!(
        "disk                sled files {} of max_bytes {}; live {} of budget {} bytes\n",
        s.size_on_disk,
        s.max_bytes,
        s.used_bytes,
        crate::store::db::budget_of(s.max_bytes)
    );
    o
}

/// What was dropped or refused, the dead letters and a moved-aside database.
fn render_losses(s: &Snapshot) -> String {
    let c = &s.counters;
    let mut o = format!(
        "dropped             predictions_pruned={} drift_pruned={} outbox_dropped={} alerts_dropped={} undecodable={} dead_letters={}\n",
        c.predictions_pruned,
        c.drift_pruned,
        c.outbox_dropped,
        c.alerts_dropped,
        c.undecodable,
        c.dead_letters
    );
    if !s.dead_letters.is_empty() {
        o += "dead letters (newest first; the broker would not take them)\n";
        for d in &s.dead_letters {
            o += &format!(
                "  {} {} {} bytes: {} ({})\n",
                d.id, d.topic, d.bytes, d.reason, d.detail
            );
        }
    }
    if let Some(p) = &s.moved_aside {
        o += &format!("corrupt db moved to {}\n", p.display());
    }
    o
}

/// The last alerts, predictions and drift windows.
fn render_history(s: &Snapshot) -> String {
    let mut o = String::from("last alerts (newest first)\n");
    list(&mut o, &s.last_alerts, |v| {
        format!(
            "{} {} {} {}: {} [{}]",
            ts(v, "ts"),
            field(v, "state"),
            field(v, "severity"),
            field(v, "kind"),
            field(v, "message"),
            field(v, "alert_id")
        )
    });
    o += "last predictions (newest first)\n";
    list(&mut o, &s.last_predictions, |v| {
        let out = v.get("output").cloned().unwrap_or(Value::Null);
        let shadow = if v.get("shadow") == Some(&Value::Bool(true)) {
            " (shadow)"
        } else {
            ""
        };
        format!(
            "{} {} {}{shadow} {}",
            ts(v, "ts"),
            field(v, "model"),
            field(v, "model_version"),
            out
        )
    });
    o += "drift windows (newest first)\n";
    list(&mut o, &s.drift_windows, |v| {
        format!(
            "{} .. {} {} drifted_share={}",
            ts(v, "start"),
            ts(v, "end"),
            field(v, "model"),
            v.get("drifted_share").cloned().unwrap_or(Value::Null)
        )
    });
    o
}

fn list(o: &mut String, items: &[Value], line: impl Fn(&Value) -> String) {
    if items.is_empty() {
        *o += "  (none)\n";
    }
    for v in items {
        *o += &format!("  {}\n", line(v));
    }
}

fn field(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "-".into(),
    }
}

fn ts(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_i64)
        .map(|t| TimestampMs(t).to_string())
        .unwrap_or_else(|| "-".into())
}
