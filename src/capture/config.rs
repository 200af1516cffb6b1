//! `[capture]`: the line's own data kept for retraining (docs/capture.md). A config section
//! at the capture module: the config module assembles it, the pipeline reads it.

use serde::{Deserialize, Serialize};

use crate::settings::units::{ByteSize, Duration};

/// `[capture]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureConfig {
    /// Keep every poll cycle and every closed batch in `<data_dir>/capture/`. Default false.
    #[serde(default)]
    pub enabled: bool,
    /// Most bytes the capture folder holds; the oldest segments go first. Default "1GiB".
    #[serde(default = "default_max_bytes")]
    pub max_bytes: ByteSize,
    /// Segments whose newest line is older than this are deleted. Default "30d".
    #[serde(default = "default_max_age")]
    pub max_age: Duration,
    /// A new segment is started at this size. Default "8MiB", at most `max_bytes / 4`.
    #[serde(default = "default_segment_bytes")]
    pub segment_bytes: ByteSize,
    /// Free space capture leaves on its file system for the store's outbox: below it, lines
    /// are skipped (counted) until there is room. Default "256MiB".
    #[serde(default = "default_keep_free")]
    pub keep_free: ByteSize,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            enabled: false,
            max_bytes: default_max_bytes(),
            max_age: default_max_age(),
            segment_bytes: default_segment_bytes(),
            keep_free: default_keep_free(),
        }
    }
}

fn default_max_bytes() -> ByteSize {
    ByteSize::mib(1024)
}
fn default_max_age() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}
fn default_segment_bytes() -> ByteSize {
    ByteSize::mib(8)
}
fn default_keep_free() -> ByteSize {
    ByteSize::mib(256)
}
