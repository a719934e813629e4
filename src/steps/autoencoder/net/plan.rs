//! The step's keys as a list of layer configurations with their shapes: what `validate`
//! checks and what `Network::new` builds. Widths are dense layers with the step's
//! activation; `latent: k` appends a dense code layer (after a `flatten` when the encoder
//! ends on an image); without it the encoder's last output is the code. A network of
//! widths only keeps the shape it has always had: a mirrored decoder unless one is given,
//! then a dense output layer as wide as the input with `output_activation`. Otherwise the
//! decoder is written out and its last layer is the output layer: it must give back the
//! input's shape.

use super::super::keys::{Activation, Positive};
use super::super::params::{Activations, AutoencoderParams, OutputActivation};
use super::entry::Entry;
use super::shape::Shape;
use super::spec::{DenseSpec, LayerSpec};

/// A layer's configuration (its activation settled) with its shapes, and where it was
/// written, for messages.
#[derive(Debug, Clone)]
pub struct PlannedLayer {
    pub spec: LayerSpec,
    pub input: Shape,
    pub output: Shape,
    pub at: String,
}

#[derive(Debug, Clone)]
pub struct Architecture {
    pub input: Shape,
    pub layers: Vec<PlannedLayer>,
    pub code_layer: usize,
}

impl Architecture {
    pub fn latent(&self) -> usize {
        self.layers[self.code_layer].output.size()
    }
}

impl PlannedLayer {
    /// Its parameters' count, from the spec and shapes alone (saturating: a plan may be
    /// absurdly large, and is then refused by the memory check, not allocated).
    pub fn parameters(&self) -> u64 {
        let (i, o) = (self.input.size() as u64, self.output.size() as u64);
        let channels = |s: &Shape| s.image().map_or(1, |(_, _, c)| c as u64);
        match &self.spec {
            LayerSpec::Dense(_) => i.saturating_mul(o).saturating_add(o),
            LayerSpec::Conv(s) => (s.kernel.0 as u64 * s.kernel.1 as u64)
                .saturating_mul(channels(&self.input))
                .saturating_mul(s.filters.0 as u64)
                .saturating_add(s.filters.0 as u64),
            LayerSpec::ConvTranspose(s) => (s.kernel.0 as u64 * s.kernel.1 as u64)
                .saturating_mul(channels(&self.input))
                .saturating_mul(s.filters.0 as u64)
                .saturating_add(s.filters.0 as u64),
            LayerSpec::Lstm(s) | LayerSpec::Gru(s) => {
                let (g, h) = (self.gates() as u64, s.units.0 as u64);
                let f = self.input.sequence().map_or(0, |(_, f)| f as u64);
                (g * h).saturating_mul(f + h + 2)
            }
            LayerSpec::TimeDistributedDense(s) => {
                let f = self.input.sequence().map_or(0, |(_, f)| f as u64);
                (s.units.0 as u64).saturating_mul(f + 1)
            }
            _ => 0,
        }
    }

    /// Gates of a recurrent layer (LSTM 4, GRU 3), else 0.
    fn gates(&self) -> usize {
        match self.spec {
            LayerSpec::Lstm(_) => 4,
            LayerSpec::Gru(_) => 3,
            _ => 0,
        }
    }

    /// Bytes its passes hold for a batch of `n` beyond its input and output, in f32: a
    /// convolution's im2col matrix (kernel × input channels × output positions, or for a
    /// transposed one kernel × output channels × input positions), a max pool's indices,
    /// a recurrent layer's gates and states at every step.
    pub fn workspace_bytes(&self, n: u64) -> u64 {
        let positions = |s: &Shape| s.image().map_or(1, |(h, w, _)| h as u64 * w as u64);
        let kernel = |k: (usize, usize)| k.0 as u64 * k.1 as u64;
        let per_sample = match &self.spec {
            LayerSpec::Conv(s) => kernel((s.kernel.0, s.kernel.1))
                .saturating_mul(self.input.image().map_or(1, |(_, _, c)| c as u64))
                .saturating_mul(positions(&self.output)),
            LayerSpec::ConvTranspose(s) => kernel((s.kernel.0, s.kernel.1))
                .saturating_mul(s.filters.0 as u64)
                .saturating_mul(positions(&self.input)),
            LayerSpec::MaxPool(_) => self.output.size() as u64,
            // Backpropagation through time keeps every step's gates and states.
            LayerSpec::Lstm(s) | LayerSpec::Gru(s) => {
                let steps = self.input.sequence().map_or(0, |(t, _)| t as u64);
                let slots = match self.spec {
                    LayerSpec::Lstm(_) => super::spec::LSTM_STEP_SLOTS,
                    _ => super::spec::GRU_STEP_SLOTS,
                };
                steps.saturating_mul(slots as u64 * s.units.0 as u64)
            }
            _ => 0,
        };
        per_sample.saturating_mul(n).saturating_mul(4)
    }
}

/// The network the keys describe on rows of `width` features, or the first reason it
/// cannot be built (naming the key, the layer and both shapes).
pub fn plan(p: &AutoencoderParams, width: usize) -> Result<Architecture, String> {
    let at = "steps: autoencoder";
    let input = match &p.shape {
        None => Shape::flat(width),
        Some(dims) => {
            let shape = Shape(dims.iter().map(|d| d.0).collect());
            if shape.checked_size() != Some(width) {
                let holds = shape
                    .checked_size()
                    .map_or("too many".into(), |n| n.to_string());
                return Err(format!(
                    "{at}.shape {shape} holds {holds} values but the autoencoder's input has {width} columns"
                ));
            }
            shape
        }
    };
    let widths_only = p.dense_widths();
    let mut written: Vec<(String, LayerSpec)> = Vec::new();
    for (i, e) in p.encoder.iter().enumerate() {
        written.push((where_(&format!("{at}.encoder[{i}]"), e), e.layer.spec()));
    }
    let mut latent_at = None;
    if let Some(k) = p.latent {
        latent_at = Some(written.len());
        written.push((format!("{at}.latent"), dense(k.0)));
    } else if widths_only.is_some() {
        return Err(format!(
            "{at}.latent is needed: with widths only, the code is a dense layer of `latent` units"
        ));
    }
    if written.is_empty() {
        return Err(format!(
            "{at}: the encoder has no layer; give `latent`, or encoder layers whose last output is the code"
        ));
    }
    let code_written = written.len() - 1;
    match (&p.decoder, &widths_only) {
        (_, Some((_, decoder))) => {
            let given = p.decoder.as_deref();
            for (i, w) in decoder.iter().enumerate() {
                let place = match given {
                    Some(d) => where_(&format!("{at}.decoder[{i}]"), &d[i]),
                    None => format!("{at}.decoder[{i}] (the encoder's mirror)"),
                };
                written.push((place, dense(*w)));
            }
            written.push((format!("{at}: the output layer"), dense(input.size())));
        }
        (Some(d), None) => {
            for (i, e) in d.iter().enumerate() {
                written.push((where_(&format!("{at}.decoder[{i}]"), e), e.layer.spec()));
            }
        }
        (None, None) => {
            return Err(format!(
                "{at}.decoder is needed: the encoder has layers other than dense widths, so write the decoder's layers out, ending at the input's shape {input}"
            ));
        }
    }
    if written.len() == code_written + 1 {
        return Err(format!(
            "{at}.decoder has no layer: give the layers from the code back to the input's shape {input}"
        ));
    }

    let activations = settle_activations(p, &written)?;
    let mut layers: Vec<PlannedLayer> = Vec::with_capacity(written.len() + 1);
    let mut shape = input.clone();
    let mut code_layer = code_written;
    for (i, ((place, spec), act)) in written.into_iter().zip(activations).enumerate() {
        if latent_at == Some(i) && !shape.is_flat() {
            // The code layer is dense: flatten the image before it.
            layers.push(PlannedLayer {
                spec: LayerSpec::Flatten,
                input: shape.clone(),
                output: Shape::flat(shape.size()),
                at: place.clone(),
            });
            shape = Shape::flat(shape.size());
            code_layer += 1;
        }
        let spec = match act {
            Some(a) => spec.with_activation(a),
            None => spec,
        };
        let output = spec
            .output_shape(&shape)
            .map_err(|e| format!("{place} ({}): {e}", spec.kind()))?;
        layers.push(PlannedLayer {
            spec,
            input: shape,
            output: output.clone(),
            at: place,
        });
        shape = output;
    }
    if shape != input && !(shape.is_flat() && shape.size() == input.size()) {
        return Err(format!(
            "{at}.decoder ends at shape {shape} but the input's shape is {input}: the last layer must give back the input"
        ));
    }
    if !layers.iter().any(|l| l.spec.has_weights()) {
        return Err(format!(
            "{at}: the network has no layer with weights (dense, conv, conv_transpose, lstm, gru or time_distributed_dense)"
        ));
    }
    Ok(Architecture {
        input,
        layers,
        code_layer,
    })
}

fn dense(units: usize) -> LayerSpec {
    LayerSpec::Dense(DenseSpec {
        units: Positive(units),
        activation: None,
    })
}

/// `steps: autoencoder.encoder[2] (line 14)`.
fn where_(place: &str, e: &Entry) -> String {
    match e.line_col {
        Some((line, _)) => format!("{place} (line {line})"),
        None => place.to_string(),
    }
}

/// The activation of each written layer that takes one: its own, else the output
/// layer's `output_activation` for the last such layer, else the step's `activation`
/// (one name for all, or with widths only one per layer before the output).
fn settle_activations(
    p: &AutoencoderParams,
    written: &[(String, LayerSpec)],
) -> Result<Vec<Option<Activation>>, String> {
    let output = match p.output_activation {
        OutputActivation::Linear => Activation::Linear,
        OutputActivation::Sigmoid => Activation::Sigmoid,
    };
    let Some(last_weighted) = written.iter().rposition(|(_, s)| s.has_weights()) else {
        return Ok(vec![None; written.len()]);
    };
    // A network ending on a recurrent layer outputs its tanh: there is no output
    // activation to give it.
    let last = if written[last_weighted].1.is_recurrent() {
        if p.output_activation != OutputActivation::Linear {
            let (place, spec) = &written[last_weighted];
            return Err(format!(
                "{place} ({}): output_activation applies to the last dense layer, but the network ends on a recurrent layer, whose outputs are its own tanh; end the decoder with `time_distributed_dense`",
                spec.kind()
            ));
        }
        written.len()
    } else {
        last_weighted
    };
    let per_layer = match &p.activation {
        Activations::All(_) => None,
        Activations::PerLayer(list) => {
            let hidden = written[..last.min(written.len())]
                .iter()
                .filter(|(_, s)| s.takes_activation())
                .count();
            if p.dense_widths().is_none() {
                return Err(
                    "steps: autoencoder.activation: a list of activations goes with widths only; give a layer its own `activation:` instead"
                        .into(),
                );
            }
            if list.len() != hidden {
                let (enc, dec) = p.dense_widths().unwrap_or_default();
                return Err(format!(
                    "steps: autoencoder.activation lists {} activations but the network has {hidden} layers before the output (encoder {}, code 1, decoder {}); give one name, or one per layer",
                    list.len(),
                    enc.len(),
                    dec.len()
                ));
            }
            Some(list)
        }
    };
    let mut k = 0;
    Ok(written
        .iter()
        .enumerate()
        .map(|(i, (_, s))| {
            if !s.takes_activation() {
                return None;
            }
            let act = s.own_activation().unwrap_or_else(|| {
                if i == last {
                    output
                } else {
                    match (&p.activation, per_layer) {
                        (_, Some(list)) => list[k],
                        (Activations::All(a), None) => *a,
                        (Activations::PerLayer(_), None) => unreachable!("checked above"),
                    }
                }
            });
            if i != last {
                k += 1;
            }
            Some(act)
        })
        .collect())
}
