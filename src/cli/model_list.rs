//! `chocoline model list`: what a models directory holds and, given `--config`, which folder
//! each enabled model serves from and which shadow candidate runs beside it.
//!
//! With `--dir` every model folder of the directory is listed. With `--config` the listing is
//! what the agent would load: the folders of `[models] dir`, then every folder the
//! configuration points to outside it — a bundle installed under `installed_dir`, a
//! `[models.<name>] folder`, a `[models.<name>] candidate` (docs/shadow.md) — each marked with
//! its role, so that a technician sees on one screen which version serves and which one is
//! only being watched. Only `[models]` is read: a configuration broken elsewhere still lists.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::infer::config::ModelsConfig;
use crate::infer::manifest::Manifest;

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};

/// One folder to list and what it is to the agent.
struct Entry {
    /// What to call the folder when its manifest does not load.
    label: String,
    /// The model folder.
    folder: PathBuf,
    /// `enabled`, `disabled`, `serving …`, `candidate …`.
    role: String,
}

/// Run `model list`.
pub fn run(dir: Option<PathBuf>, config: Option<PathBuf>) -> ExitCode {
    let from_config = dir.is_none();
    let entries = models_config(dir, config).and_then(|cfg| entries(&cfg, from_config));
    let entries = match entries {
        Ok(e) => e,
        Err(e) => {
            eprintln!("chocoline model list: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let mut bad = false;
    for entry in &entries {
        match describe(entry) {
            Ok(line) => println!("{line}"),
            Err(line) => {
                bad = true;
                println!("{line}");
            }
        }
    }
    if bad {
        ExitCode::from(EXIT_FAILURE)
    } else {
        ExitCode::SUCCESS
    }
}

/// `[models]` of the configuration (or the default one around `--dir`), its relative paths
/// made relative to the configuration file's directory as the agent does.
fn models_config(dir: Option<PathBuf>, config: Option<PathBuf>) -> Result<ModelsConfig, String> {
    if let Some(dir) = dir {
        return Ok(ModelsConfig {
            dir,
            ..ModelsConfig::default()
        });
    }
    let path = config.unwrap_or_else(|| PathBuf::from(super::DEFAULT_CONFIG));
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut models = crate::config::load::parse_section::<ModelsConfig>(&text, "models")
        .map_err(|e| format!("{}: {e}", path.display()))?
        .unwrap_or_default();
    models.resolve_relative(&crate::config::load::base_dir(&path));
    Ok(models)
}

/// The folders to list, in order: `dir`'s, then (from a configuration) the serving folders
/// outside it and the candidates.
fn entries(cfg: &ModelsConfig, from_config: bool) -> Result<Vec<Entry>, String> {
    let in_dir = super::model::model_folders(&cfg.dir)?;
    let mut out: Vec<Entry> = in_dir.iter().map(|f| dir_entry(cfg, f)).collect();
    if from_config {
        for name in &cfg.enabled {
            let serving = cfg.folder(name);
            if serving != cfg.dir.join(name) {
                out.push(outside(name, serving, "enabled, serving"));
            }
            if let Some(c) = cfg.candidate(name) {
                out.push(outside(name, c.to_path_buf(), "shadow candidate of"));
            }
        }
    }
    if out.is_empty() {
        return Err(format!(
            "no model folders (with manifest.json) in {}",
            cfg.dir.display()
        ));
    }
    Ok(out)
}

/// A folder of `[models] dir`: enabled (and serving, or superseded by another folder) or not.
fn dir_entry(cfg: &ModelsConfig, folder: &Path) -> Entry {
    let name = folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let role = if !cfg.enabled.contains(&name) {
        "disabled".to_string()
    } else {
        let serving = cfg.folder(&name);
        if serving == folder {
            "enabled".to_string()
        } else {
            format!(
                "enabled, not serving: {name} serves from {}",
                serving.display()
            )
        }
    };
    Entry {
        label: name,
        folder: folder.to_path_buf(),
        role,
    }
}

/// A folder outside `[models] dir` that model `name` uses as `what`.
fn outside(name: &str, folder: PathBuf, what: &str) -> Entry {
    Entry {
        label: folder.display().to_string(),
        role: format!("{what} {name}, from {}", folder.display()),
        folder,
    }
}

/// One line: name, version, task, level, role, checksum and features; `Err` for a folder
/// that does not check out (its line says why).
fn describe(entry: &Entry) -> Result<String, String> {
    let role = &entry.role;
    let m = Manifest::load(&entry.folder)
        .map_err(|e| format!("{}: INVALID ({role}): {e}", entry.label))?;
    let sha = checksum(&m, &entry.folder);
    let features: Vec<&str> = m.features.iter().map(|f| f.name.as_str()).collect();
    let line = format!(
        "{} {} ({:?}, {}, {role}) {}; {} features: {}",
        m.name,
        m.version,
        m.task,
        m.level.as_deref().unwrap_or("?"),
        sha.as_ref().unwrap_or_else(|e| e),
        features.len(),
        features.join(", ")
    );
    sha.map(|_| line.clone()).map_err(|_| line)
}

/// `sha256 <12 digits> ok`, or why the model file does not match its manifest.
fn checksum(m: &Manifest, folder: &Path) -> Result<String, String> {
    use sha2::Digest;
    let bytes =
        std::fs::read(m.onnx_path(folder)).map_err(|e| format!("model file unreadable: {e}"))?;
    let actual = hex::encode(sha2::Sha256::digest(&bytes));
    let short = &actual[..12.min(actual.len())];
    if actual.eq_ignore_ascii_case(&m.onnx.sha256) {
        Ok(format!("sha256 {short} ok"))
    } else {
        Err(format!(
            "sha256 MISMATCH (file {short}, manifest {})",
            m.onnx.sha256
        ))
    }
}
