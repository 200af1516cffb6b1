//! Validate: refuses feature vectors whose inputs are not fit for a model (NaN, out of range,
//! stuck, spike, stale, comm error). A refused vector becomes a data-quality event.
