//! Metrics: a small, dependency-free registry of counters, gauges and histograms, rendered in
//! the Prometheus text exposition format, and the HTTP endpoint (`/metrics`, `/healthz`) that
//! serves it.
//!
//! Stages take handles ([`Counter`], [`Gauge`], [`Histogram`]) once at start-up; updating a
//! handle is a relaxed atomic operation, so the hot paths never take a lock. Only rendering
//! (a scrape) walks the registry under its mutex.

mod registry;
pub mod series;
mod server;

pub use registry::{Counter, Gauge, Histogram, Registry};
pub use series::{AlertSeries, InferSeries, PollSeries};
pub use server::{HealthCheck, HealthStatus, serve};
