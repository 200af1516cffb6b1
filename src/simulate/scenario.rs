//! Simulator scenarios: which fault the line suffers, and when.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

/// Simulator scenarios, parsed from kebab-case names: `normal`, `fat-bloom`, `sugar-bloom`,
/// `gritty`, `sensor-stuck`, `sensor-dropout`, `drift`, and the three faults no supervised
/// model is trained on (see [`Scenario::is_unseen`]): `cooling-failure`, `conche-overheat`,
/// `wrong-recipe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    /// A healthy line: every signal inside its domain band.
    Normal,
    /// Tempering working temperature drifts 2–3 °C above the recipe target (form V seeds
    /// melt → under-tempered → fat bloom).
    FatBloom,
    /// Humidity at the tunnel exit rises above the sugar-bloom limit and the mass moisture
    /// creeps up.
    SugarBloom,
    /// Refiner output particle size (D90) climbs above 30 µm.
    Gritty,
    /// The tempering unit's temperature sensor freezes at its last value.
    SensorStuck,
    /// The conche device stops answering (see `LineSim::is_dropped`).
    SensorDropout,
    /// The pH of the mass shifts slowly upwards over the fault window.
    Drift,
    /// The cooling tunnel loses its chiller: the tunnel air warms 4–7 °C above its
    /// ≈ 13 °C set point.
    CoolingFailure,
    /// The conche's heating runs away: the mass is held 8–14 °C above the recipe's conche
    /// set point and dries a little faster.
    ConcheOverheat,
    /// The line runs another recipe's tempering and conche set points while the PLC's
    /// recipe registers still report the product being made (an operator loaded the wrong
    /// recipe): a step within about five minutes, not a 15-minute ramp.
    WrongRecipe,
}

/// An unknown scenario name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown scenario {given:?}; valid scenarios: {}", Scenario::names().join(", "))]
pub struct UnknownScenario {
    /// What was given.
    pub given: String,
}

impl Scenario {
    /// Every scenario, `Normal` first.
    ///
    /// New scenarios go at the end: a scenario's place here selects its random streams
    /// (`LineSim::with_plan`), and the committed training data depend on them.
    pub const ALL: [Scenario; 10] = [
        Scenario::Normal,
        Scenario::FatBloom,
        Scenario::SugarBloom,
        Scenario::Gritty,
        Scenario::SensorStuck,
        Scenario::SensorDropout,
        Scenario::Drift,
        Scenario::CoolingFailure,
        Scenario::ConcheOverheat,
        Scenario::WrongRecipe,
    ];

    /// The kebab-case name (`fat-bloom`), as accepted by `FromStr` and written to the CSV
    /// `scenario` / `fault` columns.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Normal => "normal",
            Scenario::FatBloom => "fat-bloom",
            Scenario::SugarBloom => "sugar-bloom",
            Scenario::Gritty => "gritty",
            Scenario::SensorStuck => "sensor-stuck",
            Scenario::SensorDropout => "sensor-dropout",
            Scenario::Drift => "drift",
            Scenario::CoolingFailure => "cooling-failure",
            Scenario::ConcheOverheat => "conche-overheat",
            Scenario::WrongRecipe => "wrong-recipe",
        }
    }

    /// Faults kept out of every training set (models/runs.json): only a detector of
    /// departures from healthy running (the `anomaly` model) can be expected to see them.
    pub fn is_unseen(self) -> bool {
        matches!(
            self,
            Scenario::CoolingFailure | Scenario::ConcheOverheat | Scenario::WrongRecipe
        )
    }

    /// All names, in `ALL` order.
    pub fn names() -> Vec<&'static str> {
        Scenario::ALL.iter().map(|s| s.name()).collect()
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = UnknownScenario;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .iter()
            .copied()
            .find(|sc| sc.name() == s)
            .ok_or_else(|| UnknownScenario {
                given: s.to_string(),
            })
    }
}

/// When a scenario's fault happens, relative to the simulation start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultPlan {
    /// Healthy warm-up before the fault starts. Default 30 min.
    pub warmup: Duration,
    /// How long the fault lasts; the line is healthy again afterwards. Default 2 h.
    pub duration: Duration,
    /// The fault recurs with this period (start to start), each episode with fresh
    /// magnitudes; `None` (default): one episode. A period not longer than `duration` is
    /// ignored (one episode).
    pub every: Option<Duration>,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            warmup: Duration::from_secs(30 * 60),
            duration: Duration::from_secs(2 * 3600),
            every: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(s.name().parse::<Scenario>(), Ok(s));
        }
    }

    #[test]
    fn unknown_name_lists_valid_ones() {
        let err = "fatbloom".parse::<Scenario>().unwrap_err().to_string();
        assert!(err.contains("\"fatbloom\""), "{err}");
        for s in Scenario::ALL {
            assert!(err.contains(s.name()), "{err}");
        }
    }
}
