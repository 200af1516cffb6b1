//! Lab labels (issue #18; docs/capture.md, "Labels"): the lab's result per batch — quality
//! grade, defect, measured yield — kept in an append-only journal beside the capture, for
//! retraining. Written by `chocoline label` (one label, or a lab sheet in CSV) while the agent
//! runs; never through sled. A label for a batch the capture does not know is refused.
//!
//! | file | job |
//! |---|---|
//! | `label.rs` | one label: its JSON form, parsing and validation (an error per problem) |
//! | `journal.rs` | `labels/labels.jsonl`: locked, fsynced appends; reading it back; the label in force per batch |
//! | `sheet.rs` | a lab sheet in CSV, every row checked first |
//!
//! Imports `capture` (the batches it knows) and `domain` only.

pub mod journal;
pub mod label;
pub mod sheet;

#[cfg(test)]
mod tests;

pub use journal::{Journal, LabelsError, append, append_checked, check_known, latest, read, scan};
pub use label::{Defect, Grade, Label, LabelError, LabelSource};
