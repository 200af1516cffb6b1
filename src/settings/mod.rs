//! Settings helpers at the ground floor, beside [`crate::domain`]: the value types every
//! stage's config section is written in (durations, byte sizes, `[a, b]` pairs —
//! [`units`]), the dotted key paths errors name ([`keypath`]), and the name of a serial
//! controller ([`controller`]). Stages build their own sections from these; the `config`
//! module above assembles the sections into the whole file and reports errors with file, line
//! and key.

pub mod controller;
pub mod keypath;
pub mod units;
