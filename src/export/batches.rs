//! `batches.csv` rows from captured `batch` lines joined with the lab's labels. The training
//! pipeline (`models/training/dataset.py`) needs every column filled, so a batch without a
//! label, a measured yield or a numeric recipe is left out and counted by reason.

use std::collections::BTreeMap;

use crate::capture::line::BatchLine;
use crate::labels::Label;

/// A product the export knows, by its recipe id (`[[products]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// `[[products]] code`, e.g. `MILK35`.
    pub code: String,
    /// `[[products]] chocolate`: `dark`, `milk` or `white`.
    pub chocolate: String,
}

/// Why a batch was left out of `batches.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LeftOut {
    /// No label in the journal.
    Unlabelled,
    /// A label without a measured yield.
    NoYield,
    /// The batch line has no recipe, or one that is not a whole number.
    NoRecipe,
}

impl LeftOut {
    /// How the summary names the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            LeftOut::Unlabelled => "no label",
            LeftOut::NoYield => "label without yield",
            LeftOut::NoRecipe => "no numeric recipe",
        }
    }
}

/// `bean_lot` numbers: a lot that is a whole number is written as it is; any other lot text
/// gets a 1-based number per distinct text in order of first appearance in the export
/// (batches by start time), so the numbers are stable within one export. A batch without a
/// lot (no `[features] lot_signals`) is its own lot and gets a number of its own.
#[derive(Debug, Default)]
pub struct LotNumbers {
    seen: BTreeMap<String, u64>,
}

/// A whole number, as text, when `text` is one.
fn whole_number(text: &str) -> Option<i64> {
    let v: f64 = text.trim().parse().ok()?;
    (v.is_finite() && v.fract() == 0.0 && v.abs() < 9e15).then_some(v as i64)
}

impl LotNumbers {
    /// The `bean_lot` value of a batch.
    pub fn number(&mut self, batch_id: &str, lot: Option<&str>) -> String {
        if let Some(n) = lot.and_then(whole_number) {
            return n.to_string();
        }
        let key = match lot {
            Some(text) => format!("lot:{text}"),
            None => format!("batch:{batch_id}"),
        };
        let next = self.seen.len() as u64 + 1;
        self.seen.entry(key).or_insert(next).to_string()
    }
}

/// The `batches.csv` row (without the final newline) of `batch`, or why it is left out.
pub fn row(
    batch: &BatchLine,
    label: Option<&Label>,
    products: &BTreeMap<i64, Product>,
    lots: &mut LotNumbers,
) -> Result<String, LeftOut> {
    let recipe = batch
        .product
        .as_deref()
        .and_then(whole_number)
        .ok_or(LeftOut::NoRecipe)?;
    let label = label.ok_or(LeftOut::Unlabelled)?;
    let yield_pct = label.yield_pct.ok_or(LeftOut::NoYield)?;
    let (product, chocolate) = match products.get(&recipe) {
        Some(p) => (p.code.clone(), p.chocolate.clone()),
        None => (recipe.to_string(), "unknown".to_string()),
    };
    let lot = lots.number(&batch.batch_id, batch.lot.as_deref());
    Ok(format!(
        "{},{recipe},{product},{chocolate},{},{},{lot},{},{yield_pct},{}",
        batch.batch_id,
        batch.start_ms,
        batch.end_ms,
        label.grade.as_str(),
        label.defect.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::{Defect, Grade, LabelSource};

    fn batch(id: &str, product: Option<&str>, lot: Option<&str>) -> BatchLine {
        BatchLine {
            ts: 2000,
            batch_id: id.into(),
            product: product.map(String::from),
            lot: lot.map(String::from),
            start_ms: 1000,
            end_ms: 2000,
            samples: 10,
        }
    }

    fn label(yield_pct: Option<f64>) -> Label {
        Label {
            batch_id: "1001".into(),
            grade: Grade::B,
            defect: Defect::FatBloom,
            yield_pct,
            source: LabelSource::Cli,
            at: 3000,
        }
    }

    #[test]
    fn bean_lots_numeric_kept_texts_numbered_in_order_of_appearance() {
        let mut lots = LotNumbers::default();
        assert_eq!(lots.number("1", Some("77")), "77");
        assert_eq!(lots.number("2", Some("77.0")), "77");
        assert_eq!(lots.number("3", Some("22.5/1.1/80")), "1");
        assert_eq!(lots.number("4", Some("24/0.9/71")), "2");
        assert_eq!(
            lots.number("5", Some("22.5/1.1/80")),
            "1",
            "same text, same lot"
        );
        assert_eq!(lots.number("6", None), "3", "no lot: its own");
        assert_eq!(lots.number("7", None), "4");
        assert_eq!(lots.number("6", None), "3");
        assert_eq!(lots.number("8", Some("1.5")), "5", "not whole: numbered");
    }

    #[test]
    fn rows_join_the_label_and_the_product() {
        let products = BTreeMap::from([(
            3,
            Product {
                code: "MILK35".into(),
                chocolate: "milk".into(),
            },
        )]);
        let mut lots = LotNumbers::default();
        let b = batch("1001", Some("3"), Some("77"));
        assert_eq!(
            row(&b, Some(&label(Some(81.2))), &products, &mut lots),
            Ok("1001,3,MILK35,milk,1000,2000,77,B,81.2,fat_bloom".into())
        );
        let b = batch("1002", Some("9"), Some("x"));
        assert_eq!(
            row(&b, Some(&label(Some(80.0))), &products, &mut lots),
            Ok("1002,9,9,unknown,1000,2000,1,B,80,fat_bloom".into())
        );
    }

    #[test]
    fn batches_without_label_yield_or_recipe_are_left_out() {
        let products = BTreeMap::new();
        let mut lots = LotNumbers::default();
        let b = batch("1001", Some("3"), None);
        assert_eq!(
            row(&b, None, &products, &mut lots),
            Err(LeftOut::Unlabelled)
        );
        assert_eq!(
            row(&b, Some(&label(None)), &products, &mut lots),
            Err(LeftOut::NoYield)
        );
        for product in [None, Some("3.5"), Some("abc")] {
            let b = batch("1001", product, None);
            assert_eq!(
                row(&b, Some(&label(Some(80.0))), &products, &mut lots),
                Err(LeftOut::NoRecipe)
            );
        }
        assert_eq!(LeftOut::NoYield.as_str(), "label without yield");
    }
}
