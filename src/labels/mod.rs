//! Lab labels (issue #18; docs/capture.md, "Labels"): the lab's result per batch — quality
//! grade, defect, measured yield — kept in an append-only journal beside the capture, for
//! retraining. Written by `chocoline label` (one label, or a lab sheet in CSV) while the agent
//! runs, and by the agent for labels received on `{prefix}/cmd/label`; never through sled. A
//! label for a batch the capture does not know is refused.
//!
//! | file | job |
//! |---|---|
//! | `label.rs` | one label: its JSON form, parsing and validation (an error per problem) |
//! | `journal.rs` | `labels/labels.jsonl`: locked, fsynced appends; reading it back; the label in force per batch |
//! | `sheet.rs` | a lab sheet in CSV, every row checked first |
//! | `known.rs` | the batches the capture knows, read incrementally (for the agent) |
//! | `desk.rs` | a label received over MQTT on `{prefix}/cmd/label`: parsed, checked, stored, answered |
//! | `stage.rs` | the desk's loop in the agent: one command at a time on the blocking pool |
//!
//! Imports `capture` (the batches it knows), `domain`, `wire` (the command as received) and
//! `metrics` only; the pipeline hands the desk its commands and writes its replies to the
//! store.

pub mod desk;
pub mod journal;
pub mod known;
pub mod label;
pub mod sheet;
pub mod stage;

#[cfg(test)]
mod tests;

pub use journal::{Journal, LabelsError, append, append_checked, check_known, latest, read, scan};
pub use label::{Defect, Grade, Label, LabelError, LabelSource};
