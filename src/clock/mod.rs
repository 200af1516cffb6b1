//! The agent's clock: wall time for payload timestamps, monotonic time for everything that
//! measures a duration, and a watch on the difference between the two.
//!
//! Controllers without an RTC boot on a stale wall clock that NTP steps minutes or years
//! later. [`Clock::check`] compares the wall time elapsed since the previous check with the
//! monotonic time elapsed: a disagreement beyond [`STEP_BOUND_MS`] is a *step*. It is
//! logged (`warn`), counted (`chocoline_clock_steps_total`), shown in the retained status
//! payload, and forward steps are remembered so that the store's age-based retention measures
//! the age of records stamped before a step on the monotonic clock (see
//! [`Clock::forward_skew_ms`]).
//!
//! Every reading of the wall clock in the agent goes through [`process`] (via
//! [`TimestampMs::now`]), so a step is seen at the next poll, store append or telemetry tick
//! (once a second). Tests install a [`ManualSource`] with [`Clock::set_source`] and step it.

mod source;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use serde::Serialize;

pub use source::{ClockSource, ManualSource, OffsetSource, SystemSource, TIMESYNCD_FLAG};

use crate::domain::TimestampMs;

/// Wall and monotonic elapsed times that differ by more than this are a step, in ms. NTP
/// slews at most 0.5 ms/s, so checks a second apart never come near it.
pub const STEP_BOUND_MS: i64 = 2_000;

/// Forward steps remembered for retention (the oldest are forgotten first).
const FORWARD_STEPS_KEPT: usize = 64;

/// One detected step of the wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClockStep {
    /// Size of the step in ms: positive when the wall clock jumped forward.
    pub delta_ms: i64,
    /// Where the wall clock would have been without the step.
    pub before: TimestampMs,
    /// The wall clock after the step.
    pub after: TimestampMs,
}

/// A wall-clock reading and whether the clock had been synchronised by then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The wall-clock time.
    pub ts: TimestampMs,
    /// False while the wall clock has not been synchronised since the agent started.
    pub synced: bool,
}

/// What the status payload and the metrics show of the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClockStatus {
    /// See [`Stamp::synced`].
    pub synced: bool,
    /// Steps detected since the agent started.
    pub steps: u64,
    /// The most recent step.
    pub last_step: Option<ClockStep>,
}

struct State {
    source: Arc<dyn ClockSource>,
    /// Wall and monotonic readings of the previous check.
    last: Option<(TimestampMs, Duration)>,
    steps: u64,
    last_step: Option<ClockStep>,
    forward: Vec<ClockStep>,
    ever_synced: bool,
}

impl State {
    /// Reading `source`, with no check and no step seen yet.
    fn fresh(source: Arc<dyn ClockSource>) -> State {
        State {
            source,
            last: None,
            steps: 0,
            last_step: None,
            forward: Vec::new(),
            ever_synced: false,
        }
    }
}

/// Wall + monotonic clock with step detection; see the module docs.
pub struct Clock {
    state: Mutex<State>,
}

/// The process's clock (the system's, until a test installs another source).
pub fn process() -> &'static Clock {
    static CLOCK: OnceLock<Clock> = OnceLock::new();
    CLOCK.get_or_init(|| Clock::new(Arc::new(SystemSource::new())))
}

impl Clock {
    /// A clock reading `source`.
    pub fn new(source: Arc<dyn ClockSource>) -> Self {
        Clock {
            state: Mutex::new(State::fresh(source)),
        }
    }

    /// Read `source` from now on; the step history is cleared (tests).
    pub fn set_source(&self, source: Arc<dyn ClockSource>) {
        *self.lock() = State::fresh(source);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The wall-clock time (after checking for a step).
    pub fn now(&self) -> TimestampMs {
        self.lock().check()
    }

    /// The wall-clock time and the sync state (after checking for a step).
    pub fn stamp(&self) -> Stamp {
        let mut st = self.lock();
        let ts = st.check();
        Stamp {
            ts,
            synced: st.synced(),
        }
    }

    /// The monotonic time since the clock's origin.
    pub fn mono(&self) -> Duration {
        self.lock().source.mono()
    }

    /// Compare the wall and monotonic clocks; the step, when one is found.
    pub fn check(&self) -> Option<ClockStep> {
        let mut st = self.lock();
        let before = st.steps;
        st.check();
        (st.steps != before).then_some(st.last_step).flatten()
    }

    /// Whether the wall clock has been synchronised (see [`Stamp::synced`]).
    pub fn synced(&self) -> bool {
        self.lock().synced()
    }

    /// Steps, last step and sync state.
    pub fn status(&self) -> ClockStatus {
        let mut st = self.lock();
        st.check();
        ClockStatus {
            synced: st.synced(),
            steps: st.steps,
            last_step: st.last_step,
        }
    }

    /// How far the wall clock has jumped forward since a record stamped `ts` was stamped:
    /// the sum of the forward steps detected after it. `ts + skew` is the time `ts` stands
    /// for on the current wall clock, so its age by the monotonic clock is `now − (ts +
    /// skew)`. Backward steps are not compensated: they only delay the expiry of the records
    /// stamped before them by the step's size.
    pub fn forward_skew_ms(&self, ts: TimestampMs) -> i64 {
        self.lock()
            .forward
            .iter()
            .filter(|s| ts <= s.before)
            .map(|s| s.delta_ms)
            .sum()
    }
}

/// Wait until the process clock is synchronised, at most `limit`; true when it is. Logs the
/// outcome when there was anything to wait for.
pub async fn wait_for_sync(limit: Duration) -> bool {
    wait_until_synced(process(), limit, Duration::from_millis(500)).await
}

/// [`wait_for_sync`] on `clock`, checking every `every`.
pub async fn wait_until_synced(clock: &Clock, limit: Duration, every: Duration) -> bool {
    if clock.synced() {
        return true;
    }
    if limit.is_zero() {
        return false;
    }
    tracing::info!(limit = ?limit, "waiting for the wall clock to be synchronised ([agent] wait_for_time_sync)");
    let synced = poll_synced(clock, limit, every).await;
    log_wait_end(synced, limit);
    synced
}

/// How the wait for a synchronised clock ended.
fn log_wait_end(synced: bool, limit: Duration) {
    if synced {
        tracing::info!("wall clock synchronised");
        return;
    }
    tracing::warn!(limit = ?limit,
        "wall clock still not synchronised; starting anyway, records carry clock_synced: false");
}

/// Check `clock` every `every` for up to `limit`; true as soon as it is synchronised.
async fn poll_synced(clock: &Clock, limit: Duration, every: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(every).await;
        if clock.synced() {
            return true;
        }
    }
    false
}

impl State {
    /// Read the wall clock, detect a step since the previous read; returns the wall time.
    fn check(&mut self) -> TimestampMs {
        let wall = self.source.wall();
        let mono = self.source.mono();
        if let Some((last_wall, last_mono)) = self.last {
            let mono_ms =
                i64::try_from(mono.saturating_sub(last_mono).as_millis()).unwrap_or(i64::MAX);
            let expected = TimestampMs(last_wall.0.saturating_add(mono_ms));
            let delta_ms = wall.0.saturating_sub(expected.0);
            if delta_ms.abs() > STEP_BOUND_MS {
                self.record(ClockStep {
                    delta_ms,
                    before: expected,
                    after: wall,
                });
            }
        }
        self.last = Some((wall, mono));
        wall
    }

    fn record(&mut self, step: ClockStep) {
        self.steps += 1;
        self.last_step = Some(step);
        tracing::warn!(
            step_ms = step.delta_ms,
            from = %step.before,
            to = %step.after,
            steps = self.steps,
            "wall clock stepped; durations keep running on the monotonic clock"
        );
        if step.delta_ms > 0 {
            if self.forward.len() == FORWARD_STEPS_KEPT {
                self.forward.remove(0);
            }
            self.forward.push(step);
        }
    }

    /// True once the source has said synchronised (or cannot tell).
    fn synced(&mut self) -> bool {
        if !self.ever_synced && self.source.synced().unwrap_or(true) {
            self.ever_synced = true;
        }
        self.ever_synced
    }
}
