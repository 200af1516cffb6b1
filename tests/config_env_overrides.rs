//! Semantic checks of the configuration reached through environment overrides of the
//! reference sample: each bad value makes `check-config` exit 2 naming the variable's dotted
//! key and the rule it breaks, and a good sample stays good.

mod common;

fn check(env: (&str, &str)) -> (Option<i32>, String) {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/config/chocoline.toml");
    let o = common::cli::chocoline()
        .args(["check-config", "--config", sample])
        .env(env.0, env.1)
        .output()
        .unwrap();
    (
        o.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn bad_overrides_name_the_key_and_the_rule() {
    let cases = [
        (
            ("CHOCOLINE__STORE__CACHE_CAPACITY", "0"),
            "store.cache_capacity",
            "must be positive",
        ),
        (
            ("CHOCOLINE__STORE__PREDICTION_RETENTION", "0s"),
            "store.prediction_retention",
            "must be longer than 0",
        ),
        (
            ("CHOCOLINE__MQTT__RECONNECT_MIN", "0s"),
            "mqtt.reconnect_min",
            "must be longer than 0",
        ),
        (
            ("CHOCOLINE__MQTT__MAX_MESSAGE_BYTES", "100"),
            "mqtt.max_message_bytes",
            "at least 512 bytes",
        ),
        (
            ("CHOCOLINE__MQTT__MAX_REFUSALS", "1"),
            "mqtt.max_refusals",
            "at least 2",
        ),
        (
            ("CHOCOLINE__MQTT__URL", "::not a url"),
            "mqtt.url",
            "not a URL",
        ),
        (
            ("CHOCOLINE__MQTT__CLIENT_CERT_FILE", "/etc/hostname"),
            "mqtt.client_key_file",
            "",
        ),
        (
            ("CHOCOLINE__DRIFT__PAGE_HINKLEY_LAMBDA", "0"),
            "drift.page_hinkley_lambda",
            "must be a positive number",
        ),
    ];
    for (env, key, rule) in cases {
        let (code, text) = check(env);
        assert_eq!(code, Some(2), "{env:?}: {text}");
        assert!(text.contains(env.0), "{env:?} not named: {text}");
        assert!(
            text.contains(key) && text.contains(rule),
            "{env:?}: want {key} / {rule:?} in {text}"
        );
    }
}
