//! The output folder: checked before anything is read (missing or empty, not inside the
//! data directory), created only when the first row is written, each file written as
//! `NAME.tmp` and renamed once complete, `.complete` last (what the training pipeline's
//! discovery looks for).

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Component, Path, PathBuf};

use super::ExportError;

/// The marker written last, once both CSV files are in place.
pub const COMPLETE: &str = ".complete";

/// `path` made absolute and free of `.` / `..` (lexically), symbolic links of its existing
/// part resolved.
fn resolved(path: &Path) -> io::Result<PathBuf> {
    let abs = normalise(&std::path::absolute(path)?);
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(base) => {
                let mut out = base;
                for part in rest.iter().rev() {
                    out.push(part);
                }
                return Ok(out);
            }
            Err(e) => match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_os_string());
                    existing = parent;
                }
                _ => return Err(e),
            },
        }
    }
}

fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Refuse an output folder that exists and is not empty, is not a folder, or lies inside
/// the data directory (the export never writes there).
pub fn check(output: &Path, data_dir: &Path) -> Result<(), ExportError> {
    let io_err = |source| ExportError::Io {
        path: output.to_path_buf(),
        source,
    };
    let (out, data) = (resolved(output).map_err(io_err)?, resolved(data_dir));
    if let Ok(data) = data
        && out.starts_with(&data)
    {
        return Err(ExportError::OutputInDataDir {
            output: output.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
        });
    }
    match fs::read_dir(output) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(ExportError::OutputNotEmpty(output.to_path_buf()));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            Err(ExportError::OutputNotEmpty(output.to_path_buf()))
        }
        Err(e) => Err(io_err(e)),
    }
}

/// A CSV file being written as `NAME.tmp`, renamed to `NAME` by [`Sink::finish`].
#[derive(Debug)]
pub struct Sink {
    tmp: PathBuf,
    path: PathBuf,
    out: BufWriter<File>,
}

impl Sink {
    /// Create `dir` if needed, then `dir/NAME.tmp`.
    pub fn create(dir: &Path, name: &str) -> Result<Sink, ExportError> {
        fs::create_dir_all(dir).map_err(|source| ExportError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(name);
        let tmp = dir.join(format!("{name}.tmp"));
        let file = File::create(&tmp).map_err(|source| ExportError::Io {
            path: tmp.clone(),
            source,
        })?;
        Ok(Sink {
            tmp,
            path,
            out: BufWriter::new(file),
        })
    }

    /// Append one line (a newline is added).
    pub fn line(&mut self, text: &str) -> Result<(), ExportError> {
        self.out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.write_all(b"\n"))
            .map_err(|source| ExportError::Io {
                path: self.tmp.clone(),
                source,
            })
    }

    /// Flush, fsync and rename to the final name.
    pub fn finish(self) -> Result<(), ExportError> {
        let Sink { tmp, path, out } = self;
        let file = out.into_inner().map_err(|e| ExportError::Io {
            path: tmp.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(|source| ExportError::Io {
            path: tmp.clone(),
            source,
        })?;
        fs::rename(&tmp, &path).map_err(|source| ExportError::Io { path, source })
    }
}

/// `export.json`: what the folder holds, for the training pipeline's data card
/// (`models/training/exports.py`) and `chocoline model compare`, which leaves out the batches
/// of any range a model was trained on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExportMeta {
    /// `chocoline.export/1`.
    pub schema: String,
    /// Start of the range, ms since the epoch: `--since`, else the first row's time.
    pub since_ms: i64,
    /// End of the range (excluded): `--until`, else one past the last row's time.
    pub until_ms: i64,
    /// Rows in `samples.csv`.
    pub rows: u64,
    /// Rows in `batches.csv`.
    pub batches: u64,
    /// The batch ids of `batches.csv`, in its order.
    pub batch_ids: Vec<String>,
    /// The chocoline version that wrote the export.
    pub written_by: String,
}

/// The schema name of [`ExportMeta`].
pub const EXPORT_SCHEMA: &str = "chocoline.export/1";
/// The file name of [`ExportMeta`] in an export folder.
pub const META: &str = "export.json";

/// Write `export.json` (as `.tmp`, fsynced, renamed) into `dir`.
pub fn write_meta(dir: &Path, meta: &ExportMeta) -> Result<(), ExportError> {
    let text = serde_json::to_string_pretty(meta).map_err(|e| ExportError::Io {
        path: dir.join(META),
        source: io::Error::other(e),
    })?;
    let mut sink = Sink::create(dir, META)?;
    sink.line(&text)?;
    sink.finish()
}

/// Write the `.complete` marker into `dir` and fsync the folder.
pub fn mark_complete(dir: &Path) -> Result<(), ExportError> {
    let marker = dir.join(COMPLETE);
    File::create(&marker)
        .and_then(|f| f.sync_all())
        .map_err(|source| ExportError::Io {
            path: marker,
            source,
        })?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| ExportError::Io {
            path: dir.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_must_be_missing_or_empty_and_outside_the_data_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        fs::create_dir(&data).unwrap();
        let out = tmp.path().join("out");
        assert!(check(&out, &data).is_ok(), "missing");
        fs::create_dir(&out).unwrap();
        assert!(check(&out, &data).is_ok(), "empty");
        fs::write(out.join("x"), "x").unwrap();
        assert!(matches!(
            check(&out, &data),
            Err(ExportError::OutputNotEmpty(_))
        ));
        let inside = data.join("a/../export");
        assert!(matches!(
            check(&inside, &data),
            Err(ExportError::OutputInDataDir { .. })
        ));
        assert!(matches!(
            check(&data, &data),
            Err(ExportError::OutputInDataDir { .. })
        ));
        let file = tmp.path().join("file");
        fs::write(&file, "x").unwrap();
        assert!(matches!(
            check(&file, &data),
            Err(ExportError::OutputNotEmpty(_))
        ));
    }

    #[test]
    fn files_appear_under_their_name_only_when_finished() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let mut sink = Sink::create(&dir, "samples.csv").unwrap();
        sink.line("a,b").unwrap();
        assert!(!dir.join("samples.csv").exists());
        sink.finish().unwrap();
        assert_eq!(
            fs::read_to_string(dir.join("samples.csv")).unwrap(),
            "a,b\n"
        );
        assert!(!dir.join("samples.csv.tmp").exists());
        mark_complete(&dir).unwrap();
        assert!(dir.join(COMPLETE).is_file());
    }
}
