//! The rows report.html draws: a uniform reservoir sample of the output pass (Vitter's
//! algorithm R, fixed seed, so a run is reproducible), kept in the input's row order, plus
//! the first rows for the image grid. The runner feeds it chunk by chunk from the output
//! pass (`push`); `finish` turns it into a `ReportSample`, which is saved beside
//! report.json as report_sample.json so `dimred report DIR` can re-render without refitting.

use arrow_array::RecordBatch;
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

use crate::evaluate::EvalRows;
pub use crate::source::labels::label_values;

/// Rows shown in the originals-beside-reconstructions grid.
pub const IMAGE_ROWS: usize = 10;
/// Features above which the correlation matrix is not drawn (nor stored).
pub const MAX_CORRELATION_FEATURES: usize = 64;
/// Seed of the reservoir: fixed, so the sample is the same on every run.
const RESERVOIR_SEED: u64 = 0x5a3b_1e5e;

/// What was drawn from the output pass, as saved in report_sample.json.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReportSample {
    /// Rows the sample was drawn from (rows kept by the output pass).
    pub rows_seen: u64,
    /// 0-based index of each sampled row among the rows kept, increasing.
    pub index: Vec<u64>,
    /// The first two reduced coordinates of each sampled row (one when k = 1).
    pub reduced: Vec<Vec<f64>>,
    /// `report.color_by` values of the sampled rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<Vec<Option<String>>>,
    /// First rows and their reconstructions, with `report.image_shape`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<ImageRows>,
    /// Loadings of the first components on their top features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loadings: Option<Loadings>,
    /// Correlation matrix of the features over the sample (p ≤ 64, scaled pipelines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<Vec<Vec<f64>>>,
    /// The `report.embedding` picture, when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<EmbeddingPoints>,
}

/// A 2-D picture of (a subset of) the sample, with its rows' colours.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddingPoints {
    pub method: String,
    pub points: Vec<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<Vec<Option<String>>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRows {
    pub shape: [usize; 2],
    /// The rows are `[steps, features]` windows (drawn as lines), not images.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sequence: bool,
    /// Raw feature values of the first rows of the input.
    pub original: Vec<Vec<f64>>,
    /// Their reconstructions from the reduced coordinates, in raw feature space.
    pub reconstructed: Vec<Vec<f64>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Loadings {
    /// Feature names, rows of `values`.
    pub features: Vec<String>,
    /// `values[f][c]`: loading of feature f on component c + 1.
    pub values: Vec<Vec<f64>>,
    /// All features (the heat map shows `features.len()` of them).
    pub n_features: usize,
}

/// Features named in the loadings heat map, and components shown.
pub const LOADING_FEATURES: usize = 30;
pub const LOADING_COMPONENTS: usize = 8;

impl Loadings {
    /// The first components' loadings (`components` is k × p) on the features with the
    /// largest |loading| over those components, in decreasing order of it.
    pub fn top(components: MatRef<'_, f64>, names: &[String]) -> Loadings {
        let (k, p) = (
            components.nrows().min(LOADING_COMPONENTS),
            components.ncols(),
        );
        let weight = |j: usize| (0..k).fold(0.0f64, |m, c| m.max(components[(c, j)].abs()));
        let mut order: Vec<usize> = (0..p).collect();
        if p > LOADING_FEATURES {
            order.sort_by(|&a, &b| weight(b).total_cmp(&weight(a)).then(a.cmp(&b)));
            order.truncate(LOADING_FEATURES);
        }
        Loadings {
            features: order.iter().map(|&j| names[j].clone()).collect(),
            values: order
                .iter()
                .map(|&j| (0..k).map(|c| components[(c, j)]).collect())
                .collect(),
            n_features: p,
        }
    }
}

/// One sampled row while the pass runs.
struct Row {
    index: u64,
    reduced: Vec<f64>,
    scaled: Vec<f64>,
    label: Option<String>,
    color: Option<String>,
    /// The row's written passthrough columns (a one-row copy), for embedding.parquet.
    passthrough: Option<RecordBatch>,
}

/// Options of the sampler.
#[derive(Debug, Clone)]
pub struct SampleOptions {
    pub rows: usize,
    /// Keep each sampled row's scaled features (for the evaluation and the correlation).
    pub keep_scaled: bool,
    /// Keep the first rows' raw features for the image grid.
    pub image_shape: Option<[usize; 2]>,
    /// The image shape is a recurrent autoencoder's `[steps, features]`.
    pub sequence: bool,
    /// Keep each sampled row's written passthrough columns (for embedding.parquet).
    pub keep_passthrough: bool,
}

/// The streaming sampler.
pub struct Sampler {
    options: SampleOptions,
    seen: u64,
    rows: Vec<Row>,
    rng: crate::rng::Rng,
    first_rows: Vec<Vec<f64>>,
}

impl Sampler {
    pub fn new(options: SampleOptions) -> Sampler {
        Sampler {
            options,
            seen: 0,
            rows: Vec::new(),
            rng: crate::rng::Rng::new(RESERVOIR_SEED),
            first_rows: Vec::new(),
        }
    }

    /// Feeds one chunk: `raw` input features, `scaled` the reducer's input (same rows),
    /// `reduced` the coordinates (at least k columns; extra columns are ignored by
    /// `k`), and the label values per row when there is a label column.
    // One argument per thing kept of a row, each optional; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        raw: MatRef<'_, f64>,
        scaled: MatRef<'_, f64>,
        reduced: MatRef<'_, f64>,
        k: usize,
        label: Option<&[Option<String>]>,
        color: Option<&[Option<String>]>,
        passthrough: Option<&RecordBatch>,
    ) {
        let capacity = self.options.rows;
        for i in 0..raw.nrows() {
            let index = self.seen;
            self.seen += 1;
            if let Some(shape) = self.options.image_shape
                && self.first_rows.len() < IMAGE_ROWS
                && raw.ncols() == shape[0] * shape[1]
            {
                self.first_rows
                    .push((0..raw.ncols()).map(|j| raw[(i, j)]).collect());
            }
            let slot = if self.rows.len() < capacity {
                None
            } else {
                let j = self.rng.next_u64() % self.seen;
                if (j as usize) < capacity {
                    Some(j as usize)
                } else {
                    continue;
                }
            };
            let row = Row {
                index,
                reduced: (0..k).map(|c| reduced[(i, c)]).collect(),
                scaled: if self.options.keep_scaled {
                    (0..scaled.ncols()).map(|j| scaled[(i, j)]).collect()
                } else {
                    Vec::new()
                },
                label: label.and_then(|l| l[i].clone()),
                color: color.and_then(|l| l[i].clone()),
                passthrough: passthrough
                    .filter(|_| self.options.keep_passthrough)
                    .and_then(|b| {
                        let at = arrow_array::UInt32Array::from(vec![i as u32]);
                        arrow_select::take::take_record_batch(b, &at).ok()
                    }),
            };
            match slot {
                None => self.rows.push(row),
                Some(s) => self.rows[s] = row,
            }
        }
    }

    /// The sample in row order. `reconstruct` maps raw rows (n × p) to their
    /// reconstructions in raw space (PCA: the inverse of the projection; an autoencoder:
    /// its decoder after its encoder; `None` without an inverse map, and then no image
    /// grid). `with_color` says whether a colour column was read;
    /// `correlation` whether to compute the features' correlation matrix over the sample.
    pub fn finish(
        mut self,
        reconstruct: &dyn Fn(MatRef<'_, f64>) -> Option<Mat<f64>>,
        with_color: bool,
        correlation: bool,
    ) -> (ReportSample, EvalRows, Option<RecordBatch>) {
        self.rows.sort_by_key(|r| r.index);
        let images = self.options.image_shape.and_then(|shape| {
            if self.first_rows.is_empty() {
                return None;
            }
            let p = self.first_rows[0].len();
            let x = Mat::from_fn(self.first_rows.len(), p, |i, j| self.first_rows[i][j]);
            let back = reconstruct(x.as_ref())?;
            Some(ImageRows {
                shape,
                sequence: self.options.sequence,
                reconstructed: (0..back.nrows())
                    .map(|i| (0..back.ncols()).map(|j| back[(i, j)]).collect())
                    .collect(),
                original: std::mem::take(&mut self.first_rows),
            })
        });
        let correlation = (correlation
            && self.options.keep_scaled
            && self.rows.len() > 1
            && self.rows[0].scaled.len() <= MAX_CORRELATION_FEATURES)
            .then(|| correlation_matrix(&self.rows));
        let sample = ReportSample {
            rows_seen: self.seen,
            index: self.rows.iter().map(|r| r.index).collect(),
            reduced: self
                .rows
                .iter()
                .map(|r| r.reduced.iter().take(2).copied().collect())
                .collect(),
            color: with_color.then(|| self.rows.iter().map(|r| r.color.clone()).collect()),
            images,
            loadings: None,
            correlation,
            embedding: None,
        };
        let batches: Vec<RecordBatch> = self
            .rows
            .iter_mut()
            .filter_map(|r| r.passthrough.take())
            .collect();
        let passthrough = batches
            .first()
            .and_then(|first| arrow_select::concat::concat_batches(&first.schema(), &batches).ok());
        let mut eval = EvalRows::default();
        for r in self.rows {
            eval.index.push(r.index);
            eval.scaled.push(r.scaled);
            eval.reduced.push(r.reduced);
            eval.label.push(r.label);
        }
        (sample, eval, passthrough)
    }
}

/// Pearson correlation of the columns of the sampled rows (two-pass, centered).
fn correlation_matrix(rows: &[Row]) -> Vec<Vec<f64>> {
    let p = rows[0].scaled.len();
    let n = rows.len() as f64;
    let mean: Vec<f64> = (0..p)
        .map(|j| rows.iter().map(|r| r.scaled[j]).sum::<f64>() / n)
        .collect();
    let mut cov = vec![vec![0.0; p]; p];
    for r in rows {
        for a in 0..p {
            let da = r.scaled[a] - mean[a];
            for b in 0..=a {
                cov[a][b] += da * (r.scaled[b] - mean[b]);
            }
        }
    }
    let sd: Vec<f64> = (0..p).map(|j| cov[j][j].sqrt()).collect();
    let mut out = vec![vec![0.0; p]; p];
    for a in 0..p {
        for b in 0..=a {
            let c = if sd[a] > 0.0 && sd[b] > 0.0 {
                cov[a][b] / (sd[a] * sd[b])
            } else if a == b {
                1.0
            } else {
                0.0
            };
            out[a][b] = c;
            out[b][a] = c;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(sampler: &mut Sampler, n: usize, chunk: usize) {
        let mut start = 0;
        while start < n {
            let rows = chunk.min(n - start);
            let x = Mat::from_fn(rows, 2, |i, j| (start + i) as f64 * 10.0 + j as f64);
            sampler.push(x.as_ref(), x.as_ref(), x.as_ref(), 2, None, None, None);
            start += rows;
        }
    }

    #[test]
    fn small_data_is_kept_whole_in_order() {
        let mut s = Sampler::new(SampleOptions {
            keep_passthrough: false,
            rows: 100,
            keep_scaled: true,
            image_shape: None,
            sequence: false,
        });
        feed(&mut s, 30, 7);
        let (sample, eval, _) = s.finish(&|x| Some(x.to_owned()), false, false);
        assert_eq!(sample.index, (0..30).collect::<Vec<u64>>());
        assert_eq!(sample.reduced[3], vec![30.0, 31.0]);
        assert_eq!(eval.scaled[29], vec![290.0, 291.0]);
    }

    #[test]
    fn reservoir_is_uniform_sized_sorted_and_chunking_free() {
        let run = |chunk| {
            let mut s = Sampler::new(SampleOptions {
                keep_passthrough: false,
                rows: 50,
                keep_scaled: false,
                image_shape: None,
                sequence: false,
            });
            feed(&mut s, 1000, chunk);
            s.finish(&|x| Some(x.to_owned()), false, false).0
        };
        let a = run(1);
        let b = run(333);
        assert_eq!(a.index, b.index);
        assert_eq!(a.index.len(), 50);
        assert!(a.index.windows(2).all(|w| w[0] < w[1]));
        // a uniform sample of 0..1000 has a mean near 500 (sd of the mean ≈ 40)
        let mean = a.index.iter().sum::<u64>() as f64 / 50.0;
        assert!((mean - 500.0).abs() < 160.0, "{mean}");
        assert!(*a.index.last().unwrap() > 500);
        for (i, r) in a.index.iter().zip(&a.reduced) {
            assert_eq!(r[0], *i as f64 * 10.0);
        }
    }

    #[test]
    fn correlation_of_exactly_related_columns() {
        let mut s = Sampler::new(SampleOptions {
            keep_passthrough: false,
            rows: 10,
            keep_scaled: true,
            image_shape: None,
            sequence: false,
        });
        let x = Mat::from_fn(5, 3, |i, j| match j {
            0 => i as f64,
            1 => -2.0 * i as f64 + 1.0,
            _ => 7.0,
        });
        s.push(x.as_ref(), x.as_ref(), x.as_ref(), 1, None, None, None);
        let (sample, _, _) = s.finish(&|x| Some(x.to_owned()), false, true);
        let c = sample.correlation.unwrap();
        assert!((c[0][1] + 1.0).abs() < 1e-12);
        assert_eq!(c[2][2], 1.0);
        assert_eq!(c[0][2], 0.0);
    }

    #[test]
    fn image_rows_are_the_first_rows_and_their_reconstructions() {
        let mut s = Sampler::new(SampleOptions {
            keep_passthrough: false,
            rows: 3,
            keep_scaled: false,
            image_shape: Some([1, 2]),
            sequence: false,
        });
        feed(&mut s, 25, 4);
        let (sample, _, _) = s.finish(
            &|x| Some(Mat::from_fn(x.nrows(), 2, |i, j| x[(i, j)] + 0.5)),
            false,
            false,
        );
        let images = sample.images.unwrap();
        assert_eq!(images.original.len(), IMAGE_ROWS);
        assert_eq!(images.original[2], vec![20.0, 21.0]);
        assert_eq!(images.reconstructed[2], vec![20.5, 21.5]);
    }
}
