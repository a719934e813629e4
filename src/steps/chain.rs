//! The fitted steps in order, applied to chunks: scale → pca → autoencoder forwards (the
//! output pass of `run`, and `dimred transform`), and back with `inverse`. Built from the
//! fitted parts during a run, or from model.json, so both paths apply the same numbers.

use faer::{Mat, MatRef};

use super::autoencoder::Network;
use super::autoencoder::train::{EVAL_ROWS, decode_rows, encode_rows};
use super::pca::{Pca, inverse, project_with};
use super::scale::shift_scale_into;

pub struct Chain {
    /// Subtracted from the raw features: the mean (PCA centres; center and standard
    /// scaling), the minimum (minmax before an autoencoder), or zero.
    pub shift: Vec<f64>,
    /// Divides the shifted features (standard deviation or range); `None` for none.
    pub scale: Option<Vec<f64>>,
    pub pca: Option<Pca>,
    pub autoencoder: Option<Network<f32>>,
}

impl Chain {
    /// Output columns: pc1…pck after a PCA, z1…zk after an autoencoder, then the
    /// reconstruction error if asked.
    pub fn output_names(&self, with_error: bool) -> Vec<String> {
        let mut names: Vec<String> = match (&self.autoencoder, &self.pca) {
            (Some(net), _) => (1..=net.latent()).map(|i| format!("z{i}")).collect(),
            (None, Some(pca)) => (1..=pca.n_components()).map(|i| format!("pc{i}")).collect(),
            (None, None) => Vec::new(),
        };
        if with_error {
            names.push("reconstruction_error".into());
        }
        names
    }

    /// What the autoencoder sees: the scaled features, or the PCA scores.
    pub fn autoencoder_input(&self, x: MatRef<'_, f64>, scratch: &mut Mat<f64>) -> Mat<f64> {
        let mut out = Mat::zeros(0, 0);
        self.autoencoder_input_into(x, &mut out, scratch);
        out
    }

    /// As `autoencoder_input`, into `out` (reallocated only when the shape changes, so a
    /// stream of equal chunks allocates once).
    pub fn autoencoder_input_into(
        &self,
        x: MatRef<'_, f64>,
        out: &mut Mat<f64>,
        scratch: &mut Mat<f64>,
    ) {
        if let Some(pca) = &self.pca {
            *out = project_with(x, &self.shift, self.scale.as_deref(), pca, false, scratch);
            return;
        }
        self.scaled_into(x, out);
    }

    /// `(x − shift) / scale` into `out`: the scaled features.
    pub fn scaled_into(&self, x: MatRef<'_, f64>, out: &mut Mat<f64>) {
        shift_scale_into(x, &self.shift, self.scale.as_deref(), out);
    }

    /// Features → outputs; with `with_error` one more column holds each row's squared
    /// reconstruction error ‖x − x̂‖² in the scaled space.
    pub fn forward(
        &self,
        x: MatRef<'_, f64>,
        with_error: bool,
        scratch: &mut Mat<f64>,
    ) -> Mat<f64> {
        let Some(net) = &self.autoencoder else {
            let pca = self
                .pca
                .as_ref()
                .expect("a chain has a pca or an autoencoder");
            return project_with(
                x,
                &self.shift,
                self.scale.as_deref(),
                pca,
                with_error,
                scratch,
            );
        };
        // Blocks of rows keep the network's intermediate matrices small (and reused by the
        // allocator) whatever the chunk size.
        let (n, k) = (x.nrows(), net.latent());
        let mut out = Mat::zeros(n, k + with_error as usize);
        for start in (0..n).step_by(EVAL_ROWS) {
            let rows = EVAL_ROWS.min(n - start);
            let xb = x.subrows(start, rows);
            let u = self.autoencoder_input(xb, scratch);
            let z = encode_rows(net, u.as_ref());
            out.as_mut()
                .subrows_mut(start, rows)
                .subcols_mut(0, k)
                .copy_from(&z);
            if with_error {
                for (i, e) in self.row_errors(xb, z.as_ref()).into_iter().enumerate() {
                    out[(start + i, k)] = e;
                }
            }
        }
        out
    }

    /// Per-row ‖(x − x̂) / scale‖², x̂ rebuilt from the outputs `z`.
    pub fn row_errors(&self, x: MatRef<'_, f64>, z: MatRef<'_, f64>) -> Vec<f64> {
        let rebuilt = self.inverse(z);
        (0..x.nrows())
            .map(|i| {
                (0..x.ncols())
                    .map(|j| {
                        let d = (x[(i, j)] - rebuilt[(i, j)])
                            / self.scale.as_ref().map_or(1.0, |s| s[j]);
                        d * d
                    })
                    .sum()
            })
            .collect()
    }

    /// Outputs → feature space.
    pub fn inverse(&self, z: MatRef<'_, f64>) -> Mat<f64> {
        let u = match &self.autoencoder {
            Some(net) => decode_rows(net, z),
            None => z.to_owned(),
        };
        match &self.pca {
            Some(pca) => inverse(u.as_ref(), &self.shift, self.scale.as_deref(), pca),
            None => Mat::from_fn(u.nrows(), u.ncols(), |i, j| {
                u[(i, j)] * self.scale.as_ref().map_or(1.0, |s| s[j]) + self.shift[j]
            }),
        }
    }
}
