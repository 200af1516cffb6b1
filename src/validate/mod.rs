//! Validate: refuses feature vectors whose inputs are not fit for a model (NaN, out of range,
//! stuck, spike, stale, comm error). A refused vector becomes a data-quality event.
//!
//! **Where the checks run.** Stuck and spike are properties of a signal's *reading series*,
//! and a feature vector (a mean over 60 samples, say) has already lost that series. So the
//! per-reading checks ([`SignalChecker`]) run where the series is: inside the features
//! stage, once per reading, with constant state per signal. Their verdict travels with the
//! vector as `flags` (signal → reason codes), together with `stale` (no reading within two
//! poll intervals) and `missing`. The validate stage ([`Validator`], [`stage`]) then makes
//! the single decision on the vector: any flag, or any non-finite feature value, refuses it.
//! This keeps the flow acquire → features → validate → infer one-way, keeps the checking
//! code in this module, and means a model sees a vector only after validate passed it.

pub mod checks;
pub mod reasons;
pub mod stage;
pub mod validator;

pub use checks::{CheckParams, SignalChecker};
pub use reasons::ReasonSet;
pub use validator::{ValidateStats, Validator, Verdict};
