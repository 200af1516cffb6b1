//! Reading `[models]` by hand. Its fixed keys (`dir`, `enabled`, …) sit beside one
//! `[models.<name>]` table per model, whose keys are data (model names), so serde's
//! `deny_unknown_fields` cannot be used with a flattened map: this visitor reads the fixed
//! keys, reads every other key as a [`ModelSettings`] table (which refuses unknown keys
//! itself), and refuses any other key that is not a table with serde's own "unknown field"
//! error — the configuration loader turns that into the usual "unknown key … expected one of"
//! naming file, line and key.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::config::{ModelSettings, ModelsConfig};

/// The fixed keys of `[models]`.
pub const FIELDS: &[&str] = &[
    "dir",
    "installed_dir",
    "enabled",
    "optimize",
    "verify_golden",
    "watch",
];

impl<'de> Deserialize<'de> for ModelsConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ModelsVisitor)
    }
}

struct ModelsVisitor;

impl<'de> Visitor<'de> for ModelsVisitor {
    type Value = ModelsConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the [models] table")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ModelsConfig, A::Error> {
        let mut cfg = ModelsConfig::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "dir" => cfg.dir = map.next_value()?,
                "installed_dir" => cfg.installed_dir = map.next_value()?,
                "enabled" => cfg.enabled = map.next_value()?,
                "optimize" => cfg.optimize = map.next_value()?,
                "verify_golden" => cfg.verify_golden = map.next_value()?,
                "watch" => cfg.watch = map.next_value()?,
                _ => {
                    let table = map.next_value_seed(Table { key: &key })?;
                    cfg.per_model.insert(key, table);
                }
            }
        }
        Ok(cfg)
    }
}

/// The value of a key that is not a fixed one: a `[models.<name>]` table, or an unknown key.
struct Table<'k> {
    key: &'k str,
}

impl<'de> DeserializeSeed<'de> for Table<'_> {
    type Value = ModelSettings;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ModelSettings, D::Error> {
        d.deserialize_any(self)
    }
}

impl Table<'_> {
    fn unknown<E: de::Error>(&self) -> E {
        E::unknown_field(self.key, FIELDS)
    }
}

impl<'de> Visitor<'de> for Table<'_> {
    type Value = ModelSettings;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a [models.{}] table", self.key)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ModelSettings, A::Error> {
        ModelSettings::deserialize(de::value::MapAccessDeserializer::new(map))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<ModelSettings, E> {
        Err(self.unknown())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<ModelSettings, E> {
        Err(self.unknown())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<ModelSettings, E> {
        Err(self.unknown())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<ModelSettings, E> {
        Err(self.unknown())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<ModelSettings, E> {
        Err(self.unknown())
    }

    fn visit_unit<E: de::Error>(self) -> Result<ModelSettings, E> {
        Err(self.unknown())
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<ModelSettings, A::Error> {
        Err(self.unknown())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<ModelsConfig, String> {
        let doc: toml_edit::DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
        let v = doc.as_item().clone().into_value().map_err(|_| "no value")?;
        use serde::de::IntoDeserializer;
        serde_path_to_error::deserialize::<_, ModelsConfig>(v.into_deserializer())
            .map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }

    #[test]
    fn fixed_keys_and_model_tables_are_read() {
        let c = read(
            "dir = \"m\"\nenabled = [\"bloom\"]\nwatch = false\n\
             [bloom]\ncandidate = \"c\"\nfolder = \"f\"\n",
        )
        .unwrap();
        assert_eq!(c.dir, std::path::PathBuf::from("m"));
        assert!(
            !c.watch && c.verify_golden,
            "unset keys keep their defaults"
        );
        assert_eq!(c.candidate("bloom"), Some(std::path::Path::new("c")));
        assert_eq!(c.shipped("bloom"), std::path::PathBuf::from("f"));
        assert_eq!(c.shipped("yield"), std::path::PathBuf::from("m/yield"));
        assert_eq!(c.candidate("yield"), None);
    }

    #[test]
    fn unknown_keys_are_refused_at_both_levels() {
        let e = read("verfy_golden = true\n").unwrap_err();
        assert!(
            e.contains("verfy_golden") && e.contains("unknown field") && e.contains("`watch`"),
            "{e}"
        );
        let e = read("[bloom]\ncandiate = \"c\"\n").unwrap_err();
        assert!(
            e.starts_with("bloom") && e.contains("unknown field `candiate`"),
            "{e}"
        );
        let e = read("dir = 3\n").unwrap_err();
        assert!(e.starts_with("dir"), "{e}");
    }
}
