use std::sync::Arc;
use std::time::Duration;

use super::*;

const YEAR_MS: i64 = 365 * 24 * 3_600_000;
const HOUR_MS: i64 = 3_600_000;

fn manual() -> (Arc<ManualSource>, Clock) {
    let src = Arc::new(ManualSource::new(TimestampMs(1_700_000_000_000)));
    let clock = Clock::new(src.clone());
    (src, clock)
}

#[test]
fn steady_time_is_no_step() {
    let (src, clock) = manual();
    for _ in 0..100 {
        src.advance(Duration::from_secs(1));
        assert_eq!(clock.check(), None);
    }
    // A slow slew below the bound is not a step either.
    src.step(STEP_BOUND_MS - 1);
    assert_eq!(clock.check(), None);
    assert_eq!(clock.status().steps, 0);
}

#[test]
fn forward_and_backward_steps_are_detected_and_counted() {
    let (src, clock) = manual();
    clock.check();
    src.advance(Duration::from_secs(1));
    let t0 = clock.now();
    src.advance(Duration::from_secs(1));
    src.step(YEAR_MS);
    let step = clock.check().expect("forward step");
    assert_eq!(step.delta_ms, YEAR_MS);
    assert_eq!(step.before.0, t0.0 + 1_000);
    src.advance(Duration::from_secs(1));
    src.step(-HOUR_MS);
    let step = clock.check().expect("backward step");
    assert_eq!(step.delta_ms, -HOUR_MS);
    let status = clock.status();
    assert_eq!(status.steps, 2);
    assert_eq!(status.last_step, Some(step));
}

#[test]
fn forward_skew_applies_to_what_was_stamped_before_the_step() {
    let (src, clock) = manual();
    let old = clock.now();
    src.advance(Duration::from_secs(10));
    src.step(YEAR_MS);
    let new = clock.now();
    assert_eq!(clock.forward_skew_ms(old), YEAR_MS);
    assert_eq!(clock.forward_skew_ms(new), 0);
    // A backward step is not compensated.
    src.advance(Duration::from_secs(10));
    src.step(-HOUR_MS);
    let later = clock.now();
    assert_eq!(clock.forward_skew_ms(later), 0);
    assert_eq!(clock.forward_skew_ms(old), YEAR_MS);
}

#[test]
fn synced_latches_at_the_first_sync() {
    let (src, clock) = manual();
    src.set_synced(Some(false));
    assert!(!clock.stamp().synced);
    src.set_synced(Some(true));
    assert!(clock.stamp().synced);
    // Losing the NTP server later does not make the clock wrong again.
    src.set_synced(Some(false));
    assert!(clock.stamp().synced);
}

#[test]
fn unknown_sync_state_counts_as_synced() {
    let (src, clock) = manual();
    src.set_synced(None);
    assert!(clock.synced());
}

#[test]
fn timesyncd_flag_decides_when_adjtimex_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flag = dir.path().join("timesync").join("synchronized");
    assert_eq!(source::flag_synced_for_tests(&flag), None);
    std::fs::create_dir(dir.path().join("timesync")).expect("mkdir");
    assert_eq!(source::flag_synced_for_tests(&flag), Some(false));
    std::fs::write(&flag, b"").expect("flag");
    assert_eq!(source::flag_synced_for_tests(&flag), Some(true));
}

#[test]
fn system_source_reads_the_system_clocks() {
    let src = SystemSource::new();
    let a = src.mono();
    assert!(src.wall().0 > 1_600_000_000_000);
    assert!(src.mono() >= a);
    // Whatever the machine's state, the answer is a value and no panic.
    let _ = src.synced();
}

#[tokio::test]
async fn waiting_for_sync_ends_at_the_sync_or_at_the_limit() {
    let (src, clock) = manual();
    src.set_synced(Some(false));
    let ms = Duration::from_millis;
    assert!(!wait_until_synced(&clock, Duration::ZERO, ms(1)).await);
    assert!(!wait_until_synced(&clock, ms(30), ms(5)).await);
    let later = src.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        later.set_synced(Some(true));
    });
    assert!(wait_until_synced(&clock, Duration::from_secs(10), ms(5)).await);
}
