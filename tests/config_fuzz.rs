//! Fuzz-ish robustness: thousands of randomly mutated versions of the reference sample (and
//! random environment overrides) go through the loader. Each must come back as a plan or as
//! errors that name the file — never a panic, never an empty error list.

use std::path::{Path, PathBuf};

use chocoline::config::{Env, load_str};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn sample() -> (String, PathBuf) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/chocoline.toml");
    (std::fs::read_to_string(&path).unwrap(), path)
}

/// Bytes that matter to TOML and to our parsers.
const INTERESTING: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "=",
    "\"",
    "'",
    "#",
    ",",
    ".",
    "\n",
    " ",
    "-",
    "0",
    "1e999",
    "nan",
    "inf",
    "-1",
    "65536",
    "4294967296",
    "true",
    "\"\"",
    "\u{0}",
    "é",
    "0x10",
    "1979-05-27",
    "\"\"\"",
    "ms",
    "\\",
    "registers",
    "devices",
    "[[devices]]",
    "[[devices.registers]]",
    "address = 0",
    "data_type = \"BOOL\"",
    "register = \"coil\"",
    "valid_range = []",
];

fn mutate(rng: &mut StdRng, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let rounds = rng.random_range(1..=4);
    for _ in 0..rounds {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let i = rng.random_range(0..lines.len());
        match rng.random_range(0..7) {
            0 => {
                lines.remove(i);
            }
            1 => {
                let l = lines[i].clone();
                lines.insert(rng.random_range(0..=lines.len()), l);
            }
            2 => {
                let j = rng.random_range(0..lines.len());
                lines.swap(i, j);
            }
            3 => {
                // Replace a char of a line with something interesting.
                let l = &lines[i];
                let chars: Vec<char> = l.chars().collect();
                let at = rng.random_range(0..=chars.len());
                let ins = INTERESTING[rng.random_range(0..INTERESTING.len())];
                let mut s: String = chars[..at].iter().collect();
                s.push_str(ins);
                s.extend(chars[at.saturating_add(1).min(chars.len())..].iter());
                lines[i] = s;
            }
            4 => {
                // Change the value of a key = value line.
                if let Some((k, _)) = lines[i].clone().split_once('=') {
                    let v = INTERESTING[rng.random_range(0..INTERESTING.len())];
                    lines[i] = format!("{k}= {v}");
                }
            }
            5 => {
                // Truncate the document.
                lines.truncate(i);
            }
            _ => {
                // Random printable garbage.
                let n = rng.random_range(1..20);
                let s: String = (0..n)
                    .map(|_| char::from(rng.random_range(0x20u8..0x7f)))
                    .collect();
                lines.insert(i, s);
            }
        }
    }
    lines.join("\n")
}

fn random_env(rng: &mut StdRng) -> Env {
    const KEYS: &[&str] = &[
        "CHOCOLINE__MQTT__CLIENT_ID",
        "CHOCOLINE__MQTT__INFLIGHT",
        "CHOCOLINE__MQTT__KEEP_ALIVE",
        "CHOCOLINE__MQTT__TOPICS__ALERTS__QOS",
        "CHOCOLINE__MQTT",
        "CHOCOLINE__STORE__MAX_BYTES",
        "CHOCOLINE__LOG__FORMAT",
        "CHOCOLINE__DRIFT__ALERT_SHARE",
        "CHOCOLINE__MODELS__ENABLED",
        "CHOCOLINE__FEATURES__SIGNAL_MAP__TEMPERATURE",
        "CHOCOLINE__DEVICES__0__NAME",
        "CHOCOLINE__",
        "CHOCOLINE____X",
        "CHOCOLINE__AGENT__PRODUCT",
    ];
    const VALUES: &[&str] = &[
        "", "x", "0", "-1", "1.5", "true", "5", "5s", "nan", "[1]", "{}",
    ];
    let n = rng.random_range(0..3);
    Env::from_pairs((0..n).map(|_| {
        (
            KEYS[rng.random_range(0..KEYS.len())],
            VALUES[rng.random_range(0..VALUES.len())],
        )
    }))
}

#[test]
fn mutated_configs_never_panic() {
    let (text, path) = sample();
    let mut rng = StdRng::seed_from_u64(0xC0C0A);
    let (mut ok, mut bad) = (0, 0);
    for _ in 0..3000 {
        let mutated = mutate(&mut rng, &text);
        let env = if rng.random_bool(0.2) {
            random_env(&mut rng)
        } else {
            Env::empty()
        };
        match load_str(&mutated, &path, &env) {
            Ok(_) => ok += 1,
            Err(e) => {
                bad += 1;
                assert!(
                    !e.errors.is_empty(),
                    "an error without errors for:\n{mutated}"
                );
                for err in &e.errors {
                    assert!(err.to_string().starts_with(&path.display().to_string()));
                }
            }
        }
    }
    // Both outcomes occur, so the mutations exercise the valid and the invalid paths.
    assert!(ok > 50 && bad > 500, "ok {ok}, bad {bad}");
}

#[test]
fn random_bytes_never_panic() {
    let path = Path::new("random.toml");
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..2000 {
        let n = rng.random_range(0..200);
        let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
        let text = String::from_utf8_lossy(&bytes);
        assert!(load_str(&text, path, &Env::empty()).is_err());
    }
}
