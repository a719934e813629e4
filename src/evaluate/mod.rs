//! The downstream-classifier check: does a classifier do as well on the reduced
//! coordinates as on the (scaled) features? On the report's reservoir sample, rows are
//! split into train and test by a seeded hash of their row index (reproducible in any
//! language: see `is_test`), then logistic regression and k-nearest neighbours are
//! trained on each feature set and scored. The numbers go to report.json's `evaluation`.

pub mod knn;
pub mod logistic;

use faer::Mat;
use serde::{Deserialize, Serialize};

use crate::config::{Baseline, BaselineKernel, KernelPcaParams, LdaParams, RawEvaluate, RawStep};
use crate::engine::PassStats;
use crate::error::{Error, Result};
use crate::rng::splitmix64;
pub use crate::source::labels::classes;
use crate::steps::kernel_pca::kernel::KernelKind;
use crate::steps::{FittedStep, StepInput, plan_step};

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

/// A reducer fitted on the training rows' scaled features and scored beside the
/// pipeline's output (`report.evaluate.compare`), with its kernel resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum BaselineSpec {
    Pca,
    KernelPca(BaselineKernel),
    Lda,
    /// The pipeline's LDA is a classifier (`predict: true`): its own accuracy, an LDA of
    /// the step's options fitted on the training rows' scaled features, scored beside
    /// the classifiers on its projection.
    LdaClassifier(Box<LdaParams>),
}

/// Most landmarks of the kernel PCA baseline: with no more training rows than this it is
/// scikit-learn's exact `KernelPCA` of the training rows.
const KERNEL_LANDMARKS: usize = 2000;

/// The baselines to score: `report.evaluate.compare` as written, or PCA alone when the
/// pipeline's reducer (`reducer`, the last step's kind) is not a PCA. The kernel PCA
/// baseline takes `report.evaluate.kernel`, else the pipeline's own `kernel_pca` step's
/// kernel, else rbf with gamma 1 / features.
pub fn baselines(options: &RawEvaluate, reducer: &str, steps: &[RawStep]) -> Vec<BaselineSpec> {
    let default = [Baseline::Pca];
    let list: &[Baseline] = match &options.compare {
        Some(list) => list,
        None if reducer != "pca" => &default,
        None => &[],
    };
    let kernel = options.kernel.unwrap_or_else(|| {
        steps
            .iter()
            .rev()
            .find_map(|s| match s {
                RawStep::KernelPca(p) => Some(BaselineKernel {
                    kernel: p.kernel,
                    gamma: p.gamma,
                    degree: p.degree,
                    coef0: p.coef0,
                }),
                _ => None,
            })
            .unwrap_or(BaselineKernel {
                kernel: KernelKind::Rbf,
                gamma: None,
                degree: 3.0,
                coef0: 1.0,
            })
    });
    let mut specs: Vec<BaselineSpec> = list
        .iter()
        .map(|b| match b {
            Baseline::Pca => BaselineSpec::Pca,
            Baseline::KernelPca => BaselineSpec::KernelPca(kernel),
            Baseline::Lda => BaselineSpec::Lda,
        })
        .collect();
    if let Some(RawStep::Lda(p)) = steps.last()
        && p.predict
    {
        let mut own = p.clone();
        own.label = options.label.clone();
        specs.push(BaselineSpec::LdaClassifier(Box::new(own)));
    }
    specs
}

/// Splits the sample and scores both classifiers on the scaled features, the reduced
/// coordinates and each baseline's codes (`baselines`), all of the reduced width (LDA at
/// most classes − 1): the lecture's side-by-side comparison of reducers before a
/// classifier, on one split.
pub fn evaluate(
    rows: &EvalRows,
    options: &RawEvaluate,
    baselines: &[BaselineSpec],
) -> EvaluationReport {
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
    let train_rows: Vec<&Vec<f64>> = train.iter().map(|&i| &rows.scaled[labelled[i]]).collect();
    let mut notes: Vec<String> = Vec::new();
    let mut own: Option<Box<dyn FittedStep>> = None;
    let mut own_score = None;
    for baseline in baselines.iter().filter(|_| width > 0) {
        let codes = match baseline {
            BaselineSpec::LdaClassifier(params) => {
                let train_labels: Vec<String> = train.iter().map(|&i| labels[i].clone()).collect();
                let mut params = (**params).clone();
                // the classifier's accuracy, whatever width the projection keeps
                params.n_components = None;
                match fit_in_memory(&RawStep::Lda(params), &train_rows, &train_labels) {
                    Ok(fitted) => own = Some(fitted),
                    Err(e) => notes.push(format!("no lda classifier: {e}")),
                }
                continue;
            }
            BaselineSpec::Pca => pca_codes(&train_rows, &rows.scaled, width).ok_or_else(|| {
                Error::config(
                    "PCA needs at least two training rows and no more components than features",
                )
            }),
            BaselineSpec::KernelPca(kernel) => {
                let params = KernelPcaParams {
                    n_components: width.min(train_rows.len()),
                    kernel: kernel.kernel,
                    gamma: kernel.gamma,
                    degree: kernel.degree,
                    coef0: kernel.coef0,
                    landmarks: train_rows.len().min(KERNEL_LANDMARKS),
                    seed: options.seed,
                    fit_inverse_transform: false,
                    alpha: 1.0,
                };
                fitted_codes(&RawStep::KernelPca(params), &train_rows, &[], &rows.scaled)
            }
            BaselineSpec::Lda => {
                let train_labels: Vec<String> = train.iter().map(|&i| labels[i].clone()).collect();
                let train_classes = crate::source::labels::classes(&train_labels).len();
                let p = train_rows.first().map_or(0, |r| r.len());
                let k = width.min(train_classes.saturating_sub(1)).min(p);
                if k == 0 {
                    Err(Error::config(
                        "LDA needs two classes among the training rows",
                    ))
                } else {
                    let params = LdaParams {
                        label: options.label.clone(),
                        n_components: Some(k),
                        solver: Default::default(),
                        shrinkage: None,
                        tol: 1e-4,
                        priors: None,
                        predict: false,
                    };
                    fitted_codes(
                        &RawStep::Lda(params),
                        &train_rows,
                        &train_labels,
                        &rows.scaled,
                    )
                }
            }
        };
        let name = match baseline {
            BaselineSpec::Pca => "pca",
            BaselineSpec::KernelPca(_) => "kernel_pca",
            BaselineSpec::Lda | BaselineSpec::LdaClassifier(_) => "lda",
        };
        match codes {
            Ok(codes) => sets.push((name, codes)),
            Err(e) => notes.push(format!("no {name} baseline: {e}")),
        }
    }
    if let Some(fitted) = own {
        let p = rows.scaled.first().map_or(0, |r| r.len());
        let matrix = |which: &[usize]| {
            Mat::from_fn(which.len(), p, |r, j| rows.scaled[labelled[which[r]]][j])
        };
        let classes_out = fitted.classes_out().unwrap_or_default();
        let predict = |which: &[usize]| -> Vec<usize> {
            let out = fitted
                .predict(matrix(which).as_ref())
                .expect("a classifier step");
            (0..out.nrows())
                .map(|i| {
                    let name = &classes_out[out[(i, 0)] as usize];
                    classes.iter().position(|c| c == name).expect("a class")
                })
                .collect()
        };
        own_score = Some(Score {
            features: "scaled".into(),
            dimensions: p,
            model: "lda".into(),
            train_accuracy: accuracy(&predict(&train), &y_train),
            test_accuracy: accuracy(&predict(&test), &y_test),
        });
    }
    if !notes.is_empty() {
        report.note = Some(notes.join("; "));
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
    report.scores.extend(own_score);
    report
}

/// Fits `step` in memory on the training rows (with their labels for a supervised step)
/// and maps every row through it.
fn fitted_codes(
    step: &RawStep,
    train: &[&Vec<f64>],
    labels: &[String],
    all: &[Vec<f64>],
) -> Result<Vec<Vec<f64>>> {
    let p = train.first().map_or(0, |r| r.len());
    let fitted = fit_in_memory(step, train, labels)?;
    let everything = Mat::from_fn(all.len(), p, |i, j| all[i][j]);
    let z = fitted.forward(everything.as_ref(), &mut Mat::zeros(0, 0));
    Ok((0..z.nrows())
        .map(|i| (0..z.ncols()).map(|j| z[(i, j)]).collect())
        .collect())
}

/// Fits `step` in memory on the training rows (with their labels for a supervised step).
fn fit_in_memory(
    step: &RawStep,
    train: &[&Vec<f64>],
    labels: &[String],
) -> Result<Box<dyn FittedStep>> {
    let (n, p) = (train.len(), train.first().map_or(0, |r| r.len()));
    let mut planned = plan_step(step);
    let mut problems = Vec::new();
    planned.check(Some(p), Some(n as u64), &mut problems);
    if !problems.is_empty() {
        return Err(Error::config(problems.join("; ")));
    }
    let input = StepInput {
        names: (1..=p).map(|j| format!("x{j}")).collect(),
        source: "the evaluation's training rows".into(),
        total_rows: Some(n as u64),
        fingerprint: String::new(),
    };
    let Ok(mut state) = planned.start(&input)?.streamed() else {
        return Err(Error::config(format!(
            "a {} step cannot be fitted in memory",
            step.kind()
        )));
    };
    let x = Mat::from_fn(n, p, |i, j| train[i][j]);
    let stats = PassStats {
        rows_read: n as u64,
        rows_kept: n as u64,
        seconds: 0.0,
        filtered: Vec::new(),
    };
    while state.next_pass().is_some() {
        if labels.is_empty() {
            state.update(x.as_ref())?;
        } else {
            state.update_labelled(x.as_ref(), labels, &[])?;
        }
        state.end_pass(&stats)?;
    }
    state.finish()
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
                compare: None,
                kernel: None,
            },
            &[],
        );
        assert!(r.scores.is_empty());
        assert!(r.note.unwrap().contains("1 class"));
    }

    fn options(compare: Option<Vec<Baseline>>) -> RawEvaluate {
        RawEvaluate {
            label: "y".into(),
            test_fraction: 0.25,
            seed: 0,
            k: 5,
            compare,
            kernel: None,
        }
    }

    #[test]
    fn baselines_default_to_pca_after_a_reducer_that_is_not_one() {
        assert_eq!(
            baselines(&options(None), "autoencoder", &[]),
            [BaselineSpec::Pca]
        );
        assert!(baselines(&options(None), "pca", &[]).is_empty());
        let listed = options(Some(vec![Baseline::Lda, Baseline::Pca]));
        assert_eq!(
            baselines(&listed, "pca", &[]),
            [BaselineSpec::Lda, BaselineSpec::Pca]
        );
    }

    #[test]
    fn the_kernel_baseline_takes_the_pipelines_kernel_unless_told() {
        let step: RawStep = serde_json::from_value(serde_json::json!(
            {"kernel_pca": {"n_components": 2, "kernel": "poly", "degree": 2.0}}
        ))
        .unwrap();
        let compare = options(Some(vec![Baseline::KernelPca]));
        let [BaselineSpec::KernelPca(k)] =
            baselines(&compare, "kernel_pca", std::slice::from_ref(&step))[..]
        else {
            panic!("one kernel baseline")
        };
        assert_eq!((k.kernel, k.degree, k.gamma), (KernelKind::Poly, 2.0, None));
        let [BaselineSpec::KernelPca(k)] = baselines(&compare, "pca", &[])[..] else {
            panic!("one kernel baseline")
        };
        assert_eq!(k.kernel, KernelKind::Rbf);
        let told = RawEvaluate {
            kernel: Some(BaselineKernel {
                kernel: KernelKind::Cosine,
                gamma: None,
                degree: 3.0,
                coef0: 1.0,
            }),
            ..compare
        };
        let [BaselineSpec::KernelPca(k)] = baselines(&told, "kernel_pca", &[step])[..] else {
            panic!("one kernel baseline")
        };
        assert_eq!(k.kernel, KernelKind::Cosine);
    }
}
