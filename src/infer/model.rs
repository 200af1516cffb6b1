//! One ONNX model loaded through tract with chocoline's ops: parse → type → optimise → plan,
//! then run on row-major `f32` features.
//!
//! Thread safety: [`Model`] is `Send + Sync`. The plan is immutable and shared; a tract
//! `SimpleState` (which holds the plan's per-run buffers) is kept for reuse behind a mutex that
//! is only ever `try_lock`ed — when two threads run the same model at once the loser spawns a
//! throw-away state instead of waiting, so no caller ever blocks on another.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, TryLockError};

use tract_hir::internal::*;

use super::error::{InferError, chain};
use super::onnx::Onnx;
use super::onnx::pb::ModelProto;
use super::ops;

/// One output, flattened to `rows × width`.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// Float outputs (probabilities, values, scores), widened to f64.
    Real(Vec<f64>),
    /// Integer labels.
    Int(Vec<i64>),
    /// String labels.
    Text(Vec<String>),
}

/// A named model output.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// ONNX output name.
    pub name: String,
    /// Values per row (1 for `[N]` outputs).
    pub width: usize,
    /// Data, row-major.
    pub column: Column,
}

impl Output {
    /// The value at `(row, col)` as text (labels) or a float formatted with full precision.
    pub fn cell(&self, row: usize, col: usize) -> Option<String> {
        let i = row.checked_mul(self.width)?.checked_add(col)?;
        match &self.column {
            Column::Real(v) => v.get(i).map(|x| format!("{x}")),
            Column::Int(v) => v.get(i).map(|x| x.to_string()),
            Column::Text(v) => v.get(i).cloned(),
        }
    }

    /// The value at `(row, col)` as a float (labels: integer value; text: None).
    pub fn real(&self, row: usize, col: usize) -> Option<f64> {
        let i = row.checked_mul(self.width)?.checked_add(col)?;
        match &self.column {
            Column::Real(v) => v.get(i).copied(),
            Column::Int(v) => v.get(i).map(|x| *x as f64),
            Column::Text(_) => None,
        }
    }
}

/// A runnable model.
#[derive(Debug)]
pub struct Model {
    plan: Arc<TypedSimplePlan>,
    state: Mutex<Option<TypedSimpleState>>,
    input_dt: DatumType,
    n_features: usize,
    outputs: Vec<String>,
    source: PathBuf,
}

impl Model {
    /// Load, type, optimise and plan an ONNX file. `n_features` (from a manifest) must agree
    /// with the file's declared input width when both are known.
    pub fn load_file(path: &Path, n_features: Option<usize>) -> Result<Model, InferError> {
        let bytes = std::fs::read(path).map_err(|e| InferError::Io {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Model::load_vec(bytes, path, n_features)
    }

    /// Same from bytes already in memory (`source` names them in errors); copies them once,
    /// [`Model::load_vec`] does not.
    pub fn load_bytes(
        bytes: &[u8],
        source: &Path,
        n_features: Option<usize>,
    ) -> Result<Model, InferError> {
        Model::load_vec(bytes.to_vec(), source, n_features)
    }

    /// Same from bytes the caller hands over (the protobuf is decoded from them in place).
    pub fn load_vec(
        bytes: Vec<u8>,
        source: &Path,
        n_features: Option<usize>,
    ) -> Result<Model, InferError> {
        let err = |reason: String| InferError::Load {
            path: source.to_owned(),
            reason,
        };
        // The file is untrusted and tract builds ops from it; a panic deep inside must become
        // an error, not take the agent down.
        let built = std::panic::catch_unwind(move || build(bytes, n_features));
        let (plan, input_dt, n_features, outputs) = match built {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => return Err(err(e)),
            Err(_) => return Err(err("the ONNX parser panicked on this file".into())),
        };
        let state = plan.spawn().map_err(|e| err(chain(&e)))?;
        Ok(Model {
            plan,
            state: Mutex::new(Some(state)),
            input_dt,
            n_features,
            outputs,
            source: source.to_owned(),
        })
    }

    /// Input width.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// ONNX output names, in graph order.
    pub fn output_names(&self) -> &[String] {
        &self.outputs
    }

    /// The optimised plan (benchmarks, diagnostics).
    pub fn plan(&self) -> &Arc<TypedSimplePlan> {
        &self.plan
    }

    /// Run `rows` (row-major, `n_features` values per row).
    pub fn run(&self, rows: &[f32]) -> Result<Vec<Output>, InferError> {
        let fail = |reason: String| InferError::Prediction {
            model: self.source.display().to_string(),
            reason,
        };
        let w = self.n_features;
        if w == 0 || !rows.len().is_multiple_of(w) {
            return Err(fail(format!(
                "{} values do not make whole rows of {w} features",
                rows.len()
            )));
        }
        let n = rows.len() / w;
        let input = Tensor::from_shape(&[n, w], rows).map_err(|e| fail(chain(&e)))?;
        let input = if self.input_dt == f32::datum_type() {
            input
        } else {
            input
                .cast_to_dt(self.input_dt)
                .map_err(|e| fail(chain(&e)))?
                .into_owned()
        };
        let values = self.run_tensor(input).map_err(|e| fail(chain(&e)))?;
        values
            .iter()
            .zip(&self.outputs)
            .map(|(v, name)| to_output(name, v).map_err(|e| fail(chain(&e))))
            .collect()
    }

    /// Run one input tensor through the plan, reusing the cached state when it is free.
    pub fn run_tensor(&self, input: Tensor) -> TractResult<TVec<TValue>> {
        let mut guard = match self.state.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        match guard.as_deref_mut() {
            Some(slot) => {
                if slot.is_none() {
                    *slot = Some(self.plan.spawn()?);
                }
                match slot.as_mut() {
                    Some(state) => state.run(tvec!(input.into_tvalue())),
                    None => bail!("no state"),
                }
            }
            None => self.plan.spawn()?.run(tvec!(input.into_tvalue())),
        }
    }
}

type Built = (Arc<TypedSimplePlan>, DatumType, usize, Vec<String>);

/// Decode the protobuf, fold IsolationForest chains, and refuse ops this build lacks.
fn read_proto(onnx: &Onnx, bytes: Vec<u8>) -> Result<ModelProto, String> {
    let mut proto = onnx
        .proto_model_for_vec(bytes)
        .map_err(|e| format!("not a loadable ONNX model: {}", chain(&e)))?;
    // Collapse skl2onnx's per-tree IsolationForest chains into one ensemble; a graph the
    // guarded match does not recognise is run as it is.
    match ops::fuse::fuse_tree_sums(onnx, &mut proto) {
        Ok(Some(f)) => tracing::debug!(
            trees = f.trees,
            removed = f.removed_nodes,
            "fused per-tree chains"
        ),
        Ok(None) => {}
        Err(reason) => tracing::debug!(%reason, "per-tree chains left unfused"),
    }
    let missing = ops::registry::unsupported(&onnx.op_register, &proto);
    if !missing.is_empty() {
        return Err(format!(
            "uses ONNX operators this build does not include: {} (supported: {}; see docs/infer.md)",
            missing.join(", "),
            ops::registry::supported(&onnx.op_register).join(", ")
        ));
    }
    Ok(proto)
}

fn build(bytes: Vec<u8>, n_features: Option<usize>) -> Result<Built, String> {
    let onnx = ops::onnx();
    let proto = read_proto(&onnx, bytes)?;
    let mut model = onnx
        .model_for_proto_model(&proto)
        .map_err(|e| format!("not a loadable ONNX model: {}", chain(&e)))?;
    if model.inputs.len() != 1 {
        return Err(format!(
            "expected exactly one input (a float matrix [N, features]), found {}",
            model.inputs.len()
        ));
    }
    let fact = model.input_fact(0).map_err(|e| chain(&e))?.clone();
    let declared: Vec<Option<TDim>> = fact.shape.dims().map(|d| d.concretize()).collect();
    let file_width = match declared.as_slice() {
        [_, Some(w)] => w.to_i64().ok().and_then(|w| usize::try_from(w).ok()),
        _ => None,
    };
    let width = match (file_width, n_features) {
        (Some(f), Some(m)) if f != m => {
            return Err(format!(
                "the model's input has {f} features but {m} were expected"
            ));
        }
        (Some(f), _) => f,
        (None, Some(m)) => m,
        (None, None) => {
            return Err("the model's input width is not declared; cannot size the input".into());
        }
    };
    let dt = match fact.datum_type.concretize() {
        Some(dt) if dt == f64::datum_type() => dt,
        Some(dt) if dt == f32::datum_type() => dt,
        None => f32::datum_type(),
        Some(other) => {
            return Err(format!(
                "input type {other:?} is not supported (float or double only)"
            ));
        }
    };
    let n = model.symbols.sym("N");
    model
        .set_input_fact(
            0,
            TypedFact::dt_shape(dt, [n.to_dim(), width.to_dim()]).into(),
        )
        .map_err(|e| chain(&e))?;
    let typed = model
        .into_typed()
        .map_err(|e| format!("cannot type the graph: {}", chain(&e)))?;
    let optimized = typed
        .into_optimized()
        .map_err(|e| format!("cannot optimise the graph: {}", chain(&e)))?;
    let outputs: Vec<String> = optimized
        .output_outlets()
        .map_err(|e| chain(&e))?
        .iter()
        .map(|o| {
            optimized
                .outlet_label(*o)
                .map(str::to_owned)
                .unwrap_or_else(|| optimized.node(o.node).name.clone())
        })
        .collect();
    let plan = SimplePlan::new(optimized).map_err(|e| chain(&e))?;
    Ok((plan, dt, width, outputs))
}

fn to_output(name: &str, v: &TValue) -> TractResult<Output> {
    let shape = v.shape();
    let rows = shape.first().copied().unwrap_or(1);
    let width = v
        .len()
        .checked_div(rows)
        .unwrap_or_else(|| shape.iter().skip(1).product());
    let dt = v.datum_type();
    let column = if dt == String::datum_type() {
        let view = v.try_as_plain_ram()?;
        Column::Text(view.as_slice::<String>()?.to_vec())
    } else if dt.is_float() {
        let c = v.cast_to::<f64>()?;
        let view = c.try_as_plain_ram()?;
        Column::Real(view.as_slice::<f64>()?.to_vec())
    } else {
        let c = v.cast_to::<i64>()?;
        let view = c.try_as_plain_ram()?;
        Column::Int(view.as_slice::<i64>()?.to_vec())
    };
    Ok(Output {
        name: name.to_owned(),
        width: width.max(1),
        column,
    })
}
