//! `[fleet]` and `[models] installed_dir`: the keys bundles are checked against and where they
//! are installed.

use super::*;
use crate::fleet::keys::PublicKey;

pub(super) fn fleet(cfg: &Config, out: &mut Vec<Problem>) {
    let f = KeyPath::root().key("fleet");
    for (i, key) in cfg.fleet.trusted_keys.iter().enumerate() {
        if let Err(reason) = PublicKey::parse(key) {
            push(out, f.key("trusted_keys").index(i), reason);
        }
    }
    for (key, v) in [
        ("health_max_error_share", cfg.fleet.health_max_error_share),
        (
            "health_max_confidence_drop",
            cfg.fleet.health_max_confidence_drop,
        ),
    ] {
        if !(0.0..=1.0).contains(&v) {
            push(
                out,
                f.key(key),
                format!("{v} is not a share between 0 and 1"),
            );
        }
    }
    if let Some(t) = &cfg.fleet.group_deploy_topic
        && (t.is_empty() || t.contains(['+', '#']) || t.starts_with('/') || t.ends_with('/'))
    {
        push(
            out,
            f.key("group_deploy_topic"),
            format!("{t:?} is not a plain topic (no wildcards, no leading or trailing '/')"),
        );
    }
    let Some(dir) = &cfg.models.installed_dir else {
        return;
    };
    let path = KeyPath::root().key("models").key("installed_dir");
    if dir.as_os_str().is_empty() {
        push(
            out,
            path,
            "must not be empty (leave it out to refuse installs)",
        );
    } else if dir == &cfg.models.dir {
        push(
            out,
            path,
            "must not be [models] dir: installed bundles live beside the shipped models",
        );
    } else if dir.exists() && !dir.is_dir() {
        push(out, path, format!("{} is not a directory", dir.display()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::valid;

    fn run(cfg: &Config) -> Vec<String> {
        let mut out = Vec::new();
        fleet(cfg, &mut out);
        out.iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect()
    }

    #[test]
    fn trusted_keys_must_be_ed25519_public_keys_and_each_bad_one_is_named() {
        let mut c = valid();
        c.fleet.trusted_keys = vec![
            format!("ed25519:{}", "ab".repeat(32)),
            "ab".repeat(32),
            "ab".repeat(31),
            "not a key".into(),
        ];
        let got = run(&c);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].starts_with("fleet.trusted_keys[2]: ") && got[0].contains("32 bytes"));
        assert!(got[1].starts_with("fleet.trusted_keys[3]: ") && got[1].contains("hex"));
        c.fleet.trusted_keys.clear();
        c.fleet.health_max_error_share = 5.0;
        c.fleet.health_max_confidence_drop = f64::NAN;
        let got = run(&c);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got[0].starts_with("fleet.health_max_error_share: "),
            "{got:?}"
        );
        let mut c = valid();
        c.fleet.group_deploy_topic = Some("chocoline/fleet/+/cmd/deploy".into());
        assert!(run(&c)[0].starts_with("fleet.group_deploy_topic: "));
        c.fleet.group_deploy_topic = Some("chocoline/fleet/dark/cmd/deploy".into());
        assert!(run(&c).is_empty());
    }

    #[test]
    fn installed_dir_must_not_be_the_shipped_models_dir_or_a_file() {
        let mut c = valid();
        c.models.installed_dir = Some(c.models.dir.clone());
        let got = run(&c);
        assert!(
            got.len() == 1 && got[0].starts_with("models.installed_dir: "),
            "{got:?}"
        );
        let file = tempfile::NamedTempFile::new().unwrap();
        c.models.installed_dir = Some(file.path().to_owned());
        assert!(run(&c)[0].contains("not a directory"));
        c.models.installed_dir = Some(c.models.dir.join("does-not-exist-yet"));
        assert!(run(&c).is_empty(), "created on the first install");
    }
}
