//! After a product change the rules wait until their window holds only the new product:
//! the band rules (the new product's band) and the bloom probabilities alike.

use super::*;

#[test]
fn band_rules_wait_for_the_window_after_a_product_change() {
    let mut prods = products();
    prods.push(ProductConfig {
        code: "MILK35".into(),
        recipe_id: 3,
        chocolate: Chocolate::Milk,
        working_temp: None,
        moisture_pct: [1.0, 2.0],
        ph: [5.0, 5.5],
        particle_size_max_um: 25.0,
        cocoa_pct: None,
    });
    let mut e = AlertEngine::new(&AlertsConfig::default(), &prods, "plant", "L1", &specs());
    let milk = |s: i64| {
        let Record::Prediction(mut p) = bloom(s, 0.0, 0.0, 31.5) else {
            unreachable!()
        };
        p.batch.product = Some("MILK35".into());
        Record::Prediction(p)
    };
    // DARK70 at 31.5 °C is in band; the recipe switches to MILK35 [30, 31] while the
    // 60-sample temperature mean still says 31.5: the first 60 evaluations are skipped.
    let mut recs: Vec<Record> = (0..5).map(|i| bloom(i, 0.0, 0.0, 31.5)).collect();
    recs.extend((5..65).map(milk));
    assert!(alerts(&feed(&mut e, recs)).is_empty());
    // Still 31.5 after the window: now it is a real excursion (0.5 °C > 0.2), raised at the
    // 3rd evaluation.
    let a = feed(&mut e, (65..68).map(milk).collect());
    let a = alerts(&a);
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].kind, a[0].ts),
        (AlertKind::FatBloomRisk, TimestampMs(67_000))
    );
}

/// `record` made while `product` runs.
fn during(mut record: Record, product: &str) -> Record {
    if let Record::Prediction(p) = &mut record {
        p.batch.product = Some(product.into());
        p.features.batch.product = Some(product.into());
    }
    record
}

#[test]
fn bloom_probabilities_wait_for_the_window_after_a_product_change() {
    // The bloom spec's longest window is 60 samples: for 60 evaluations after a product
    // change the window mixes two products, and the model's probabilities raise nothing.
    let mut e = engine();
    let mut recs: Vec<Record> = (0..10)
        .map(|s| during(bloom(s, 0.1, 0.0, 31.5), "DARK70"))
        .collect();
    recs.extend((10..69).map(|s| during(bloom(s, 0.95, 0.0, 31.5), "WHITE30")));
    assert!(alerts(&feed(&mut e, recs)).is_empty());
    // Once the window holds only the new product, the same probabilities raise (3 in a row).
    let out = feed(
        &mut e,
        (69..73)
            .map(|s| during(bloom(s, 0.95, 0.0, 31.5), "WHITE30"))
            .collect(),
    );
    let a = alerts(&out);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].kind, AlertKind::FatBloomRisk);
    assert_eq!(
        a[0].ts,
        TimestampMs(72_000),
        "60 evaluations skipped (s = 10..69), raised on the third after"
    );
}
