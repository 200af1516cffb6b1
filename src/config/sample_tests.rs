//! The reference sample `config/chocoline.toml` documents every key of the schema, and both
//! samples load and validate. The key list is derived from the serde types (a fully populated
//! [`Config`] serialised), never written by hand, so a new setting without documentation fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::testing::fully_populated;
use super::{Env, load_with_env, structure};

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name)
}

/// Dotted key paths of a JSON value; arrays of tables are merged, other arrays are leaves.
fn json_keys(v: &serde_json::Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                json_keys(v, &p, out);
            }
        }
        serde_json::Value::Array(a) if a.iter().any(|x| x.is_object()) => {
            for x in a {
                json_keys(x, prefix, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

/// The sample with its optional settings (`# key = value`) switched on; `## ` lines stay
/// comments. Any other single-`#` line would break the parse, which the test then reports.
fn uncommented(text: &str) -> String {
    text.lines()
        .map(|l| {
            let t = l.trim_start();
            match t.strip_prefix("# ") {
                Some(rest) if !t.starts_with("##") => rest.to_string(),
                _ => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn reference_sample_documents_every_key_of_the_schema() {
    let mut schema = BTreeSet::new();
    json_keys(
        &serde_json::to_value(fully_populated()).unwrap(),
        "",
        &mut schema,
    );
    assert!(
        schema.len() > 80,
        "the derived key list looks too short: {schema:?}"
    );

    let text = std::fs::read_to_string(sample("chocoline.toml")).unwrap();
    let text = uncommented(&text);
    let doc: toml_edit::Document<String> = text
        .parse()
        .unwrap_or_else(|e| panic!("the sample with its optional settings on must parse: {e}"));
    // The optional settings have the right types, too.
    let problems = structure::check_document(&doc);
    assert!(problems.is_empty(), "{problems:?}");
    let value: toml_edit::Value = doc.as_item().clone().into_value().unwrap();
    let json: serde_json::Value = serde_json::to_value(toml_value_to_json(&value)).unwrap();
    let mut documented = BTreeSet::new();
    json_keys(&json, "", &mut documented);

    let missing: Vec<&String> = schema.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "keys missing from config/chocoline.toml: {missing:?}"
    );
}

fn toml_value_to_json(v: &toml_edit::Value) -> serde_json::Value {
    use toml_edit::Value as V;
    match v {
        V::String(s) => serde_json::Value::String(s.value().clone()),
        V::Integer(i) => serde_json::Value::from(*i.value()),
        V::Float(f) => serde_json::Value::from(*f.value()),
        V::Boolean(b) => serde_json::Value::Bool(*b.value()),
        V::Datetime(d) => serde_json::Value::String(d.value().to_string()),
        V::Array(a) => serde_json::Value::Array(a.iter().map(toml_value_to_json).collect()),
        V::InlineTable(t) => serde_json::Value::Object(
            t.iter()
                .map(|(k, v)| (k.to_string(), toml_value_to_json(v)))
                .collect(),
        ),
    }
}

#[test]
fn both_samples_load_and_validate() {
    for name in ["chocoline.toml", "demo.toml"] {
        let plan = load_with_env(&sample(name), &Env::empty())
            .unwrap_or_else(|e| panic!("config/{name} must pass check-config:\n{e}"));
        assert_eq!(plan.config.devices.len(), 4, "{name}");
        // The products are the simulator's recipes: same codes, ids, chocolate and cocoa %.
        let products: Vec<(String, u32, String, Option<f64>)> = plan
            .config
            .products
            .iter()
            .map(|p| {
                let kind = format!("{:?}", p.chocolate).to_lowercase();
                (p.code.clone(), p.recipe_id, kind, p.cocoa_pct)
            })
            .collect();
        let recipes: Vec<(String, u32, String, Option<f64>)> = crate::simulate::RECIPES
            .iter()
            .map(|r| {
                (
                    r.code.to_string(),
                    r.id,
                    r.kind.name().to_string(),
                    Some(r.cocoa_pct),
                )
            })
            .collect();
        assert_eq!(products, recipes, "{name}");
    }
}

#[test]
fn demo_has_the_reference_register_map_on_the_simulator() {
    let reference = load_with_env(&sample("chocoline.toml"), &Env::empty())
        .unwrap()
        .config;
    let demo = load_with_env(&sample("demo.toml"), &Env::empty())
        .unwrap()
        .config;
    let expected_slaves = [("tempering", 1), ("refiner", 2), ("conche", 3), ("plc", 4)];
    for ((r, d), (name, slave)) in reference
        .devices
        .iter()
        .zip(&demo.devices)
        .zip(expected_slaves)
    {
        assert_eq!(d.name, name);
        assert_eq!(r.name, name);
        assert_eq!(d.controller, "tcp://127.0.0.1:5020");
        assert_eq!(d.slave_id, slave);
        assert_eq!(r.registers, d.registers, "device {name}");
    }
    let signals: Vec<&str> = demo
        .devices
        .iter()
        .flat_map(|d| d.registers.iter().map(|r| r.name.as_str()))
        .collect();
    // docs/signals.md: the canonical signals, in table order.
    assert_eq!(
        signals,
        [
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
            "bean_quality"
        ]
    );
    assert!(demo.store.data_dir.starts_with("/tmp"));
    assert_eq!(demo.mqtt.url, "mqtt://127.0.0.1:1883");
    assert_eq!(demo.metrics.listen.to_string(), "127.0.0.1:9898");
}

#[test]
fn models_dir_is_relative_to_the_config_file() {
    let plan = load_with_env(&sample("chocoline.toml"), &Env::empty()).unwrap();
    let expected = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    assert_eq!(
        plan.config.models.dir.canonicalize().unwrap(),
        expected.canonicalize().unwrap()
    );
}
