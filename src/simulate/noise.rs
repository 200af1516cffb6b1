//! Platform-independent randomness and maths for the process model.
//!
//! The simulator must produce the same numbers for a seed on every machine, because the
//! training data, the golden files and the scenario tests are all derived from it. So the
//! generator is a pinned algorithm (ChaCha8 from `rand_chacha`, not `StdRng` whose algorithm
//! may change between `rand` versions), normal deviates come from a sum of uniforms (only
//! additions and one multiplication, exactly rounded under IEEE 754), and `exp` / `sin` are
//! evaluated by our own polynomial series instead of the platform's libm, whose last-bit
//! results differ between targets.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `sqrt(3)`: scales a sum of four U(0,1) (variance 1/3) to unit variance.
const SQRT_3: f64 = 1.732_050_807_568_877_2;

/// Seeded source of uniform and approximately normal deviates.
#[derive(Debug, Clone)]
pub struct Noise {
    rng: ChaCha8Rng,
}

impl Noise {
    /// A generator for `seed`; `stream` separates independent uses of the same seed (each
    /// scenario's process, fault magnitudes and lot grades draw from streams of their own,
    /// see `LineSim::with_plan`).
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        Noise { rng }
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Approximately normal with mean `mu` and standard deviation `sd` (Irwin–Hall with four
    /// terms: bounded at ±3.46 σ, which suits sensor noise better than unbounded tails).
    pub fn normal(&mut self, mu: f64, sd: f64) -> f64 {
        let s = self.unit() + self.unit() + self.unit() + self.unit();
        mu + sd * (s - 2.0) * SQRT_3
    }
}

/// `e^x` from range reduction and a Taylor series: identical bits on every platform.
/// Accurate to ~1e-15 relative for |x| < 700; saturates outside.
pub fn det_exp(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x > 700.0 {
        return f64::INFINITY;
    }
    if x < -700.0 {
        return 0.0;
    }
    let k = (x / std::f64::consts::LN_2).round();
    let r = x - k * std::f64::consts::LN_2;
    // Horner form of sum r^i / i! for i ≤ 16; |r| ≤ ln2/2 so the tail is < 1e-17.
    let mut p = 1.0;
    let mut i = 16.0;
    while i >= 1.0 {
        p = 1.0 + p * r / i;
        i -= 1.0;
    }
    // 2^k built from the exponent bits: exact for the normal range |k| ≤ 1010.
    let bits = ((1023 + k as i64) as u64) << 52;
    p * f64::from_bits(bits)
}

/// `sin(x)` from range reduction to [-π, π] and a Taylor series: identical bits on every
/// platform, accurate to ~1e-9 (ample for a process model).
pub fn det_sin(x: f64) -> f64 {
    use std::f64::consts::{PI, TAU};
    if !x.is_finite() {
        return f64::NAN;
    }
    let mut r = x - (x / TAU).floor() * TAU;
    if r > PI {
        r -= TAU;
    }
    let r2 = r * r;
    // sum (-1)^i r^(2i+1) / (2i+1)! for i ≤ 9, Horner form.
    let mut p = 1.0;
    let mut i = 9.0;
    while i >= 1.0 {
        p = 1.0 - p * r2 / ((2.0 * i) * (2.0 * i + 1.0));
        i -= 1.0;
    }
    r * p
}

/// Logistic function with the deterministic `exp`.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + det_exp(-x))
}

/// Round to a sensor resolution (`step` e.g. 0.01): what a register holding a scaled integer
/// would report, and compact in the CSV. Divides by the integer `1 / step` so the result is
/// the double nearest to the decimal (prints as `30.58`, not `30.580000000000002`).
pub fn quantize(x: f64, step: f64) -> f64 {
    let inv = (1.0 / step).round();
    (x * inv).round() / inv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_sin_match_libm_closely() {
        for i in -200..=200 {
            let x = i as f64 * 0.173;
            let e = det_exp(x);
            assert!(((e - x.exp()) / x.exp()).abs() < 1e-13, "exp({x})");
            assert!((det_sin(x) - x.sin()).abs() < 1e-8, "sin({x})");
        }
        assert_eq!(det_exp(0.0), 1.0);
        assert_eq!(det_exp(-1000.0), 0.0);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn normal_has_unit_moments_and_is_seeded() {
        let mut a = Noise::new(7, 0);
        let mut b = Noise::new(7, 0);
        let mut c = Noise::new(7, 1);
        let n = 50_000;
        let xs: Vec<f64> = (0..n).map(|_| a.normal(0.0, 1.0)).collect();
        let ys: Vec<f64> = (0..n).map(|_| b.normal(0.0, 1.0)).collect();
        let zs: Vec<f64> = (0..n).map(|_| c.normal(0.0, 1.0)).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.03, "var {var}");
    }

    #[test]
    fn quantize_rounds_to_step() {
        assert!((quantize(31.234_9, 0.01) - 31.23).abs() < 1e-12);
        assert!((quantize(1.23456, 0.001) - 1.235).abs() < 1e-12);
        assert_eq!(quantize(30.580_000_4, 0.01).to_string(), "30.58");
        assert_eq!(quantize(54.900_01, 0.1).to_string(), "54.9");
    }
}
