//! The configuration file as text, before any schema: UTF-8 decoding and TOML syntax errors,
//! each located by line (and, for a bad byte, column), a duplicate key named by its path.

use std::collections::HashMap;
use std::path::Path;

use super::error::{ConfigError, Location};

/// The file's bytes as text, or an error naming the line and column of the first byte that is
/// not UTF-8 (instead of its byte index).
pub(crate) fn decode(path: &Path, bytes: Vec<u8>) -> Result<String, ConfigError> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let (line, column) = line_and_column(bytes.get(..at).unwrap_or_default());
        let byte = bytes.get(at).copied().unwrap_or_default();
        ConfigError {
            file: path.to_path_buf(),
            location: Location::Line(line),
            key: String::new(),
            value: None,
            message: format!(
                "the file is not UTF-8 text: byte 0x{byte:02x} at line {line}, column {column} \
                 is not valid UTF-8 (saved in another encoding, e.g. Latin-1?); save it as UTF-8"
            ),
        }
    })
}

/// 1-based line and column (in characters) just after `prefix`, which is valid UTF-8.
fn line_and_column(prefix: &[u8]) -> (usize, usize) {
    let text = String::from_utf8_lossy(prefix);
    let line = text.matches('\n').count() + 1;
    let last = text.rsplit('\n').next().unwrap_or_default();
    (line, last.chars().count() + 1)
}

/// A TOML syntax error located at the line of its span; a duplicate key or table names its
/// dotted key path (`agent.site`, `devices[0].registers[1].address`).
pub(crate) fn syntax_error(path: &Path, text: &str, e: &toml_edit::TomlError) -> ConfigError {
    let message = one_line(e.message());
    let start = e.span().map(|s| s.start);
    let location = start.map_or(Location::File, |s| Location::Line(line_of(text, s)));
    let mut err = ConfigError {
        file: path.to_path_buf(),
        location,
        key: String::new(),
        value: None,
        message: format!("TOML syntax error: {message}"),
    };
    if message == "duplicate key"
        && let Some(start) = start
    {
        let (key, is_table) = duplicate_key_path(text, start);
        err.message = if is_table {
            format!(
                "TOML syntax error: duplicate table [{key}]; a table header may appear only once \
                 (a list of tables is written [[…]])"
            )
        } else {
            "TOML syntax error: duplicate key; a key may be set only once per table".to_string()
        };
        err.key = key;
    }
    err
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

/// The dotted path of the key on the line holding byte `offset`, and whether that line is a
/// table header: the enclosing table (from the headers above, with array indices) joined with
/// the key written before `=`.
fn duplicate_key_path(text: &str, offset: usize) -> (String, bool) {
    let line_start = text
        .get(..offset)
        .and_then(|b| b.rfind('\n'))
        .map_or(0, |i| i + 1);
    let line = text
        .get(line_start..)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_default()
        .trim();
    let mut tables = Tables::default();
    for before in text.get(..line_start).unwrap_or_default().lines() {
        tables.header(before.trim());
    }
    if let Some(name) = header_name(line) {
        return (tables.resolve(&name), true);
    }
    let key = line.split_once('=').map_or(line, |(k, _)| k);
    let key = dotted(key).join(".");
    let table = tables.current.clone();
    if table.is_empty() {
        (key, false)
    } else {
        (format!("{table}.{key}"), false)
    }
}

/// Table headers seen so far: the current table's resolved path, and how many entries each
/// array of tables has under its current parent.
#[derive(Default)]
struct Tables {
    current: String,
    counts: HashMap<String, usize>,
}

impl Tables {
    /// Takes one line; table headers move the current table.
    fn header(&mut self, line: &str) {
        if let Some(name) = line
            .strip_prefix("[[")
            .and_then(|l| l.split_once("]]"))
            .map(|(n, _)| dotted(n).join("."))
        {
            // A new entry: nested arrays under the previous entry start over.
            let nested = format!("{name}.");
            self.counts.retain(|k, _| !k.starts_with(&nested));
            *self.counts.entry(name.clone()).or_insert(0) += 1;
            self.current = self.resolve(&name);
        } else if let Some(name) = header_name(line) {
            self.current = self.resolve(&name);
        }
    }

    /// `devices.registers` → `devices[1].registers[0]` after the headers seen so far.
    fn resolve(&self, name: &str) -> String {
        let mut plain = String::new();
        let mut out = String::new();
        for part in name.split('.') {
            if !plain.is_empty() {
                plain.push('.');
                out.push('.');
            }
            plain.push_str(part);
            out.push_str(part);
            if let Some(n) = self.counts.get(&plain) {
                out.push_str(&format!("[{}]", n.saturating_sub(1)));
            }
        }
        out
    }
}

/// The name of a `[table]` header (not `[[array]]`), dots normalised.
fn header_name(line: &str) -> Option<String> {
    if line.starts_with("[[") {
        return None;
    }
    let (name, _) = line.strip_prefix('[')?.split_once(']')?;
    Some(dotted(name).join("."))
}

/// The parts of a dotted key, trimmed and unquoted.
fn dotted(key: &str) -> Vec<&str> {
    key.split('.')
        .map(|p| p.trim().trim_matches('"').trim_matches('\''))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dup(text: &str) -> String {
        let e = toml_edit::Document::parse(text.to_string()).unwrap_err();
        syntax_error(Path::new("c.toml"), text, &e).to_string()
    }

    #[test]
    fn duplicate_keys_are_named_by_path() {
        assert_eq!(
            dup("[agent]\nsite = \"a\"\nsite = \"b\"\n"),
            "c.toml:3: agent.site: TOML syntax error: duplicate key; a key may be set only once per table"
        );
        assert!(
            dup("agent.site = \"a\"\n agent . site = \"b\"\n")
                .starts_with("c.toml:2: agent.site: ")
        );
        let regs = "[[devices]]\nname = \"p\"\n[[devices.registers]]\na = 1\n\n[[devices]]\n\
                    name = \"q\"\n[[devices.registers]]\na = 1\n[[devices.registers]]\na = 1\na = 2\n";
        assert!(
            dup(regs).starts_with("c.toml:12: devices[1].registers[1].a: "),
            "{}",
            dup(regs)
        );
        assert!(
            dup("[agent]\nsite = \"a\"\n[mqtt]\n[agent]\n")
                .starts_with("c.toml:4: agent: TOML syntax error: duplicate table [agent]")
        );
    }

    #[test]
    fn other_syntax_errors_keep_their_message() {
        let text = "[agent\n";
        let e = toml_edit::Document::parse(text.to_string()).unwrap_err();
        let err = syntax_error(Path::new("c.toml"), text, &e);
        assert_eq!(err.location, Location::Line(1));
        assert!(err.key.is_empty());
        assert!(err.message.starts_with("TOML syntax error: "));
    }

    #[test]
    fn bad_byte_is_reported_by_line_and_column() {
        let e = decode(
            Path::new("c.toml"),
            b"[agent]\nsite = \"K\xc3\xb6ln-\xe9\"\n".to_vec(),
        )
        .unwrap_err();
        assert_eq!(e.location, Location::Line(2));
        assert!(
            e.message.contains("byte 0xe9 at line 2, column 14"),
            "{}",
            e.message
        );
        assert!(e.message.contains("not UTF-8"));
        assert!(!e.message.contains("index"));
        assert_eq!(
            decode(Path::new("c.toml"), b"a = 1\n".to_vec()).unwrap(),
            "a = 1\n"
        );
    }
}
