//! The network: a list of layers (`layer::Layer`), the index of the one whose output is
//! the code, and the loss. `plan` turns the step's keys into the list of layer
//! configurations with their shapes (refusing, before any data is read, what does not fit
//! together); `Network::new` builds and initialises it; `gradients` runs a batch forward
//! and backward, moving the batch between the layers' layouts (`shape::Layout`) where
//! they change.

pub mod activation;
mod cells;
pub mod conv;
pub mod conv_transpose;
pub mod dense;
pub mod entry;
pub mod geometry;
pub mod layer;
pub mod loss;
pub mod par;
pub mod plan;
pub mod pool;
pub mod recurrent;
pub mod reshape;
pub mod saved;
pub mod sequence;
pub mod shape;
pub mod spec;

use faer::{Mat, MatRef, Par};

use super::params::Loss;
use crate::rng::Rng;
use activation::Real;
use layer::{Backward, Cache, Forward, Layer};
use par::{col_pieces, column_split, each_piece};
pub use plan::{Architecture, PlannedLayer, plan};
use shape::{Buf, Layout, Shape};
use spec::LayerSpec;

/// Each layer's parameter gradients, shaped as its `params`.
pub type Grads<T> = Vec<Vec<Mat<T>>>;

#[derive(Debug, Clone)]
pub struct Network<T: Real> {
    pub layers: Vec<Box<dyn Layer<T>>>,
    /// Index of the layer whose output is the code.
    pub code_layer: usize,
    pub loss: Loss,
    /// A sample's shape as the first layer takes it.
    pub input: Shape,
}

/// Builds a layer kind from its configuration: the one place that names every kind.
pub fn build<T: Real>(p: &PlannedLayer, rng: &mut Rng) -> Box<dyn Layer<T>> {
    match &p.spec {
        LayerSpec::Dense(s) => Box::new(dense::Dense::<T>::init(
            p.spec.clone(),
            p.input.size(),
            s.units.0,
            rng,
        )),
        LayerSpec::Conv(_) | LayerSpec::ConvTranspose(_) => Box::new(conv::Conv::<T>::init(p, rng)),
        LayerSpec::MaxPool(_) | LayerSpec::AvgPool(_) | LayerSpec::Upsample(_) => {
            Box::new(pool::Pool::new(p))
        }
        LayerSpec::Flatten | LayerSpec::Reshape(_) => Box::new(reshape::Reshape::new(p)),
        LayerSpec::Dropout(s) => Box::new(reshape::Dropout::new(p, s.rate)),
        LayerSpec::Lstm(_) | LayerSpec::Gru(_) => Box::new(recurrent::Recurrent::<T>::init(p, rng)),
        LayerSpec::Repeat(_) => Box::new(sequence::Repeat::new(p)),
        LayerSpec::TimeDistributedDense(_) => Box::new(sequence::TimeDense::<T>::init(p, rng)),
    }
}

/// Activations and gradients of one batch, kept for the backward pass and reused across
/// batches.
#[derive(Debug)]
pub struct Workspace<T: Real> {
    /// `xs[0]` is the input; `xs[l + 1]` is layer l's output, in the layout it computed in.
    xs: Vec<Buf<T>>,
    /// Layer l's input moved into its layout, when `xs[l]` is in the other.
    tx: Vec<Option<Buf<T>>>,
    /// The loss's gradient with respect to `xs[l + 1]`.
    dys: Vec<Buf<T>>,
    /// Layer l's input gradient in its own layout, when that differs from `xs[l]`'s.
    tdx: Vec<Option<Buf<T>>>,
    caches: Vec<Cache<T>>,
    /// The target in the output's layout, when that is not the batch's.
    target: Option<Buf<T>>,
}

impl<T: Real> Default for Workspace<T> {
    fn default() -> Self {
        Workspace {
            xs: Vec::new(),
            tx: Vec::new(),
            dys: Vec::new(),
            tdx: Vec::new(),
            caches: Vec::new(),
            target: None,
        }
    }
}

impl<T: Real> Network<T> {
    /// A freshly initialised network from its planned layers, seeded.
    pub fn new(arch: &Architecture, loss: Loss, seed: u64) -> Network<T> {
        let mut rng = Rng::new(seed ^ 0x1417_1a11_2e5e_ed00);
        Network {
            layers: arch.layers.iter().map(|p| build(p, &mut rng)).collect(),
            code_layer: arch.code_layer,
            loss,
            input: arch.input.clone(),
        }
    }

    pub fn inputs(&self) -> usize {
        self.input.size()
    }

    pub fn latent(&self) -> usize {
        self.layers[self.code_layer].output_shape().size()
    }

    /// Input size, then every layer's output size.
    pub fn widths(&self) -> Vec<usize> {
        let mut w = vec![self.inputs()];
        w.extend(self.layers.iter().map(|l| l.output_shape().size()));
        w
    }

    /// The widest layer, which sizes the batch products (for `train::parallelism`).
    pub fn widest(&self) -> usize {
        self.widths().into_iter().max().unwrap_or(1)
    }

    /// The layout each layer computes in, starting from `first` (the batch's own).
    fn layouts(&self, range: std::ops::Range<usize>, first: Layout) -> Vec<Layout> {
        let mut cur = first;
        range
            .map(|l| {
                cur = self.layers[l].layout().unwrap_or(cur);
                cur
            })
            .collect()
    }

    /// Runs layers `range` on `x` (a batch as rows), returning a batch as rows.
    pub fn run(&self, x: MatRef<'_, T>, range: std::ops::Range<usize>, par: Par) -> Mat<T> {
        let n = x.nrows();
        let mut cur = Buf::Features(x.to_owned());
        let mut cache = Cache::default();
        let layouts = self.layouts(range.clone(), Layout::Features);
        for (l, layout) in range.zip(layouts) {
            let layer = &self.layers[l];
            if cur.layout() != layout {
                cur = moved(&cur, layout, layer.input_shape().size());
            }
            let mut out = Buf::zeros(layout, n, layer.output_shape().size());
            // Image layers share a block of samples between threads (their gathers and
            // pools are per sample); dense layers keep faer's own parallel products.
            let mut f = match layout {
                Layout::Samples => Forward {
                    threads: rayon::current_num_threads(),
                    ..Forward::infer(Par::Seq)
                },
                Layout::Features => Forward::infer(par),
            };
            layer.forward(cur.as_ref(), out.as_mut(), &mut cache, &mut f);
            cur = out;
        }
        match cur {
            Buf::Features(m) => m,
            samples => {
                let size = samples.as_ref().nrows();
                let Buf::Features(m) = moved(&samples, Layout::Features, size) else {
                    unreachable!("moved to Features")
                };
                m
            }
        }
    }

    pub fn encode(&self, x: MatRef<'_, T>, par: Par) -> Mat<T> {
        self.run(x, 0..self.code_layer + 1, par)
    }

    pub fn decode(&self, z: MatRef<'_, T>, par: Par) -> Mat<T> {
        self.run(z, self.code_layer + 1..self.layers.len(), par)
    }

    /// Mean loss over every value of the batch (as PyTorch's `reduction="mean"`).
    pub fn loss_of(&self, output: MatRef<'_, T>, target: MatRef<'_, T>) -> f64 {
        loss::mean_loss(self.loss, output, target)
    }

    /// Forward and backward pass on one batch (rows): fills `grads` and returns the
    /// batch's mean loss. `input` may be a corrupted copy of `target` (denoising).
    /// `threads` pieces share each layer's work (see `par`); `rng` draws dropout masks.
    pub fn gradients(
        &self,
        input: MatRef<'_, T>,
        target: MatRef<'_, T>,
        ws: &mut Workspace<T>,
        grads: &mut Grads<T>,
        threads: usize,
        rng: Option<&mut Rng>,
    ) -> f64 {
        let n = input.nrows();
        let depth = self.layers.len();
        let layouts = self.layouts(0..depth, Layout::Features);
        self.fit_workspace(ws, n, &layouts);
        match &mut ws.xs[0] {
            Buf::Features(m) => m.copy_from(input),
            Buf::Samples { .. } => unreachable!("the input is a batch of rows"),
        }
        let mut f = Forward {
            train: true,
            threads,
            par: Par::Seq,
            rng,
        };
        for (l, layer) in self.layers.iter().enumerate() {
            let (before, after) = ws.xs.split_at_mut(l + 1);
            let x = match &mut ws.tx[l] {
                Some(t) => {
                    move_into(&before[l], t);
                    t.as_ref()
                }
                None => before[l].as_ref(),
            };
            layer.forward(x, after[0].as_mut(), &mut ws.caches[l], &mut f);
        }

        // The output layer's gradient before its activation, and the loss, by columns.
        let output = ws.xs[depth].as_ref();
        let target = match &mut ws.target {
            Some(t) => {
                // the batch's rows straight into the output's layout, no copy between
                shape::transpose_into(target, t.as_mut());
                t.as_ref()
            }
            None => target,
        };
        let act = self.layers[depth - 1].activation();
        let split = column_split(output.ncols(), threads);
        let pieces = col_pieces(ws.dys[depth - 1].as_mut(), &split);
        let sums = each_piece(
            pieces.into_iter().zip(split).collect(),
            |(dz, (start, _))| loss::output_gradient(self.loss, act, output, target, dz, start),
        );
        let loss = sums.iter().sum::<f64>() / (output.nrows() * output.ncols()) as f64;

        for l in (0..depth).rev() {
            let layer = &self.layers[l];
            let (lower, upper) = ws.dys.split_at_mut(l);
            let dx = if l == 0 {
                None
            } else {
                match &mut ws.tdx[l] {
                    Some(t) => Some(t.as_mut()),
                    None => Some(lower[l - 1].as_mut()),
                }
            };
            let x = match &ws.tx[l] {
                Some(t) => t.as_ref(),
                None => ws.xs[l].as_ref(),
            };
            layer.backward(Backward {
                x,
                y: ws.xs[l + 1].as_ref(),
                dy: upper[0].as_mut(),
                pre_activation: l == depth - 1,
                dx,
                grads: &mut grads[l],
                cache: &mut ws.caches[l],
                threads,
            });
            if l > 0
                && let Some(t) = &ws.tdx[l]
            {
                move_into(t, &mut lower[l - 1]);
            }
        }
        loss
    }

    /// Sizes the workspace for `n` samples (a no-op for the same batch size).
    fn fit_workspace(&self, ws: &mut Workspace<T>, n: usize, layouts: &[Layout]) {
        let depth = self.layers.len();
        let fresh = ws.xs.len() != depth + 1 || ws.xs[0].samples() != n;
        if !fresh {
            return;
        }
        ws.xs = vec![Buf::zeros(Layout::Features, n, self.inputs())];
        ws.tx.clear();
        ws.tdx.clear();
        ws.dys.clear();
        let mut prev = Layout::Features;
        for (layer, &layout) in self.layers.iter().zip(layouts) {
            let (i, o) = (layer.input_shape().size(), layer.output_shape().size());
            ws.xs.push(Buf::zeros(layout, n, o));
            ws.dys.push(Buf::zeros(layout, n, o));
            let differs = layout != prev;
            ws.tx.push(differs.then(|| Buf::zeros(layout, n, i)));
            ws.tdx.push(differs.then(|| Buf::zeros(layout, n, i)));
            prev = layout;
        }
        ws.caches = vec![Cache::default(); depth];
        ws.target = (prev != Layout::Features)
            .then(|| Buf::zeros(prev, n, self.layers[depth - 1].output_shape().size()));
    }

    pub fn zero_grads(&self) -> Grads<T> {
        self.layers
            .iter()
            .map(|l| {
                l.params()
                    .iter()
                    .map(|p| Mat::zeros(p.nrows(), p.ncols()))
                    .collect()
            })
            .collect()
    }

    /// Parameters in all.
    pub fn parameters(&self) -> usize {
        self.layers
            .iter()
            .flat_map(|l| l.params())
            .map(|p| p.nrows() * p.ncols())
            .sum()
    }
}

/// `src` in `layout` (a new buffer of `size` per sample).
fn moved<T: Real>(src: &Buf<T>, layout: Layout, size: usize) -> Buf<T> {
    let mut dst = Buf::zeros(layout, src.samples(), size);
    move_into(src, &mut dst);
    dst
}

/// Copies `src` into `dst`, transposing when their layouts differ.
fn move_into<T: Real>(src: &Buf<T>, dst: &mut Buf<T>) {
    if src.layout() == dst.layout() {
        dst.as_mut().copy_from(src.as_ref());
    } else {
        shape::transpose_into(src.as_ref(), dst.as_mut());
    }
}

#[cfg(test)]
mod recurrent_tests;
#[cfg(test)]
mod reference_tests;
#[cfg(test)]
mod tests;
