//! `samples.csv` rows from captured `sample` lines: one row per line of the device that holds
//! the batch-id register, every other signal forward-filled from the newest line of its own
//! device at or before the row; a value that is null or whose quality is not `good` is
//! written empty.

use std::collections::{BTreeMap, VecDeque};

use crate::capture::line::SampleLine;
use crate::domain::Quality;

/// Lines kept per device: a device's poll cycle may be written slightly after a later-starting
/// cycle of another device, so the newest line at or before a row may not be the last one.
const KEEP_PER_DEVICE: usize = 4;

/// Which register feeds which column of `samples.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// The register holding the batch id (`[features] batch_id_signal`).
    pub batch_id: String,
    /// The register holding the recipe (`[features] product_signal`).
    pub recipe: String,
    /// The other signal columns in header order, each with its register.
    pub signals: Vec<(String, String)>,
}

/// Why a sample line of the batch-id device gave no row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// The batch id is missing, null or not of `good` quality.
    NoBatchId,
    /// The recipe is missing, null or not of `good` quality (here or forward-filled).
    NoRecipe,
}

/// The newest sample lines of every device, to forward-fill from.
#[derive(Debug, Default)]
pub struct ForwardFill {
    devices: BTreeMap<String, VecDeque<SampleLine>>,
    /// Register → devices that carry it (the last one seen wins).
    owner: BTreeMap<String, String>,
}

/// A usable value: present, finite and of `good` quality.
fn good(line: &SampleLine, register: &str) -> Option<f64> {
    let value = line.values.get(register).copied().flatten()?;
    let quality = line.quality.get(register)?;
    (*quality == Quality::Good && value.is_finite()).then_some(value)
}

impl ForwardFill {
    /// Remember `line` as its device's newest.
    pub fn push(&mut self, line: SampleLine) {
        for register in line.values.keys() {
            if self.owner.get(register) != Some(&line.device) {
                self.owner.insert(register.clone(), line.device.clone());
            }
        }
        let kept = self.devices.entry(line.device.clone()).or_default();
        if kept.len() == KEEP_PER_DEVICE {
            kept.pop_front();
        }
        kept.push_back(line);
    }

    /// The value of `register` for a row at `ts`: from the newest line of its device at or
    /// before `ts`, when that value is usable.
    pub fn value_at(&self, register: &str, ts: i64) -> Option<f64> {
        let device = self.owner.get(register)?;
        let line = self
            .devices
            .get(device)?
            .iter()
            .rev()
            .find(|l| l.ts <= ts)?;
        good(line, register)
    }

    /// The `samples.csv` row (without the final newline) for `row`, a line of the batch-id
    /// device, after it was [`push`](Self::push)ed.
    pub fn row(&self, row: &SampleLine, cols: &Columns) -> Result<String, Dropped> {
        let batch_id = good(row, &cols.batch_id).ok_or(Dropped::NoBatchId)?;
        let recipe = self
            .value_at(&cols.recipe, row.ts)
            .ok_or(Dropped::NoRecipe)?;
        let mut out = format!("{},{batch_id},{recipe}", row.ts);
        for (_, register) in &cols.signals {
            out.push(',');
            if let Some(v) = self.value_at(register, row.ts) {
                out.push_str(&v.to_string());
            }
        }
        // scenario, fault, bloom_label: real line data carries no such labels.
        out.push_str(",,,");
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ts: i64, device: &str, values: &[(&str, Option<f64>, Quality)]) -> SampleLine {
        SampleLine {
            ts,
            device: device.into(),
            values: values.iter().map(|(k, v, _)| (k.to_string(), *v)).collect(),
            quality: values.iter().map(|(k, _, q)| (k.to_string(), *q)).collect(),
        }
    }

    fn cols() -> Columns {
        Columns {
            batch_id: "batch_id".into(),
            recipe: "recipe".into(),
            signals: vec![
                ("temperature".into(), "tempering_temp".into()),
                ("ph".into(), "ph".into()),
            ],
        }
    }

    use Quality::{CommError, Good, Stale};

    #[test]
    fn other_devices_are_forward_filled_from_their_newest_line_at_or_before_the_row() {
        let mut ff = ForwardFill::default();
        ff.push(line(
            900,
            "tempering",
            &[("tempering_temp", Some(31.5), Good)],
        ));
        ff.push(line(1000, "conche", &[("ph", Some(5.2), Good)]));
        // Written before the row but started after it: not used for the row at 1000.
        ff.push(line(
            1001,
            "tempering",
            &[("tempering_temp", Some(32.0), Good)],
        ));
        let plc = line(
            1000,
            "plc",
            &[
                ("batch_id", Some(1001.0), Good),
                ("recipe", Some(3.0), Good),
            ],
        );
        ff.push(plc.clone());
        assert_eq!(ff.row(&plc, &cols()), Ok("1000,1001,3,31.5,5.2,,,".into()));
        let plc = line(
            1002,
            "plc",
            &[
                ("batch_id", Some(1001.0), Good),
                ("recipe", Some(3.0), Good),
            ],
        );
        ff.push(plc.clone());
        assert_eq!(ff.row(&plc, &cols()), Ok("1002,1001,3,32,5.2,,,".into()));
    }

    #[test]
    fn bad_quality_and_null_values_are_written_empty_never_stale() {
        let mut ff = ForwardFill::default();
        ff.push(line(
            900,
            "tempering",
            &[("tempering_temp", Some(31.5), Good)],
        ));
        ff.push(line(
            950,
            "tempering",
            &[("tempering_temp", Some(31.7), CommError)],
        ));
        ff.push(line(960, "conche", &[("ph", None, Good)]));
        let plc = line(
            1000,
            "plc",
            &[
                ("batch_id", Some(1001.0), Good),
                ("recipe", Some(3.0), Good),
            ],
        );
        ff.push(plc.clone());
        assert_eq!(ff.row(&plc, &cols()), Ok("1000,1001,3,,,,,".into()));
    }

    #[test]
    fn rows_without_a_good_batch_id_or_recipe_are_dropped() {
        let mut ff = ForwardFill::default();
        let no_id = line(
            1000,
            "plc",
            &[
                ("batch_id", Some(1001.0), Stale),
                ("recipe", Some(3.0), Good),
            ],
        );
        ff.push(no_id.clone());
        assert_eq!(ff.row(&no_id, &cols()), Err(Dropped::NoBatchId));
        let no_recipe = line(
            1001,
            "plc",
            &[("batch_id", Some(1001.0), Good), ("recipe", None, Good)],
        );
        ff.push(no_recipe.clone());
        assert_eq!(ff.row(&no_recipe, &cols()), Err(Dropped::NoRecipe));
        // A signal no device ever had is empty.
        let mut ff = ForwardFill::default();
        let plc = line(
            5,
            "plc",
            &[("batch_id", Some(7.0), Good), ("recipe", Some(1.0), Good)],
        );
        ff.push(plc.clone());
        assert_eq!(ff.row(&plc, &cols()), Ok("5,7,1,,,,,".into()));
    }
}
