//! Capture (issue #18; docs/capture.md): the line's own data kept for retraining, in rotating
//! segment files beside the sled store, readable while the agent runs.
//!
//! | file | job |
//! |---|---|
//! | `config.rs` | `[capture]` |
//! | `line.rs` | the lines of a segment (the contract with the readers) |
//! | `batch.rs` | which batch is running; a batch-id change closes one |
//! | `writer.rs` | segments: append, rotate, prune by size and age, keep free space |
//! | `stage.rs` | the tap between acquire and features |
//! | `read.rs` | reading segments back, torn lines skipped; the batches captured |

pub mod batch;
pub mod config;
pub mod line;
pub mod read;
pub mod stage;
pub mod writer;
