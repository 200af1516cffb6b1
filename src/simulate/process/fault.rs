//! Faults on top of the base process: the magnitudes of one fault episode
//! ([`FaultParams`], drawn from the scenario's own fault stream), the episode's window and
//! its onset and recovery ramps ([`Episode`]), and the recipe a `wrong-recipe` fault runs
//! instead of the batch's own ([`wrong_recipe`]).

use crate::simulate::noise::Noise;
use crate::simulate::recipe::{RECIPES, Recipe};
use crate::simulate::scenario::Scenario;

/// Ramp time of a fault's onset and recovery, ms.
const RAMP_MS: i64 = 15 * 60 * 1000;
/// Ramp of a wrong recipe's set points: the controllers follow a recipe load in minutes.
pub(super) const RECIPE_RAMP_MS: i64 = 5 * 60 * 1000;

/// Fault magnitudes, drawn once per fault episode from the fault stream.
#[derive(Debug, Clone, Copy)]
pub(super) struct FaultParams {
    /// fat-bloom: working temperature offset at full strength, °C (2–3).
    pub(super) temp_offset: f64,
    /// sugar-bloom: humidity reached, % RH (84–90).
    pub(super) humidity: f64,
    /// sugar-bloom: extra moisture after one hour of creeping, % (0.8–1.2).
    pub(super) moisture_extra: f64,
    /// gritty: particle size reached, µm (32–37).
    pub(super) particle: f64,
    /// drift: pH shift at the end of the window (0.5–0.8).
    pub(super) ph_shift: f64,
    /// cooling-failure: tunnel air warming at full strength, °C (4–7).
    pub(super) tunnel_rise: f64,
    /// conche-overheat: conche temperature above its set point, °C (8–14).
    pub(super) conche_rise: f64,
    /// wrong-recipe: the recipe run instead, as a step 1–3 through [`RECIPES`] from the
    /// batch's own.
    pub(super) recipe_step: usize,
}

impl FaultParams {
    /// The magnitudes of one episode. The unseen faults' magnitudes are drawn after the
    /// others and only for those scenarios, so the older scenarios' draws (and the
    /// committed training data) stay as they were.
    pub(super) fn draw(n: &mut Noise, scenario: Scenario) -> Self {
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
pub(super) struct Episode {
    pub(super) index: i64,
    pub(super) start: i64,
    pub(super) end: i64,
}

impl Episode {
    /// Strength of the fault at `t` (inside the episode): ramping up to 1 over the first
    /// quarter-hour and back to 0 over the last, so the line is healthy again at the end.
    pub(super) fn intensity(self, t: i64) -> f64 {
        self.intensity_over(t, RAMP_MS)
    }

    /// Like [`intensity`](Episode::intensity) with a ramp of `ramp_ms`.
    pub(super) fn intensity_over(self, t: i64, ramp_ms: i64) -> f64 {
        let ramp = ramp_ms.min((self.end - self.start) / 4).max(1) as f64;
        let up = (t - self.start) as f64 / ramp;
        let down = (self.end - t) as f64 / ramp;
        up.min(down).min(1.0)
    }

    /// Share of the episode elapsed at `t`: the linear pH drift.
    pub(super) fn progress(self, t: i64) -> f64 {
        if self.end > self.start {
            (t - self.start) as f64 / (self.end - self.start) as f64
        } else {
            0.0
        }
    }
}

/// The recipe `step` places after `own` in [`RECIPES`] (wrapping): never `own` itself for
/// a step of 1–3. `None` only if `own` is not one of [`RECIPES`].
pub(super) fn wrong_recipe(own: &Recipe, step: usize) -> Option<&'static Recipe> {
    let at = RECIPES.iter().position(|r| r.id == own.id)?;
    RECIPES.get((at + step) % RECIPES.len())
}
