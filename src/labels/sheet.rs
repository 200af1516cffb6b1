//! A lab sheet: CSV with the header `batch_id,grade,defect,yield_pct` (any order, any case;
//! `defect` and `yield_pct` may be left out as columns or as values), one batch a row. Every
//! row is checked before anything is returned: one bad row refuses the sheet, and every
//! problem is reported as `FILE:LINE: problem`.

use std::fmt;
use std::path::{Path, PathBuf};

use super::label::{Label, LabelSource};

/// The columns a sheet may have, in the order the header usually lists them.
pub const COLUMNS: [&str; 4] = ["batch_id", "grade", "defect", "yield_pct"];

/// One row of a sheet, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct SheetRow {
    /// Line of the file it starts on, from 1 (the header is line 1).
    pub line: u64,
    /// Its label (source `csv:{file name}`).
    pub label: Label,
}

/// A problem on one line of a sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// Line of the file, from 1.
    pub line: u64,
    /// What is wrong, starting with the key when there is one.
    pub problem: String,
}

/// A sheet that cannot be read, or whose rows are not all valid.
#[derive(Debug, thiserror::Error)]
pub enum SheetError {
    /// The file cannot be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The sheet.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// One or more lines are wrong (nothing is returned).
    #[error("{}", Problems(path, problems))]
    Rows {
        /// The sheet.
        path: PathBuf,
        /// Every problem found, in line order.
        problems: Vec<RowProblem>,
    },
}

/// `FILE:LINE: problem`, one a line.
struct Problems<'a>(&'a Path, &'a [RowProblem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.1.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}:{}: {}", self.0.display(), p.line, p.problem)?;
        }
        Ok(())
    }
}

/// Where each known column sits in a row.
#[derive(Debug, Default)]
struct Header {
    at: [Option<usize>; 4],
    width: usize,
}

impl Header {
    fn parse(names: &csv::ByteRecord) -> Result<Header, String> {
        let mut h = Header {
            width: names.len(),
            ..Header::default()
        };
        for (i, raw) in names.iter().enumerate() {
            let name = String::from_utf8_lossy(raw);
            let name = name
                .trim_start_matches('\u{feff}')
                .trim()
                .to_ascii_lowercase();
            let Some(c) = COLUMNS.iter().position(|&k| k == name) else {
                return Err(format!(
                    "unknown column {name:?} (the header is {})",
                    COLUMNS.join(",")
                ));
            };
            if h.at[c].replace(i).is_some() {
                return Err(format!("column {name:?} appears twice"));
            }
        }
        match h.at[..2].iter().position(Option::is_none) {
            Some(c) => Err(format!(
                "no {} column (the header is {})",
                COLUMNS[c],
                COLUMNS.join(",")
            )),
            None => Ok(h),
        }
    }

    /// The text of column `c` in `row`; None when the column or the value is missing.
    fn field<'r>(&self, row: &'r csv::ByteRecord, c: usize) -> Result<Option<&'r str>, String> {
        let Some(raw) = self.at[c].and_then(|i| row.get(i)) else {
            return Ok(None);
        };
        std::str::from_utf8(raw)
            .map(|s| Some(s.trim()).filter(|s| !s.is_empty()))
            .map_err(|_| format!("{}: not UTF-8 text", COLUMNS[c]))
    }

    fn label(&self, row: &csv::ByteRecord, source: &LabelSource, at: i64) -> Result<Label, String> {
        if row.len() > self.width {
            return Err(format!(
                "{} fields, the header has {}",
                row.len(),
                self.width
            ));
        }
        let f = |c| self.field(row, c);
        let (batch, grade) = (f(0)?.unwrap_or(""), f(1)?.unwrap_or(""));
        Label::parse(batch, grade, f(2)?, f(3)?, source.clone(), at).map_err(|e| e.to_string())
    }
}

/// Line (from 1) of the record the csv reader says starts at byte `offset` of `text`. The
/// csv crate neither counts the blank lines it skips in its line numbers nor in its record
/// start, so both are done here: a sheet's lines must match what an editor shows.
fn line_at(text: &[u8], offset: u64) -> u64 {
    let start = usize::try_from(offset).map_or(text.len(), |o| o.min(text.len()));
    let blank = text[start..]
        .iter()
        .take_while(|&&b| b == b'\n' || b == b'\r')
        .count();
    1 + text[..start + blank]
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64
}

/// Read and check the sheet at `path`; every label gets `at` and the source
/// `csv:{file name}`. A sheet with no row is refused too.
pub fn read(path: &Path, at: i64) -> Result<Vec<SheetRow>, SheetError> {
    let text = std::fs::read(path).map_err(|source| SheetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let rows_err = |problems| SheetError::Rows {
        path: path.to_path_buf(),
        problems,
    };
    let one = |line, problem| vec![RowProblem { line, problem }];
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_slice());
    // Reading from memory, the csv reader's only errors are about the text itself.
    let names = match reader.byte_headers() {
        Ok(names) => names.clone(),
        Err(e) => return Err(rows_err(one(1, e.to_string()))),
    };
    if names.iter().all(|n| n.iter().all(u8::is_ascii_whitespace)) {
        let expected = format!("empty sheet: expected the header {}", COLUMNS.join(","));
        return Err(rows_err(one(1, expected)));
    }
    let header = Header::parse(&names).map_err(|p| rows_err(one(1, p)))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let source = LabelSource::Csv(name.unwrap_or_default());
    let (mut rows, mut problems) = (Vec::new(), Vec::new());
    for record in reader.byte_records() {
        let row = match record {
            Ok(row) => row,
            Err(e) => {
                let line = e.position().map_or(0, |p| line_at(&text, p.byte()));
                problems.push(RowProblem {
                    line,
                    problem: e.to_string(),
                });
                continue;
            }
        };
        let line = row.position().map_or(0, |p| line_at(&text, p.byte()));
        if row.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue; // an empty row, as spreadsheets export them
        }
        match header.label(&row, &source, at) {
            Ok(label) => rows.push(SheetRow { line, label }),
            Err(problem) => problems.push(RowProblem { line, problem }),
        }
    }
    if rows.is_empty() && problems.is_empty() {
        return Err(rows_err(one(1, "no rows: nothing to store".to_string())));
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(rows_err(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::label::{Defect, Grade};

    fn sheet(text: impl AsRef<[u8]>) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lab-week-12.csv");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn problems(text: impl AsRef<[u8]>) -> Vec<(u64, String)> {
        let (_d, path) = sheet(text);
        match read(&path, 0) {
            Err(SheetError::Rows { problems, .. }) => {
                problems.into_iter().map(|p| (p.line, p.problem)).collect()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_good_sheet_reads_with_optional_values_and_columns() {
        let text =
            "\u{feff}batch_id,grade,defect,yield_pct\n1001,B,,81.2\n\n1002, reject ,gritty,\n,,,\n";
        let (_d, path) = sheet(text);
        let rows = read(&path, 7).unwrap();
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 4]);
        let (a, b) = (&rows[0].label, &rows[1].label);
        assert_eq!(
            (a.grade, a.defect, a.yield_pct),
            (Grade::B, Defect::None, Some(81.2))
        );
        assert_eq!(
            (b.grade, b.defect, b.yield_pct),
            (Grade::Reject, Defect::Gritty, None)
        );
        assert_eq!(a.source.to_string(), "csv:lab-week-12.csv");
        assert_eq!(a.at, 7);

        let (_d, path) = sheet("Grade,Batch_ID\nA,1003\n");
        let rows = read(&path, 0).unwrap();
        assert_eq!(
            (rows[0].label.batch_id.as_str(), rows[0].label.grade),
            ("1003", Grade::A)
        );
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let text = "batch_id,grade,defect,yield_pct\n1001,B,,81.2\n1002,C,,\n1003,A,bloom,120\n\n1004,A,,,x\n";
        let p = problems(text);
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!(
            p[0],
            (3, r#"grade: "C" is not one of A, B, reject"#.to_string())
        );
        assert_eq!(p[1].0, 4);
        assert!(p[1].1.starts_with("defect:"), "{p:?}");
        assert_eq!(p[2], (6, "5 fields, the header has 4".to_string()));
        let (_d, path) = sheet(text);
        let e = read(&path, 0).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}:3: grade:", path.display())),
            "{e}"
        );
        assert_eq!(e.lines().count(), 3);
        let crlf = problems("batch_id,grade\r\n\r\n1001,A\r\n\r\n\r\n1002,Z\r\n");
        assert_eq!(crlf[0].0, 6, "{crlf:?}");
    }

    #[test]
    fn bad_headers_and_empty_sheets_are_refused_at_line_1() {
        let first = |t: &[u8]| problems(t).remove(0);
        assert!(
            first(b"batch_id,grade,yeild_pct\n1,A,80\n")
                .1
                .contains(r#"unknown column "yeild_pct""#)
        );
        assert!(first(b"batch_id,grade,grade\n").1.contains("twice"));
        assert!(
            first(b"batch_id,defect\n1,none\n")
                .1
                .starts_with("no grade column")
        );
        assert!(first(b"").1.starts_with("empty sheet"));
        assert!(first(b"batch_id,grade\n").1.starts_with("no rows"));
        assert_eq!(
            first(b"batch_id,grade\n1,\xff\n"),
            (2, "grade: not UTF-8 text".into())
        );
        assert_eq!(
            first(b"batch_id,grade\n,A\n"),
            (
                2,
                r#"batch_id: "" is not a batch id (1 to 64 characters, no spaces)"#.into()
            )
        );
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.csv");
        let e = read(&path, 0).unwrap_err();
        assert!(matches!(e, SheetError::Io { .. }));
        assert!(e.to_string().contains("nope.csv"));
    }
}
