use std::path::{Path, PathBuf};

use super::*;
use crate::fleet::bundle::pack;
use crate::fleet::keys::SigningKey;
use crate::infer::config::ModelsConfig;
use crate::infer::installed::resolve;
use crate::infer::registry::Registry;

/// A copy of the committed bloom model under `<root>/src/bloom`, its manifest version set to
/// `version` (so that two installs can be told apart by what serves).
fn bloom_copy(root: &Path, version: &str) -> PathBuf {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/bloom");
    let dir = root.join(format!("src-{version}")).join("bloom");
    fs::create_dir_all(&dir).unwrap();
    for f in ["model.onnx", "golden.csv"] {
        fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let mut m: serde_json::Value =
        serde_json::from_slice(&fs::read(src.join("manifest.json")).unwrap()).unwrap();
    m["version"] = version.into();
    fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&m).unwrap(),
    )
    .unwrap();
    dir
}

struct Setup {
    tmp: tempfile::TempDir,
    dir: PathBuf,
    key: SigningKey,
    trusted: Vec<PublicKey>,
    enabled: Vec<String>,
}

impl Setup {
    fn new() -> Setup {
        let key = SigningKey::generate().unwrap().0;
        let tmp = tempfile::tempdir().unwrap();
        Setup {
            dir: tmp.path().join("installed"),
            trusted: vec![key.public()],
            key,
            tmp,
            enabled: vec!["bloom".into(), "yield".into()],
        }
    }
    fn dir(&self) -> PathBuf {
        self.dir.clone()
    }
    fn installer(&self, allow_downgrade: bool) -> Installer<'_> {
        Installer {
            dir: &self.dir,
            trusted: &self.trusted,
            enabled: &self.enabled,
            allow_downgrade,
            verify_golden: true,
        }
    }
    fn bundle(&self, manifest_version: &str, version: u64) -> Vec<u8> {
        pack(
            &bloom_copy(self.tmp.path(), manifest_version),
            &self.key,
            version,
        )
        .unwrap()
    }
    /// The manifest version of what `current` names.
    fn serving(&self) -> Option<String> {
        let dir = resolve(&self.dir(), "bloom")?;
        Some(load_served(&dir, false, false).unwrap().version.to_string())
    }
    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.dir().join("bloom"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

#[test]
fn installs_swap_current_keep_one_previous_and_refuse_older_or_equal_versions() {
    let s = Setup::new();
    let done = s.installer(false).install(&s.bundle("t1", 1)).unwrap();
    assert_eq!((done.version, done.previous), (1, None));
    assert_eq!(done.manifest_version, "t1");
    assert_eq!(s.serving().as_deref(), Some("t1"));
    s.installer(false).install(&s.bundle("t2", 2)).unwrap();
    let done = s.installer(false).install(&s.bundle("t5", 5)).unwrap();
    assert_eq!(done.previous, Some(2));
    assert_eq!(s.serving().as_deref(), Some("t5"));
    // v1 was pruned; v2 stays as `previous`.
    assert_eq!(s.entries(), ["current", "previous", "v2", "v5"]);
    for (v, allow, kind) in [
        (4, false, "downgrade"),
        (5, false, "already_installed"),
        (5, true, "already_installed"),
    ] {
        let err = s.installer(allow).install(&s.bundle("old", v)).unwrap_err();
        assert_eq!(err.kind(), kind, "v{v}: {err}");
        assert_eq!(s.serving().as_deref(), Some("t5"));
    }
    let done = s.installer(true).install(&s.bundle("t3", 3)).unwrap();
    assert_eq!((done.version, done.previous), (3, Some(5)));
    assert_eq!(s.serving().as_deref(), Some("t3"));
}

#[test]
fn a_refused_bundle_changes_nothing_that_serves_and_leaves_nothing_behind() {
    let s = Setup::new();
    s.installer(false).install(&s.bundle("t1", 1)).unwrap();
    let good = s.bundle("t2", 2);
    let mut tampered = good.clone();
    let n = tampered.len();
    tampered[n / 2] ^= 0x40;
    let other = SigningKey::generate().unwrap().0;
    let foreign = pack(&bloom_copy(s.tmp.path(), "f"), &other, 9).unwrap();
    let cases: [(&[u8], &str); 4] = [
        (&tampered, "bad_signature"),
        (&foreign, "untrusted_key"),
        (&good[..n - 10], "truncated"),
        (&good[..n / 3], "truncated"),
    ];
    for (bytes, kind) in cases {
        let err = s.installer(false).install(bytes).unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
        assert_eq!(s.serving().as_deref(), Some("t1"));
        assert_eq!(s.entries(), ["current", "v1"]);
    }
}

#[test]
fn a_bundle_whose_golden_rows_fail_is_refused_after_staging_and_the_stage_removed() {
    let s = Setup::new();
    s.installer(false).install(&s.bundle("t1", 1)).unwrap();
    let dir = bloom_copy(s.tmp.path(), "bad");
    let golden = fs::read_to_string(dir.join("golden.csv")).unwrap();
    // Change one expected probability in the first data row by far more than the tolerance.
    let mut lines: Vec<String> = golden.lines().map(String::from).collect();
    let row: Vec<&str> = lines[1].split(',').collect();
    let last = row.len() - 1;
    let bumped: f64 = row[last].parse::<f64>().unwrap() + 0.5;
    lines[1] = [&row[..last], &[bumped.to_string().as_str()]]
        .concat()
        .join(",");
    fs::write(dir.join("golden.csv"), lines.join("\n") + "\n").unwrap();
    let bytes = pack(&dir, &s.key, 2).unwrap();
    let err = s.installer(false).install(&bytes).unwrap_err();
    assert_eq!(err.kind(), "model_refused", "{err}");
    assert!(err.to_string().contains("version 2"), "{err}");
    assert_eq!(s.serving().as_deref(), Some("t1"));
    assert_eq!(s.entries(), ["current", "v1"]);
}

#[test]
fn a_version_the_agent_rolled_back_is_refused_afterwards_and_a_new_one_is_not() {
    let s = Setup::new();
    s.installer(false).install(&s.bundle("t1", 1)).unwrap();
    s.installer(false).install(&s.bundle("t2", 2)).unwrap();
    rollback(&s.dir(), "bloom", true).unwrap();
    mark_rolled_back(&s.dir(), "bloom", 2).unwrap();
    let err = s.installer(false).install(&s.bundle("t2", 2)).unwrap_err();
    assert_eq!(err.kind(), "rolled_back_before", "{err}");
    assert_eq!(s.serving().as_deref(), Some("t1"));
    s.installer(false).install(&s.bundle("t3", 3)).unwrap();
    assert_eq!(s.serving().as_deref(), Some("t3"));
}

#[test]
fn a_bundle_for_a_model_not_enabled_is_refused_before_anything_is_written() {
    let mut s = Setup::new();
    s.enabled = vec!["quality".into()];
    let err = s.installer(false).install(&s.bundle("t1", 1)).unwrap_err();
    assert_eq!(err.kind(), "model_not_enabled", "{err}");
    assert!(!s.dir().exists());
}

#[test]
fn rollback_swaps_current_and_previous_or_returns_to_the_shipped_model() {
    let s = Setup::new();
    let err = rollback(&s.dir(), "bloom", true).unwrap_err();
    assert_eq!(err.kind(), "no_previous", "nothing installed: {err}");
    s.installer(false).install(&s.bundle("t1", 1)).unwrap();
    s.installer(false).install(&s.bundle("t2", 2)).unwrap();
    assert_eq!(rollback(&s.dir(), "bloom", true).unwrap(), (2, Some(1)));
    assert_eq!(s.serving().as_deref(), Some("t1"));
    assert_eq!(current_version(&s.dir(), "bloom"), Some(1));
    assert_eq!(rollback(&s.dir(), "bloom", true).unwrap(), (1, Some(2)));
    assert_eq!(s.serving().as_deref(), Some("t2"));
}

#[test]
fn rolling_back_the_only_installed_version_makes_the_shipped_model_serve_again() {
    let s = Setup::new();
    s.installer(false).install(&s.bundle("t1", 1)).unwrap();
    assert_eq!(rollback(&s.dir(), "bloom", true).unwrap(), (1, None));
    assert_eq!(
        s.serving(),
        None,
        "no `current`: the registry loads [models] dir/bloom"
    );
    assert_eq!(
        rollback(&s.dir(), "bloom", true).unwrap_err().kind(),
        "no_previous"
    );
    // A new install after that has no previous and replaces nothing installed.
    let done = s.installer(false).install(&s.bundle("t2", 2)).unwrap();
    assert_eq!((done.version, done.previous), (2, None));
}

#[test]
fn leftovers_of_an_interrupted_install_are_replaced_or_pruned_by_the_next() {
    let s = Setup::new();
    s.installer(false).install(&s.bundle("t1", 1)).unwrap();
    let m = s.dir().join("bloom");
    // A stage cut short, a complete version never linked, a half-made symlink.
    fs::create_dir_all(m.join(".stage-v2")).unwrap();
    fs::write(m.join(".stage-v2/model.onnx"), b"half").unwrap();
    fs::create_dir_all(m.join("v7")).unwrap();
    std::os::unix::fs::symlink("v7", m.join(".current.tmp")).unwrap();
    assert_eq!(s.serving().as_deref(), Some("t1"));
    s.installer(false).install(&s.bundle("t2", 2)).unwrap();
    assert_eq!(s.serving().as_deref(), Some("t2"));
    assert_eq!(s.entries(), ["current", "previous", "v1", "v2"]);
}

#[test]
fn the_registry_serves_the_installed_version_and_follows_an_install_on_its_next_poll() {
    let s = Setup::new();
    let shipped = s.tmp.path().join("shipped");
    fs::create_dir_all(&shipped).unwrap();
    let base = bloom_copy(s.tmp.path(), "shipped");
    fs::rename(&base, shipped.join("bloom")).unwrap();
    let cfg = ModelsConfig {
        dir: shipped,
        installed_dir: Some(s.dir()),
        enabled: vec!["bloom".into()],
        ..ModelsConfig::default()
    };
    let (reg, errors) = Registry::open(&cfg);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(&*reg.get("bloom").unwrap().version, "shipped");
    assert!(reg.poll_changes().is_empty());
    s.installer(false).install(&s.bundle("t1", 1)).unwrap();
    assert_eq!(reg.poll_changes().len(), 1);
    assert_eq!(&*reg.get("bloom").unwrap().version, "t1");
    let (reg2, _) = Registry::open(&cfg);
    assert_eq!(&*reg2.get("bloom").unwrap().version, "t1");
    s.installer(false).install(&s.bundle("t2", 2)).unwrap();
    rollback(&s.dir(), "bloom", true).unwrap();
    s.installer(false).install(&s.bundle("t3", 3)).unwrap();
    reg.poll_changes();
    assert_eq!(&*reg.get("bloom").unwrap().version, "t3");
}

/// A new agent binary may refuse a bundle installed under an older one (an operator it no
/// longer includes). At start the shipped model then serves instead, a later install is still
/// picked up, and with the shipped model refused too the slot stays empty and is reported.
#[test]
fn an_installed_version_refused_at_start_leaves_the_shipped_model_serving() {
    let s = Setup::new();
    let shipped = s.tmp.path().join("shipped");
    fs::create_dir_all(&shipped).unwrap();
    fs::rename(bloom_copy(s.tmp.path(), "shipped"), shipped.join("bloom")).unwrap();
    let cfg = ModelsConfig {
        dir: shipped.clone(),
        installed_dir: Some(s.dir()),
        enabled: vec!["bloom".into()],
        ..ModelsConfig::default()
    };
    s.installer(false).install(&s.bundle("t1", 1)).unwrap();
    let installed = resolve(&s.dir(), "bloom").unwrap();
    fs::write(installed.join("model.onnx"), b"not an ONNX file").unwrap();

    let (reg, errors) = Registry::open(&cfg);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(&*reg.get("bloom").unwrap().version, "shipped");
    assert!(
        reg.poll_changes().is_empty(),
        "no reload loop on the refused folder"
    );
    s.installer(false).install(&s.bundle("t2", 2)).unwrap();
    assert_eq!(reg.poll_changes().len(), 1);
    assert_eq!(&*reg.get("bloom").unwrap().version, "t2");

    // A shipped model that takes other features does not stand in (the feature engine reads
    // the installed manifest); it still loads on its own.
    let installed = resolve(&s.dir(), "bloom").unwrap();
    fs::write(installed.join("model.onnx"), b"not an ONNX file").unwrap();
    let manifest = shipped.join("bloom/manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&fs::read(&manifest).unwrap()).unwrap();
    m["features"][0]["window"] = 600.into();
    fs::write(&manifest, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    let alone = ModelsConfig {
        installed_dir: None,
        ..cfg.clone()
    };
    assert!(Registry::open(&alone).1.is_empty());
    let (reg, errors) = Registry::open(&cfg);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(reg.get("bloom").is_err());

    fs::write(shipped.join("bloom/model.onnx"), b"not an ONNX file either").unwrap();
    assert_eq!(Registry::open(&cfg).1.len(), 1);
}
