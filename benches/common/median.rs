//! Median wall time of a closure, shared by the cargo bench `infer` (as a module) and the
//! stand-alone kernel harness `benches/kernel/` (copied next to it by `run.sh`, which builds
//! it with plain `rustc`).

use std::time::{Duration, Instant};

/// Median wall time of `f` over `n` runs (`n` ≥ 1), after `min(n, warmup)` untimed runs.
pub fn median(n: usize, warmup: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..n.min(warmup) {
        f();
    }
    let mut v: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    v[n / 2]
}
