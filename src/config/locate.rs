//! Finds where a setting stands: the line of its key in the TOML document (through
//! `toml_edit` spans), or the environment variable that set or overrode it.

use std::ops::Range;

use toml_edit::{Item, Table, TableLike, Value};

use super::error::Location;
use super::keypath::{KeyPath, Segment};

/// One `CHOCOLINE__…` environment variable, split into the words of its key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvVar {
    /// The variable's name as set.
    pub name: String,
    /// Lowercase words after the prefix: `CHOCOLINE__MQTT__CLIENT_ID` → `["mqtt", "client_id"]`.
    pub words: Vec<String>,
}

/// Answers "where does this key stand?" for one document and one environment.
pub(crate) struct Locator<'a> {
    text: &'a str,
    doc: Option<&'a toml_edit::Document<String>>,
    env: &'a [EnvVar],
}

/// A node while walking the document: tables of arrays of tables are not `Item`s.
#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Table(&'a Table),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    fn table_like(self) -> Option<&'a dyn TableLike> {
        match self {
            Node::Item(i) => i.as_table_like(),
            Node::Table(t) => Some(t as &dyn TableLike),
            Node::Value(v) => v.as_inline_table().map(|t| t as &dyn TableLike),
        }
    }

    fn element(self, i: usize) -> Option<(Option<Range<usize>>, Node<'a>)> {
        match self {
            Node::Item(Item::ArrayOfTables(a)) => a.get(i).map(|t| (t.span(), Node::Table(t))),
            Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)) => {
                a.get(i).map(|v| (v.span(), Node::Value(v)))
            }
            _ => None,
        }
    }

    fn value(self) -> Option<&'a Value> {
        match self {
            Node::Item(Item::Value(v)) | Node::Value(v) => Some(v),
            _ => None,
        }
    }
}

/// What the walk through the document found.
struct Found {
    /// How many leading segments of the path exist in the document.
    depth: usize,
    /// Byte offset of the deepest key (or table header) found.
    offset: Option<usize>,
    /// The value as written, when the whole path exists and it is a short scalar or array.
    value: Option<String>,
}

impl<'a> Locator<'a> {
    /// A locator over the file's text, its parsed document (if it parsed) and the environment.
    pub fn new(
        text: &'a str,
        doc: Option<&'a toml_edit::Document<String>>,
        env: &'a [EnvVar],
    ) -> Self {
        Locator { text, doc, env }
    }

    /// Where `path` stands, and its value as written in the file (when it comes from the file).
    /// The environment wins over the file, as it does when the layers are merged.
    pub fn locate(&self, path: &KeyPath) -> (Location, Option<String>) {
        let words = path.words();
        if let Some(var) = self.env.iter().find(|v| v.words == words) {
            return (Location::Env(var.name.clone()), None);
        }
        let found = self.walk(path);
        if found.depth < words.len() {
            // The file lacks the key: a variable that reaches deeper than the file explains it
            // (e.g. it created a table the file does not have).
            let best = self
                .env
                .iter()
                .map(|v| (common_prefix(&v.words, &words), v))
                .filter(|(n, _)| *n > found.depth)
                .max_by_key(|(n, _)| *n);
            if let Some((_, var)) = best {
                return (Location::Env(var.name.clone()), None);
            }
        }
        match found.offset {
            Some(off) => (Location::Line(self.line_of(off)), found.value),
            None => (Location::File, None),
        }
    }

    /// Where `path` stands in the file alone (the environment is not consulted).
    pub fn locate_in_file(&self, path: &KeyPath) -> (Location, Option<String>) {
        let found = self.walk(path);
        match found.offset {
            Some(off) => (Location::Line(self.line_of(off)), found.value),
            None => (Location::File, None),
        }
    }

    /// 1-based line of a byte offset; offsets past the end count as the last line.
    pub fn line_of(&self, offset: usize) -> usize {
        let bytes = self.text.as_bytes();
        let end = offset.min(bytes.len());
        bytes
            .get(..end)
            .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
            + 1
    }

    fn walk(&self, path: &KeyPath) -> Found {
        let mut found = Found {
            depth: 0,
            offset: None,
            value: None,
        };
        let Some(doc) = self.doc else {
            return found;
        };
        let mut node = Node::Item(doc.as_item());
        for seg in path.segments() {
            let next = match seg {
                Segment::Key(k) => node
                    .table_like()
                    .and_then(|t| t.get_key_value(k))
                    .map(|(key, item)| (key.span().or_else(|| item.span()), Node::Item(item))),
                Segment::Index(i) => node.element(*i),
            };
            let Some((span, child)) = next else {
                return found;
            };
            found.depth += 1;
            if let Some(s) = span {
                found.offset = Some(s.start);
            }
            node = child;
        }
        found.value = node.value().and_then(short_repr);
        found
    }
}

fn common_prefix(a: &[String], b: &[String]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The value as written (no comments or whitespace), if it is short enough for one line.
fn short_repr(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(f) => f.display_repr().into_owned(),
        Value::Integer(f) => f.display_repr().into_owned(),
        Value::Float(f) => f.display_repr().into_owned(),
        Value::Boolean(f) => f.display_repr().into_owned(),
        Value::Datetime(f) => f.display_repr().into_owned(),
        Value::Array(a) => {
            let parts: Option<Vec<String>> = a.iter().map(short_repr).collect();
            format!("[{}]", parts?.join(", "))
        }
        Value::InlineTable(_) => return None,
    };
    (s.len() <= 80).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"# comment
[agent]
site = "x"

[[devices]]
name = "a"

[[devices]]
name = "b"
registers = [
  { name = "t", address = 3 },
]

[mqtt]
topics.alerts.qos = 2
"#;

    fn doc() -> toml_edit::Document<String> {
        DOC.parse().unwrap()
    }

    #[test]
    fn finds_keys_in_tables_arrays_and_inline_tables() {
        let d = doc();
        let l = Locator::new(DOC, Some(&d), &[]);
        let p = KeyPath::root().key("agent").key("site");
        assert_eq!(l.locate(&p), (Location::Line(3), Some("\"x\"".into())));
        let p = KeyPath::root().key("devices").index(1).key("name");
        assert_eq!(l.locate(&p).0, Location::Line(9));
        let p = KeyPath::root()
            .key("devices")
            .index(1)
            .key("registers")
            .index(0)
            .key("address");
        assert_eq!(l.locate(&p), (Location::Line(11), Some("3".into())));
        let p = KeyPath::root()
            .key("mqtt")
            .key("topics")
            .key("alerts")
            .key("qos");
        assert_eq!(l.locate(&p).0, Location::Line(15));
    }

    #[test]
    fn missing_key_points_at_its_table() {
        let d = doc();
        let l = Locator::new(DOC, Some(&d), &[]);
        let p = KeyPath::root().key("devices").index(0).key("controller");
        assert_eq!(l.locate(&p), (Location::Line(5), None));
        let p = KeyPath::root().key("store").key("data_dir");
        assert_eq!(l.locate(&p), (Location::File, None));
    }

    #[test]
    fn environment_wins_and_explains_missing_keys() {
        let d = doc();
        let env = vec![
            EnvVar {
                name: "CHOCOLINE__AGENT__SITE".into(),
                words: vec!["agent".into(), "site".into()],
            },
            EnvVar {
                name: "CHOCOLINE__STORE__MAX_BYTES".into(),
                words: vec!["store".into(), "max_bytes".into()],
            },
        ];
        let l = Locator::new(DOC, Some(&d), &env);
        let p = KeyPath::root().key("agent").key("site");
        assert_eq!(
            l.locate(&p).0,
            Location::Env("CHOCOLINE__AGENT__SITE".into())
        );
        let p = KeyPath::root().key("store").key("max_bytes");
        assert_eq!(
            l.locate(&p).0,
            Location::Env("CHOCOLINE__STORE__MAX_BYTES".into())
        );
        // locate_in_file ignores the environment.
        let p = KeyPath::root().key("agent").key("site");
        assert_eq!(l.locate_in_file(&p).0, Location::Line(3));
    }

    #[test]
    fn line_of_is_safe_past_the_end() {
        let l = Locator::new("a\nb", None, &[]);
        assert_eq!(l.line_of(0), 1);
        assert_eq!(l.line_of(2), 2);
        assert_eq!(l.line_of(999), 2);
    }
}
