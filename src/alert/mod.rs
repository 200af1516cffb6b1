//! Alert: declarative rules with hysteresis and de-duplication turn predictions, drift and
//! data-quality events into [`crate::domain::Alert`]s.

pub mod config;
