//! The Rust side of tests/interop/sparkplug_host.py, a Sparkplug B host made of pysparkplug's
//! own `Client` (used by tests/sparkplug_interop.rs): which Python runs it, the process, the
//! JSON lines it prints (one per message pysparkplug decoded) and its stdin for commands.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use super::agent::{Lines, collect};

/// The Python that imports pysparkplug and paho-mqtt (`CHOCOLINE_PYTHON`, default `python3`,
/// the one `.ci/run` installs tests/interop/requirements.txt into). None, after printing
/// SKIPPED, when it cannot and interop is not mandatory; a panic saying how to install them
/// under `CHOCOLINE_INTEROP=1`.
pub fn python(test: &str) -> Option<String> {
    let python = std::env::var("CHOCOLINE_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import pysparkplug, paho.mqtt"])
        .output();
    if probe.is_ok_and(|o| o.status.success()) {
        return Some(python);
    }
    assert!(
        !super::interop(),
        "CHOCOLINE_INTEROP=1 but {python} cannot import pysparkplug and paho-mqtt \
         ({python} -m pip install -r tests/interop/requirements.txt, or point CHOCOLINE_PYTHON \
         at a Python that has them)"
    );
    eprintln!(
        "SKIPPED: {test}: pysparkplug not importable by {python} (set CHOCOLINE_INTEROP=1 to make it mandatory)"
    );
    None
}

/// A child process killed when dropped: a failing assertion leaves no agent or host behind.
pub struct Reap(pub Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The running host. Its stderr is the test's (a Python traceback shows in the output).
pub struct Host {
    child: Reap,
    stdin: Option<ChildStdin>,
    lines: Arc<Mutex<Vec<Json>>>,
}

impl Host {
    /// Start the host for `group`/`edge_node` on the broker at 127.0.0.1:`port`; returns once
    /// it printed "ready" (its subscription to `spBv1.0/{group}/#` is live).
    pub async fn start(python: &str, port: u16, group: &str, edge_node: &str) -> Host {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/sparkplug_host.py"
        );
        let mut child = Command::new(python)
            .args(["-u", script, &port.to_string(), group, edge_node])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the pysparkplug host");
        let lines = Arc::<Mutex<Vec<Json>>>::default();
        let (out, sink) = (child.stdout.take().unwrap(), lines.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let v = serde_json::from_str(&line).unwrap_or(Json::String(line));
                sink.lock().unwrap().push(v);
            }
        });
        let host = Host {
            stdin: child.stdin.take(),
            child: Reap(child),
            lines,
        };
        let ready = || host.events("ready").len() == 1;
        host.wait(&Lines::default(), "the host's ready line", |_| ready())
            .await;
        host
    }

    /// Send a command (a line on the host's stdin: `rebirth`, `unknown`).
    pub fn send(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}")
            .and_then(|()| stdin.flush())
            .unwrap();
    }

    /// The lines printed so far whose `event` is `event` (`message`, `error`, `sent`).
    pub fn events(&self, event: &str) -> Vec<Json> {
        let lines = self.lines.lock().unwrap();
        (lines.iter().filter(|l| l["event"] == event))
            .cloned()
            .collect()
    }

    /// The messages received so far, in arrival order.
    pub fn messages(&self) -> Vec<Json> {
        self.events("message")
    }

    /// Wait (up to 30 s) until `pred` holds for the messages; on timeout, panic with what the
    /// host saw, its decode errors and the agent's log.
    pub async fn wait(&self, agent_log: &Lines, what: &str, pred: impl Fn(&[Json]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if pred(&self.messages()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let seen: Vec<String> = (self.messages().iter())
            .map(|m| format!("{} {}", m["type"], m["device"]).replace('"', ""))
            .collect();
        panic!(
            "timed out waiting for {what}; the host saw {seen:?}\ndecode errors: {:?}\nagent log:\n{}",
            self.events("error"),
            collect(agent_log).join("\n")
        );
    }

    /// Close stdin: the host disconnects and exits (killed if it has not within 5 s).
    pub fn finish(mut self) {
        self.stdin = None;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.0.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
