//! Making an alert fit `[mqtt] max_message_bytes`. An alert is never dropped for its size; its
//! evidence is trimmed by one documented rule (docs/store-publish.md, "Message size"):
//!
//! 1. evidence members are removed, largest (serialised) first, until the payload fits; their
//!    names go to `evidence.trimmed` and the bytes removed to `evidence.trimmed_bytes`;
//! 2. if it still does not fit, the whole evidence becomes `{"trimmed": "all", ...}`;
//! 3. and then the `message` text is shortened (on a character boundary, ending in `…`).
//!
//! Everything else (ids, kind, state, batch, times) is kept: it is what the control room acts
//! on. `MIN_MAX_MESSAGE_BYTES` is chosen so that such a minimal alert always fits.

use serde_json::{Map, Value, json};

/// Serialise `body`, trimming its `evidence` (and then `message`) until it is at most `max`
/// bytes. Returns the payload and whether anything was trimmed.
pub fn fit_alert(
    mut body: Map<String, Value>,
    max: usize,
) -> Result<(Vec<u8>, bool), serde_json::Error> {
    let payload = serde_json::to_vec(&body)?;
    if payload.len() <= max {
        return Ok((payload, false));
    }
    let mut evidence = match body.remove("evidence") {
        Some(Value::Object(m)) => m,
        Some(Value::Null) | None => Map::new(),
        Some(other) => Map::from_iter([("value".to_string(), other)]),
    };
    let mut sizes: Vec<(String, usize)> = evidence
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::to_vec(v).map_or(0, |b| b.len())))
        .collect();
    sizes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut trimmed = Vec::new();
    let mut trimmed_bytes = 0;
    for (k, size) in sizes {
        evidence.remove(&k);
        trimmed.push(Value::from(k));
        trimmed_bytes += size;
        let mut e = evidence.clone();
        e.insert("trimmed".into(), Value::Array(trimmed.clone()));
        e.insert("trimmed_bytes".into(), Value::from(trimmed_bytes));
        body.insert("evidence".into(), Value::Object(e));
        let payload = serde_json::to_vec(&body)?;
        if payload.len() <= max {
            return Ok((payload, true));
        }
    }
    body.insert(
        "evidence".into(),
        json!({"trimmed": "all", "trimmed_bytes": trimmed_bytes}),
    );
    let payload = serde_json::to_vec(&body)?;
    if payload.len() <= max {
        return Ok((payload, true));
    }
    let over = payload.len() - max;
    if let Some(Value::String(msg)) = body.get_mut("message") {
        let keep = msg.len().saturating_sub(over + 3);
        let mut cut = keep;
        while cut > 0 && !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg.truncate(cut);
        msg.push('…');
    }
    Ok((serde_json::to_vec(&body)?, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(evidence: Value, message: &str) -> Map<String, Value> {
        match json!({"schema": "chocoline.alert/1", "id": "s-l-e.1-7", "alert_id": "a",
                     "kind": "anomaly", "state": "raised", "message": message,
                     "evidence": evidence})
        {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn small_alerts_are_untouched() {
        let b = body(json!({"p": 0.9}), "m");
        let (p, t) = fit_alert(b.clone(), 10_000).unwrap();
        assert!(!t);
        assert_eq!(p, serde_json::to_vec(&b).unwrap());
    }

    #[test]
    fn largest_evidence_goes_first_and_is_named() {
        let big = "x".repeat(600);
        let b = body(
            json!({"top_signals": big, "p": 0.9, "rule": {"raise": 0.8}}),
            "m",
        );
        let (p, t) = fit_alert(b, 400).unwrap();
        assert!(t);
        assert!(p.len() <= 400, "{}", p.len());
        let v: Value = serde_json::from_slice(&p).unwrap();
        assert_eq!(v["evidence"]["trimmed"], json!(["top_signals"]));
        assert_eq!(v["evidence"]["p"], 0.9);
        assert_eq!(v["alert_id"], "a");
    }

    #[test]
    fn every_limit_down_to_the_minimum_is_met() {
        let b = body(
            json!({"a": "é".repeat(300), "b": [1, 2, 3], "c": {"d": "y".repeat(200)}}),
            &"long message ö ".repeat(80),
        );
        for max in (300..3000).step_by(37) {
            let (p, _) = fit_alert(b.clone(), max).unwrap();
            assert!(p.len() <= max, "max {max}: {}", p.len());
            let v: Value = serde_json::from_slice(&p).unwrap();
            assert_eq!(v["kind"], "anomaly");
        }
    }
}
