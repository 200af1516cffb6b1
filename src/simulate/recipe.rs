//! The simulated plant's product recipes (the PLC's `recipe` register) and bean lots.

use super::noise::Noise;

/// Chocolate type of a recipe: selects the tempering band and bloom limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChocolateKind {
    /// Dark chocolate.
    Dark,
    /// Milk chocolate.
    Milk,
    /// White chocolate.
    White,
}

impl ChocolateKind {
    /// Lower-case name (`dark`), as in the config's `chocolate` key.
    pub fn name(self) -> &'static str {
        match self {
            ChocolateKind::Dark => "dark",
            ChocolateKind::Milk => "milk",
            ChocolateKind::White => "white",
        }
    }
}

/// One product recipe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recipe {
    /// Numeric id held by the PLC's `recipe` register (`[[products]] recipe_id`).
    pub id: u32,
    /// Product code (`[[products]] code`).
    pub code: &'static str,
    /// Chocolate type.
    pub kind: ChocolateKind,
    /// Cocoa percentage (for white chocolate: its cocoa-butter share).
    pub cocoa_pct: f64,
    /// Tempering working band, °C (docs/domain.md).
    pub working_band: [f64; 2],
    /// Conche set point, °C (dark 45–80, milk 43–66).
    pub conche_setpoint: f64,
    /// Relative humidity above which sugar bloom starts, % RH (≈ 78 milk, 82–85 dark).
    pub humidity_limit: f64,
    /// Share of batches made with this recipe.
    pub weight: f64,
}

/// The simulated plant's recipes. Ids are what the sample config's `[[products]]` use.
pub const RECIPES: [Recipe; 4] = [
    Recipe {
        id: 1,
        code: "DARK70",
        kind: ChocolateKind::Dark,
        cocoa_pct: 70.0,
        working_band: [31.0, 32.0],
        conche_setpoint: 70.0,
        humidity_limit: 83.0,
        weight: 0.30,
    },
    Recipe {
        id: 2,
        code: "DARK55",
        kind: ChocolateKind::Dark,
        cocoa_pct: 55.0,
        working_band: [31.0, 32.0],
        conche_setpoint: 65.0,
        humidity_limit: 83.0,
        weight: 0.15,
    },
    Recipe {
        id: 3,
        code: "MILK35",
        kind: ChocolateKind::Milk,
        cocoa_pct: 35.0,
        working_band: [30.0, 31.0],
        conche_setpoint: 55.0,
        humidity_limit: 78.0,
        weight: 0.40,
    },
    Recipe {
        id: 4,
        code: "WHITE30",
        kind: ChocolateKind::White,
        cocoa_pct: 30.0,
        working_band: [28.0, 30.0],
        conche_setpoint: 48.0,
        humidity_limit: 80.0,
        weight: 0.15,
    },
];

/// Draw a recipe by the recipes' weights.
pub fn draw_recipe(noise: &mut Noise) -> &'static Recipe {
    let u = noise.unit();
    let mut acc = 0.0;
    for r in &RECIPES {
        acc += r.weight;
        if u < acc {
            return r;
        }
    }
    &RECIPES[RECIPES.len() - 1]
}

/// Share of bean lots that are poor (intake grade 40–54): the low-yield batches of the
/// simulated line.
pub const POOR_LOT_SHARE: f64 = 0.05;

/// A lot of cocoa beans: its analytical figures hold for every batch made from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeanLot {
    /// Lot number.
    pub id: u64,
    /// Fermentation index A460/A530 (≥ 1 well fermented).
    pub fermentation_index: f64,
    /// pH of the mass (5.0–5.5 optimal; under-fermented beans run higher).
    pub ph: f64,
    /// Roasting time, min (10–35).
    pub roast_time: f64,
    /// Intake grade, 0–100.
    pub bean_quality: f64,
    /// Batches still to be made from this lot.
    pub batches_left: u32,
}

impl BeanLot {
    /// Draw a lot. Fermentation and pH are correlated (under-fermented beans are less acid);
    /// pH stays in the customer's band so a healthy line raises no pH alarm, while
    /// fermentation and bean grade vary enough to cause off-flavours now and then.
    ///
    /// `grade` (its own stream, so the other draws do not depend on it) decides whether the
    /// lot is poor: with probability [`POOR_LOT_SHARE`] the intake grade is 40–54 instead of
    /// ≈ N(80, 7) within 60–95 — damaged, mouldy or shell-heavy beans, which lose yield
    /// (winnowing nib loss runs from 1.6 % on good beans to 11 % on poor ones) and taste
    /// mouldy.
    pub fn draw(id: u64, noise: &mut Noise, grade: &mut Noise) -> Self {
        let fermentation_index = noise.normal(1.12, 0.12).clamp(0.8, 1.4);
        let ph =
            (5.3 + 0.5 * (1.12 - fermentation_index) + noise.normal(0.0, 0.06)).clamp(5.02, 5.5);
        let roast_time = noise.uniform(12.0, 32.0);
        let mut bean_quality = noise.normal(80.0, 7.0).clamp(60.0, 95.0);
        let (u_poor, poor_grade) = (grade.unit(), grade.uniform(40.0, 54.0));
        if u_poor < POOR_LOT_SHARE {
            bean_quality = poor_grade;
        }
        let batches_left = 2 + (noise.unit() * 3.0) as u32; // 2..=4
        BeanLot {
            id,
            fermentation_index: super::noise::quantize(fermentation_index, 0.001),
            ph,
            roast_time: super::noise::quantize(roast_time, 0.1),
            bean_quality: super::noise::quantize(bean_quality, 0.1),
            batches_left,
        }
    }
}
