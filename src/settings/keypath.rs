//! Dotted key paths such as `devices[1].registers[0].byte_order`: how every configuration
//! error names the setting it is about, whether it came from the file or the environment.

use std::fmt;

/// One step of a [`KeyPath`]: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A key in a table.
    Key(String),
    /// An element of an array (0-based).
    Index(usize),
}

/// A path from the root of the configuration to one setting.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct KeyPath(Vec<Segment>);

impl KeyPath {
    /// The root of the document.
    pub fn root() -> Self {
        KeyPath(Vec::new())
    }

    /// This path extended by a table key.
    pub fn key(&self, key: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Segment::Key(key.to_string()));
        KeyPath(v)
    }

    /// This path extended by an array index.
    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Segment::Index(i));
        KeyPath(v)
    }

    /// The segments, root first.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// True for the root path.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The last table key, if the path ends with one.
    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Segment::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// This path followed by the segments of a path reported by `serde_path_to_error`.
    pub fn join_serde(&self, path: &serde_path_to_error::Path) -> Self {
        let mut v = self.0.clone();
        for seg in path.iter() {
            match seg {
                serde_path_to_error::Segment::Seq { index } => v.push(Segment::Index(*index)),
                serde_path_to_error::Segment::Map { key } => v.push(Segment::Key(key.clone())),
                serde_path_to_error::Segment::Enum { variant } => {
                    v.push(Segment::Key(variant.clone()))
                }
                // Unknown segments carry no name; the rest of the path is still useful.
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        KeyPath(v)
    }

    /// The segments as the lowercase words an environment variable spells
    /// (`mqtt.client_id` → `["mqtt", "client_id"]`; indices as decimal numbers).
    pub fn words(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|s| match s {
                Segment::Key(k) => k.to_lowercase(),
                Segment::Index(i) => i.to_string(),
            })
            .collect()
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        let mut first = true;
        for seg in &self.0 {
            match seg {
                Segment::Key(k) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Segment::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_uses_dots_and_brackets() {
        let p = KeyPath::root()
            .key("devices")
            .index(1)
            .key("registers")
            .index(0)
            .key("byte_order");
        assert_eq!(p.to_string(), "devices[1].registers[0].byte_order");
        assert_eq!(KeyPath::root().to_string(), "(top level)");
        assert_eq!(p.last_key(), Some("byte_order"));
    }

    #[test]
    fn words_for_environment_matching() {
        let p = KeyPath::root().key("mqtt").key("client_id");
        assert_eq!(p.words(), vec!["mqtt", "client_id"]);
    }
}
