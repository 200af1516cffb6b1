//! Health: systemd readiness and a watchdog driven by pipeline progress, not by a bare timer.
//!
//! Each stage owns a [`Heartbeat`]. While it works on an item it holds a [`Busy`] guard; a
//! source stage also [`Heartbeat::beat`]s once per cycle. [`Liveness::check`] calls a stage
//! stuck when it has been busy on one item for longer than its stall limit, or when a stage that
//! promised a beat every so often has gone quiet. The watchdog task pings systemd
//! (`WATCHDOG=1`) only while nothing is stuck, so a wedged stage gets the agent restarted
//! instead of silently stopping the line's alerts.
//!
//! The notify protocol is a datagram to `$NOTIFY_SOCKET`; it is implemented here in a few
//! lines so that tests can point it at their own socket.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// Milliseconds since the first use of this module's clock (monotonic).
fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// "Not busy" marker in [`Heartbeat::busy_since`].
const IDLE: u64 = u64::MAX;

/// Progress record of one stage.
#[derive(Debug)]
pub struct Heartbeat {
    name: &'static str,
    /// Longest time one item may take.
    stall_after: Duration,
    /// If set, the stage must beat at least this often (source stages).
    beat_every: Option<Duration>,
    busy_since: AtomicU64,
    last_beat: AtomicU64,
}

/// Held while a stage works on one item; clears the busy mark on drop (also on early return).
#[derive(Debug)]
pub struct Busy<'a>(&'a Heartbeat);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy_since.store(IDLE, Ordering::Relaxed);
        self.0.last_beat.store(now_ms(), Ordering::Relaxed);
    }
}

impl Heartbeat {
    /// Mark the start of work on one item.
    pub fn busy(&self) -> Busy<'_> {
        self.busy_since.store(now_ms(), Ordering::Relaxed);
        Busy(self)
    }

    /// Record progress (a source stage calls this once per cycle).
    pub fn beat(&self) {
        self.last_beat.store(now_ms(), Ordering::Relaxed);
    }

    /// Stage name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn problem(&self, now: u64) -> Option<String> {
        let since = self.busy_since.load(Ordering::Relaxed);
        if since != IDLE {
            let busy = Duration::from_millis(now.saturating_sub(since));
            if busy > self.stall_after {
                return Some(format!(
                    "{}: busy on one item for {}",
                    self.name,
                    humantime::format_duration(trunc_ms(busy))
                ));
            }
        }
        if let Some(every) = self.beat_every {
            let quiet =
                Duration::from_millis(now.saturating_sub(self.last_beat.load(Ordering::Relaxed)));
            if quiet > every {
                return Some(format!(
                    "{}: no progress for {} (expected every {})",
                    self.name,
                    humantime::format_duration(trunc_ms(quiet)),
                    humantime::format_duration(every)
                ));
            }
        }
        None
    }
}

fn trunc_ms(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The heartbeats of every stage.
#[derive(Debug, Clone, Default)]
pub struct Liveness {
    stages: Arc<std::sync::Mutex<Vec<Arc<Heartbeat>>>>,
}

impl Liveness {
    /// No stages yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register a stage. `stall_after`: longest acceptable time on one item; `beat_every`: for
    /// stages that must show progress on their own (sources), the longest quiet period.
    pub fn register(
        &self,
        name: &'static str,
        stall_after: Duration,
        beat_every: Option<Duration>,
    ) -> Arc<Heartbeat> {
        let hb = Arc::new(Heartbeat {
            name,
            stall_after,
            beat_every,
            busy_since: AtomicU64::new(IDLE),
            last_beat: AtomicU64::new(now_ms()),
        });
        if let Ok(mut stages) = self.stages.lock() {
            stages.push(hb.clone());
        }
        hb
    }

    /// One line per stuck stage; empty when the pipeline is making progress.
    pub fn check(&self) -> Vec<String> {
        let now = now_ms();
        match self.stages.lock() {
            Ok(stages) => stages.iter().filter_map(|s| s.problem(now)).collect(),
            Err(_) => vec!["liveness registry poisoned".into()],
        }
    }
}

/// Sends sd_notify datagrams. A no-op when the agent does not run under systemd.
#[derive(Debug, Clone)]
pub struct Notifier {
    socket: Option<PathBuf>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET` (absent → no-op).
    pub fn from_env() -> Self {
        Notifier {
            socket: std::env::var_os("NOTIFY_SOCKET").map(PathBuf::from),
        }
    }

    /// To an explicit socket path (tests), or nowhere.
    pub fn new(socket: Option<PathBuf>) -> Self {
        Notifier { socket }
    }

    /// Whether there is a socket to talk to.
    pub fn enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// Send one state string such as `"READY=1"`, `"WATCHDOG=1"`, `"STOPPING=1"`,
    /// `"STATUS=..."`.
    pub fn notify(&self, state: &str) -> std::io::Result<()> {
        let Some(path) = &self.socket else {
            return Ok(());
        };
        let sock = UnixDatagram::unbound()?;
        let bytes = path.as_os_str().as_encoded_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            // Abstract namespace socket (systemd uses these in containers).
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(state.as_bytes(), &addr)?;
        } else {
            sock.send_to(state.as_bytes(), path)?;
        }
        Ok(())
    }
}

/// The watchdog period systemd asked for (`$WATCHDOG_USEC`, honouring `$WATCHDOG_PID`).
pub fn watchdog_period_from_env() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok()? != std::process::id()
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Ping the watchdog every `period / 3` while `liveness` reports no stuck stage; when a stage
/// is stuck, log why and withhold the ping so that systemd restarts the agent.
pub async fn watchdog(
    notifier: Notifier,
    period: Duration,
    liveness: Liveness,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(period / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        ping_if_alive(&notifier, &liveness);
    }
}

/// One watchdog round: ping if no stage is stuck, otherwise log why and withhold the ping.
fn ping_if_alive(notifier: &Notifier, liveness: &Liveness) {
    let problems = liveness.check();
    if !problems.is_empty() {
        tracing::error!(problems = ?problems, "pipeline stuck; withholding watchdog ping");
        return;
    }
    if let Err(e) = notifier.notify("WATCHDOG=1") {
        tracing::warn!(error = %e, "watchdog notify failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_systemd() -> (tempfile::TempDir, UnixDatagram, Notifier) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        (dir, server, Notifier::new(Some(path)))
    }

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn notify_sends_datagrams() {
        let (_dir, server, n) = fake_systemd();
        n.notify("READY=1").unwrap();
        assert_eq!(recv(&server), "READY=1");
    }

    #[test]
    fn disabled_notifier_is_a_no_op() {
        assert!(Notifier::new(None).notify("READY=1").is_ok());
    }

    #[test]
    fn busy_too_long_is_stuck_and_clears_on_drop() {
        let l = Liveness::new();
        let hb = l.register("infer", Duration::from_millis(20), None);
        assert!(l.check().is_empty());
        let guard = hb.busy();
        std::thread::sleep(Duration::from_millis(60));
        let problems = l.check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("infer: busy"), "{problems:?}");
        drop(guard);
        assert!(l.check().is_empty());
    }

    #[test]
    fn quiet_source_is_stuck_until_it_beats() {
        let l = Liveness::new();
        let hb = l.register(
            "acquire",
            Duration::from_secs(10),
            Some(Duration::from_millis(20)),
        );
        std::thread::sleep(Duration::from_millis(60));
        assert!(l.check()[0].contains("no progress"));
        hb.beat();
        assert!(l.check().is_empty());
    }

    // Multi-threaded: the fake systemd socket is read with blocking calls.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn watchdog_pings_only_while_live() {
        let (_dir, server, n) = fake_systemd();
        let l = Liveness::new();
        let hb = l.register("alert", Duration::from_millis(30), None);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(watchdog(n, Duration::from_millis(60), l, shutdown.clone()));
        assert_eq!(recv(&server), "WATCHDOG=1");
        // Wedge the stage: pings must stop.
        let guard = hb.busy();
        tokio::time::sleep(Duration::from_millis(80)).await;
        // Drain pings sent before the stall was visible, then expect silence.
        server.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 64];
        while server.recv(&mut buf).is_ok() {}
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(
            server.recv(&mut buf).is_err(),
            "watchdog pinged while a stage was stuck"
        );
        drop(guard);
        server.set_nonblocking(false).unwrap();
        assert_eq!(recv(&server), "WATCHDOG=1");
        shutdown.cancel();
        task.await.unwrap();
    }
}
