//! Reading capture segments back (docs/capture.md). Being written.
