//! One tick of [`LineSim`]: the process equations (tempering, cooling tunnel and humidity,
//! refiner, conche, bean lot) with the active fault added on top, the latent-bloom
//! exposure integrators, the readings the sensors report; and, when a batch's time is up,
//! its labels and the start of the next batch (see the model in `process.rs`).

use crate::simulate::batch::{BatchRecord, BloomLabel, TickTruth};
use crate::simulate::noise::{det_exp, det_sin, quantize};
use crate::simulate::recipe::BeanLot;
use crate::simulate::scenario::Scenario;

use super::LineSim;
use super::fault::{FaultParams, RECIPE_RAMP_MS, wrong_recipe};
use super::signals::Sig;

/// Seconds in a day (humidity cycle).
const DAY_S: f64 = 86_400.0;

impl LineSim {
    /// One tick of `dt_s` seconds (0 for the initial state).
    #[expect(
        clippy::too_many_lines,
        reason = "one simulator tick: sequential process equations over shared line state; determinism is pinned by the simulate tests"
    )]
    pub(super) fn tick(&mut self, dt_s: f64) {
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
