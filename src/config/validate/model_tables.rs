//! `[models.<name>]` tables (docs/shadow.md): each names an enabled model, and its folders
//! exist ([`model_tables`], with every other check: `check-config`, `run`, SIGHUP). What the
//! candidate folder holds — a model that loads, passes its golden rows and takes the serving
//! model's inputs — is checked by `check-config` only ([`candidate_files`]): at `run` and on
//! SIGHUP the registry makes the same checks when it loads the candidate, and a refused
//! candidate is logged while the serving model goes on, so that a shadow experiment can never
//! keep the line's agent from starting.

use std::path::Path;

use super::super::Config;
use super::super::keypath::KeyPath;
use super::super::structure::Problem;
use super::pipeline::dir_must_exist;
use super::push;
use crate::infer::manifest::Manifest;
use crate::infer::registry::load_as;

/// Every table names an enabled model; its `folder` and `candidate` are directories, and a
/// candidate is not the folder the model already serves from.
pub(super) fn model_tables(cfg: &Config, out: &mut Vec<Problem>) {
    let m = &cfg.models;
    for (name, t) in &m.per_model {
        let p = KeyPath::root().key("models").key(name);
        if !m.enabled.contains(name) {
            let msg = format!(
                "a [models.{name}] table must name an enabled model (enabled: {}); enable it or \
                 remove the table",
                m.enabled.join(", ")
            );
            push(out, p, msg);
            continue;
        }
        if let Some(f) = &t.folder {
            dir_must_exist(f, p.key("folder"), out);
        }
        let Some(c) = &t.candidate else { continue };
        dir_must_exist(c, p.key("candidate"), out);
        if c.is_dir() && same_dir(c, &m.folder(name)) {
            let msg = format!(
                "{} is the folder model {name} serves from; after a promotion remove candidate",
                c.display()
            );
            push(out, p.key("candidate"), msg);
        }
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// `check-config` only: every candidate folder holds a model the registry would load (the
/// serving checks: manifest, sha256, ONNX, golden rows when `verify_golden`) whose manifest
/// takes the serving model's inputs (name, task, level, feature list). Run after
/// [`model_tables`] passed, so the folders exist.
pub(crate) fn candidate_files(cfg: &Config) -> Vec<Problem> {
    let m = &cfg.models;
    let mut out = Vec::new();
    for (name, t) in &m.per_model {
        let Some(dir) = &t.candidate else { continue };
        let key = KeyPath::root().key("models").key(name).key("candidate");
        let candidate = match load_as(dir, Some(name), m.verify_golden, true) {
            Ok(s) => s,
            Err(e) => {
                push(&mut out, key, format!("not a model that loads: {e}"));
                continue;
            }
        };
        // An unreadable serving manifest is the registry's to report at start.
        let Ok(serving) = Manifest::load(&m.folder(name)) else {
            continue;
        };
        if let Err(reason) = serving.same_inputs(&candidate.manifest) {
            let msg = format!(
                "must take the serving model's inputs ({}): {reason}",
                m.folder(name).display()
            );
            push(&mut out, key, msg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_one, run};
    use super::*;
    use crate::config::testing::valid;
    use crate::infer::config::ModelSettings;

    fn with_table(folder: Option<&Path>, candidate: Option<&Path>) -> Config {
        let mut c = valid();
        c.models.enabled = vec!["bloom".into()];
        let t = ModelSettings {
            folder: folder.map(Path::to_owned),
            candidate: candidate.map(Path::to_owned),
        };
        c.models.per_model.insert("bloom".into(), t);
        c
    }

    #[test]
    fn a_table_names_an_enabled_model_and_existing_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let c = with_table(None, Some(tmp.path()));
        assert!(
            run(model_tables, &c).is_empty(),
            "{:?}",
            run(model_tables, &c)
        );

        let mut c = with_table(None, Some(tmp.path()));
        let t = c.models.per_model.remove("bloom").unwrap();
        c.models.per_model.insert("blom".into(), t);
        assert_one(&run(model_tables, &c), "models.blom", "enabled model");

        let gone = tmp.path().join("gone");
        let c = with_table(None, Some(&gone));
        assert_one(
            &run(model_tables, &c),
            "models.bloom.candidate",
            "does not exist",
        );
        let c = with_table(Some(&gone), None);
        assert_one(
            &run(model_tables, &c),
            "models.bloom.folder",
            "does not exist",
        );
    }

    #[test]
    fn a_candidate_is_not_the_serving_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let c = with_table(Some(tmp.path()), Some(tmp.path()));
        assert_one(
            &run(model_tables, &c),
            "models.bloom.candidate",
            "remove candidate",
        );
    }

    fn files(c: &Config) -> Vec<String> {
        (candidate_files(c).iter())
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect()
    }

    #[test]
    fn a_candidate_must_load_and_take_the_serving_inputs() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let mut c = with_table(None, Some(&root.join("yield")));
        c.models.dir = root.clone();
        c.models.verify_golden = false;
        let got = files(&c);
        assert_one(&got, "models.bloom.candidate", "serving model's inputs");
        assert!(got[0].contains("its name is \"yield\""), "{got:?}");

        let tmp = tempfile::tempdir().unwrap();
        let c = with_table(None, Some(tmp.path()));
        assert_one(
            &files(&c),
            "models.bloom.candidate",
            "not a model that loads",
        );
    }
}
