//! A fitted pipeline where users serve it: an ONNX graph of standard operators (the steps
//! add their own nodes) and a model.npz of its arrays. `dimred export` reads model.json;
//! `run` writes model.npz always and model.onnx when `output.onnx` asks.

use std::path::Path;

use crate::config::MissingPolicy;
use crate::error::{Error, Result};
use crate::model::{Header, Model};
use crate::npz::{self, Array};
use crate::onnx::{self, Attr, DType, Graph, Port};
use crate::sink::write_atomic;
use crate::steps::FittedPipeline;

/// The graph's input tensor: all features, `[N, p]`, in `feature_names_in_` order.
pub const INPUT: &str = "features";
/// The output holding every reduced column, `[N, k]`; each column is also an output of
/// its own (`pc1`…), `[N]`.
pub const REDUCED: &str = "reduced";
pub const ERROR: &str = "reconstruction_error";

/// How the ONNX graph is written.
#[derive(Debug, Clone, Copy)]
pub struct OnnxOptions {
    pub dtype: DType,
    pub opset: i64,
    /// Add the `reconstruction_error` output (per-row ‖x − x̂‖² in the scaled space).
    pub reconstruction_error: bool,
}

impl Default for OnnxOptions {
    fn default() -> OnnxOptions {
        OnnxOptions {
            dtype: DType::Float64,
            opset: onnx::DEFAULT_OPSET,
            reconstruction_error: false,
        }
    }
}

/// `dimred export`: the model at `model_path` as ONNX and/or .npz, each written atomically.
pub fn export(
    model_path: &Path,
    onnx_path: Option<&Path>,
    npz_path: Option<&Path>,
    options: &OnnxOptions,
) -> Result<()> {
    if onnx_path.is_none() && npz_path.is_none() {
        return Err(Error::config(
            "nothing to export: give --onnx OUT.onnx and/or --npz OUT.npz",
        ));
    }
    let model = Model::load(model_path)?;
    let fitted = model.pipeline(model_path)?;
    // Both are built before either is written, so a step ONNX cannot express leaves no
    // file behind.
    let graph = match onnx_path {
        Some(_) => Some(onnx_model(&model.header, &fitted, options)?),
        None => None,
    };
    if let (Some(path), Some(bytes)) = (onnx_path, graph) {
        write_atomic(path, &bytes)?;
    }
    if let Some(path) = npz_path {
        write_atomic(path, &npz_model(&model.header, &fitted))?;
    }
    Ok(())
}

/// The pipeline's arrays under model.json's names: the header's, then each step's (a
/// later step's array replaces an earlier one of the same name, as in model.json).
pub fn npz_model(header: &Header, fitted: &FittedPipeline) -> Vec<u8> {
    let mut arrays: Vec<(String, Array)> = vec![
        (
            "feature_names_in_".into(),
            Array::strings(header.feature_names_in_.clone()),
        ),
        (
            "n_features_in_".into(),
            Array::int(header.n_features_in_ as i64),
        ),
        (
            "n_samples_seen_".into(),
            Array::int(header.n_samples_seen_ as i64),
        ),
        ("mean_".into(), Array::vector(header.mean_.clone())),
        (
            "output_columns".into(),
            Array::strings(header.output_columns.clone()),
        ),
    ];
    for step in &fitted.steps {
        let mut own = Vec::new();
        step.arrays(&mut own);
        for (name, array) in own {
            arrays.retain(|(n, _)| *n != name);
            arrays.push((name, array));
        }
    }
    npz::write(&arrays)
}

/// The pipeline as an ONNX model: input `features` `[N, p]`; outputs `reduced` `[N, k]`,
/// one `[N]` output per reduced column under its name, and `reconstruction_error` `[N]`
/// when asked.
pub fn onnx_model(
    header: &Header,
    fitted: &FittedPipeline,
    options: &OnnxOptions,
) -> Result<Vec<u8>> {
    if !onnx::OPSETS.contains(&options.opset) {
        return Err(Error::config(format!(
            "--opset {}: dimred writes opsets {} to {}",
            options.opset,
            onnx::OPSETS.start(),
            onnx::OPSETS.end()
        )));
    }
    let dtype = options.dtype;
    let mut g = Graph::new(dtype);
    // the reduced columns only: a classifier's columns (LDA's predict) are not in the graph
    let names = fitted.projection_names();
    let input = g.reserve(INPUT);
    g.reserve(REDUCED);
    g.reserve(ERROR);
    for name in &names {
        if g.reserve(name) != *name {
            return Err(Error::config(format!(
                "output column '{name}' clashes with a name the ONNX graph uses"
            )));
        }
    }
    let x = match header.missing {
        MissingPolicy::ImputeMean => impute(&mut g, &input, &header.mean_),
        _ => input.clone(),
    };
    let (z, error) = forward(&mut g, fitted, &x, options.reconstruction_error)?;

    let p = header.n_features_in_;
    let port = |name: &str, shape: Vec<Option<usize>>, doc: String| Port {
        name: name.into(),
        dtype,
        shape,
        doc,
    };
    let mut outputs = vec![port(
        REDUCED,
        vec![None, Some(names.len())],
        format!("columns {}", names.join(", ")),
    )];
    g.node_named("Identity", &[&z], &[], REDUCED);
    for (i, name) in names.iter().enumerate() {
        let index = g.constant_i64("column_index", &[], &[i as i64]);
        g.node_named("Gather", &[&z, &index], &[Attr::Int("axis", 1)], name);
        outputs.push(port(name, vec![None], String::new()));
    }
    if let Some(error) = error {
        g.node_named("Identity", &[&error], &[], ERROR);
        outputs.push(port(
            ERROR,
            vec![None],
            "per-row squared reconstruction error in the scaled space".into(),
        ));
    }
    let inputs = [port(
        INPUT,
        vec![None, Some(p)],
        format!("columns {}", header.feature_names_in_.join(", ")),
    )];
    let json = |v: &[String]| serde_json::to_string(v).expect("strings serialise");
    let steps: Vec<String> = fitted.steps.iter().map(|s| s.kind().to_string()).collect();
    let metadata = [
        ("feature_names".to_string(), json(&header.feature_names_in_)),
        ("output_columns".to_string(), json(&names)),
        ("steps".to_string(), json(&steps)),
        ("pipeline".to_string(), header.pipeline.clone()),
        ("dimred_version".to_string(), header.dimred_version.clone()),
        ("dtype".to_string(), dtype.name().to_string()),
        (
            "missing".to_string(),
            serde_json::to_value(header.missing)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        ),
    ];
    let doc = format!(
        "dimred pipeline '{}' ({}): {p} features in, {} out",
        header.pipeline,
        steps.join(" → "),
        names.len()
    );
    Ok(g.encode(&inputs, &outputs, &metadata, options.opset, &doc))
}

/// Non-finite values replaced by the column means, as `input.missing: impute_mean` does:
/// |x| < ∞ is false exactly for NaN and ±∞.
fn impute(g: &mut Graph, x: &str, mean: &[f64]) -> String {
    let magnitude = g.node("Abs", &[x]);
    let infinity = g.constant("infinity", &[], &[f64::INFINITY]);
    let finite = g.node("Less", &[&magnitude, &infinity]);
    let fill = g.constant("mean_", &[mean.len()], mean);
    g.node("Where", &[&finite, x, &fill])
}

/// The steps' nodes in order, and the reconstruction error when asked: from a lone step
/// that computes it itself (PCA's residual), else by inverting every step back to the
/// features and measuring in the first step's scaled space, as `FittedPipeline` does.
fn forward(
    g: &mut Graph,
    fitted: &FittedPipeline,
    x: &str,
    with_error: bool,
) -> Result<(String, Option<String>)> {
    if with_error
        && let [only] = fitted.steps.as_slice()
        && let Some((z, error)) = only.onnx_with_error(g, x)
    {
        return Ok((z, Some(error)));
    }
    let mut z = x.to_string();
    for step in &fitted.steps {
        z = step.onnx(g, &z)?;
    }
    if !with_error {
        return Ok((z, None));
    }
    let mut rebuilt = z.clone();
    for step in fitted.steps.iter().rev() {
        let inverse = step.inverter().ok_or_else(|| {
            Error::config(format!(
                "the ONNX graph's reconstruction error needs an inverse map, which the {} step has not",
                step.kind()
            ))
        })?;
        rebuilt = inverse.onnx_inverse(g, &rebuilt)?;
    }
    let mut diff = g.node("Sub", &[x, &rebuilt]);
    let scale = fitted
        .steps
        .first()
        .and_then(|s| s.affine())
        .and_then(|a| a.scale);
    if let Some(scale) = scale {
        let c = g.constant("scale_", &[scale.len()], scale);
        diff = g.node("Div", &[&diff, &c]);
    }
    Ok((z, Some(g.row_sum_of_squares(&diff))))
}
