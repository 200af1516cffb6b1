//! `chocoline demo`: the whole system on one machine, in one command, with no hardware, no
//! network beyond loopback and no setup. It starts
//!
//! 1. the line simulator as a Modbus TCP server (time-compressed ×[`SPEED`], rotating through
//!    fault scenarios: see [`rotation`]),
//! 2. an embedded MQTT broker (rumqttd; cargo feature `embedded-broker`),
//! 3. the full agent ([`crate::pipeline::agent`]) with the committed models and a temporary
//!    data directory, configured from `config/demo.toml` (compiled in) with faster polls,
//! 4. a control-room view ([`view`]) that subscribes to the broker and prints what arrives.
//!
//! With `--sparkplug` the agent is also a Sparkplug B edge node (group [`SPARKPLUG_GROUP`],
//! edge node = the line) and the view decodes its births, data and death
//! ([`sparkplug_view`]).
//!
//! Ports: 5020 (Modbus), 1883 (MQTT) and 9898 (metrics) when free, else free loopback ports.
//! Ctrl-C (or `--duration`) stops the agent in order; its `offline` status still reaches
//! the view.

pub mod rotation;
pub mod sparkplug_view;
pub mod view;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::config::LogFormat;
use crate::domain::TimestampMs;
use crate::pipeline::agent::{self, Supervision};
use crate::simulate::server::{RegisterMap, SimService, drive, serve_tcp};
use crate::simulate::{FaultPlan, Scenario};
use rotation::{Phase, Rotation};

/// Simulated seconds per wall-clock second.
pub const SPEED: f64 = 30.0;
/// How often the simulator advances (wall time).
const TICK: Duration = Duration::from_millis(100);
/// The configuration the demo adapts.
const DEMO_TOML: &str = include_str!("../../config/demo.toml");
/// The Sparkplug `group_id` of `--sparkplug` (the edge node is `[agent] line`).
pub const SPARKPLUG_GROUP: &str = "demo";

/// Arguments of `chocoline demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Show only this scenario, repeatedly (default: rotate through fat-bloom, sugar-bloom,
    /// gritty, sensor-dropout).
    #[arg(long)]
    pub scenario: Option<Scenario>,
    /// Stop after this long (e.g. "120s"); default: until Ctrl-C.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Print every message the control room receives as one JSON line (for scripts and tests).
    #[arg(long)]
    pub headless: bool,
    /// Run the agent as a Sparkplug B edge node too (group "demo", edge node = the line) and
    /// show its births, data and death as a host subscribed to `spBv1.0/#` receives them.
    #[arg(long)]
    pub sparkplug: bool,
    /// Simulator seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Folder of the exported models (default: the repository's `models/`).
    #[arg(long)]
    pub models: Option<PathBuf>,
}

/// The phase plan in simulated time: 15 s of normal running, a 40 s fault, 25 s of recovery
/// (wall clock).
pub fn phase() -> Phase {
    let sim = |wall_s: f64| Duration::from_secs_f64(wall_s * SPEED);
    Phase {
        plan: FaultPlan {
            warmup: sim(15.0),
            duration: sim(40.0),
            every: None,
        },
        recovery: sim(25.0),
    }
}

/// `preferred` on loopback if it can be bound now, else a free port.
fn port(preferred: u16) -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind(("127.0.0.1", preferred))
        .or_else(|_| std::net::TcpListener::bind(("127.0.0.1", 0)))?;
    Ok(l.local_addr()?.port())
}

/// The checkout's `models/` when the binary runs where it was built, else `models` in the
/// working directory.
fn default_models() -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    if repo.join("bloom").exists() {
        repo
    } else {
        PathBuf::from("models")
    }
}

/// `[sparkplug]` for `--sparkplug`: the edge node's id defaults to `[agent] line`.
fn sparkplug_section() -> String {
    format!("\n[sparkplug]\nenabled = true\ngroup_id = {SPARKPLUG_GROUP:?}\n")
}

/// `config/demo.toml` pointed at the demo's ports, models and data dir, with polls fast
/// enough for the time-compressed line (a 300-sample window is 30 s at 100 ms).
fn demo_config(modbus: u16, mqtt: u16, metrics: u16, models: &str, data: &str) -> String {
    DEMO_TOML
        .replace("tcp://127.0.0.1:5020", &format!("tcp://127.0.0.1:{modbus}"))
        .replace("mqtt://127.0.0.1:1883", &format!("mqtt://127.0.0.1:{mqtt}"))
        .replace("127.0.0.1:9898", &format!("127.0.0.1:{metrics}"))
        .replace("dir = \"../models\"", &format!("dir = {models:?}"))
        .replace("\"/tmp/chocoline-demo\"", &format!("{data:?}"))
        .replace("poll_interval = \"1s\"", "poll_interval = \"100ms\"")
        .replace("poll_interval = \"2s\"", "poll_interval = \"500ms\"")
        .replace("timeout = \"400ms\"", "timeout = \"80ms\"")
        .replace("timeout = \"500ms\"", "timeout = \"80ms\"")
        .replace("timeout = \"1s\"", "timeout = \"300ms\"")
        // rumqttd logs a client that disconnects abruptly (the agent at shutdown) as an
        // ERROR; the demo's broker is an implementation detail, its own failures still show
        // (logged under chocoline::broker).
        .replace("level = \"info\"", "level = \"warn,rumqttd=off\"")
}

/// Run the demo; returns the process exit code.
pub fn run(args: &DemoArgs, log_format: Option<LogFormat>) -> ExitCode {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        eprintln!("chocoline demo: {what}: {e}");
        ExitCode::from(EXIT_FAILURE)
    };
    let ports = (|| Ok::<_, std::io::Error>((port(5020)?, port(1883)?, port(9898)?)))();
    let (modbus, mqtt, metrics) = match ports {
        Ok(p) => p,
        Err(e) => return fail("no free loopback port", &e),
    };
    let data = std::env::temp_dir().join(format!("chocoline-demo-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&data) {
        return fail("cannot create the data dir", &e);
    }
    // The generated config lives in the temporary data dir, and the loader resolves a
    // relative `[models] dir` against the config's directory: make it absolute against the
    // working directory first, which is what whoever typed it meant.
    let models = args.models.clone().unwrap_or_else(default_models);
    let models = std::path::absolute(&models).unwrap_or(models);
    let mut text = demo_config(
        modbus,
        mqtt,
        metrics,
        &models.display().to_string(),
        &data.join("store").display().to_string(),
    );
    if args.sparkplug {
        text.push_str(&sparkplug_section());
    }
    let path = data.join("chocoline.toml");
    if let Err(e) = std::fs::write(&path, text) {
        return fail("cannot write the demo config", &e);
    }
    let plan = match crate::config::load(&path) {
        Ok(p) => p,
        Err(errors) => {
            eprintln!("chocoline demo: the generated configuration is invalid:\n{errors}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    if let Err(e) = crate::logging::init(&plan.config.log, log_format) {
        return fail("logging", &e);
    }
    let code = demo(args, &plan.config, (modbus, mqtt, metrics));
    let _ = std::fs::remove_dir_all(&data);
    code
}

fn start_broker(port: u16) -> Result<(), String> {
    #[cfg(feature = "embedded-broker")]
    {
        crate::broker::spawn(port).map_err(|e| e.to_string())
    }
    #[cfg(not(feature = "embedded-broker"))]
    {
        let _ = port;
        Err("this build has no embedded broker (cargo feature `embedded-broker`)".into())
    }
}

fn demo(args: &DemoArgs, cfg: &crate::config::Config, ports: (u16, u16, u16)) -> ExitCode {
    match try_demo(args, cfg, ports) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("chocoline demo: {message}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// The broker, the simulated line and a runtime, then the demo itself.
fn try_demo(
    args: &DemoArgs,
    cfg: &crate::config::Config,
    ports: (u16, u16, u16),
) -> Result<(), String> {
    start_broker(ports.1)?;
    let map = RegisterMap::from_devices(&cfg.devices, &cfg.features.signal_map)
        .map_err(|e| format!("register map: {e}"))?;
    let order = match args.scenario {
        Some(s) => vec![s],
        None => rotation::ORDER.to_vec(),
    };
    let names: Vec<&str> = order.iter().map(|s| s.name()).collect();
    let line = Rotation::new(order, args.seed, phase(), TimestampMs::now());
    let service = SimService::new(map, line);
    let rt =
        tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(run_demo(args, cfg, ports, service, &names.join(" → ")))
}

/// Serve the simulated line over Modbus, show what a subscriber sees, run the agent until
/// Ctrl-C or `--duration`, then stop the view and the simulator.
async fn run_demo(
    args: &DemoArgs,
    cfg: &crate::config::Config,
    (modbus, mqtt, metrics): (u16, u16, u16),
    service: SimService,
    scenarios: &str,
) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", modbus))
        .await
        .map_err(|e| format!("Modbus simulator cannot listen on {modbus}: {e}"))?;
    let sim_stop = CancellationToken::new();
    tokio::spawn(drive(service.clone(), TICK, SPEED, sim_stop.clone()));
    tokio::spawn(serve_tcp(listener, service, sim_stop.clone()));
    let prefix = cfg.mqtt.topic_prefix.clone();
    let view_stop = CancellationToken::new();
    let (sub_tx, sub_rx) = tokio::sync::oneshot::channel();
    let opts = view::ViewOptions {
        prefix: prefix.clone(),
        headless: args.headless,
        sparkplug: args.sparkplug,
    };
    let view = tokio::spawn(view::run(mqtt, opts, view_stop.clone(), sub_tx));
    let _ = tokio::time::timeout(Duration::from_secs(10), sub_rx).await;
    if !args.headless {
        let sp = &cfg.sparkplug;
        let also = if sp.enabled {
            let node = sp.edge_node_id.as_deref().unwrap_or(&cfg.agent.line);
            format!(
                " and spBv1.0/# (Sparkplug B edge node {}/{node})",
                sp.group_id
            )
        } else {
            String::new()
        };
        println!(
            "chocoline demo: line simulator on modbus tcp://127.0.0.1:{modbus} (×{SPEED} time, scenarios: {scenarios}),\n\
             MQTT broker on 127.0.0.1:{mqtt}, metrics on http://127.0.0.1:{metrics}/metrics.\n\
             Each scenario: ~15 s normal running, a 40 s fault, 25 s recovery. What follows is what a\n\
             control-room subscriber to {prefix}/#{also} receives. Ctrl-C stops.\n"
        );
    }
    let result = run_agent(args, cfg).await;
    // Give the view a moment to receive the `offline` status.
    tokio::time::sleep(Duration::from_millis(500)).await;
    view_stop.cancel();
    let _ = view.await;
    sim_stop.cancel();
    result
}

/// Run the agent until Ctrl-C, the end of `--duration`, or its own end.
async fn run_agent(args: &DemoArgs, cfg: &crate::config::Config) -> Result<(), String> {
    let shutdown = CancellationToken::new();
    let mut agent_task = {
        let cfg = cfg.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move { agent::run(&cfg, Supervision::none(), None, shutdown).await })
    };
    let until = async {
        match args.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let early = tokio::select! {
        _ = tokio::signal::ctrl_c() => None,
        () = until => None,
        r = &mut agent_task => Some(r),
    };
    let result = match early {
        Some(r) => r,
        None => {
            shutdown.cancel();
            agent_task.await
        }
    };
    match result {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("agent: {e}")),
        Err(e) => Err(format!("agent task: {e}")),
    }
}
