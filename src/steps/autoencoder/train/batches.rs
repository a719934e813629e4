//! One epoch's batches: rows staged into column-major batches, corrupted for a denoising
//! autoencoder, and one optimizer step per batch.

use faer::{Mat, MatRef};

use super::super::net::Grads;
use super::super::optim::{Optimizer, clip_gradients};
use super::super::params::AutoencoderParams;
use super::super::{Network, Workspace};
use super::rng;
use crate::error::{Error, Result};
use crate::rng::Rng;

/// One epoch's batch and optimizer steps.
pub(super) struct Epoch {
    batch_size: usize,
    batch: Mat<f32>,
    /// Rows of the batch being filled, row after row.
    staged: Vec<f32>,
    filled: usize,
    noisy: Mat<f32>,
    noise_rng: Rng,
    /// Dropout layers' draws.
    dropout_rng: Rng,
    clip_norm: Option<f64>,
    gaussian_std: f32,
    dropout: f32,
    ws: Workspace<f32>,
    grads: Grads<f32>,
    /// Threads each batch's products are split over.
    threads: usize,
    epoch: usize,
    pub(super) batches: u64,
    pub(super) rows: u64,
    pub(super) loss_sum: f64,
}

impl Epoch {
    pub(super) fn new(
        params: &AutoencoderParams,
        net: &Network<f32>,
        epoch: usize,
        threads: usize,
        rows: Option<u64>,
    ) -> Epoch {
        let width = net.inputs();
        // A batch larger than the data is the data: the same steps, without a buffer sized
        // for rows that do not exist.
        let batch_size = rows.map_or(params.batch_size.0, |n| {
            params.batch_size.0.min(n.max(1) as usize)
        });
        let noise = params.noise.as_ref();
        Epoch {
            batch_size,
            batch: Mat::zeros(batch_size, width),
            staged: Vec::with_capacity(batch_size * width),
            filled: 0,
            noisy: Mat::zeros(0, 0),
            noise_rng: rng(params.seed, epoch, 2),
            dropout_rng: rng(params.seed, epoch, 3),
            clip_norm: params.gradient_clip_norm,
            gaussian_std: noise.and_then(|n| n.gaussian_std).unwrap_or(0.0) as f32,
            dropout: noise.and_then(|n| n.dropout).unwrap_or(0.0) as f32,
            ws: Workspace::default(),
            grads: net.zero_grads(),
            threads,
            epoch,
            batches: 0,
            rows: 0,
            loss_sum: 0.0,
        }
    }

    /// Trains on the last, possibly short, batch (as PyTorch's DataLoader without
    /// drop_last).
    pub(super) fn finish(&mut self, net: &mut Network<f32>, opt: &mut Optimizer) -> Result<()> {
        if self.filled > 0 {
            let n = self.filled;
            self.transpose_staged();
            let rows = self.batch.as_ref().subrows(0, n).to_owned();
            self.step(rows.as_ref(), net, opt)?;
            self.filled = 0;
        }
        Ok(())
    }

    /// The staged rows (row after row) into the batch's columns, sixteen rows at a time,
    /// so each write fills a cache line (row by row into a column-major batch, every value
    /// lands on a different line).
    fn transpose_staged(&mut self) {
        let w = self.batch.ncols();
        let n = self.staged.len() / w;
        for i0 in (0..n).step_by(16) {
            let i1 = (i0 + 16).min(n);
            for j in 0..w {
                let col = self
                    .batch
                    .col_mut(j)
                    .try_as_col_major_mut()
                    .expect("owned columns are contiguous")
                    .as_slice_mut();
                for (i, c) in col[i0..i1].iter_mut().enumerate() {
                    *c = self.staged[(i0 + i) * w + j];
                }
            }
        }
        self.staged.clear();
    }

    pub(super) fn add_to_batch(
        &mut self,
        row: &[f32],
        net: &mut Network<f32>,
        opt: &mut Optimizer,
    ) -> Result<()> {
        self.staged.extend_from_slice(row);
        self.filled += 1;
        if self.filled == self.batch_size {
            self.transpose_staged();
            let batch = std::mem::replace(&mut self.batch, Mat::zeros(0, 0));
            let result = self.step(batch.as_ref(), net, opt);
            self.batch = batch;
            self.filled = 0;
            result?;
        }
        Ok(())
    }

    fn step(
        &mut self,
        target: MatRef<'_, f32>,
        net: &mut Network<f32>,
        opt: &mut Optimizer,
    ) -> Result<()> {
        let n = target.nrows();
        let input = if self.gaussian_std > 0.0 || self.dropout > 0.0 {
            self.corrupt(target);
            self.noisy.as_ref()
        } else {
            target
        };
        let loss = net.gradients(
            input,
            target,
            &mut self.ws,
            &mut self.grads,
            self.threads,
            Some(&mut self.dropout_rng),
        );
        if let Some(max) = self.clip_norm {
            clip_gradients(&mut self.grads, max);
        }
        if loss.is_finite() {
            opt.step(net, &self.grads, self.threads);
        }
        self.batches += 1;
        if !loss.is_finite() {
            let kept = if self.epoch > 1 {
                format!("the checkpoint keeps epoch {}", self.epoch - 1)
            } else {
                "no epoch had completed, so there is no checkpoint".to_string()
            };
            return Err(Error::Numeric(format!(
                "training diverged: the loss became {loss} at epoch {}, batch {}; {kept}; lower optimizer.learning_rate",
                self.epoch, self.batches
            )));
        }
        self.rows += n as u64;
        self.loss_sum += loss * n as f64;
        Ok(())
    }

    /// The denoising input: Gaussian noise added, or inverted dropout (survivors scaled by
    /// 1 / (1 − p), as Keras and PyTorch).
    fn corrupt(&mut self, clean: MatRef<'_, f32>) {
        let (n, w) = (clean.nrows(), clean.ncols());
        if self.noisy.nrows() != n || self.noisy.ncols() != w {
            self.noisy = Mat::zeros(n, w);
        }
        if self.gaussian_std > 0.0 {
            let mut normals = vec![0.0f64; n * w];
            self.noise_rng.fill_normal(&mut normals);
            let s = self.gaussian_std as f64;
            for j in 0..w {
                for i in 0..n {
                    self.noisy[(i, j)] = clean[(i, j)] + (s * normals[j * n + i]) as f32;
                }
            }
        } else {
            let p = self.dropout as f64;
            let keep = (1.0 / (1.0 - p)) as f32;
            for j in 0..w {
                for i in 0..n {
                    let drop = self.noise_rng.uniform() <= p;
                    self.noisy[(i, j)] = if drop { 0.0 } else { clean[(i, j)] * keep };
                }
            }
        }
    }
}
