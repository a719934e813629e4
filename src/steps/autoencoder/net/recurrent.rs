//! The recurrent layers, `lstm` and `gru`, with PyTorch's arithmetic so weights compare
//! and port both ways: gates in PyTorch's order (LSTM i, f, g, o; GRU r, z, n), two
//! bias vectors, a zero initial state, and GRU's candidate `n = tanh(W_in x + b_in +
//! r ⊙ (W_hn h + b_hn))` (the reset gate applied after the recurrent product, Keras's
//! `reset_after=True`, ONNX's `linear_before_reset=1`).
//!
//! A sample's sequence lies step by step along its row (`[steps, features]`, row-major),
//! so in the `Features` layout step t's inputs are the batch's columns
//! `t·features..(t+1)·features`: each step is two faer products with the batch as the
//! rows, all gates in one product. The batch is cut by rows into one piece per thread;
//! a sample's recurrence is its own, so the pieces run whole sequences independently and
//! only the weight gradients are summed, in piece order, so the result is fixed by the
//! thread count. Training keeps every step's gates and states for backpropagation
//! through time; inference keeps two steps.

use faer::linalg::matmul::matmul;
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef, Par};

use super::activation::{Real, lane_sum};
use super::cells::{gru_step, gru_step_back, lstm_step, lstm_step_back};
use super::layer::{Backward, Cache, Forward, Layer, OnnxForm, Tensor, col_slice, find};
use super::par::{column_split, each_piece};
use super::plan::PlannedLayer;
use super::shape::{Layout, Shape};
use super::spec::LayerSpec;
use crate::onnx::{Attr, DType, Graph};
use crate::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Lstm,
    Gru,
}

impl Cell {
    pub fn of(spec: &LayerSpec) -> Option<Cell> {
        match spec {
            LayerSpec::Lstm(_) => Some(Cell::Lstm),
            LayerSpec::Gru(_) => Some(Cell::Gru),
            _ => None,
        }
    }

    pub fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }

    /// Blocks of `units` columns a step keeps (`LSTM_STEP_SLOTS`); the output is the last.
    pub fn slots(self) -> usize {
        match self {
            Cell::Lstm => super::spec::LSTM_STEP_SLOTS,
            Cell::Gru => super::spec::GRU_STEP_SLOTS,
        }
    }

    /// ONNX's gate order (LSTM i, o, f, c; GRU z, r, h) as indices of PyTorch's.
    fn onnx_order(self) -> &'static [usize] {
        match self {
            Cell::Lstm => &[0, 3, 1, 2],
            Cell::Gru => &[1, 0, 2],
        }
    }
}

#[derive(Debug, Clone)]
pub struct Recurrent<T: Real> {
    /// features × gates·units: `x_t W_ih` gives every gate, blocks in PyTorch's order.
    pub w_ih: Mat<T>,
    /// units × gates·units.
    pub w_hh: Mat<T>,
    /// gates·units × 1 each.
    pub b_ih: Mat<T>,
    pub b_hh: Mat<T>,
    cell: Cell,
    steps: usize,
    features: usize,
    units: usize,
    sequences: bool,
    spec: LayerSpec,
    shapes: (Shape, Shape),
}

impl<T: Real> Recurrent<T> {
    /// Every weight and bias uniform on ±1/√units, as PyTorch draws them, in the order of
    /// its state dict, each row-major in PyTorch's layout.
    pub fn init(p: &PlannedLayer, rng: &mut Rng) -> Self {
        let cell = Cell::of(&p.spec).expect("a recurrent layer");
        let (steps, features) = p.input.sequence().expect("planned on a sequence");
        let (units, sequences) = match &p.spec {
            LayerSpec::Lstm(s) | LayerSpec::Gru(s) => (s.units.0, s.return_sequences),
            _ => unreachable!("a recurrent layer"),
        };
        let gh = cell.gates() * units;
        let k = 1.0 / (units as f64).sqrt();
        let mut draw =
            |n: usize| -> Vec<f64> { (0..n).map(|_| k * (2.0 * rng.uniform() - 1.0)).collect() };
        let (wi, wh, bi, bh) = (draw(gh * features), draw(gh * units), draw(gh), draw(gh));
        Recurrent {
            w_ih: Mat::from_fn(features, gh, |c, r| T::of(wi[r * features + c])),
            w_hh: Mat::from_fn(units, gh, |c, r| T::of(wh[r * units + c])),
            b_ih: Mat::from_fn(gh, 1, |r, _| T::of(bi[r])),
            b_hh: Mat::from_fn(gh, 1, |r, _| T::of(bh[r])),
            cell,
            steps,
            features,
            units,
            sequences,
            spec: p.spec.clone(),
            shapes: (p.input.clone(), p.output.clone()),
        }
    }

    fn gh(&self) -> usize {
        self.cell.gates() * self.units
    }

    /// Values one step keeps for `rows` samples.
    fn step_len(&self, rows: usize) -> usize {
        self.cell.slots() * self.units * rows
    }

    /// Runs the sequences of `x`'s rows: `store` holds `steps` steps' gates and states
    /// (training) or two, used in turn (inference).
    fn forward_rows(&self, x: MatRef<'_, T>, mut out: MatMut<'_, T>, store: &mut [T], keep: bool) {
        let (nr, h, f, gh) = (x.nrows(), self.units, self.features, self.gh());
        let len = self.step_len(nr);
        let mut hp = vec![T::zero(); nr * h];
        let mut cp = vec![T::zero(); nr * h];
        let mut ah = vec![T::zero(); nr * gh];
        let bias: Vec<T> = (0..gh)
            .map(|r| self.b_ih[(r, 0)] + self.b_hh[(r, 0)])
            .collect();
        for t in 0..self.steps {
            let slot = if keep { t } else { t % 2 };
            let block = &mut store[slot * len..(slot + 1) * len];
            let (gates, rest) = block.split_at_mut(gh * nr);
            let xt = x.subcols(t * f, f);
            let prev = MatRef::from_column_major_slice(&hp, nr, h);
            matmul(
                MatMut::from_column_major_slice_mut(gates, nr, gh),
                Accum::Replace,
                xt,
                self.w_ih.as_ref(),
                T::one(),
                Par::Seq,
            );
            match self.cell {
                Cell::Lstm => {
                    if t > 0 {
                        matmul(
                            MatMut::from_column_major_slice_mut(gates, nr, gh),
                            Accum::Add,
                            prev,
                            self.w_hh.as_ref(),
                            T::one(),
                            Par::Seq,
                        );
                    }
                    lstm_step(gates, rest, &mut hp, &mut cp, &bias, h, nr);
                }
                Cell::Gru => {
                    if t > 0 {
                        matmul(
                            MatMut::from_column_major_slice_mut(&mut ah, nr, gh),
                            Accum::Replace,
                            prev,
                            self.w_hh.as_ref(),
                            T::one(),
                            Par::Seq,
                        );
                    } else {
                        ah.fill(T::zero());
                    }
                    let b_ih = col_slice(&self.b_ih, 0);
                    let b_hh = col_slice(&self.b_hh, 0);
                    gru_step(gates, rest, &ah, &mut hp, b_ih, b_hh, h, nr);
                }
            }
            if self.sequences {
                out.rb_mut()
                    .subcols_mut(t * h, h)
                    .copy_from(MatRef::from_column_major_slice(&hp, nr, h));
            }
        }
        if !self.sequences {
            out.copy_from(MatRef::from_column_major_slice(&hp, nr, h));
        }
    }

    /// Backpropagation through time over one piece's rows: returns the piece's
    /// gradients of `w_ih`, `w_hh`, `b_ih`, `b_hh`.
    fn backward_rows(
        &self,
        x: MatRef<'_, T>,
        dy: MatRef<'_, T>,
        mut dx: Option<MatMut<'_, T>>,
        store: &[T],
    ) -> [Mat<T>; 4] {
        let (nr, h, f, gh) = (x.nrows(), self.units, self.features, self.gh());
        let len = self.step_len(nr);
        let mut g_ih = Mat::<T>::zeros(f, gh);
        let mut g_hh = Mat::<T>::zeros(h, gh);
        let mut gb_ih = Mat::<T>::zeros(gh, 1);
        let mut gb_hh = Mat::<T>::zeros(gh, 1);
        let mut dh = vec![T::zero(); nr * h];
        let mut dc = vec![T::zero(); nr * h];
        let mut dax = vec![T::zero(); nr * gh];
        let mut dah = vec![T::zero(); nr * gh];
        let zeros = vec![T::zero(); nr * h];
        let out_slot = (self.cell.slots() - 1) * h * nr;
        for t in (0..self.steps).rev() {
            // The loss's own gradient at this step's output joins the one from the future.
            let own = if self.sequences {
                Some(dy.subcols(t * h, h))
            } else if t + 1 == self.steps {
                Some(dy)
            } else {
                None
            };
            if let Some(own) = own {
                for j in 0..h {
                    let d = &mut dh[j * nr..(j + 1) * nr];
                    for (d, i) in d.iter_mut().zip(0..nr) {
                        *d += own[(i, j)];
                    }
                }
            }
            let block = &store[t * len..(t + 1) * len];
            let prev = (t > 0).then(|| &store[(t - 1) * len..t * len]);
            match self.cell {
                Cell::Lstm => {
                    let c_prev = prev.map_or(&zeros[..], |p| &p[gh * nr..gh * nr + h * nr]);
                    lstm_step_back(block, c_prev, &mut dh, &mut dc, &mut dax, h, nr);
                }
                Cell::Gru => {
                    let h_prev = prev.map_or(&zeros[..], |p| &p[out_slot..out_slot + h * nr]);
                    gru_step_back(block, h_prev, &mut dh, &mut dax, &mut dah, h, nr);
                }
            }
            let da_x = MatRef::from_column_major_slice(&dax, nr, gh);
            let da_h = match self.cell {
                Cell::Lstm => da_x,
                Cell::Gru => MatRef::from_column_major_slice(&dah, nr, gh),
            };
            let xt = x.subcols(t * f, f);
            matmul(
                g_ih.as_mut(),
                Accum::Add,
                xt.transpose(),
                da_x,
                T::one(),
                Par::Seq,
            );
            if let Some(p) = prev {
                let hp = MatRef::from_column_major_slice(&p[out_slot..out_slot + h * nr], nr, h);
                matmul(
                    g_hh.as_mut(),
                    Accum::Add,
                    hp.transpose(),
                    da_h,
                    T::one(),
                    Par::Seq,
                );
            }
            for r in 0..gh {
                gb_ih[(r, 0)] += lane_sum(&dax[r * nr..(r + 1) * nr]);
                gb_hh[(r, 0)] += lane_sum(match self.cell {
                    Cell::Lstm => &dax[r * nr..(r + 1) * nr],
                    Cell::Gru => &dah[r * nr..(r + 1) * nr],
                });
            }
            if let Some(dx) = dx.as_mut() {
                matmul(
                    dx.rb_mut().subcols_mut(t * f, f),
                    Accum::Replace,
                    da_x,
                    self.w_ih.transpose(),
                    T::one(),
                    Par::Seq,
                );
            }
            if t > 0 {
                // dh of the step before: through the recurrent product (GRU's direct
                // z ⊙ h path is already in `dh`).
                let accum = match self.cell {
                    Cell::Lstm => Accum::Replace,
                    Cell::Gru => Accum::Add,
                };
                matmul(
                    MatMut::from_column_major_slice_mut(&mut dh, nr, h),
                    accum,
                    da_h,
                    self.w_hh.transpose(),
                    T::one(),
                    Par::Seq,
                );
            }
        }
        [g_ih, g_hh, gb_ih, gb_hh]
    }

    /// Pieces of `n` rows for `threads`.
    fn pieces(n: usize, threads: usize) -> Vec<(usize, usize)> {
        column_split(n, threads.max(1))
    }
}

impl<T: Real> Layer<T> for Recurrent<T> {
    fn spec(&self) -> &LayerSpec {
        &self.spec
    }

    fn input_shape(&self) -> &Shape {
        &self.shapes.0
    }

    fn output_shape(&self) -> &Shape {
        &self.shapes.1
    }

    fn layout(&self) -> Option<Layout> {
        Some(Layout::Features)
    }

    fn forward(&self, x: MatRef<'_, T>, out: MatMut<'_, T>, cache: &mut Cache<T>, f: &mut Forward) {
        let n = x.nrows();
        let threads = f.row_pieces();
        let split = Self::pieces(n, threads);
        let keep = f.train;
        let steps = if keep { self.steps } else { 2 };
        let mut local = Vec::new();
        let store = if keep {
            cache.values.resize(steps * self.step_len(n), T::zero());
            cache.index = split.iter().map(|&(_, len)| len as u32).collect();
            &mut cache.values
        } else {
            local.resize(steps * self.step_len(n), T::zero());
            &mut local
        };
        let mut items = Vec::with_capacity(split.len());
        let (mut out, mut store) = (out, &mut store[..]);
        for &(start, len) in &split {
            let (o, rest) = out.split_at_row_mut(len);
            let (s, tail) = store.split_at_mut(steps * self.step_len(len));
            items.push((x.subrows(start, len), o, s));
            out = rest;
            store = tail;
        }
        each_piece(items, |(x, o, s)| self.forward_rows(x, o, s, keep));
    }

    fn backward(&self, b: Backward<'_, T>) {
        let Backward {
            x,
            dy,
            dx,
            grads,
            cache,
            ..
        } = b;
        let dy = dy.as_ref();
        let lens: Vec<usize> = cache.index.iter().map(|&l| l as usize).collect();
        let mut items = Vec::with_capacity(lens.len());
        let (mut dx, mut store, mut start) = (dx, &cache.values[..], 0);
        for &len in &lens {
            let piece_dx = match dx.take() {
                Some(d) => {
                    let (p, rest) = d.split_at_row_mut(len);
                    dx = Some(rest);
                    Some(p)
                }
                None => None,
            };
            let (s, tail) = store.split_at(self.steps * self.step_len(len));
            items.push((x.subrows(start, len), dy.subrows(start, len), piece_dx, s));
            store = tail;
            start += len;
        }
        let parts = each_piece(items, |(x, dy, dx, s)| self.backward_rows(x, dy, dx, s));
        for (k, g) in grads.iter_mut().enumerate() {
            g.copy_from(&parts[0][k]);
            for p in &parts[1..] {
                *g += &p[k];
            }
        }
    }

    fn params(&self) -> Vec<&Mat<T>> {
        vec![&self.w_ih, &self.w_hh, &self.b_ih, &self.b_hh]
    }

    fn params_mut(&mut self) -> Vec<&mut Mat<T>> {
        vec![
            &mut self.w_ih,
            &mut self.w_hh,
            &mut self.b_ih,
            &mut self.b_hh,
        ]
    }

    /// PyTorch's state dict of a one-layer `nn.LSTM` / `nn.GRU`.
    fn tensors(&self) -> Vec<Tensor> {
        let gh = self.gh();
        let transposed = |name: &str, m: &Mat<T>| Tensor {
            name: name.into(),
            shape: vec![gh, m.nrows()],
            values: (0..gh)
                .flat_map(|r| (0..m.nrows()).map(move |c| (r, c)))
                .map(|(r, c)| m[(c, r)].f64())
                .collect(),
        };
        let vector = |name: &str, m: &Mat<T>| Tensor {
            name: name.into(),
            shape: vec![gh],
            values: col_slice(m, 0).iter().map(|v| v.f64()).collect(),
        };
        vec![
            transposed("weight_ih_l0", &self.w_ih),
            transposed("weight_hh_l0", &self.w_hh),
            vector("bias_ih_l0", &self.b_ih),
            vector("bias_hh_l0", &self.b_hh),
        ]
    }

    fn set_tensors(&mut self, tensors: &[Tensor]) -> Result<(), String> {
        let (gh, f, h) = (self.gh(), self.features, self.units);
        let wi = find(tensors, "weight_ih_l0", &[gh, f])?;
        let wh = find(tensors, "weight_hh_l0", &[gh, h])?;
        let bi = find(tensors, "bias_ih_l0", &[gh])?;
        let bh = find(tensors, "bias_hh_l0", &[gh])?;
        self.w_ih = Mat::from_fn(f, gh, |c, r| T::of(wi.values[r * f + c]));
        self.w_hh = Mat::from_fn(h, gh, |c, r| T::of(wh.values[r * h + c]));
        self.b_ih = Mat::from_fn(gh, 1, |r, _| T::of(bi.values[r]));
        self.b_hh = Mat::from_fn(gh, 1, |r, _| T::of(bh.values[r]));
        Ok(())
    }

    fn workspace_bytes(&self, n: usize) -> u64 {
        (self.steps * self.step_len(n) * std::mem::size_of::<T>()) as u64
    }

    fn onnx_form(&self) -> Option<OnnxForm> {
        Some(OnnxForm::Flat)
    }

    /// ONNX's `LSTM` / `GRU` on the batch as `[steps, N, features]`, weights in its gate
    /// order; its `Y` back to rows (every step, or the last).
    fn onnx(&self, g: &mut Graph, x: &str, name: &str) -> String {
        let (t, f, h) = (self.steps, self.features, self.units);
        let order = self.cell.onnx_order();
        let reorder = |m: &Mat<T>, inputs: usize| -> Vec<f64> {
            order
                .iter()
                .flat_map(|&gate| (0..h).map(move |u| gate * h + u))
                .flat_map(|r| (0..inputs).map(move |c| m[(c, r)].f64()))
                .collect()
        };
        let gh = self.gh();
        let w = g.constant_as(
            &format!("{name}.W"),
            &[1, gh, f],
            &reorder(&self.w_ih, f),
            DType::Float32,
        );
        let r = g.constant_as(
            &format!("{name}.R"),
            &[1, gh, h],
            &reorder(&self.w_hh, h),
            DType::Float32,
        );
        let bias: Vec<f64> = [&self.b_ih, &self.b_hh]
            .iter()
            .flat_map(|b| {
                order
                    .iter()
                    .flat_map(move |&gate| (0..h).map(move |u| b[(gate * h + u, 0)].f64()))
            })
            .collect();
        let b = g.constant_as(&format!("{name}.B"), &[1, 2 * gh], &bias, DType::Float32);
        let dims = g.constant_i64("sequence", &[3], &[-1, t as i64, f as i64]);
        let ntf = g.node("Reshape", &[x, &dims]);
        let tnf = g.node_with("Transpose", &[&ntf], &[Attr::Ints("perm", vec![1, 0, 2])]);
        let mut attrs = vec![Attr::Int("hidden_size", h as i64)];
        let op = match self.cell {
            Cell::Lstm => "LSTM",
            Cell::Gru => {
                attrs.push(Attr::Int("linear_before_reset", 1));
                "GRU"
            }
        };
        let y = g.node_with(op, &[&tnf, &w, &r, &b], &attrs);
        if self.sequences {
            let nt = g.node_with("Transpose", &[&y], &[Attr::Ints("perm", vec![2, 0, 1, 3])]);
            let flat = g.constant_i64("flat", &[2], &[-1, (t * h) as i64]);
            g.node("Reshape", &[&nt, &flat])
        } else {
            let last = g.constant_i64("last_step", &[], &[t as i64 - 1]);
            let yl = g.node("Gather", &[&y, &last]);
            let flat = g.constant_i64("flat", &[2], &[-1, h as i64]);
            g.node("Reshape", &[&yl, &flat])
        }
    }

    fn box_clone(&self) -> Box<dyn Layer<T>> {
        Box::new(self.clone())
    }
}
