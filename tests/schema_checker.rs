//! The tests' JSON-schema checker (tests/common/schema.rs) must itself refuse what it should:
//! a payload test is only as good as the checker behind it. Here once, rather than in every
//! test binary that includes the support module.

mod common;

use common::schema::validate;

#[test]
fn validator_rejects_what_it_should() {
    let s = serde_json::json!({
        "type": "object", "required": ["a"], "additionalProperties": false,
        "properties": { "a": { "enum": [1, 2] }, "b": { "type": ["string", "null"] } }
    });
    assert!(validate(&s, &serde_json::json!({"a": 1, "b": null})).is_ok());
    assert!(validate(&s, &serde_json::json!({"a": 3})).is_err());
    assert!(validate(&s, &serde_json::json!({"b": "x"})).is_err());
    assert!(validate(&s, &serde_json::json!({"a": 1, "c": 0})).is_err());
    assert!(validate(&s, &serde_json::json!({"a": 1, "b": 5})).is_err());
    let s = serde_json::json!({
        "properties": {
            "s": { "type": "string", "minLength": 1, "maxLength": 2 },
            "y": { "exclusiveMinimum": 0, "maximum": 100 }
        }
    });
    assert!(validate(&s, &serde_json::json!({"s": "éé", "y": 0.5})).is_ok());
    assert!(validate(&s, &serde_json::json!({"s": ""})).is_err());
    assert!(validate(&s, &serde_json::json!({"s": "abc"})).is_err());
    assert!(validate(&s, &serde_json::json!({"y": 0})).is_err());
    let bad = serde_json::json!({"pattern": "x"});
    assert!(
        validate(&bad, &serde_json::json!("x")).is_err(),
        "unknown keywords must fail"
    );
}
