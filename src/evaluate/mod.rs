//! The downstream-classifier check: does a classifier do as well on the reduced
//! coordinates as on the (scaled) features? On the report's reservoir sample, rows are
//! split into train and test by a seeded hash of their row index (reproducible in any
//! language: see `is_test`), then logistic regression and k-nearest neighbours are
//! trained on each feature set and scored. The numbers go to report.json's `evaluation`.

pub mod knn;
pub mod logistic;

use faer::Mat;
use serde::{Deserialize, Serialize};

use crate::config::RawEvaluate;
use crate::rng::splitmix64;
pub use crate::source::labels::classes;

/// The rows the evaluation trains and tests on: the report's sample (what
/// `report::sample::Sampler::finish` returns beside the saved sample).
#[derive(Debug, Clone, Default)]
pub struct EvalRows {
    /// Row index among the rows kept (drives the train/test split).
    pub index: Vec<u64>,
    /// Scaled features (the reducer's input space), one Vec per row.
    pub scaled: Vec<Vec<f64>>,
    /// All k reduced coordinates.
    pub reduced: Vec<Vec<f64>>,
    pub label: Vec<Option<String>>,
}

/// Row `index` (0-based among the rows kept) is a test row when
/// `splitmix64(seed ^ index) / 2⁶⁴ < test_fraction`.
pub fn is_test(seed: u64, index: u64, test_fraction: f64) -> bool {
    (splitmix64(seed ^ index) as f64) / 18_446_744_073_709_551_616.0 < test_fraction
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvaluationReport {
    pub label: String,
    pub test_fraction: f64,
    pub seed: u64,
    pub k_neighbors: usize,
    /// Sampled rows with a label (rows with a missing label are left out).
    pub sample_rows: usize,
    pub train_rows: usize,
    pub test_rows: usize,
    /// Class labels, sorted (numerically when every label is a number).
    pub classes: Vec<String>,
    /// One entry per (feature set, classifier).
    pub scores: Vec<Score>,
    /// Why there are no scores, when there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Score {
    /// `scaled` (the reducer's input) or `reduced`.
    pub features: String,
    pub dimensions: usize,
    /// `logistic_regression` or `knn`.
    pub model: String,
    pub train_accuracy: f64,
    pub test_accuracy: f64,
}

impl EvaluationReport {
    /// An evaluation that could not run, saying why.
    pub fn skipped(options: &RawEvaluate, why: &str) -> EvaluationReport {
        EvaluationReport {
            label: options.label.clone(),
            test_fraction: options.test_fraction,
            seed: options.seed,
            k_neighbors: options.k,
            sample_rows: 0,
            train_rows: 0,
            test_rows: 0,
            classes: Vec::new(),
            scores: Vec::new(),
            note: Some(why.to_string()),
        }
    }
}

fn accuracy(predicted: &[usize], truth: &[usize]) -> f64 {
    if truth.is_empty() {
        return 0.0;
    }
    let hits = predicted.iter().zip(truth).filter(|(a, b)| a == b).count();
    hits as f64 / truth.len() as f64
}

/// Splits the sample and scores both classifiers on both feature sets. With
/// `pca_baseline` (the reducer is not a PCA) a third set is scored: the PCA codes of
/// the same width, fitted on the training split's scaled features — the lecture's
/// comparison of autoencoder codes against PCA's.
pub fn evaluate(rows: &EvalRows, options: &RawEvaluate, pca_baseline: bool) -> EvaluationReport {
    let labelled: Vec<usize> = (0..rows.index.len())
        .filter(|&i| rows.label[i].is_some())
        .collect();
    let labels: Vec<String> = labelled
        .iter()
        .map(|&i| rows.label[i].clone().expect("filtered"))
        .collect();
    let classes = classes(&labels);
    let class_of = |l: &String| classes.iter().position(|c| c == l).expect("a class");
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (pos, &i) in labelled.iter().enumerate() {
        if is_test(options.seed, rows.index[i], options.test_fraction) {
            test.push(pos);
        } else {
            train.push(pos);
        }
    }
    let mut report = EvaluationReport {
        label: options.label.clone(),
        test_fraction: options.test_fraction,
        seed: options.seed,
        k_neighbors: options.k,
        sample_rows: labelled.len(),
        train_rows: train.len(),
        test_rows: test.len(),
        classes: classes.clone(),
        scores: Vec::new(),
        note: None,
    };
    if classes.len() < 2 {
        report.note = Some(format!(
            "the label column '{}' has {} class(es) in the sample; a classifier needs two",
            options.label,
            classes.len()
        ));
        return report;
    }
    if train.is_empty() || test.is_empty() {
        report.note = Some("the split left no training or no test rows".into());
        return report;
    }
    let y_train: Vec<usize> = train.iter().map(|&i| class_of(&labels[i])).collect();
    let y_test: Vec<usize> = test.iter().map(|&i| class_of(&labels[i])).collect();
    let mut sets: Vec<(&str, Vec<Vec<f64>>)> = vec![
        ("scaled", rows.scaled.clone()),
        ("reduced", rows.reduced.clone()),
    ];
    let width = rows.reduced.first().map_or(0, |r| r.len());
    if pca_baseline && width > 0 {
        let train_rows: Vec<&Vec<f64>> = train.iter().map(|&i| &rows.scaled[labelled[i]]).collect();
        if let Some(codes) = pca_codes(&train_rows, &rows.scaled, width) {
            sets.push(("pca", codes));
        }
    }
    for (name, data) in &sets {
        let name = *name;
        let dims = data.first().map_or(0, |r| r.len());
        if dims == 0 {
            continue;
        }
        let matrix =
            |which: &[usize]| Mat::from_fn(which.len(), dims, |r, j| data[labelled[which[r]]][j]);
        let (xtr, xte) = (matrix(&train), matrix(&test));
        let model = logistic::fit(xtr.as_ref(), &y_train, classes.len());
        report.scores.push(Score {
            features: name.into(),
            dimensions: dims,
            model: "logistic_regression".into(),
            train_accuracy: accuracy(&model.predict(xtr.as_ref()), &y_train),
            test_accuracy: accuracy(&model.predict(xte.as_ref()), &y_test),
        });
        let knn = |q: &Mat<f64>| {
            knn::predict(xtr.as_ref(), &y_train, classes.len(), options.k, q.as_ref())
        };
        report.scores.push(Score {
            features: name.into(),
            dimensions: dims,
            model: "knn".into(),
            train_accuracy: accuracy(&knn(&xtr), &y_train),
            test_accuracy: accuracy(&knn(&xte), &y_test),
        });
    }
    report
}

/// Every row's scores on the first `k` principal components of `train` (centred on the
/// training mean).
fn pca_codes(train: &[&Vec<f64>], all: &[Vec<f64>], k: usize) -> Option<Vec<Vec<f64>>> {
    let (n, p) = (train.len(), train.first()?.len());
    if n < 2 || k > p {
        return None;
    }
    let mean: Vec<f64> = (0..p)
        .map(|j| train.iter().map(|r| r[j]).sum::<f64>() / n as f64)
        .collect();
    let centred = Mat::from_fn(n, p, |i, j| train[i][j] - mean[j]);
    let covariance = centred.transpose() * &centred * faer::Scale(1.0 / (n - 1) as f64);
    let pca = crate::steps::pca::exact::fit(
        covariance,
        n as u64,
        crate::config::NComponents::Count(k),
        false,
    )
    .ok()?;
    let x = Mat::from_fn(all.len(), p, |i, j| all[i][j]);
    let z = crate::steps::pca::project(x.as_ref(), &mean, None, &pca);
    Some(
        (0..z.nrows())
            .map(|i| (0..z.ncols()).map(|j| z[(i, j)]).collect())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_fraction_is_close_to_asked() {
        let test = (0..10_000u64).filter(|&i| is_test(0, i, 0.25)).count();
        assert!((2300..2700).contains(&test), "{test}");
    }

    #[test]
    fn classes_sort_numbers_as_numbers() {
        let l: Vec<String> = ["10", "9", "2", "9"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(classes(&l), vec!["2", "9", "10"]);
        let t: Vec<String> = ["b", "a", "b"].iter().map(|s| s.to_string()).collect();
        assert_eq!(classes(&t), vec!["a", "b"]);
    }

    #[test]
    fn one_class_gives_a_note_not_a_panic() {
        let rows = EvalRows {
            index: vec![0, 1, 2],
            scaled: vec![vec![1.0], vec![2.0], vec![3.0]],
            reduced: vec![vec![1.0], vec![2.0], vec![3.0]],
            label: vec![Some("a".into()), Some("a".into()), None],
        };
        let r = evaluate(
            &rows,
            &RawEvaluate {
                label: "y".into(),
                test_fraction: 0.5,
                seed: 0,
                k: 5,
            },
            false,
        );
        assert!(r.scores.is_empty());
        assert!(r.note.unwrap().contains("1 class"));
    }
}
