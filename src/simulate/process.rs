//! `LineSim`: a deterministic, seeded chocolate line (docs/domain.md).
//!
//! Pure: no I/O and no clock. Time advances only through [`LineSim::step`], internally in
//! fixed one-second ticks, so the values at a given simulated time do not depend on how the
//! caller chops time into steps (a Modbus server stepping by wall-clock deltas and a CSV
//! export stepping by `--interval` see the same line).
//!
//! Model, per tick:
//! - tempering: working temperature = recipe band centre + per-batch set-point offset + a
//!   controller-hunting cycle (≈ 8 min, ±0.25 °C) + AR(1) noise;
//! - cooling tunnel and humidity: slow mean-reverting walks (humidity with a daily swing);
//! - refiner: particle size D90 per batch around 20.5 µm;
//! - conche: moisture decays exponentially over the batch from ≈ 1.9 % to ≈ 1.25 %;
//! - bean lot (2–4 batches): pH, fermentation index, roast time, bean quality;
//! - latent bloom: exposure integrators (temperature above the band, humidity above the
//!   recipe's limit, moisture above 2.3 %) turn into `fat_bloom` / `sugar_bloom` labels;
//! - batches of 2–4 h; on close they get a grade, a yield and a defect (see `batch.rs`).
//!
//! Faults (one window after a warm-up, or one every `FaultPlan::every`) are added on top of
//! the base process. Every scenario draws from its own random streams (see
//! [`LineSim::with_plan`]): a fault run of seed N is a different stretch of line history from
//! the normal run of seed N, so no two runs of a data set share a batch, a bean lot or a
//! sensor-noise draw.
//!
//! Layout: this file holds the line's state, its constructors and what callers read;
//! `tick.rs` one tick of the process equations and the closing of a batch, `fault.rs`
//! the fault magnitudes and episode windows, `signals.rs` the canonical signal names and
//! the device carrying each.

use std::time::Duration;

use crate::domain::TimestampMs;

use super::batch::{BatchAccum, BatchRecord, BloomLabel};
use super::noise::Noise;
use super::recipe::{BeanLot, Recipe, draw_recipe};
use super::scenario::{FaultPlan, Scenario};

mod fault;
mod signals;
mod tick;

use fault::{Episode, FaultParams};
use signals::SIGNALS;
pub use signals::device_of;

/// Internal tick, ms.
const TICK_MS: i64 = 1000;

/// The batch being made.
#[derive(Debug, Clone)]
struct Batch {
    id: u64,
    recipe: &'static Recipe,
    start_ms: i64,
    end_ms: i64,
    setpoint_offset: f64,
    cycle_period_s: f64,
    particle_base: f64,
    moisture_start: f64,
    moisture_end: f64,
    accum: BatchAccum,
}

/// A deterministic (seeded) chocolate line. Pure: no I/O, no clock; time advances only by
/// [`step`](LineSim::step).
#[derive(Debug, Clone)]
pub struct LineSim {
    scenario: Scenario,
    noise: Noise,
    start_ms: i64,
    /// Time of the last computed tick.
    tick_ms: i64,
    /// Simulated time (≥ `tick_ms`, < `tick_ms + TICK_MS`).
    now_ms: i64,
    /// First fault window `[start, end)`; `None` for `normal`.
    window: Option<(i64, i64)>,
    /// Period of the fault's recurrence, ms (`None`: one episode).
    every_ms: Option<i64>,
    /// Episode whose magnitudes `fault` holds.
    episode: Option<i64>,
    fault_noise: Noise,
    fault: FaultParams,
    /// Draws which bean lots are poor (see [`BeanLot::draw`]).
    lot_noise: Noise,
    lot: BeanLot,
    next_lot: u64,
    batch: Batch,
    next_batch: u64,
    // Process states.
    phase: f64,
    temp_ar: f64,
    tunnel_ar: f64,
    humidity_ar: f64,
    particle_ar: f64,
    moisture_ar: f64,
    ph_ar: f64,
    conche_ar: f64,
    fat_exposure: f64,
    sugar_exposure: f64,
    bloom: BloomLabel,
    stuck_temperature: Option<f64>,
    readings: [f64; SIGNALS.len()],
    closed: Vec<BatchRecord>,
}

impl LineSim {
    /// A line for `scenario` and `seed`, starting at `start`, with the default fault plan
    /// (30 min warm-up, 2 h fault).
    pub fn new(scenario: Scenario, seed: u64, start: TimestampMs) -> Self {
        Self::with_plan(scenario, seed, start, FaultPlan::default())
    }

    /// Like [`new`](LineSim::new) with an explicit fault plan.
    ///
    /// Random streams: scenario number `k` (its place in [`Scenario::ALL`], `normal` = 0)
    /// draws its process from stream `2k`, its fault magnitudes from `2k + 1` and its lot
    /// grades from `1000 + k` of the seed, so runs of different scenarios never repeat each
    /// other's draws (training rows of one run are not copies of another run's).
    pub fn with_plan(scenario: Scenario, seed: u64, start: TimestampMs, plan: FaultPlan) -> Self {
        Self::with_streams(scenario, seed, start, plan, scenario)
    }

    /// Like [`with_plan`](LineSim::with_plan), drawing from the random streams of
    /// `streams_of` instead of `scenario`'s own: a fault run that is the twin of another
    /// scenario's run of the same seed until its fault starts (tests compare the two).
    pub fn with_streams(
        scenario: Scenario,
        seed: u64,
        start: TimestampMs,
        plan: FaultPlan,
        streams_of: Scenario,
    ) -> Self {
        let k = Scenario::ALL
            .iter()
            .position(|s| *s == streams_of)
            .unwrap_or(0) as u64;
        let mut fault_noise = Noise::new(seed, 2 * k + 1);
        let fault = FaultParams::draw(&mut fault_noise, scenario);
        let window = match scenario {
            Scenario::Normal => None,
            _ => {
                let s = start.0.saturating_add(duration_ms(plan.warmup));
                Some((s, s.saturating_add(duration_ms(plan.duration))))
            }
        };
        let every_ms = plan
            .every
            .map(duration_ms)
            .filter(|p| *p > duration_ms(plan.duration));
        let mut noise = Noise::new(seed, 2 * k);
        let mut lot_noise = Noise::new(seed, 1000 + k);
        let lot = BeanLot::draw(100, &mut noise, &mut lot_noise);
        let batch = Self::draw_batch(1001, start.0, &mut noise);
        let mut sim = LineSim {
            scenario,
            noise,
            start_ms: start.0,
            tick_ms: start.0,
            now_ms: start.0,
            window,
            every_ms,
            episode: Some(0),
            fault_noise,
            fault,
            lot_noise,
            lot,
            next_lot: 101,
            batch,
            next_batch: 1002,
            phase: 0.0,
            temp_ar: 0.0,
            tunnel_ar: 0.0,
            humidity_ar: 0.0,
            particle_ar: 0.0,
            moisture_ar: 0.0,
            ph_ar: 0.0,
            conche_ar: 0.0,
            fat_exposure: 0.0,
            sugar_exposure: 0.0,
            bloom: BloomLabel::None,
            stuck_temperature: None,
            readings: [0.0; SIGNALS.len()],
            closed: Vec::new(),
        };
        sim.tick(0.0);
        sim
    }

    fn draw_batch(id: u64, start_ms: i64, noise: &mut Noise) -> Batch {
        let recipe = draw_recipe(noise);
        let minutes = noise.uniform(120.0, 240.0).floor() as i64;
        Batch {
            id,
            recipe,
            start_ms,
            end_ms: start_ms + minutes * 60_000,
            setpoint_offset: noise.normal(0.0, 0.08).clamp(-0.15, 0.15),
            cycle_period_s: noise.uniform(420.0, 560.0),
            particle_base: noise.normal(20.5, 0.9).clamp(18.5, 22.5),
            moisture_start: noise.uniform(1.8, 1.95),
            moisture_end: noise.uniform(1.15, 1.4),
            accum: BatchAccum::default(),
        }
    }

    /// Advance simulated time by `dt` (any size; the model runs in one-second ticks).
    pub fn step(&mut self, dt: Duration) {
        self.now_ms = self.now_ms.saturating_add(duration_ms(dt));
        while self.tick_ms + TICK_MS <= self.now_ms {
            self.tick_ms += TICK_MS;
            self.tick(1.0);
        }
    }

    /// Current simulated time.
    pub fn now(&self) -> TimestampMs {
        TimestampMs(self.now_ms)
    }

    /// Current value of a canonical signal (docs/signals.md), as the sensor reports it
    /// (quantised to its resolution; frozen during `sensor-stuck`). During `sensor-dropout`
    /// the value is still returned: whether the device answers is [`is_dropped`]'s business.
    /// `None` for an unknown name.
    ///
    /// [`is_dropped`]: LineSim::is_dropped
    pub fn value(&self, signal: &str) -> Option<f64> {
        let i = SIGNALS.iter().position(|s| *s == signal)?;
        self.readings.get(i).copied()
    }

    /// The canonical signal names this simulator produces.
    pub fn signals() -> &'static [&'static str] {
        &SIGNALS
    }

    /// True while a fault makes the device carrying `signal` stop answering: during the
    /// `sensor-dropout` window every signal of the `conche` device.
    pub fn is_dropped(&self, signal: &str) -> bool {
        self.scenario == Scenario::SensorDropout
            && self.in_window(self.tick_ms)
            && device_of(signal) == Some("conche")
    }

    /// The first fault window `[start, end)`; `None` for `normal`. With a recurrence
    /// period (`FaultPlan::every`) later windows follow at that period.
    pub fn fault_window(&self) -> Option<(TimestampMs, TimestampMs)> {
        self.window.map(|(s, e)| (TimestampMs(s), TimestampMs(e)))
    }

    /// The scenario whose fault is active now, if any.
    pub fn active_fault(&self) -> Option<Scenario> {
        self.in_window(self.tick_ms).then_some(self.scenario)
    }

    /// The scenario.
    pub fn scenario(&self) -> Scenario {
        self.scenario
    }

    /// The recipe being made.
    pub fn recipe(&self) -> &'static Recipe {
        self.batch.recipe
    }

    /// Latent bloom state of the product being made now (training ground truth).
    pub fn bloom_label(&self) -> BloomLabel {
        self.bloom
    }

    /// Batches closed since the last call, with their labels, oldest first.
    pub fn take_closed_batches(&mut self) -> Vec<BatchRecord> {
        std::mem::take(&mut self.closed)
    }

    /// The fault episode holding `t`, if any: the first window, or with a recurrence period
    /// the episode `k` with `start + k·every ≤ t`.
    fn episode_at(&self, t: i64) -> Option<Episode> {
        let (s0, e0) = self.window?;
        if t < s0 {
            return None;
        }
        let index = self.every_ms.map_or(0, |p| (t - s0) / p);
        let shift = index * self.every_ms.unwrap_or(0);
        let (start, end) = (s0 + shift, e0 + shift);
        (t < end).then_some(Episode { index, start, end })
    }

    fn in_window(&self, t: i64) -> bool {
        self.episode_at(t).is_some()
    }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
