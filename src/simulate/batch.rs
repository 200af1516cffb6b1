//! Batches: what the line accumulates while a batch runs and the labels it gets when it
//! closes (sensory grade, yield, defect). Labels arise from the simulated physics plus
//! panel / weighing noise, never from the scenario name.

use super::noise::{Noise, sigmoid};
use super::recipe::{BeanLot, Recipe};

pub use crate::domain::Defect;

/// Latent bloom state of the product being made right now (ground truth for the `bloom`
/// model; a plant would only learn it days later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BloomLabel {
    /// No bloom.
    None,
    /// Fat bloom: form V seeds destroyed by a too-warm working temperature.
    FatBloom,
    /// Sugar bloom: surface moisture from humid air or a wet mass.
    SugarBloom,
}

impl BloomLabel {
    /// CSV name: `none`, `fat_bloom`, `sugar_bloom`.
    pub fn name(self) -> &'static str {
        match self {
            BloomLabel::None => "none",
            BloomLabel::FatBloom => "fat_bloom",
            BloomLabel::SugarBloom => "sugar_bloom",
        }
    }
}

/// A closed batch with its labels (one row of `batches.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRecord {
    /// Batch id (the PLC's `batch_id`).
    pub batch_id: u64,
    /// Recipe id.
    pub recipe: u32,
    /// Product code.
    pub product: &'static str,
    /// `dark`, `milk` or `white`.
    pub chocolate: &'static str,
    /// First tick of the batch, ms since the epoch.
    pub start_ms: i64,
    /// End of the batch (exclusive), ms since the epoch.
    pub end_ms: i64,
    /// Bean lot number.
    pub bean_lot: u64,
    /// Sensory grade: `A`, `B` or `reject`.
    pub quality_grade: &'static str,
    /// Yield, % of bean mass that ends up as saleable chocolate.
    pub yield_pct: f64,
    /// Defect found at inspection.
    pub defect: Defect,
}

/// Running sums over one batch's ticks (true process values, not sensor readings).
#[derive(Debug, Clone, Default)]
pub struct BatchAccum {
    n: u64,
    temp_dev_sum: f64,
    moisture_sum: f64,
    ph_sum: f64,
    particle_sum: f64,
    coarse_n: u64,
    fat_n: u64,
    sugar_n: u64,
}

/// The true process values of one tick, as the batch sees them.
#[derive(Debug, Clone, Copy)]
pub struct TickTruth {
    /// Working temperature minus the recipe's band centre, °C.
    pub temp_dev: f64,
    /// Moisture, %.
    pub moisture: f64,
    /// pH.
    pub ph: f64,
    /// Particle size D90, µm.
    pub particle: f64,
    /// Latent bloom state.
    pub bloom: BloomLabel,
}

impl BatchAccum {
    /// Add one tick.
    pub fn add(&mut self, t: TickTruth) {
        self.n += 1;
        self.temp_dev_sum += t.temp_dev;
        self.moisture_sum += t.moisture;
        self.ph_sum += t.ph;
        self.particle_sum += t.particle;
        if t.particle > 30.0 {
            self.coarse_n += 1;
        }
        match t.bloom {
            BloomLabel::FatBloom => self.fat_n += 1,
            BloomLabel::SugarBloom => self.sugar_n += 1,
            BloomLabel::None => {}
        }
    }

    /// Label the batch. Always draws the same number of random numbers, whatever the
    /// labels, so that a label never shifts the process draws that follow it.
    pub fn label(
        &self,
        recipe: &Recipe,
        lot: &BeanLot,
        noise: &mut Noise,
    ) -> (&'static str, f64, Defect) {
        let n = self.n.max(1) as f64;
        let temp_dev = self.temp_dev_sum / n;
        let moisture = self.moisture_sum / n;
        let ph = self.ph_sum / n;
        let particle = self.particle_sum / n;
        let fat_share = self.fat_n as f64 / n;
        let sugar_share = self.sugar_n as f64 / n;
        let coarse_share = self.coarse_n as f64 / n;
        let fi = lot.fermentation_index;
        let bq = lot.bean_quality;

        // Off-flavour: under-fermented (bitter, astringent), mouldy (low intake grade) or acid.
        let p_off = sigmoid((0.93 - fi) / 0.03)
            .max(sigmoid((64.0 - bq) / 2.0))
            .max(sigmoid((5.0 - ph) / 0.03))
            .max(0.01);
        let u_off = noise.unit();
        let defect = if fat_share > 0.15 {
            Defect::FatBloom
        } else if sugar_share > 0.15 {
            Defect::SugarBloom
        } else if coarse_share > 0.25 {
            Defect::Gritty
        } else if u_off < p_off {
            Defect::OffFlavour
        } else {
            Defect::None
        };

        // Sensory panel score: process distance from targets, bean lot, panel noise.
        let mut score = 89.0;
        score -= 6.0 * temp_dev.abs();
        score -= 15.0 * (moisture - 1.6).max(0.0) + 15.0 * (1.0 - moisture).max(0.0);
        score -= 20.0 * ((ph - 5.5).max(0.0) + (5.0 - ph).max(0.0)) + 8.0 * (ph - 5.3).abs();
        score -= 1.2 * (particle - 20.0).max(0.0);
        score -= 30.0 * (1.05 - fi).max(0.0);
        score += 0.3 * (bq - 80.0);
        score += 0.04 * (recipe.cocoa_pct - 50.0);
        // Panel: the mean of four trained tasters, each ± 2 points (σ of the mean 1).
        score += noise.normal(0.0, 1.0);
        let grade = if defect != Defect::None || score < 76.0 {
            "reject"
        } else if score >= 86.0 {
            "A"
        } else {
            "B"
        };

        // Yield: shell and winnowing losses fall with bean grade; over- and under-roasting
        // lose mass; a finer grind costs more refining passes; defects mean rework.
        let mut yield_pct = 84.0;
        yield_pct += 0.25 * (bq - 80.0);
        // Poor lots (intake grade below 60): shell, broken and mouldy beans winnowed out.
        yield_pct -= 0.6 * (60.0 - bq).max(0.0);
        yield_pct -= 0.025 * (lot.roast_time - 22.0) * (lot.roast_time - 22.0);
        yield_pct += 0.35 * (particle - 21.0).clamp(-4.0, 6.0);
        yield_pct -= 4.0 * (1.0 - fi).max(0.0);
        yield_pct -= match defect {
            Defect::FatBloom | Defect::SugarBloom => 2.5,
            Defect::Gritty => 1.5,
            Defect::OffFlavour | Defect::None => 0.0,
        };
        yield_pct += noise.normal(0.0, 0.6);
        let yield_pct = super::noise::quantize(yield_pct.clamp(50.0, 99.0), 0.01);
        (grade, yield_pct, defect)
    }
}
