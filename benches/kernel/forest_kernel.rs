//! The tree-ensemble kernel (`src/infer/ops/forest/`) alone, without tract, timed in CPU
//! time (utime + stime from /proc, so preemption on a loaded machine does not count): the
//! per-row cost in a batch of 1000 and of single rows (varied and repeated) on the anchor
//! forest, and `Forest::build` over the committed tree models (bloom, quality, yield). Built with plain `rustc` by
//! `benches/kernel/run.sh` in seconds — a release build of the whole bench takes ≈ 1 h on a
//! loaded 2-core machine — once against the working tree and once against an older commit
//! (`--cfg old`), so a change to the kernel can be measured before and after; `dump` prints
//! every score of 1000 rows (NaNs included) per forest, batch and row by row, and run.sh
//! checks the two builds agree bit for bit.
#![allow(dead_code)]
#[cfg(old)]
#[path = "forest_old/mod.rs"]
mod forest;
#[cfg(not(old))]
#[path = "forest_new/mod.rs"]
mod forest;
// benches/common/median.rs, copied next to this file by run.sh.
#[path = "median.rs"]
mod common_median;
use forest::*;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn load(path: &str) -> (Vec<NodeSpec>, Vec<VoteSpec>, usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let h: Vec<usize> = lines.next().unwrap().split(' ').map(|x| x.parse().unwrap()).collect();
    let (k, n, m) = (h[0], h[1], h[2]);
    let mut nodes = Vec::new();
    for _ in 0..n {
        let f: Vec<&str> = lines.next().unwrap().split(' ').collect();
        let mode = match f[3] {
            "-1" => None,
            "0" => Some(Mode::Leq),
            "1" => Some(Mode::Lt),
            "2" => Some(Mode::Gte),
            "3" => Some(Mode::Gt),
            "4" => Some(Mode::Eq),
            _ => Some(Mode::Neq),
        };
        nodes.push(NodeSpec {
            tree: f[0].parse().unwrap(),
            id: f[1].parse().unwrap(),
            feature: f[2].parse().unwrap(),
            mode,
            value: f[4].parse::<f32>().unwrap() as f64,
            true_id: f[5].parse().unwrap(),
            false_id: f[6].parse().unwrap(),
            nan_true: f[7] != "0",
        });
    }
    let mut votes = Vec::new();
    for _ in 0..m {
        let f: Vec<&str> = lines.next().unwrap().split(' ').collect();
        votes.push(VoteSpec {
            tree: f[0].parse().unwrap(),
            node: f[1].parse().unwrap(),
            target: f[2].parse().unwrap(),
            weight: f[3].parse::<f32>().unwrap() as f64,
        });
    }
    (nodes, votes, k)
}

/// Median wall time of `f` over `n` runs, after up to 20 warm-up runs.
fn median(n: usize, f: impl FnMut()) -> Duration {
    common_median::median(n, 20, f)
}

/// 1000 rows of `w` features (a fixed LCG; every 97th value NaN), for the committed forests.
fn synthetic_rows(w: usize) -> Vec<f32> {
    let mut st = 12345u64;
    (0..1000 * w)
        .map(|i| {
            st = st.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let u = (st >> 40) as f32 / (1u64 << 24) as f32;
            if i % 97 == 5 { f32::NAN } else { (u - 0.5) * 8.0 * (1.0 + (i % w) as f32) }
        })
        .collect()
}

/// Forest `m` (a dumped `<m>.txt`), its target count, its width and [`synthetic_rows`].
fn forest_and_rows(m: &str) -> (Forest<f32>, usize, usize, Vec<f32>) {
    let (nodes, votes, k) = load(&format!("{m}.txt"));
    let f = Forest::<f32>::build(&nodes, &votes, k, Aggregate::Sum).unwrap();
    let w = f.n_features();
    (f, k, w, synthetic_rows(w))
}

fn main() {
    let what = std::env::args().nth(1).unwrap_or_default();
    let mut total = Duration::ZERO;
    let cpu = || {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let f: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
        (f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()) as f64 / 100.0
    };
    if what == "dump" {
        // Every score of every row, batch and row by row, for a bitwise old/new diff.
        for m in ["anchor_rf", "bloom", "quality", "yield"] {
            let (f, k, w, rows) = forest_and_rows(m);
            let (mut s, mut h) = (vec![0.0f64; 1000 * k], vec![false; 1000 * k]);
            f.accumulate(&rows, w, Acc { scores: &mut s, has: &mut h });
            for (r, row) in rows.chunks(w).enumerate() {
                let mut s1 = vec![0.0f64; k];
                let mut h1 = vec![false; k];
                f.accumulate(row, w, Acc { scores: &mut s1, has: &mut h1 });
                println!("{m} {r} {:?} {:?} {:?}", &s[r * k..r * k + k], &h[r * k..r * k + k], s1);
            }
        }
        return;
    }
    if what == "cpuc" {
        // CPU time per row of a batch of 1000 for each committed forest (the dump's rows).
        for m in ["bloom", "quality", "yield"] {
            let (f, k, w, rows) = forest_and_rows(m);
            let (mut s, mut h) = (vec![0.0f64; 1000 * k], vec![false; 1000 * k]);
            let (c0, mut n) = (cpu(), 0u64);
            while cpu() - c0 < 1.0 {
                for _ in 0..20 {
                    s.iter_mut().for_each(|x| *x = 0.0);
                    h.iter_mut().for_each(|x| *x = false);
                    f.accumulate(&rows, w, Acc { scores: &mut s, has: &mut h });
                    black_box(&s);
                }
                n += 20;
            }
            println!("{m} batch 1000, CPU time: {:.3} µs/row", (cpu() - c0) / n as f64 / 1000.0 * 1e6);
        }
        return;
    }
    if what == "buildcpu" {
        let models: Vec<_> = ["bloom", "quality", "yield"].iter().map(|m| load(&format!("{m}.txt"))).collect();
        let (c0, mut n) = (cpu(), 0u64);
        while cpu() - c0 < 2.0 {
            for (nodes, votes, k) in &models {
                black_box(Forest::<f32>::build(nodes, votes, *k, Aggregate::Sum).unwrap());
            }
            n += 1;
        }
        println!("Forest::build, 3 committed tree models, CPU time: {:.3} ms per load of all three ({n} loads)", (cpu() - c0) / n as f64 * 1e3);
        return;
    }
    if what.is_empty() || what == "build" {
        for m in ["bloom", "quality", "yield"] {
            let (nodes, votes, k) = load(&format!("{m}.txt"));
            let agg = Aggregate::Sum;
            let t = median(if what == "build" { 400 } else { 30 }, || {
                black_box(Forest::<f32>::build(&nodes, &votes, k, agg).unwrap());
            });
            println!("build {m:8} {:>8.3} ms", t.as_secs_f64() * 1e3);
            total += t;
        }
        println!("build total    {:>8.3} ms", total.as_secs_f64() * 1e3);
    }
    let (nodes, votes, k) = load("anchor_rf.txt");
    let f = Forest::<f32>::build(&nodes, &votes, k, Aggregate::Sum).unwrap();
    let rows: Vec<f32> = std::fs::read_to_string(env!("ROWS_CSV"))
        .unwrap()
        .lines()
        .flat_map(|l| l.split(',').map(|v| v.parse::<f32>().unwrap()).collect::<Vec<_>>())
        .collect();
    let mut s = vec![0.0f64; 1000 * k];
    let mut h = vec![false; 1000 * k];
    let mut batch = || {
        s.iter_mut().for_each(|x| *x = 0.0);
        h.iter_mut().for_each(|x| *x = false);
        f.accumulate(&rows, 6, Acc { scores: &mut s, has: &mut h });
        black_box(&s);
    };
    if what == "cpu" {
        // CPU time (utime + stime of this process, from /proc) per batch: immune to
        // preemption on a loaded machine, unlike wall-clock medians.
        let cpu = || {
            let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
            let f: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
            let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
            ticks as f64 / 100.0
        };
        batch();
        let (c0, t0) = (cpu(), Instant::now());
        let mut n = 0u64;
        while cpu() - c0 < 1.0 && t0.elapsed() < Duration::from_secs(20) {
            for _ in 0..20 {
                batch();
            }
            n += 20;
        }
        let used = cpu() - c0;
        println!("anchor_rf batch 1000, CPU time: {:.3} µs/row over {n} batches ({used:.2} s CPU, {:.1} s wall)", used / n as f64 / 1000.0 * 1e6, t0.elapsed().as_secs_f64());
        return;
    }
    if what == "cpu1" {
        let cpu = || {
            let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
            let f: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
            (f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()) as f64 / 100.0
        };
        let mut s1 = vec![0.0f64; k];
        let mut h1 = vec![false; k];
        for same in [false, true] {
            let (c0, mut n) = (cpu(), 0u64);
            while cpu() - c0 < 1.5 {
                for i in 0..1000 {
                    s1.iter_mut().for_each(|x| *x = 0.0);
                    h1.iter_mut().for_each(|x| *x = false);
                    let i = if same { 0 } else { i };
                    f.accumulate(&rows[i * 6..i * 6 + 6], 6, Acc { scores: &mut s1, has: &mut h1 });
                    black_box(&s1);
                }
                n += 1000;
            }
            println!("anchor_rf single row kernel, CPU time, {}: {:.3} µs", if same { "same row" } else { "varied rows" }, (cpu() - c0) / n as f64 * 1e6);
        }
        return;
    }
    if what == "batch" {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            batch();
        }
        return;
    }
    let b = median(300, &mut batch) / 1000;
    let check: f64 = s.iter().sum();
    println!("anchor_rf batch 1000: {:.3} µs/row (checksum {check:.6})", b.as_secs_f64() * 1e6);
    let mut s1 = vec![0.0f64; k];
    let mut h1 = vec![false; k];
    let mut i = 0usize;
    let varied = median(100_000, || {
        s1.iter_mut().for_each(|x| *x = 0.0);
        h1.iter_mut().for_each(|x| *x = false);
        let r = &rows[i * 6..i * 6 + 6];
        i = (i + 1) % 1000;
        f.accumulate(r, 6, Acc { scores: &mut s1, has: &mut h1 });
        black_box(&s1);
    });
    let same = median(100_000, || {
        s1.iter_mut().for_each(|x| *x = 0.0);
        h1.iter_mut().for_each(|x| *x = false);
        f.accumulate(&rows[..6], 6, Acc { scores: &mut s1, has: &mut h1 });
        black_box(&s1);
    });
    println!(
        "anchor_rf single row (kernel only): varied rows {:.3} µs, same row {:.3} µs",
        varied.as_secs_f64() * 1e6,
        same.as_secs_f64() * 1e6
    );
}
