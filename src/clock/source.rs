//! Where the clock's readings come from: the system ([`SystemSource`]) or a test's hand
//! ([`ManualSource`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crate::domain::TimestampMs;

/// A wall clock, a monotonic clock and the synchronisation state of the wall clock.
pub trait ClockSource: Send + Sync {
    /// The wall-clock time (what payloads are stamped with).
    fn wall(&self) -> TimestampMs;
    /// Monotonic time since an arbitrary origin; never steps.
    fn mono(&self) -> Duration;
    /// Whether the wall clock is synchronised: `Some(true)` / `Some(false)` when the system
    /// says so, `None` when it cannot tell (treated as synchronised).
    fn synced(&self) -> Option<bool>;
}

/// The file systemd-timesyncd creates once it has synchronised the clock.
pub const TIMESYNCD_FLAG: &str = "/run/systemd/timesync/synchronized";

/// The system's clocks: `SystemTime` / `Instant`; the sync state from the kernel's NTP state
/// (`adjtimex`, `STA_UNSYNC`), or, where the sandbox refuses `adjtimex` (the unit's
/// `ProtectClock=yes`), from systemd-timesyncd's flag file.
#[derive(Debug)]
pub struct SystemSource {
    origin: Instant,
    flag: PathBuf,
}

impl SystemSource {
    /// The system's clocks, timesyncd's flag at its standard path.
    pub fn new() -> Self {
        SystemSource::with_flag(Path::new(TIMESYNCD_FLAG))
    }

    /// The system's clocks with another timesyncd flag file (tests).
    pub fn with_flag(flag: &Path) -> Self {
        SystemSource {
            origin: Instant::now(),
            flag: flag.to_path_buf(),
        }
    }
}

impl Default for SystemSource {
    fn default() -> Self {
        SystemSource::new()
    }
}

impl ClockSource for SystemSource {
    fn wall(&self) -> TimestampMs {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        TimestampMs(i64::try_from(now.as_millis()).unwrap_or(i64::MAX))
    }

    fn mono(&self) -> Duration {
        self.origin.elapsed()
    }

    fn synced(&self) -> Option<bool> {
        kernel_synced().or_else(|| flag_synced(&self.flag))
    }
}

/// The kernel's view: `Some(false)` while `STA_UNSYNC` is set; None when `adjtimex` is refused.
#[cfg(target_os = "linux")]
fn kernel_synced() -> Option<bool> {
    // SAFETY: `timex` is plain data; with `modes = 0` adjtimex only reads the kernel state
    // into the struct it is given.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: `tx` is a valid, exclusively borrowed timex.
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return None;
    }
    Some(tx.status & libc::STA_UNSYNC == 0 && state != libc::TIME_ERROR)
}

#[cfg(not(target_os = "linux"))]
fn kernel_synced() -> Option<bool> {
    None
}

/// timesyncd's flag: synchronised when it exists; unknown when timesyncd is not running.
fn flag_synced(flag: &Path) -> Option<bool> {
    if flag.exists() {
        return Some(true);
    }
    let timesyncd_runs = flag.parent().is_some_and(Path::exists);
    timesyncd_runs.then_some(false)
}

/// A clock a test moves by hand: the wall clock can be stepped without the monotonic clock
/// moving, as NTP does.
#[derive(Debug)]
pub struct ManualSource {
    wall_ms: AtomicI64,
    mono_ms: AtomicI64,
    synced: AtomicU8,
}

impl ManualSource {
    /// Wall clock at `wall`, monotonic clock at zero, synchronisation unknown.
    pub fn new(wall: TimestampMs) -> Self {
        ManualSource {
            wall_ms: AtomicI64::new(wall.0),
            mono_ms: AtomicI64::new(0),
            synced: AtomicU8::new(2),
        }
    }

    /// Both clocks advance by `d` (time passes).
    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.wall_ms.fetch_add(ms, Ordering::SeqCst);
        self.mono_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// The wall clock jumps by `delta_ms` (negative: back); the monotonic clock does not.
    pub fn step(&self, delta_ms: i64) {
        self.wall_ms.fetch_add(delta_ms, Ordering::SeqCst);
    }

    /// Set what [`ClockSource::synced`] answers.
    pub fn set_synced(&self, synced: Option<bool>) {
        let v = match synced {
            Some(false) => 0,
            Some(true) => 1,
            None => 2,
        };
        self.synced.store(v, Ordering::SeqCst);
    }
}

impl ClockSource for ManualSource {
    fn wall(&self) -> TimestampMs {
        TimestampMs(self.wall_ms.load(Ordering::SeqCst))
    }

    fn mono(&self) -> Duration {
        let ms = self.mono_ms.load(Ordering::SeqCst).max(0);
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }

    fn synced(&self) -> Option<bool> {
        match self.synced.load(Ordering::SeqCst) {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

/// The system's clocks with a wall-clock offset a test can step while the real agent runs.
#[derive(Debug, Default)]
pub struct OffsetSource {
    system: SystemSource,
    offset_ms: AtomicI64,
}

impl OffsetSource {
    /// The system's clocks, no offset yet.
    pub fn new() -> Self {
        OffsetSource::default()
    }

    /// The wall clock jumps by `delta_ms` (negative: back); the monotonic clock does not.
    pub fn step(&self, delta_ms: i64) {
        self.offset_ms.fetch_add(delta_ms, Ordering::SeqCst);
    }
}

impl ClockSource for OffsetSource {
    fn wall(&self) -> TimestampMs {
        let w = self.system.wall();
        TimestampMs(w.0.saturating_add(self.offset_ms.load(Ordering::SeqCst)))
    }

    fn mono(&self) -> Duration {
        self.system.mono()
    }

    fn synced(&self) -> Option<bool> {
        self.system.synced()
    }
}

/// [`flag_synced`] for the unit tests.
#[cfg(test)]
pub(super) fn flag_synced_for_tests(flag: &Path) -> Option<bool> {
    flag_synced(flag)
}
