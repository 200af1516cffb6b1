//! One slave's poll cycle: run its planned reads over the bus connection, decode each field,
//! and turn the outcome into readings with a quality.
//!
//! Quality rules: a decoded value inside `valid_range` is `good`; outside it (or not finite) it
//! is kept and flagged `out_of_range`; a read that failed gives NaN and `comm_error`; a cycle
//! the health tracker skipped (degraded slave, not due for a probe) repeats the last good value
//! flagged `stale` (NaN and `comm_error` when there never was one).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::acquire::config::{DataType, DeviceConfig, RegisterKind};
use crate::acquire::connection::{Connection, ReadError};
use crate::acquire::decode;
use crate::acquire::health::{Decision, SlaveHealth, SlaveState};
use crate::acquire::plan::{self, PlanError, ReadBlock};
use crate::domain::{Quality, Reading, Sample, TimestampMs};

/// Outcome counters of one cycle, folded into the stage metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CycleOutcome {
    /// Requests that returned data.
    pub ok_blocks: u32,
    /// Blocks answered with a Modbus exception.
    pub exceptions: u32,
    /// Blocks that timed out, broke the transport or got a gateway exception 0x0A / 0x0B.
    pub silent: u32,
    /// True when the cycle was skipped (degraded slave).
    pub skipped: bool,
}

/// Everything needed to poll one configured device (one slave id on a bus).
#[derive(Debug)]
pub struct SlavePoller {
    /// The device's configuration.
    pub device: Arc<DeviceConfig>,
    name: Arc<str>,
    names: Vec<Arc<str>>,
    units: Vec<Arc<str>>,
    blocks: Vec<ReadBlock>,
    health: SlaveHealth,
    last_good: Vec<Option<(f64, Vec<u16>)>>,
    /// When the next cycle is due.
    pub next_due: Instant,
    /// Cycles missed before the next one (reported in its sample).
    pub pending_missed: u32,
}

impl SlavePoller {
    /// Plans the device's reads.
    pub fn new(device: DeviceConfig, first_due: Instant) -> Result<Self, PlanError> {
        let blocks = plan::plan(&device)?;
        let names = device
            .registers
            .iter()
            .map(|r| Arc::from(r.name.as_str()))
            .collect();
        let units = device
            .registers
            .iter()
            .map(|r| Arc::from(r.unit.as_str()))
            .collect();
        Ok(SlavePoller {
            name: Arc::from(device.name.as_str()),
            names,
            units,
            health: SlaveHealth::new(device.poll_interval.get()),
            last_good: vec![None; device.registers.len()],
            blocks,
            device: Arc::new(device),
            next_due: first_due,
            pending_missed: 0,
        })
    }

    /// Device name.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The current read plan.
    pub fn blocks(&self) -> &[ReadBlock] {
        &self.blocks
    }

    /// True when the slave is degraded.
    pub fn is_degraded(&self) -> bool {
        self.health.is_degraded()
    }

    /// Poll interval.
    pub fn interval(&self) -> Duration {
        self.device.poll_interval.get()
    }

    /// Runs one cycle over `conn` and returns the sample (one reading per register, in config
    /// order) and what happened.
    #[expect(
        clippy::too_many_lines,
        clippy::cognitive_complexity,
        reason = "one poll cycle: per block read, timeout, exception and silence handling with the dead-slave bookkeeping; pinned by acquire_faults/gateway/rtu; split left for a later change"
    )]
    pub async fn poll(&mut self, conn: &mut Connection) -> (Sample, CycleOutcome) {
        let ts = TimestampMs::now();
        let now = Instant::now();
        let mut out = CycleOutcome::default();
        let n = self.device.registers.len();
        let mut values: Vec<Option<Vec<u16>>> = vec![None; n];
        let decision = self.health.decide(now);
        if decision == Decision::Skip {
            out.skipped = true;
            let readings = (0..n).map(|i| self.stale_reading(i, ts)).collect();
            return (self.sample(ts, readings), out);
        }
        let timeout = self.device.timeout.get();
        let pause = self.device.pause_between_requests.get();
        let slave = self.device.slave_id;
        let mut replacements: Vec<(usize, Vec<ReadBlock>)> = Vec::new();
        let mut answered = false;
        let mut silent = false;
        let mut endpoint_down = false;
        for (bi, block) in self.blocks.iter().enumerate() {
            if silent || endpoint_down {
                // One silent block is enough: the rest would cost a timeout each and delay
                // every other slave on the bus.
                break;
            }
            let res = conn
                .read(slave, block.kind, block.start, block.count, timeout)
                .await;
            match res {
                Ok(words) => {
                    answered = true;
                    out.ok_blocks += 1;
                    for f in &block.fields {
                        let lo = usize::from(f.offset);
                        let hi = lo + usize::from(f.len);
                        if let (Some(ws), Some(slot)) =
                            (words.get(lo..hi), values.get_mut(f.register))
                        {
                            *slot = Some(ws.to_vec());
                        }
                    }
                }
                Err(e) => {
                    match &e {
                        ReadError::Exception(code) => {
                            answered = true;
                            out.exceptions += 1;
                            // Illegal data address on a read that bridges a hole: the device
                            // has no registers there. Read the parts separately from now on.
                            if *code == 2 && block.has_holes() {
                                tracing::warn!(device = %self.name, start = block.start, count = block.count,
                                    "exception 2 on a read with holes; splitting it");
                                replacements.push((bi, block.split_at_holes()));
                            }
                        }
                        ReadError::Short { .. } => answered = true,
                        // A gateway saying the device behind it is down counts as silence: same
                        // degradation and probe backoff as a timeout.
                        ReadError::Timeout | ReadError::Transport(_) | ReadError::Gateway(_) => {
                            silent = true;
                            out.silent += 1;
                        }
                        ReadError::Connect(_) | ReadError::NotConnected => endpoint_down = true,
                    }
                    tracing::debug!(device = %self.name, kind = ?block.kind, start = block.start,
                        count = block.count, error = %e, "read failed");
                }
            }
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
        for (bi, parts) in replacements.into_iter().rev() {
            if bi < self.blocks.len() {
                self.blocks.splice(bi..=bi, parts);
            }
        }
        if answered || silent {
            let before = self.health.is_degraded();
            match self.health.record(Instant::now(), answered) {
                Some(SlaveState::Normal) if before => {
                    tracing::info!(device = %self.name, "slave answers again; back to normal polling")
                }
                Some(SlaveState::Degraded { period, .. }) => tracing::warn!(device = %self.name,
                    probe_every_ms = period.as_millis() as u64, "slave not answering; degraded"),
                _ => {}
            }
        }
        let readings = values
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Some(raw) => self.decoded_reading(i, raw, ts),
                None => self.failed_reading(i, ts),
            })
            .collect();
        (self.sample(ts, readings), out)
    }

    fn sample(&mut self, ts: TimestampMs, readings: Vec<Reading>) -> Sample {
        Sample {
            device: self.name.clone(),
            ts,
            readings,
            missed_cycles: std::mem::take(&mut self.pending_missed),
        }
    }

    fn reading(
        &self,
        i: usize,
        value: f64,
        raw: Vec<u16>,
        ts: TimestampMs,
        quality: Quality,
    ) -> Reading {
        Reading {
            device: self.name.clone(),
            name: self.names.get(i).cloned().unwrap_or_else(|| Arc::from("")),
            value,
            unit: self.units.get(i).cloned().unwrap_or_else(|| Arc::from("")),
            raw,
            ts,
            quality,
        }
    }

    fn decoded_reading(&mut self, i: usize, raw: Vec<u16>, ts: TimestampMs) -> Reading {
        let Some(reg) = self.device.registers.get(i) else {
            return self.failed_reading(i, ts);
        };
        let bits = matches!(reg.register, RegisterKind::Coil | RegisterKind::Discrete);
        let data_type = if bits { DataType::Bool } else { reg.data_type };
        match decode::decode(&raw, data_type, reg.byte_order, reg.scale, reg.offset) {
            Ok(v) => {
                let q = quality_of(v, reg.valid_range);
                if let Some(slot) = self.last_good.get_mut(i) {
                    *slot = Some((v, raw.clone()));
                }
                self.reading(i, v, raw, ts, q)
            }
            Err(e) => {
                tracing::warn!(device = %self.name, register = %reg.name, error = %e, "decode failed");
                self.reading(i, f64::NAN, raw, ts, Quality::CommError)
            }
        }
    }

    fn failed_reading(&self, i: usize, ts: TimestampMs) -> Reading {
        self.reading(i, f64::NAN, Vec::new(), ts, Quality::CommError)
    }

    fn stale_reading(&self, i: usize, ts: TimestampMs) -> Reading {
        match self.last_good.get(i).and_then(Option::as_ref) {
            Some((v, raw)) => self.reading(i, *v, raw.clone(), ts, Quality::Stale),
            None => self.failed_reading(i, ts),
        }
    }
}

/// Quality of a decoded value: `out_of_range` when not finite or outside `valid_range`.
pub fn quality_of(v: f64, valid_range: Option<[f64; 2]>) -> Quality {
    if !v.is_finite() {
        return Quality::OutOfRange;
    }
    match valid_range {
        Some([lo, hi]) if v < lo || v > hi => Quality::OutOfRange,
        _ => Quality::Good,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_rules() {
        assert_eq!(quality_of(5.0, Some([0.0, 10.0])), Quality::Good);
        assert_eq!(quality_of(10.0, Some([0.0, 10.0])), Quality::Good);
        assert_eq!(quality_of(10.5, Some([0.0, 10.0])), Quality::OutOfRange);
        assert_eq!(quality_of(-1.0, None), Quality::Good);
        assert_eq!(quality_of(f64::NAN, None), Quality::OutOfRange);
    }
}
