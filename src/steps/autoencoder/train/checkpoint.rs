//! The checkpoint written after every epoch: weights, optimizer and early-stopping state
//! and the history, so `--resume` takes exactly the steps the uninterrupted run would.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::super::history::{EpochReport, StopReason};
use super::super::optim::Optimizer;
use super::super::schedule::Plateau;
use super::super::{Network, SavedNetwork};
use crate::error::{Error, Result};

pub const CHECKPOINT_FORMAT: &str = "dimred-checkpoint/3";
/// Written before layers were a list: dense layers only, the optimizer's moments one
/// vector a layer (weights, then biases). Still read.
const CHECKPOINT_FORMAT_2: &str = "dimred-checkpoint/2";

/// Training state after an epoch: what a checkpoint holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    pub format: String,
    pub fingerprint: String,
    pub epochs_done: usize,
    #[serde(with = "super::super::packed::network")]
    pub network: SavedNetwork,
    pub optimizer: Optimizer,
    #[serde(with = "super::super::packed::network")]
    pub best: SavedNetwork,
    pub best_epoch: usize,
    pub best_loss: f64,
    pub bad_epochs: usize,
    /// Why training ended, once it has.
    pub stopped: Option<StopReason>,
    pub history: Vec<EpochReport>,
    pub train_rows: u64,
    pub validation_rows: u64,
    pub train_seconds: f64,
    /// `schedule: { kind: plateau }`'s state.
    #[serde(default)]
    pub plateau: Plateau,
}

impl Checkpoint {
    pub fn load(path: &Path, fingerprint: &str) -> Result<Option<Checkpoint>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read checkpoint", path, e)),
        };
        let cp: Checkpoint = serde_json::from_str(&text).map_err(|e| {
            Error::config(format!(
                "{}: not a dimred checkpoint ({e}); delete it to start over",
                path.display()
            ))
        })?;
        let bad = |why: String| {
            Error::config(format!(
                "{}: not a usable {CHECKPOINT_FORMAT} checkpoint ({why}); delete it to start over",
                path.display()
            ))
        };
        let mut cp = cp;
        match cp.format.as_str() {
            CHECKPOINT_FORMAT => {}
            CHECKPOINT_FORMAT_2 => {
                cp.optimizer.first =
                    per_parameter(&cp.network, &cp.optimizer.first).map_err(bad)?;
                cp.optimizer.second =
                    per_parameter(&cp.network, &cp.optimizer.second).map_err(bad)?;
                cp.format = CHECKPOINT_FORMAT.into();
            }
            other => return Err(bad(format!("its format is {other}"))),
        }
        for net in [&cp.network, &cp.best] {
            let inputs = net.layers.first().map_or(0, |l| {
                l.input_shape
                    .as_ref()
                    .map_or(l.inputs.unwrap_or(0), |s| s.size())
            });
            Network::<f32>::from_saved(net, inputs).map_err(bad)?;
        }
        if cp.fingerprint != fingerprint {
            return Err(Error::config(format!(
                "{}: the checkpoint was written by a different pipeline (only `epochs` may change between runs); delete it or run without --resume",
                path.display()
            )));
        }
        Ok(Some(cp))
    }
}

/// `dimred-checkpoint/2`'s moments (one vector a dense layer: weights column by column,
/// then biases) as one vector a parameter.
fn per_parameter(
    net: &SavedNetwork,
    moments: &[Vec<f32>],
) -> std::result::Result<Vec<Vec<f32>>, String> {
    if moments.is_empty() {
        return Ok(Vec::new());
    }
    if moments.len() != net.layers.len() {
        return Err("its optimizer state does not match its layers".into());
    }
    let mut out = Vec::new();
    for (l, m) in net.layers.iter().zip(moments) {
        let (i, o) = (l.inputs.unwrap_or(0), l.outputs.unwrap_or(0));
        if m.len() != i * o + o {
            return Err("its optimizer state does not match its layers".into());
        }
        out.push(m[..i * o].to_vec());
        out.push(m[i * o..].to_vec());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    use super::*;
    use crate::config::RawStep;
    use crate::steps::autoencoder::net::plan;
    use crate::steps::autoencoder::optim::Optimizer;

    fn packed(values: impl Iterator<Item = f32>) -> String {
        STANDARD.encode(values.flat_map(f32::to_le_bytes).collect::<Vec<u8>>())
    }

    /// A `dimred-checkpoint/2` file (dense layers packed by rows, moments one vector a
    /// layer) resumes: the same weights, the moments split by parameter.
    #[test]
    fn checkpoints_of_format_2_still_load() {
        let text = "name: t\ninput: { path: x.csv }\nsteps:\n  - autoencoder: { encoder: [3], latent: 2 }\noutput: { dir: o }\n";
        let raw = crate::config::RawPipeline::from_yaml(text, "t.yaml").unwrap();
        let RawStep::Autoencoder(p) = &raw.steps[0] else {
            unreachable!()
        };
        let net = Network::<f32>::new(&plan(p, 4).unwrap(), p.loss, 3);
        let saved = net.to_saved();
        let layers: Vec<_> = saved
            .layers
            .iter()
            .map(|l| {
                json!({
                    "activation": l.activation,
                    "inputs": l.inputs,
                    "outputs": l.outputs,
                    "weights": packed(l.weights.as_ref().unwrap().iter().flatten().map(|&v| v as f32)),
                    "bias": packed(l.bias.as_ref().unwrap().iter().map(|&v| v as f32)),
                })
            })
            .collect();
        let network = json!({ "code_layer": saved.code_layer, "loss": "mse", "layers": layers });
        // per layer: weights column by column, then biases, as format 2 kept Adam's moments
        let moments: Vec<Vec<f32>> = saved
            .layers
            .iter()
            .enumerate()
            .map(|(l, s)| {
                (0..s.inputs.unwrap() * s.outputs.unwrap() + s.outputs.unwrap())
                    .map(|i| (l * 100 + i) as f32)
                    .collect()
            })
            .collect();
        let arrays: Vec<_> = moments
            .iter()
            .map(|m| json!({ "len": m.len(), "values": packed(m.iter().copied()) }))
            .collect();
        let opt = Optimizer::new(&p.optimizer, &net);
        let cp = json!({
            "format": "dimred-checkpoint/2", "fingerprint": "f", "epochs_done": 1,
            "network": network, "best": network,
            "optimizer": {
                "kind": "adam", "learning_rate": opt.learning_rate, "momentum": 0.0, "nesterov": false,
                "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "steps": 7,
                "first": arrays, "second": arrays,
            },
            "best_epoch": 1, "best_loss": 0.5, "bad_epochs": 0, "stopped": null,
            "history": [], "train_rows": 10, "validation_rows": 0, "train_seconds": 1.0,
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.json");
        std::fs::write(&path, cp.to_string()).unwrap();
        let back = Checkpoint::load(&path, "f").unwrap().unwrap();
        assert_eq!(back.format, CHECKPOINT_FORMAT);
        let again = Network::<f32>::from_saved(&back.network, 4).unwrap();
        for (a, b) in net.layers.iter().zip(&again.layers) {
            for (p, q) in a.params().iter().zip(b.params()) {
                assert_eq!(*p, q);
            }
        }
        // four layers (3, 2, 3, 4 units) → eight parameters; the first is layer 0's 4 × 3
        // weights, column by column as format 2 laid them out
        assert_eq!(back.optimizer.first.len(), 8);
        assert_eq!(
            back.optimizer.first[0],
            (0..12).map(|i| i as f32).collect::<Vec<_>>()
        );
        assert_eq!(back.optimizer.first[1], vec![12.0, 13.0, 14.0]);
        assert_eq!(back.optimizer.second[3], vec![106.0, 107.0]);
    }
}
