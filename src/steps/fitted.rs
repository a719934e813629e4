//! The fitted steps in order, applied to chunks: forwards in the output pass of `run` and
//! in `dimred transform`, backwards with `inverse`. Built step by step during a run, or
//! from model.json, so both paths apply the same numbers.

use faer::{Mat, MatRef};

use super::{Affine, Classify, FittedStep, Inverse};

/// The per-row log-likelihood's column (`output.score`, `transform --score`).
pub const SCORE_COLUMN: &str = "log_likelihood";

#[derive(Default)]
pub struct FittedPipeline {
    pub steps: Vec<Box<dyn FittedStep>>,
}

impl FittedPipeline {
    pub fn push(&mut self, step: Box<dyn FittedStep>) {
        self.steps.push(step);
    }

    /// The last step's reduced columns (pc1…pck, z1…zk, rp1…rpk): what the ONNX graph
    /// writes and `--inverse` reads.
    pub fn projection_names(&self) -> Vec<String> {
        self.steps
            .iter()
            .rev()
            .map(|s| s.output_names())
            .find(|n| !n.is_empty())
            .unwrap_or_default()
    }

    /// The columns of an output row: the reduced ones, a classifier's prediction columns
    /// (LDA's `predict`), then the reconstruction error's when asked.
    pub fn output_names(&self, with_error: bool) -> Vec<String> {
        let mut names = self.projection_names();
        if let Some(classifier) = self.classifier() {
            names.extend(classifier.prediction_names());
        }
        if with_error {
            names.push("reconstruction_error".into());
        }
        names
    }

    /// The predicted class's column (its index among `output_names`) and the class names
    /// its values index, when the last step predicts.
    pub fn predicted_column(&self) -> Option<(usize, Vec<String>)> {
        let classifier = self.classifier()?;
        Some((self.projection_names().len(), classifier.classes().to_vec()))
    }

    /// The last step's classifier, when it predicts.
    fn classifier(&self) -> Option<&dyn Classify> {
        self.steps.last()?.classifier()
    }

    /// The first step without an inverse map, if any.
    pub fn not_invertible(&self) -> Option<&'static str> {
        self.steps
            .iter()
            .find(|s| s.inverter().is_none())
            .map(|s| s.kind())
    }

    /// The whole pipeline as one per-column map, when every step is one (at most one
    /// step, or none): a reader may apply it while it decodes.
    pub fn as_affine(&self) -> Option<Affine<'_>> {
        match self.steps.as_slice() {
            [only] if only.is_affine() => only.affine(),
            _ => None,
        }
    }

    /// The scaled features: the first step's per-column map (features as they are when
    /// it has none).
    pub fn scaled_into(&self, x: MatRef<'_, f64>, out: &mut Mat<f64>) {
        match self.steps.first().and_then(|s| s.affine()) {
            Some(a) => super::scale::shift_scale_into(x, a.shift, a.scale, out),
            None => *out = x.to_owned(),
        }
    }

    /// Features → outputs; with `errors` one more column holds each row's squared
    /// reconstruction error ‖x − x̂‖² in the scaled space.
    pub fn forward_with(
        &self,
        x: MatRef<'_, f64>,
        errors: Option<&PipelineInverse<'_>>,
        scratch: &mut Mat<f64>,
    ) -> Mat<f64> {
        if let Some((last, before)) = self.steps.split_last()
            && let Some(classifier) = last.classifier()
        {
            let mut input = x.to_owned();
            for step in before {
                input = step.forward(input.as_ref(), scratch);
            }
            let z = last.forward(input.as_ref(), scratch);
            let predicted = classifier.predict(input.as_ref());
            let errors = errors.map(|inv| inv.row_errors(x, z.as_ref()));
            let (k, c) = (z.ncols(), predicted.ncols());
            let width = k + c + usize::from(errors.is_some());
            return Mat::from_fn(x.nrows(), width, |i, j| match (j, &errors) {
                (j, _) if j < k => z[(i, j)],
                (j, _) if j < k + c => predicted[(i, j - k)],
                (_, Some(e)) => e[i],
                (_, None) => 0.0,
            });
        }
        let Some(inverse) = errors else {
            return self.forward(x, scratch);
        };
        if let [only] = self.steps.as_slice()
            && let Some(out) = only.forward_with_error(x, scratch)
        {
            return out;
        }
        let z = self.forward(x, scratch);
        let errors = inverse.row_errors(x, z.as_ref());
        let k = z.ncols();
        let mut out = z;
        out.resize_with(x.nrows(), k + 1, |i, _| errors[i]);
        out
    }

    /// Features → outputs, step after step.
    pub fn forward(&self, x: MatRef<'_, f64>, scratch: &mut Mat<f64>) -> Mat<f64> {
        let mut steps = self.steps.iter();
        let Some(first) = steps.next() else {
            return x.to_owned();
        };
        let mut z = first.forward(x, scratch);
        for step in steps {
            z = step.forward(z.as_ref(), scratch);
        }
        z
    }

    /// Whether a step scores rows (`log_likelihood`).
    pub fn scores(&self) -> bool {
        self.steps.iter().any(|s| s.score().is_some())
    }

    /// Each row's log-likelihood under the first step that has a density, its input
    /// rebuilt through the steps before it; `None` when no step has one.
    pub fn log_likelihood(&self, x: MatRef<'_, f64>, scratch: &mut Mat<f64>) -> Option<Vec<f64>> {
        let at = self.steps.iter().position(|s| s.score().is_some())?;
        let score = self.steps[at].score()?;
        if at == 0 {
            return Some(score.log_likelihood(x, scratch));
        }
        let mut z = self.steps[0].forward(x, scratch);
        for step in &self.steps[1..at] {
            z = step.forward(z.as_ref(), scratch);
        }
        Some(score.log_likelihood(z.as_ref(), scratch))
    }

    /// `forward_with`, then the `log_likelihood` column when `with_score`.
    pub fn forward_scored(
        &self,
        x: MatRef<'_, f64>,
        errors: Option<&PipelineInverse<'_>>,
        with_score: bool,
        scratch: &mut Mat<f64>,
    ) -> Mat<f64> {
        let mut out = self.forward_with(x, errors, scratch);
        if with_score && let Some(ll) = self.log_likelihood(x, scratch) {
            let k = out.ncols();
            out.resize_with(x.nrows(), k + 1, |i, _| ll[i]);
        }
        out
    }

    /// The way back through every step, when each has one (the plan refuses
    /// reconstructions otherwise, naming the step `not_invertible` finds).
    pub fn inverter(&self) -> Option<PipelineInverse<'_>> {
        let steps = self
            .steps
            .iter()
            .rev()
            .map(|s| s.inverter())
            .collect::<Option<Vec<_>>>()?;
        let scale = self
            .steps
            .first()
            .and_then(|s| s.affine())
            .and_then(|a| a.scale);
        Some(PipelineInverse { steps, scale })
    }
}

/// The fitted steps' inverse maps, last step first (`FittedPipeline::inverter`).
pub struct PipelineInverse<'a> {
    steps: Vec<&'a dyn Inverse>,
    /// The first step's scale: the reconstruction error is measured in scaled units.
    scale: Option<&'a [f64]>,
}

impl PipelineInverse<'_> {
    /// Outputs → feature space.
    pub fn inverse(&self, z: MatRef<'_, f64>) -> Mat<f64> {
        let mut x = z.to_owned();
        for step in &self.steps {
            x = step.inverse(x.as_ref());
        }
        x
    }

    /// Per-row ‖(x − x̂) / scale‖², x̂ rebuilt from the outputs `z`, `scale` the first
    /// step's.
    pub fn row_errors(&self, x: MatRef<'_, f64>, z: MatRef<'_, f64>) -> Vec<f64> {
        let rebuilt = self.inverse(z);
        let scale = self.scale;
        (0..x.nrows())
            .map(|i| {
                (0..x.ncols())
                    .map(|j| {
                        let d = (x[(i, j)] - rebuilt[(i, j)]) / scale.map_or(1.0, |s| s[j]);
                        d * d
                    })
                    .sum()
            })
            .collect()
    }
}
