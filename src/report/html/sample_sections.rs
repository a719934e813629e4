//! The sections drawn from the report's sample: the scatter of the reduced
//! coordinates, the embedding picture, the structure plots and the classifier check.

use std::fmt::Write;

use super::{note, thousands};
use crate::report::Report;
use crate::report::escape::escape;
use crate::report::plots;
use crate::report::sample::ReportSample;

pub(super) fn scatter_section(out: &mut String, report: &Report, sample: Option<&ReportSample>) {
    out.push_str("<section id=\"scatter\">\n<h2>The sample in two dimensions</h2>\n");
    let k = match report.output_columns.len() {
        0 => report
            .pca
            .as_ref()
            .map(|p| p.n_components)
            .or(report.autoencoder.as_ref().map(|a| a.latent))
            .unwrap_or(0),
        k => k,
    };
    match sample {
        None => note(out, "no sample was saved with this report"),
        Some(s) if s.rows_seen == 0 => note(
            out,
            "no sample was drawn (the output pass did not run: output.reduced is false)",
        ),
        Some(_) if k < 2 => note(
            out,
            &format!("only {k} reduced coordinate, so there is no 2-D scatter"),
        ),
        Some(s) if s.reduced.is_empty() => note(out, "the sample is empty"),
        Some(s) => {
            let points: Vec<(f64, f64)> = s
                .reduced
                .iter()
                .map(|r| (r[0], r.get(1).copied().unwrap_or(0.0)))
                .collect();
            let (classes, class_of) = class_index(s.color.as_ref());
            let by = report
                .pipeline
                .pointer("/report/color_by")
                .and_then(|v| v.as_str());
            let _ = writeln!(
                out,
                "<p>A uniform sample of {} of the {} rows written{}.</p>",
                thousands(points.len() as u64),
                thousands(s.rows_seen),
                by.map_or(String::new(), |c| format!(", coloured by '{}'", escape(c)))
            );
            // The output columns' names: pc1, pc2 after a PCA, z1, z2 after an autoencoder.
            let axes = match report.output_columns.as_slice() {
                [a, b, ..] => (a.as_str(), b.as_str()),
                _ if report.autoencoder.is_some() => ("z1", "z2"),
                _ => ("pc1", "pc2"),
            };
            out.push_str(&plots::scatter(
                &points,
                &classes,
                &class_of,
                by.unwrap_or(""),
                axes,
            ));
        }
    }
    out.push_str("</section>\n");
}

/// Sorted classes of `colors` and each row's index into them.
fn class_index(colors: Option<&Vec<Option<String>>>) -> (Vec<String>, Vec<Option<usize>>) {
    match colors {
        Some(colors) => {
            let present: Vec<String> = colors.iter().flatten().cloned().collect();
            let classes = crate::evaluate::classes(&present);
            let class_of = colors
                .iter()
                .map(|c| c.as_ref().and_then(|c| classes.iter().position(|x| x == c)))
                .collect();
            (classes, class_of)
        }
        None => (Vec::new(), Vec::new()),
    }
}

/// The `report.embedding` picture and how far to trust it.
pub(super) fn embedding_section(out: &mut String, report: &Report, sample: Option<&ReportSample>) {
    let Some(e) = sample.and_then(|s| s.embedding.as_ref()) else {
        return;
    };
    let title = match e.method.as_str() {
        "tsne" => "t-SNE",
        "mds" => "classical MDS",
        "isomap" => "Isomap",
        other => other,
    };
    let _ = writeln!(
        out,
        "<section id=\"embedding\">\n<h2>A {} picture of the sample</h2>",
        escape(title)
    );
    let section = report.sections.get("embedding");
    let trust = section
        .and_then(|s| s.get("trustworthiness"))
        .and_then(|t| t.as_f64());
    let _ = writeln!(
        out,
        "<p>{} rows of the sample{}. Distances between clusters in a t-SNE picture carry little meaning; \
         trustworthiness says how many of each point's picture neighbours are true neighbours (1 is perfect).</p>",
        thousands(e.points.len() as u64),
        trust.map_or(String::new(), |t| format!(
            ", trustworthiness {t:.3} at 5 neighbours"
        ))
    );
    let points: Vec<(f64, f64)> = e.points.iter().map(|p| (p[0], p[1])).collect();
    let (classes, class_of) = class_index(e.color.as_ref());
    let by = report
        .pipeline
        .pointer("/report/color_by")
        .and_then(|v| v.as_str());
    out.push_str(&plots::scatter_named(
        "embedding",
        &points,
        &classes,
        &class_of,
        by.unwrap_or(""),
        ("e1", "e2"),
    ));
    out.push_str("</section>\n");
}

pub(super) fn structure_section(out: &mut String, report: &Report, sample: Option<&ReportSample>) {
    let Some(s) = sample else { return };
    if s.loadings.is_none() && s.correlation.is_none() && report.n_features == 0 {
        return;
    }
    out.push_str("<section id=\"loadings\">\n<h2>What the components are made of</h2>\n");
    match &s.loadings {
        Some(l) if !l.features.is_empty() => {
            out.push_str(&plots::loadings(l));
        }
        _ => note(out, "no loadings were saved for this reducer"),
    }
    match &s.correlation {
        Some(c) => {
            out.push_str("<p>Correlation of the features (Pearson, over the sample):</p>\n");
            out.push_str(&plots::correlation(&report.feature_names, c));
        }
        None if report.n_features > crate::report::sample::MAX_CORRELATION_FEATURES => note(
            out,
            &format!(
                "the correlation matrix is left out: {} features are too many to read (at most {})",
                report.n_features,
                crate::report::sample::MAX_CORRELATION_FEATURES
            ),
        ),
        None if matches!(report.scaler.as_str(), "none" | "center") => note(
            out,
            "the correlation matrix is shown for scaled pipelines (scale: standard or minmax)",
        ),
        None => {}
    }
    out.push_str("</section>\n");
}

pub(super) fn evaluation_section(out: &mut String, report: &Report) {
    let Some(ev) = &report.evaluation else { return };
    out.push_str("<section id=\"evaluation\">\n<h2>Downstream classifiers</h2>\n");
    if ev.scores.is_empty() {
        note(
            out,
            &format!(
                "no classifier check: {}",
                ev.note.as_deref().unwrap_or("no scores")
            ),
        );
        out.push_str("</section>\n");
        return;
    }
    let _ = writeln!(
        out,
        "<p>Label '{}' ({} classes) on {} sampled rows: {} to train, {} to test (test fraction {}, \
         seed {}). Logistic regression (L2, C = 1) and k-nearest neighbours (k = {}) on the scaled \
         features versus the reduced coordinates.</p>",
        escape(&ev.label),
        ev.classes.len(),
        thousands(ev.sample_rows as u64),
        thousands(ev.train_rows as u64),
        thousands(ev.test_rows as u64),
        ev.test_fraction,
        ev.seed,
        ev.k_neighbors
    );
    if let Some(n) = &ev.note {
        note(out, n);
    }
    let compared: Vec<&str> = crate::steps::compared_kinds()
        .iter()
        .copied()
        .filter(|f| ev.scores.iter().any(|s| s.features == *f))
        .collect();
    if !compared.is_empty() {
        let _ = writeln!(
            out,
            "<p>Compared with the output: {} codes fitted on the training rows' scaled \
             features, at the output's width (LDA at most classes − 1).</p>",
            compared
                .iter()
                .map(|f| format!("<em>{f}</em>"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !ev.scores.is_empty() {
        out.push_str("<table>\n<tr><th>classifier</th><th>features</th><th class=\"num\">dimensions</th><th class=\"num\">train accuracy</th><th class=\"num\">test accuracy</th></tr>\n");
        for s in &ev.scores {
            let model = match s.model.as_str() {
                "knn" => format!("k-NN (k = {})", ev.k_neighbors),
                "logistic_regression" => "logistic regression".into(),
                other => other.to_string(),
            };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{:.2}%</td><td class=\"num\">{:.2}%</td></tr>",
                escape(&model),
                escape(&s.features),
                s.dimensions,
                s.train_accuracy * 100.0,
                s.test_accuracy * 100.0
            );
        }
        out.push_str("</table>\n");
        out.push_str(&plots::evaluation(&ev.scores, ev.k_neighbors));
    }
    out.push_str("</section>\n");
}
