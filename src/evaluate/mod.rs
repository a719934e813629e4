//! The downstream-classifier check: does a classifier do as well on the reduced
//! coordinates as on the (scaled) features? On the report's reservoir sample, rows are
//! split into train and test by a seeded hash of their row index (reproducible in any
//! language: see `is_test`), then logistic regression and k-nearest neighbours are
//! trained on each feature set and scored. The numbers go to report.json's `evaluation`.

pub mod knn;
pub mod logistic;

use faer::Mat;
use serde::{Deserialize, Serialize};

use crate::config::{RawEvaluate, RawStep};
use crate::engine::PassStats;
use crate::error::{Error, Result};
use crate::rng::splitmix64;
pub use crate::source::labels::classes;
use crate::steps::{BaselineContext, FittedStep, Named, StepInput, pca};

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

/// What the evaluation fits beside the pipeline's output (`baselines`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Baselines {
    /// Registry kinds fitted on the training rows' scaled features at the output's
    /// width (`steps::baseline_step`), in `report.evaluate.compare`'s order.
    pub reducers: Vec<&'static str>,
    /// The pipeline's last step refitted as a classifier on the training rows (LDA's
    /// `predict: true`): its own accuracy, scored beside the classifiers on its output.
    pub classifier: Option<RawStep>,
    /// The pipeline's steps as written, which a baseline may take keys from.
    pub steps: Vec<RawStep>,
}

/// The baselines to score: `report.evaluate.compare` as written, or PCA alone when the
/// pipeline's reducer (`reducer`, the last step's kind) is not a PCA.
pub fn baselines(options: &RawEvaluate, reducer: &str, steps: &[RawStep]) -> Baselines {
    let reducers = match &options.compare {
        Some(list) => list.iter().map(|b| b.name()).collect(),
        None if reducer != pca::Kind::NAME => vec![pca::Kind::NAME],
        None => Vec::new(),
    };
    Baselines {
        reducers,
        classifier: steps.last().and_then(|s| s.own_classifier(&options.label)),
        steps: steps.to_vec(),
    }
}

/// Splits the sample and scores both classifiers on the scaled features, the reduced
/// coordinates and each baseline's codes (`baselines`), all of the reduced width (LDA at
/// most classes − 1): the lecture's side-by-side comparison of reducers before a
/// classifier, on one split.
pub fn evaluate(rows: &EvalRows, options: &RawEvaluate, baselines: &Baselines) -> EvaluationReport {
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
    let train_labels: Vec<String> = train.iter().map(|&i| labels[i].clone()).collect();
    if width > 0
        && let Some(step) = &baselines.classifier
    {
        match fit_in_memory(step, &train_rows, &train_labels) {
            Ok(fitted) => own = Some(fitted),
            Err(e) => notes.push(format!("no {} classifier: {e}", step.kind())),
        }
    }
    for &kind in baselines.reducers.iter().filter(|_| width > 0) {
        let ctx = BaselineContext {
            width,
            rows: train_rows.len(),
            features: train_rows.first().map_or(0, |r| r.len()),
            classes: crate::source::labels::classes(&train_labels).len(),
            label: &options.label,
            seed: options.seed,
            steps: &baselines.steps,
            kernel: options.kernel.as_ref(),
        };
        let codes = crate::steps::baseline_step(kind, &ctx).and_then(|step| {
            let supervised = step.plan().label().is_some();
            let labels: &[String] = if supervised { &train_labels } else { &[] };
            fitted_codes(&step, &train_rows, labels, &rows.scaled)
        });
        match codes {
            Ok(codes) => sets.push((kind, codes)),
            Err(e) => notes.push(format!("no {kind} baseline: {e}")),
        }
    }
    if let Some(fitted) = own
        && let Some(classifier) = fitted.classifier()
    {
        let p = rows.scaled.first().map_or(0, |r| r.len());
        let matrix = |which: &[usize]| {
            Mat::from_fn(which.len(), p, |r, j| rows.scaled[labelled[which[r]]][j])
        };
        let classes_out = classifier.classes();
        let predict = |which: &[usize]| -> Vec<usize> {
            let out = classifier.predict(matrix(which).as_ref());
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
            model: fitted.kind().into(),
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
    let mut planned = step.plan();
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
        float32: false,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Baseline;

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
            &Baselines::default(),
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
            baselines(&options(None), "autoencoder", &[]).reducers,
            ["pca"]
        );
        assert!(baselines(&options(None), "pca", &[]).reducers.is_empty());
        let listed = options(Some(vec![Baseline("lda"), Baseline("pca")]));
        assert_eq!(baselines(&listed, "pca", &[]).reducers, ["lda", "pca"]);
    }

    #[test]
    fn a_predicting_lda_is_refitted_as_the_evaluation_s_classifier() {
        let step: RawStep = serde_json::from_value(serde_json::json!(
            {"lda": {"label": "class", "n_components": 1, "predict": true}}
        ))
        .unwrap();
        let Some(RawStep::Lda(own)) = baselines(&options(None), "lda", &[step]).classifier else {
            panic!("an lda classifier")
        };
        assert_eq!((own.label.as_str(), own.n_components), ("y", None));
    }
}
