//! Turning accumulated tree votes into the op outputs, with onnxruntime's exact rules.
//!
//! The ONNX-ML spec leaves the binary classifier under-specified (one weight column for two
//! classes, one base value, what the label is). skl2onnx relies on what onnxruntime does, so
//! this file reproduces onnxruntime's `TreeAggregator*::FinalizeScores` and `write_scores`
//! (ml_common.h) rule by rule — including the odd ones — rather than re-deriving them:
//!
//! - more than two classes: base values are added, the label is the first class with the
//!   highest score among classes that received a vote, the transform applies to all columns;
//! - two classes where only one class id carries votes (`binary_case`): the single score `s`
//!   is the positive class; with all-positive weights the label is positive iff `s > 0.5` and
//!   the columns are `[1 - s, s]` (no transform); with mixed-sign weights (boosting) the label
//!   is positive iff `s > 0` and the columns are `[σ(-s), σ(s)]` under LOGISTIC.
//!
//! Scores are `f64` here and narrowed to `f32` once, at the output.

use super::forest::Aggregate;

/// `post_transform`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostTransform {
    /// Raw scores.
    None,
    /// `1 / (1 + e^-x)` per score.
    Logistic,
    /// Softmax over the row.
    Softmax,
    /// Softmax that leaves zero scores at (almost) zero.
    SoftmaxZero,
    /// `√2 · erfinv(2x − 1)` with onnxruntime's approximation.
    Probit,
}

impl PostTransform {
    /// Parse the attribute.
    pub fn parse(s: &str) -> Result<PostTransform, String> {
        match s {
            "NONE" => Ok(PostTransform::None),
            "LOGISTIC" => Ok(PostTransform::Logistic),
            "SOFTMAX" => Ok(PostTransform::Softmax),
            "SOFTMAX_ZERO" => Ok(PostTransform::SoftmaxZero),
            "PROBIT" => Ok(PostTransform::Probit),
            other => Err(format!("unknown post_transform {other:?}")),
        }
    }
}

/// onnxruntime's `ComputeLogistic` (symmetric form, stable for large |x|).
pub fn logistic(x: f64) -> f64 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 { 1.0 - v } else { v }
}

/// onnxruntime's `ErfInv` approximation (Winitzki), in f32 as onnxruntime computes it.
fn erf_inv(x: f32) -> f32 {
    let sgn = if x < 0.0 { -1.0f32 } else { 1.0 };
    let x = (1.0 - x) * (1.0 + x);
    let log = x.ln();
    let v = 2.0 / (std::f32::consts::PI * 0.147) + 0.5 * log;
    let v2 = 1.0 / 0.147 * log;
    let v3 = -v + (v * v - v2).sqrt();
    sgn * v3.sqrt()
}

/// onnxruntime's `ComputeProbit`.
pub fn probit(x: f64) -> f64 {
    f64::from(std::f32::consts::SQRT_2 * erf_inv(2.0 * x as f32 - 1.0))
}

/// Apply a transform to a whole row of ≥ 2 scores.
fn transform_row(scores: &mut [f64], post: PostTransform) {
    match post {
        PostTransform::None => {}
        PostTransform::Logistic => scores.iter_mut().for_each(|s| *s = logistic(*s)),
        PostTransform::Probit => scores.iter_mut().for_each(|s| *s = probit(*s)),
        PostTransform::Softmax => {
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut sum = 0.0;
            for s in scores.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            scores.iter_mut().for_each(|s| *s /= sum);
        }
        PostTransform::SoftmaxZero => {
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let exp_neg_max = (-max).exp();
            let mut sum = 0.0;
            for s in scores.iter_mut() {
                if s.abs() > 1e-7 {
                    *s = (*s - max).exp();
                    sum += *s;
                } else {
                    *s *= exp_neg_max;
                }
            }
            scores.iter_mut().for_each(|s| *s /= sum);
        }
    }
}

/// Classifier output rules (fixed at load time).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierRules {
    /// Number of classes (columns).
    pub n_classes: usize,
    /// `base_values` (empty, 1 or `n_classes` long).
    pub base_values: Vec<f64>,
    /// `post_transform`.
    pub post: PostTransform,
    /// Two classes and a single class id carries every vote.
    pub binary_case: bool,
    /// Every vote weight is ≥ 0.
    pub weights_all_positive: bool,
}

impl ClassifierRules {
    /// Finalise one row: `scores`/`has` are the accumulated votes (`n_classes` long, modified
    /// in place); writes `n_classes` probabilities/scores to `out` and returns the label index.
    #[expect(
        clippy::too_many_lines,
        clippy::cognitive_complexity,
        reason = "per-row classifier post-transform on the inference hot path; kept whole so the measured inference figures (docs/infer.md) stand"
    )]
    pub fn finalize(&self, scores: &mut [f64], has: &mut [bool], out: &mut [f32]) -> usize {
        if self.n_classes != 2 {
            for ((s, h), b) in scores.iter_mut().zip(has.iter_mut()).zip(&self.base_values) {
                if *h {
                    *s += b;
                } else {
                    *s = *b;
                    *h = true;
                }
            }
            let mut best: Option<(usize, f64)> = None;
            for (ix, (&s, &h)) in scores.iter().zip(has.iter()).enumerate() {
                if h && best.is_none_or(|(_, b)| s > b) {
                    best = Some((ix, s));
                }
            }
            if scores.len() >= 2 {
                transform_row(scores, self.post);
            } else if self.post == PostTransform::Probit {
                scores.iter_mut().for_each(|s| *s = probit(*s));
            }
            for (o, s) in out.iter_mut().zip(scores.iter()) {
                *o = *s as f32;
            }
            return best.map(|(ix, _)| ix).unwrap_or(0);
        }

        // Two classes.
        let (mut s0, mut s1) = (
            scores.first().copied().unwrap_or(0.0),
            scores.get(1).copied().unwrap_or(0.0),
        );
        let (h0, mut h1) = (
            has.first().copied().unwrap_or(false),
            has.get(1).copied().unwrap_or(false),
        );
        let mut single = false;
        // onnxruntime's `write_additional_scores`: how a single score becomes two columns.
        let mut layout: i32 = -1;
        match self.base_values.as_slice() {
            [b0, b1] => {
                if h1 {
                    // onnxruntime: base_values[0] is ignored and assumed equal to base_values[1].
                    s1 = b1 + s0;
                    s0 = -s1;
                    h1 = true;
                } else {
                    s1 += b1;
                    s0 += b0;
                }
            }
            [b0] => {
                s0 += b0;
                single = !h1;
            }
            _ => {
                layout = 3;
                single = !h1;
            }
        }
        let pos_weight = if !single && h1 {
            s1
        } else if h0 {
            s0
        } else {
            0.0
        };
        let label = if self.binary_case {
            if self.weights_all_positive {
                if pos_weight > 0.5 {
                    layout = 0;
                    1
                } else {
                    layout = 1;
                    0
                }
            } else if pos_weight > 0.0 {
                layout = 2;
                1
            } else {
                layout = 3;
                0
            }
        } else if pos_weight > 0.0 {
            1
        } else {
            0
        };
        let (c0, c1) = if !single {
            let mut row = [s0, s1];
            transform_row(&mut row, self.post);
            (row[0], row[1])
        } else if self.post == PostTransform::Probit {
            (probit(s0), 0.0)
        } else {
            match layout {
                0 | 1 => (1.0 - s0, s0),
                2 | 3 if self.post == PostTransform::Logistic => (logistic(-s0), logistic(s0)),
                2 => (-s0, s0),
                3 => (s0, -s0),
                _ => (s0, 0.0),
            }
        };
        if let Some(o) = out.get_mut(0) {
            *o = c0 as f32;
        }
        if let Some(o) = out.get_mut(1) {
            *o = c1 as f32;
        }
        label
    }
}

/// Regressor output rules (fixed at load time).
#[derive(Debug, Clone, PartialEq)]
pub struct RegressorRules {
    /// `n_targets`.
    pub n_targets: usize,
    /// `base_values`.
    pub base_values: Vec<f64>,
    /// `post_transform`.
    pub post: PostTransform,
    /// Aggregate function.
    pub aggregate: Aggregate,
    /// Trees in the ensemble (AVERAGE divides by it).
    pub n_trees: usize,
}

impl RegressorRules {
    /// Finalise one row of `n_targets` accumulated votes into `out`.
    pub fn finalize(&self, scores: &mut [f64], has: &[bool], out: &mut [f32]) {
        let n = self.n_targets;
        if n == 1 {
            // onnxruntime's single-target path: one base value, only PROBIT applies.
            let origin = match self.base_values.as_slice() {
                [b] => *b,
                _ => 0.0,
            };
            let s = scores.first().copied().unwrap_or(0.0);
            let h = has.first().copied().unwrap_or(false);
            let mut v = match self.aggregate {
                Aggregate::Sum => s + origin,
                Aggregate::Average => s / self.n_trees.max(1) as f64 + origin,
                Aggregate::Min | Aggregate::Max => {
                    if h {
                        s + origin
                    } else {
                        origin
                    }
                }
            };
            if self.post == PostTransform::Probit {
                v = probit(v);
            }
            if let Some(o) = out.first_mut() {
                *o = v as f32;
            }
            return;
        }
        let use_base = self.base_values.len() == n;
        for (j, (s, h)) in scores.iter_mut().zip(has).enumerate() {
            let base = if use_base {
                self.base_values.get(j).copied().unwrap_or(0.0)
            } else {
                0.0
            };
            *s = match self.aggregate {
                Aggregate::Sum => *s + base,
                Aggregate::Average => *s / self.n_trees.max(1) as f64 + base,
                Aggregate::Min | Aggregate::Max => base + if *h { *s } else { 0.0 },
            };
        }
        transform_row(scores, self.post);
        for (o, s) in out.iter_mut().zip(scores.iter()) {
            *o = *s as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(base: Vec<f64>, post: PostTransform, positive: bool) -> ClassifierRules {
        ClassifierRules {
            n_classes: 2,
            base_values: base,
            post,
            binary_case: true,
            weights_all_positive: positive,
        }
    }

    /// A binary decision tree as skl2onnx exports it: class id 0 carries P(class 1).
    #[test]
    fn binary_probability_layout() {
        let r = binary(vec![], PostTransform::None, true);
        let mut out = [0f32; 2];
        let label = r.finalize(&mut [0.8, 0.0], &mut [true, false], &mut out);
        assert_eq!(label, 1);
        assert!((out[0] - 0.2).abs() < 1e-7 && (out[1] - 0.8).abs() < 1e-7);
        // Exactly 0.5 is the negative class (strict >), like sklearn's argmax tie rule.
        let label = r.finalize(&mut [0.5, 0.0], &mut [true, false], &mut out);
        assert_eq!(label, 0);
        assert_eq!(out, [0.5, 0.5]);
    }

    /// Binary gradient boosting: one raw score, one base value, LOGISTIC.
    #[test]
    fn binary_boosting_logistic() {
        let r = binary(vec![-0.5], PostTransform::Logistic, false);
        let mut out = [0f32; 2];
        let label = r.finalize(&mut [1.0, 0.0], &mut [true, false], &mut out);
        assert_eq!(label, 1);
        let p = 1.0 / (1.0 + (-0.5f64).exp());
        assert!((f64::from(out[1]) - p).abs() < 1e-7);
        assert!((f64::from(out[0]) - (1.0 - p)).abs() < 1e-7);
        let label = r.finalize(&mut [0.2, 0.0], &mut [true, false], &mut out);
        assert_eq!(label, 0);
    }

    #[test]
    fn multiclass_softmax_and_argmax() {
        let r = ClassifierRules {
            n_classes: 3,
            base_values: vec![0.0, 1.0, 0.0],
            post: PostTransform::Softmax,
            binary_case: false,
            weights_all_positive: false,
        };
        let mut out = [0f32; 3];
        let label = r.finalize(&mut [1.0, 0.5, 0.0], &mut [true, true, false], &mut out);
        assert_eq!(label, 1); // 1.5 beats 1.0
        let e: Vec<f64> = [1.0f64, 1.5, 0.0].iter().map(|x| x.exp()).collect();
        let sum: f64 = e.iter().sum();
        for (o, x) in out.iter().zip(&e) {
            assert!((f64::from(*o) - x / sum).abs() < 1e-7);
        }
    }

    #[test]
    fn regressor_average_and_base() {
        let r = RegressorRules {
            n_targets: 1,
            base_values: vec![10.0],
            post: PostTransform::None,
            aggregate: Aggregate::Average,
            n_trees: 4,
        };
        let mut out = [0f32];
        r.finalize(&mut [8.0], &[true], &mut out);
        assert_eq!(out, [12.0]);
    }

    #[test]
    fn logistic_matches_definition() {
        for x in [-30.0, -1.0, 0.0, 0.3, 12.0] {
            assert!((logistic(x) - 1.0 / (1.0 + (-x).exp())).abs() < 1e-12);
        }
        // probit(0.5) = 0; probit(0.8413) ≈ 1 (approximation good to ~1e-3).
        assert!(probit(0.5).abs() < 1e-6);
        assert!((probit(0.841_344_7) - 1.0).abs() < 5e-3);
    }
}
