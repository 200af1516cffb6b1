//! `chocoline __outbox-feed` — a hidden test hook, not part of the production CLI (it is
//! `#[command(hide = true)]` and documented only here and in `tests/`).
//!
//! It runs the real store and publish stages against a data directory and a broker and feeds
//! them synthetic alert events, printing `<message id> <topic>` on stdout for each record once
//! it is durable. The fault tests kill it with SIGKILL at random moments, restart it on the
//! same directory, and check that every printed id reaches a subscriber, in order per topic.
//! After feeding it waits until the outbox is empty, shuts the publisher down gracefully and
//! exits 0.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::domain::{Alert, AlertKind, AlertState, BatchContext, Record, Severity, TimestampMs};
use crate::publish::Publisher;
use crate::publish::config::MqttConfig;
use crate::store::config::StoreConfig;
use crate::store::{Envelope, Outbox};

/// Arguments of the hook.
#[derive(Debug, Clone, clap::Args)]
pub struct FeedArgs {
    /// Store directory.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Broker url.
    #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
    pub url: String,
    /// Records to feed.
    #[arg(long, default_value_t = 100)]
    pub count: u64,
    /// Pause between records, milliseconds.
    #[arg(long, default_value_t = 1)]
    pub interval_ms: u64,
    /// Topic prefix.
    #[arg(long, default_value = "chocoline")]
    pub prefix: String,
    /// MQTT client id.
    #[arg(long, default_value = "chocoline-feed")]
    pub client_id: String,
    /// In-flight window.
    #[arg(long, default_value_t = 32)]
    pub inflight: u16,
    /// Tag put in the alert ids of this run (tells runs apart).
    #[arg(long, default_value = "run")]
    pub tag: String,
}

/// Run the hook.
pub fn run(args: FeedArgs) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("__outbox-feed: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    rt.block_on(feed(args))
}

async fn feed(a: FeedArgs) -> ExitCode {
    let (store_cfg, mqtt, envelope) = settings(&a);
    let store = match crate::store::open(&store_cfg, envelope.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("__outbox-feed: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let publisher = match Publisher::new(&mqtt, Outbox::new(store.clone())) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("__outbox-feed: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(publisher.run(shutdown.clone()));
    // Like the daemon, keep the inspect snapshot fresh (inspect cannot open a locked db).
    tokio::spawn(crate::store::stage::snapshot_loop(
        store.clone(),
        shutdown.clone(),
    ));
    if let Err(e) = append_alerts(&a, &store, &envelope).await {
        eprintln!("__outbox-feed: {e}");
        return ExitCode::from(EXIT_FAILURE);
    }
    while store.outbox_depth() > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    let result = match task.await {
        Ok(Ok(stats)) => Ok(stats),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(stats) => {
            eprintln!("__outbox-feed: done {stats:?}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("__outbox-feed: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// The store, MQTT and envelope settings of the hook: defaults plus the arguments, with a
/// fast reconnect so a test's broker restart is picked up at once.
fn settings(a: &FeedArgs) -> (StoreConfig, MqttConfig, Envelope) {
    let store_cfg = StoreConfig {
        data_dir: a.data_dir.clone(),
        ..StoreConfig::default()
    };
    let mut mqtt = MqttConfig {
        url: a.url.clone(),
        client_id: a.client_id.clone(),
        topic_prefix: a.prefix.clone(),
        inflight: a.inflight,
        ..MqttConfig::default()
    };
    mqtt.reconnect_min = crate::config::Duration::from_millis(50);
    mqtt.reconnect_max = crate::config::Duration::from_millis(500);
    let envelope = Envelope {
        site: "site".into(),
        line: "line".into(),
        topic_prefix: a.prefix.clone(),
        topics: mqtt.topics.clone(),
        max_message_bytes: usize::try_from(mqtt.max_message_bytes.get()).unwrap_or(usize::MAX),
    };
    (store_cfg, mqtt, envelope)
}

/// Append `count` synthetic alerts, one at a time, printing "id topic" of each as soon as
/// the store has it durably.
async fn append_alerts(
    a: &FeedArgs,
    store: &crate::store::Store,
    envelope: &Envelope,
) -> Result<(), crate::store::StoreError> {
    let mut stdout = std::io::stdout();
    for i in 0..a.count {
        let done = store.append(&[synthetic_alert(a, envelope, i)]).await?;
        for d in done {
            let _ = writeln!(stdout, "{} {}", d.id, d.topic);
        }
        let _ = stdout.flush();
        if a.interval_ms > 0 {
            tokio::time::sleep(Duration::from_millis(a.interval_ms)).await;
        }
    }
    Ok(())
}

/// Synthetic alert `i` of the run: kinds rotate through fat bloom, gritty and anomaly.
fn synthetic_alert(a: &FeedArgs, envelope: &Envelope, i: u64) -> Record {
    const KINDS: [AlertKind; 3] = [
        AlertKind::FatBloomRisk,
        AlertKind::Gritty,
        AlertKind::Anomaly,
    ];
    let now = TimestampMs::now();
    let kind = KINDS
        .get((i % 3) as usize)
        .copied()
        .unwrap_or(AlertKind::Anomaly);
    Record::Alert(Alert {
        id: format!("feed-{}-{i}", a.tag),
        kind,
        severity: Severity::Warning,
        state: AlertState::Raised,
        site: envelope.site.clone(),
        line: envelope.line.clone(),
        batch: BatchContext::default(),
        raised_at: now,
        ts: now,
        message: format!("synthetic alert {i} of run {}", a.tag),
        evidence: serde_json::json!({ "i": i }),
    })
}
