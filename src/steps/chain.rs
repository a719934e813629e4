//! The fitted steps in order, applied to chunks: scale → pca → autoencoder forwards (the
//! output pass of `run`, and `dimred transform`), and back with `inverse`. Built from the
//! fitted parts during a run, or from model.json, so both paths apply the same numbers.

use faer::{Mat, MatRef};

use super::autoencoder::Network;
use super::autoencoder::train::{decode_rows, encode_rows};
use super::pca::{Pca, inverse, project_with};

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
        match &self.pca {
            Some(pca) => project_with(x, &self.shift, self.scale.as_deref(), pca, false, scratch),
            None => Mat::from_fn(x.nrows(), x.ncols(), |i, j| {
                let v = x[(i, j)] - self.shift[j];
                self.scale.as_ref().map_or(v, |s| v / s[j])
            }),
        }
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
        let u = self.autoencoder_input(x, scratch);
        let (z, _) = encode_rows(net, u.as_ref());
        if !with_error {
            return z;
        }
        let errors = self.row_errors(x, z.as_ref());
        let k = z.ncols();
        Mat::from_fn(
            z.nrows(),
            k + 1,
            |i, j| if j < k { z[(i, j)] } else { errors[i] },
        )
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
