//! `[capture]`: segments small enough that rotation and pruning keep the folder near
//! `max_bytes`, and an age limit that keeps something.

use super::super::Config;
use super::super::keypath::KeyPath;
use super::super::structure::Problem;
use super::push;

/// Smallest `segment_bytes`: below it a segment holds a few seconds of a line.
const MIN_SEGMENT: u64 = 64 * 1024;

pub(super) fn capture(cfg: &Config, out: &mut Vec<Problem>) {
    let c = &cfg.capture;
    let p = KeyPath::root().key("capture");
    let (seg, max) = (c.segment_bytes.get(), c.max_bytes.get());
    if seg < MIN_SEGMENT || seg > max / 4 {
        push(
            out,
            p.key("segment_bytes"),
            format!(
                "must be between 64KiB and max_bytes / 4 ({} bytes) so that pruning whole \
                 segments keeps the folder near max_bytes",
                max / 4
            ),
        );
    }
    if c.max_age.get() < std::time::Duration::from_secs(3600) {
        push(out, p.key("max_age"), "must be at least 1h");
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_one, run};
    use super::*;
    use crate::config::testing::valid;
    use crate::config::{ByteSize, Duration};

    #[test]
    fn segments_fit_the_budget_and_age_keeps_something() {
        let mut c = valid();
        c.capture.enabled = true;
        assert!(run(capture, &c).is_empty());
        c.capture.segment_bytes = ByteSize(1000);
        assert_one(&run(capture, &c), "capture.segment_bytes", "64KiB");
        let mut c = valid();
        c.capture.max_bytes = ByteSize::mib(16);
        assert_one(&run(capture, &c), "capture.segment_bytes", "max_bytes / 4");
        let mut c = valid();
        c.capture.max_age = Duration::from_secs(60);
        assert_one(&run(capture, &c), "capture.max_age", "1h");
    }
}
