//! A small JSON Schema validator for the subset docs/schemas/*.json use: `type` (name or list),
//! `properties`, `required`, `additionalProperties` (bool or schema), `const`, `enum`, `items`,
//! `minimum`, `exclusiveMinimum`, `maximum`, `minLength`, `maxLength` (in characters), `oneOf`,
//! and `$ref` to `#/$defs/<name>`. Any other keyword makes
//! validation FAIL (so a schema cannot silently use something this does not check).
//!
//! Why not the `jsonschema` crate: it pulls in a regex engine, an HTTP-capable resolver and
//! ~60 crates; on the shared 2-core build machines that is minutes of compile time for a
//! handful of keywords.

use serde_json::Value;

const KNOWN: &[&str] = &[
    "$schema",
    "$id",
    "title",
    "description",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "const",
    "enum",
    "items",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "minLength",
    "maxLength",
    "oneOf",
    "$ref",
    "$defs",
];

/// Load a schema file from docs/schemas.
pub fn load(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/schemas")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Schema file for a payload's `schema` field: `chocoline.alert/1` → `chocoline.alert_v1.json`.
pub fn file_for(schema: &str) -> String {
    format!("{}.json", schema.replace('/', "_v"))
}

/// Validate; Err lists every violation with its JSON path.
pub fn validate(schema: &Value, value: &Value) -> Result<(), Vec<String>> {
    let mut errs = Vec::new();
    check(schema, schema, value, "$", &mut errs);
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

/// `minLength` / `maxLength` of a string, counted in characters as JSON Schema does.
fn lengths(obj: &serde_json::Map<String, Value>, text: &str, path: &str, errs: &mut Vec<String>) {
    let n = text.chars().count() as u64;
    if let Some(min) = obj.get("minLength").and_then(Value::as_u64)
        && n < min
    {
        errs.push(format!("{path}: {n} characters < minLength {min}"));
    }
    if let Some(max) = obj.get("maxLength").and_then(Value::as_u64)
        && n > max
    {
        errs.push(format!("{path}: {n} characters > maxLength {max}"));
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        _ => false,
    }
}

#[expect(
    clippy::too_many_lines,
    clippy::cognitive_complexity,
    reason = "test support: a JSON-schema subset checker, one match over the keywords it supports"
)]
fn check(root: &Value, s: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
    let Some(obj) = s.as_object() else {
        errs.push(format!("{path}: schema is not an object"));
        return;
    };
    for k in obj.keys() {
        if !KNOWN.contains(&k.as_str()) {
            errs.push(format!("{path}: unsupported schema keyword {k}"));
        }
    }
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        match r
            .strip_prefix("#/$defs/")
            .and_then(|n| root.get("$defs")?.get(n))
        {
            Some(target) => check(root, target, v, path, errs),
            None => errs.push(format!("{path}: unresolvable $ref {r}")),
        }
    }
    if let Some(t) = obj.get("type") {
        let ok = match t {
            Value::String(t) => type_ok(t, v),
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(|t| type_ok(t, v)),
            _ => false,
        };
        if !ok {
            errs.push(format!("{path}: expected type {t}, got {v}"));
            return;
        }
    }
    if let Some(c) = obj.get("const")
        && c != v
    {
        errs.push(format!("{path}: expected {c}, got {v}"));
    }
    if let Some(Value::Array(e)) = obj.get("enum")
        && !e.contains(v)
    {
        errs.push(format!(
            "{path}: {v} not one of {}",
            Value::Array(e.clone())
        ));
    }
    if let (Some(min), Some(x)) = (obj.get("minimum").and_then(Value::as_f64), v.as_f64())
        && x < min
    {
        errs.push(format!("{path}: {x} < minimum {min}"));
    }
    if let (Some(max), Some(x)) = (obj.get("maximum").and_then(Value::as_f64), v.as_f64())
        && x > max
    {
        errs.push(format!("{path}: {x} > maximum {max}"));
    }
    if let (Some(min), Some(x)) = (
        obj.get("exclusiveMinimum").and_then(Value::as_f64),
        v.as_f64(),
    ) && x <= min
    {
        errs.push(format!("{path}: {x} <= exclusive minimum {min}"));
    }
    if let Some(text) = v.as_str() {
        lengths(obj, text, path, errs);
    }
    if let Some(Value::Array(alts)) = obj.get("oneOf") {
        let matching = alts
            .iter()
            .filter(|a| {
                let mut e = Vec::new();
                check(root, a, v, path, &mut e);
                e.is_empty()
            })
            .count();
        if matching != 1 {
            errs.push(format!(
                "{path}: matches {matching} of the oneOf alternatives, not exactly 1"
            ));
        }
    }
    if let Some(o) = v.as_object() {
        let props = obj.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(req)) = obj.get("required") {
            for r in req.iter().filter_map(Value::as_str) {
                if !o.contains_key(r) {
                    errs.push(format!("{path}: missing required property {r}"));
                }
            }
        }
        for (k, val) in o {
            let p = format!("{path}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check(root, ps, val, &p, errs),
                None => match obj.get("additionalProperties") {
                    Some(Value::Bool(false)) => errs.push(format!("{p}: property not allowed")),
                    Some(ap @ Value::Object(_)) => check(root, ap, val, &p, errs),
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(arr)) = (obj.get("items"), v.as_array()) {
        for (i, item) in arr.iter().enumerate() {
            check(root, items, item, &format!("{path}[{i}]"), errs);
        }
    }
}
