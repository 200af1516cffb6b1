//! `GraphProto` → tract `InferenceModel`, following tract-onnx's `parse_graph` for the
//! features chocoline's graphs use.
//!
//! The model is built in the order tract-onnx builds it, so node ids (and with them
//! whatever tract's optimiser does in node order) are the same as with stock tract:
//!
//! 1. every initializer is decoded ([`super::tensor::load_tensor`]);
//! 2. graph inputs, in order: an input that is also an initializer becomes a constant (ONNX
//!    allows a default value that way), any other one a source with its declared fact;
//! 3. the remaining initializers become constants, sorted by name;
//! 4. one node per ONNX node, in file order, built by the register (an op type it lacks is
//!    an error naming it); each non-empty output name labels its outlet;
//! 5. edges, once every node exists: each non-empty input name is wired from the outlet that
//!    produces it (an empty name is an optional input left out, so the following inputs
//!    shift down, as tract's ops expect); a name nothing produces is an error;
//! 6. graph outputs, selected by name, their facts left for tract to infer (tract-onnx's
//!    default, `use_output_shapes = false`); `value_info` types are applied to the values
//!    they name, except int64 element types (likely shapes, which tract types as TDim).

use std::collections::HashMap;

use tract_hir::internal::*;

use super::pb::{GraphProto, ModelProto, NodeProto, type_proto};
use super::tensor::{inference_fact, load_tensor};
use super::{Onnx, ParsingContext};

/// The operator-set version of the default domain, 0 when not imported.
pub fn default_opset(proto: &ModelProto) -> i64 {
    proto
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .unwrap_or(0)
}

/// Build the inference model of `proto` with `onnx`'s register.
pub fn build(onnx: &Onnx, proto: &ModelProto) -> TractResult<InferenceModel> {
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| format_err!("the model has no graph"))?;
    refuse_subgraphs(graph)?;
    let ctx = ParsingContext {
        onnx_operator_set_version: default_opset(proto),
    };
    let mut model = InferenceModel::default();
    let mut outlets = add_inputs_and_constants(&mut model, graph)?;
    let first_op = model.nodes().len();
    let mut closures = vec![];
    for pbnode in &graph.node {
        let (id, reads) = add_node(onnx, &ctx, &mut model, pbnode, &mut outlets)?;
        closures.extend(reads.into_iter().map(|name| (id, name)));
    }
    for (ix, pbnode) in graph.node.iter().enumerate() {
        let inputs = pbnode.input.iter().filter(|s| !s.is_empty());
        for (slot, input) in inputs.enumerate() {
            let outlet = producer(&outlets, input, pbnode)?;
            model.add_edge(outlet, InletId::new(first_op + ix, slot))?;
        }
    }
    for (id, name) in closures {
        let outlet = *outlets
            .get(&name)
            .ok_or_else(|| format_err!("unresolved input `{name}`"))?;
        let slot = model.nodes()[id].inputs.len();
        model.add_edge(outlet, InletId::new(id, slot))?;
    }
    set_outputs(&mut model, graph, &outlets)?;
    Ok(model)
}

/// Subgraph attributes (`If`, `Loop`, `Scan` bodies) are not supported.
fn refuse_subgraphs(graph: &GraphProto) -> TractResult<()> {
    for node in &graph.node {
        if node
            .attribute
            .iter()
            .any(|a| a.g.is_some() || !a.graphs.is_empty())
        {
            bail!(
                "node {} ({}) holds a subgraph; subgraphs are not supported",
                node.name,
                node.op_type
            );
        }
    }
    Ok(())
}

/// Steps 1-3: sources and constants, and the outlet of each name.
fn add_inputs_and_constants(
    model: &mut InferenceModel,
    graph: &GraphProto,
) -> TractResult<HashMap<String, OutletId>> {
    let mut initializers: HashMap<&str, Tensor> = HashMap::new();
    for t in &graph.initializer {
        initializers.insert(&t.name, load_tensor(t)?);
    }
    let mut outlets = HashMap::new();
    for input in &graph.input {
        let id = if let Some(value) = initializers.remove(input.name.as_str()) {
            model.add_const(input.name.clone(), value)?
        } else {
            let Some(type_proto::Value::TensorType(t)) =
                input.r#type.as_ref().and_then(|t| t.value.as_ref())
            else {
                bail!("graph input `{}` has no tensor type", input.name);
            };
            let fact = inference_fact(&model.symbols, t, true)
                .with_context(|| format!("graph input `{}`", input.name))?;
            model.add_source(input.name.clone(), fact)?
        };
        outlets.insert(input.name.clone(), id);
    }
    let mut rest: Vec<(&str, Tensor)> = initializers.into_iter().collect();
    rest.sort_by(|a, b| a.0.cmp(b.0));
    for (name, value) in rest {
        let id = model.add_const(name, value)?;
        outlets.insert(name.to_owned(), id);
    }
    Ok(outlets)
}

/// The name of a node: its own, else its first output's, else a made-up one.
fn node_name(model: &InferenceModel, pbnode: &NodeProto) -> String {
    if !pbnode.name.is_empty() {
        pbnode.name.clone()
    } else if let Some(out) = pbnode.output.first().filter(|o| !o.is_empty()) {
        out.clone()
    } else {
        format!("{}-{}", model.nodes().len(), pbnode.op_type)
    }
}

fn builder<'o>(onnx: &'o Onnx, pbnode: &NodeProto) -> TractResult<&'o super::OpBuilder> {
    onnx.op_register.0.get(&pbnode.op_type).ok_or_else(|| {
        format_err!(
            "node {} uses operator {} (domain `{}`), which this build does not include",
            pbnode.name,
            pbnode.op_type,
            pbnode.domain
        )
    })
}

/// Step 4 for one node: build its op and label its outputs. Returns the node id and the
/// extra values its builder asks for (closures; none of chocoline's builders has any, they
/// are wired as tract-onnx would).
fn add_node(
    onnx: &Onnx,
    ctx: &ParsingContext,
    model: &mut InferenceModel,
    pbnode: &NodeProto,
    outlets: &mut HashMap<String, OutletId>,
) -> TractResult<(usize, Vec<String>)> {
    let name = node_name(model, pbnode);
    let (op, closures) = (builder(onnx, pbnode)?)(ctx, pbnode)
        .with_context(|| format!("building node {} ({})", pbnode.name, pbnode.op_type))?;
    let outputs: Vec<&String> = pbnode.output.iter().filter(|s| !s.is_empty()).collect();
    let facts = outputs.iter().map(|_| InferenceFact::default()).collect();
    let id = model.add_node(name, op, facts)?;
    for (ix, output) in outputs.into_iter().enumerate() {
        let outlet = OutletId::new(id, ix);
        outlets.insert(output.clone(), outlet);
        model.set_outlet_label(outlet, output.clone())?;
    }
    Ok((id, closures))
}

fn producer(
    outlets: &HashMap<String, OutletId>,
    input: &str,
    pbnode: &NodeProto,
) -> TractResult<OutletId> {
    outlets.get(input).copied().ok_or_else(|| {
        format_err!(
            "node {} ({}) reads `{input}`, which no graph input, initializer or node produces",
            pbnode.name,
            pbnode.op_type
        )
    })
}

/// Step 6.
fn set_outputs(
    model: &mut InferenceModel,
    graph: &GraphProto,
    outlets: &HashMap<String, OutletId>,
) -> TractResult<()> {
    let mut selected = vec![];
    for output in &graph.output {
        let outlet = *outlets
            .get(&output.name)
            .ok_or_else(|| format_err!("graph output `{}` is not produced", output.name))?;
        selected.push(outlet);
        model.set_outlet_label(outlet, output.name.clone())?;
        model.set_outlet_fact(outlet, InferenceFact::default())?;
    }
    model.select_output_outlets(&selected)?;
    for info in &graph.value_info {
        let Some(type_proto::Value::TensorType(t)) =
            info.r#type.as_ref().and_then(|t| t.value.as_ref())
        else {
            continue;
        };
        if let Some(outlet) = outlets.get(&info.name) {
            let mut fact = inference_fact(&model.symbols, t, false)?;
            if fact.datum_type() == Some(i64::datum_type()) {
                fact = fact.without_datum_type();
            }
            model.set_outlet_fact(*outlet, fact)?;
        }
    }
    Ok(())
}
