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

use std::time::Duration;

use crate::domain::TimestampMs;

use super::batch::{BatchAccum, BatchRecord, BloomLabel, TickTruth};
use super::noise::{Noise, det_exp, det_sin, quantize};
use super::recipe::{BeanLot, RECIPES, Recipe, draw_recipe};
use super::scenario::{FaultPlan, Scenario};

/// Internal tick, ms.
const TICK_MS: i64 = 1000;
/// Ramp time of a fault's onset and recovery, ms.
const RAMP_MS: i64 = 15 * 60 * 1000;
/// Ramp of a wrong recipe's set points: the controllers follow a recipe load in minutes.
const RECIPE_RAMP_MS: i64 = 5 * 60 * 1000;
/// Seconds in a day (humidity cycle).
const DAY_S: f64 = 86_400.0;

/// Canonical signal names, in the order of [`LineSim::signals`].
const SIGNALS: [&str; 13] = [
    "temperature",
    "tunnel_temp",
    "humidity",
    "particle_size",
    "moisture",
    "ph",
    "conche_temp",
    "batch_id",
    "recipe",
    "cocoa_pct",
    "roast_time",
    "fermentation_index",
    "bean_quality",
];

/// Index into [`SIGNALS`] / the readings array.
#[derive(Clone, Copy)]
enum Sig {
    Temperature = 0,
    TunnelTemp,
    Humidity,
    ParticleSize,
    Moisture,
    Ph,
    ConcheTemp,
    BatchId,
    Recipe,
    CocoaPct,
    RoastTime,
    FermentationIndex,
    BeanQuality,
}

/// The device (of the sample config) that carries a canonical signal: `tempering`,
/// `refiner`, `conche` or `plc`.
pub fn device_of(signal: &str) -> Option<&'static str> {
    match signal {
        "temperature" | "tunnel_temp" | "humidity" => Some("tempering"),
        "particle_size" => Some("refiner"),
        "moisture" | "ph" | "conche_temp" => Some("conche"),
        "batch_id" | "recipe" | "cocoa_pct" | "roast_time" | "fermentation_index"
        | "bean_quality" => Some("plc"),
        _ => None,
    }
}

/// Fault magnitudes, drawn once per fault episode from the fault stream.
#[derive(Debug, Clone, Copy)]
struct FaultParams {
    /// fat-bloom: working temperature offset at full strength, °C (2–3).
    temp_offset: f64,
    /// sugar-bloom: humidity reached, % RH (84–90).
    humidity: f64,
    /// sugar-bloom: extra moisture after one hour of creeping, % (0.8–1.2).
    moisture_extra: f64,
    /// gritty: particle size reached, µm (32–37).
    particle: f64,
    /// drift: pH shift at the end of the window (0.5–0.8).
    ph_shift: f64,
    /// cooling-failure: tunnel air warming at full strength, °C (4–7).
    tunnel_rise: f64,
    /// conche-overheat: conche temperature above its set point, °C (8–14).
    conche_rise: f64,
    /// wrong-recipe: the recipe run instead, as a step 1–3 through [`RECIPES`] from the
    /// batch's own.
    recipe_step: usize,
}

impl FaultParams {
    /// The magnitudes of one episode. The unseen faults' magnitudes are drawn after the
    /// others and only for those scenarios, so the older scenarios' draws (and the
    /// committed training data) stay as they were.
    fn draw(n: &mut Noise, scenario: Scenario) -> Self {
        let mut p = FaultParams {
            temp_offset: n.uniform(2.0, 3.0),
            humidity: n.uniform(84.0, 90.0),
            moisture_extra: n.uniform(0.8, 1.2),
            particle: n.uniform(32.0, 37.0),
            ph_shift: n.uniform(0.5, 0.8),
            tunnel_rise: 0.0,
            conche_rise: 0.0,
            recipe_step: 0,
        };
        if scenario.is_unseen() {
            p.tunnel_rise = n.uniform(4.0, 7.0);
            p.conche_rise = n.uniform(8.0, 14.0);
            p.recipe_step = 1 + ((n.unit() * 3.0) as usize).min(2);
        }
        p
    }
}

/// One fault episode: its number (0 for the first) and its window `[start, end)`, ms.
#[derive(Debug, Clone, Copy)]
struct Episode {
    index: i64,
    start: i64,
    end: i64,
}

impl Episode {
    /// Strength of the fault at `t` (inside the episode): ramping up to 1 over the first
    /// quarter-hour and back to 0 over the last, so the line is healthy again at the end.
    fn intensity(self, t: i64) -> f64 {
        self.intensity_over(t, RAMP_MS)
    }

    /// Like [`intensity`](Episode::intensity) with a ramp of `ramp_ms`.
    fn intensity_over(self, t: i64, ramp_ms: i64) -> f64 {
        let ramp = ramp_ms.min((self.end - self.start) / 4).max(1) as f64;
        let up = (t - self.start) as f64 / ramp;
        let down = (self.end - t) as f64 / ramp;
        up.min(down).min(1.0)
    }

    /// Share of the episode elapsed at `t`: the linear pH drift.
    fn progress(self, t: i64) -> f64 {
        if self.end > self.start {
            (t - self.start) as f64 / (self.end - self.start) as f64
        } else {
            0.0
        }
    }
}

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

    /// One tick of `dt_s` seconds (0 for the initial state).
    #[expect(
        clippy::too_many_lines,
        reason = "one simulator tick: sequential process equations over shared line state; determinism is pinned by the simulate tests"
    )]
    fn tick(&mut self, dt_s: f64) {
        let t = self.tick_ms;
        if t >= self.batch.end_ms {
            self.close_batch(t);
        }
        let episode = self.episode_at(t);
        // A recurring fault draws fresh magnitudes for every episode after the first.
        if let Some(ep) = episode
            && self.episode != Some(ep.index)
        {
            self.fault = FaultParams::draw(&mut self.fault_noise, self.scenario);
            self.episode = Some(ep.index);
        }
        let recipe = self.batch.recipe;
        let [lo, hi] = recipe.working_band;
        let mid = 0.5 * (lo + hi);
        let i = episode.map_or(0.0, |e| e.intensity(t));
        // wrong-recipe: the set points the controllers follow, blended in over minutes.
        let wrong = (self.scenario == Scenario::WrongRecipe)
            .then(|| wrong_recipe(recipe, self.fault.recipe_step))
            .flatten();
        let i_recipe = episode.map_or(0.0, |e| e.intensity_over(t, RECIPE_RAMP_MS));
        let (mid_run, conche_run) = match wrong {
            Some(w) => (
                mid + i_recipe * (0.5 * (w.working_band[0] + w.working_band[1]) - mid),
                recipe.conche_setpoint + i_recipe * (w.conche_setpoint - recipe.conche_setpoint),
            ),
            None => (mid, recipe.conche_setpoint),
        };
        let drift = episode.map_or(0.0, |e| e.progress(t));
        let n = &mut self.noise;

        // Tempering: controller hunting around the set point.
        self.phase = (self.phase + dt_s / self.batch.cycle_period_s).fract();
        self.temp_ar = 0.95 * self.temp_ar + n.normal(0.0, 0.02);
        let mut temp_true = mid_run
            + self.batch.setpoint_offset
            + 0.25 * det_sin(std::f64::consts::TAU * self.phase)
            + self.temp_ar;
        if self.scenario == Scenario::FatBloom {
            temp_true += i * self.fault.temp_offset;
        }
        let temp_meas = quantize(temp_true + n.normal(0.0, 0.02), 0.01);

        // Cooling tunnel and ambient humidity.
        self.tunnel_ar = 0.998 * self.tunnel_ar + n.normal(0.0, 0.02);
        let mut tunnel_true = 13.0 + self.tunnel_ar;
        if self.scenario == Scenario::CoolingFailure {
            tunnel_true += i * self.fault.tunnel_rise;
        }
        let tunnel_meas = quantize(tunnel_true + n.normal(0.0, 0.05), 0.01);
        self.humidity_ar = 0.998 * self.humidity_ar + n.normal(0.0, 0.06);
        let day = (t - self.start_ms) as f64 / 1000.0 / DAY_S;
        let mut humidity_true =
            55.0 + 5.0 * det_sin(std::f64::consts::TAU * day) + self.humidity_ar;
        if self.scenario == Scenario::SugarBloom {
            humidity_true += i * (self.fault.humidity - humidity_true);
        }
        let humidity_meas = quantize((humidity_true + n.normal(0.0, 0.3)).clamp(0.0, 100.0), 0.1);

        // Refiner.
        self.particle_ar = 0.99 * self.particle_ar + n.normal(0.0, 0.05);
        let mut particle_true = self.batch.particle_base + self.particle_ar;
        if self.scenario == Scenario::Gritty {
            particle_true += i * (self.fault.particle - particle_true);
        }
        let particle_meas = quantize(particle_true + n.normal(0.0, 0.1), 0.01);

        // Conche: moisture falls over the batch.
        let b = &self.batch;
        let progress =
            ((t - b.start_ms) as f64 / (b.end_ms - b.start_ms).max(1) as f64).clamp(0.0, 1.0);
        self.moisture_ar = 0.99 * self.moisture_ar + n.normal(0.0, 0.002);
        let mut moisture_true = b.moisture_end
            + (b.moisture_start - b.moisture_end) * det_exp(-4.0 * progress)
            + self.moisture_ar;
        if self.scenario == Scenario::SugarBloom
            && let Some(ep) = episode
        {
            // Creeps up over the first hour of the fault, then holds; recovers with the ramp.
            let creep = ((t - ep.start) as f64 / 3_600_000.0).clamp(0.0, 1.0);
            moisture_true += i * creep * self.fault.moisture_extra;
        }
        if self.scenario == Scenario::ConcheOverheat {
            // A hotter conche drives off water faster.
            moisture_true -= i * 0.012 * self.fault.conche_rise;
        }
        let moisture_meas = quantize(moisture_true + n.normal(0.0, 0.005), 0.001);
        self.ph_ar = 0.999 * self.ph_ar + n.normal(0.0, 0.001);
        let mut ph_true = self.lot.ph + self.ph_ar;
        if self.scenario == Scenario::Drift {
            ph_true += drift * self.fault.ph_shift;
        }
        let ph_meas = quantize(ph_true + n.normal(0.0, 0.01), 0.001);
        self.conche_ar = 0.995 * self.conche_ar + n.normal(0.0, 0.05);
        let mut conche_true = conche_run + self.conche_ar;
        if self.scenario == Scenario::ConcheOverheat {
            conche_true += i * self.fault.conche_rise;
        }
        let conche_meas = quantize(conche_true + n.normal(0.0, 0.1), 0.01);

        // Latent bloom: exposure integrators with linear recovery.
        let temp_excess = temp_true - (hi + 0.5);
        if temp_excess > 0.0 {
            self.fat_exposure += temp_excess * dt_s / 900.0;
        } else {
            self.fat_exposure = (self.fat_exposure - dt_s / 600.0).max(0.0);
        }
        self.fat_exposure = self.fat_exposure.min(1.0);
        let humid_excess = (humidity_true - recipe.humidity_limit).max(0.0) / 5.0;
        let wet_excess = (moisture_true - 2.3).max(0.0) / 0.3;
        if humid_excess + wet_excess > 0.0 {
            self.sugar_exposure += (humid_excess + wet_excess) * dt_s / 900.0;
        } else {
            self.sugar_exposure = (self.sugar_exposure - dt_s / 600.0).max(0.0);
        }
        self.sugar_exposure = self.sugar_exposure.min(1.0);
        self.bloom = if self.fat_exposure >= 0.5 && self.fat_exposure >= self.sugar_exposure {
            BloomLabel::FatBloom
        } else if self.sugar_exposure >= 0.5 {
            BloomLabel::SugarBloom
        } else {
            BloomLabel::None
        };

        if dt_s > 0.0 {
            self.batch.accum.add(TickTruth {
                temp_dev: temp_true - mid,
                moisture: moisture_true,
                ph: ph_true,
                particle: particle_true,
                bloom: self.bloom,
            });
        }

        // The stuck sensor freezes at the reading it had when the fault began.
        let temperature = if self.scenario == Scenario::SensorStuck && episode.is_some() {
            *self.stuck_temperature.get_or_insert(temp_meas)
        } else {
            self.stuck_temperature = None;
            temp_meas
        };

        let r = &mut self.readings;
        r[Sig::Temperature as usize] = temperature;
        r[Sig::TunnelTemp as usize] = tunnel_meas;
        r[Sig::Humidity as usize] = humidity_meas;
        r[Sig::ParticleSize as usize] = particle_meas;
        r[Sig::Moisture as usize] = moisture_meas;
        r[Sig::Ph as usize] = ph_meas;
        r[Sig::ConcheTemp as usize] = conche_meas;
        r[Sig::BatchId as usize] = self.batch.id as f64;
        r[Sig::Recipe as usize] = f64::from(recipe.id);
        r[Sig::CocoaPct as usize] = recipe.cocoa_pct;
        r[Sig::RoastTime as usize] = self.lot.roast_time;
        r[Sig::FermentationIndex as usize] = self.lot.fermentation_index;
        r[Sig::BeanQuality as usize] = self.lot.bean_quality;
    }

    /// Label the finished batch and start the next one at `t` (a new bean lot when the
    /// current one is used up).
    fn close_batch(&mut self, t: i64) {
        let (grade, yield_pct, defect) =
            self.batch
                .accum
                .label(self.batch.recipe, &self.lot, &mut self.noise);
        self.closed.push(BatchRecord {
            batch_id: self.batch.id,
            recipe: self.batch.recipe.id,
            product: self.batch.recipe.code,
            chocolate: self.batch.recipe.kind.name(),
            start_ms: self.batch.start_ms,
            end_ms: t,
            bean_lot: self.lot.id,
            quality_grade: grade,
            yield_pct,
            defect,
        });
        self.lot.batches_left = self.lot.batches_left.saturating_sub(1);
        if self.lot.batches_left == 0 {
            self.lot = BeanLot::draw(self.next_lot, &mut self.noise, &mut self.lot_noise);
            self.next_lot += 1;
        }
        self.batch = Self::draw_batch(self.next_batch, t, &mut self.noise);
        self.next_batch += 1;
    }
}

/// The recipe `step` places after `own` in [`RECIPES`] (wrapping): never `own` itself for
/// a step of 1–3. `None` only if `own` is not one of [`RECIPES`].
fn wrong_recipe(own: &Recipe, step: usize) -> Option<&'static Recipe> {
    let at = RECIPES.iter().position(|r| r.id == own.id)?;
    RECIPES.get((at + step) % RECIPES.len())
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
