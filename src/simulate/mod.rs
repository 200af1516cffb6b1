//! Simulate: a physically plausible chocolate line (shared/domain.md) — the process model
//! that drives the Modbus simulator and produces the training data.
