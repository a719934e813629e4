//! The short table `run` prints at the end: component, variance, % of variance,
//! cumulative % for a PCA; the loss per epoch for an autoencoder; the passes.

use super::Report;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let name = report
        .pipeline
        .get("name")
        .and_then(|v| v.as_str())
        .unwrap_or("pipeline");
    if let Some(pca) = &report.pca {
        out.push_str(&format!(
            "{name}: {} rows × {} features → {} components ({} solver, {})\n",
            report.n_samples,
            report.n_features,
            pca.n_components,
            pca.solver,
            super::scaling_words(&report.scaler)
        ));
        out.push_str(&format!(
            "{:>9}  {:>14}  {:>8}  {:>12}\n",
            "component", "variance", "% var", "cumulative %"
        ));
        for i in 0..pca.n_components {
            out.push_str(&format!(
                "{:>9}  {:>14.6e}  {:>7.2}%  {:>11.2}%\n",
                format!("pc{}", i + 1),
                pca.explained_variance[i],
                100.0 * pca.explained_variance_ratio[i],
                100.0 * pca.cumulative_variance_ratio[i]
            ));
        }
    }
    for (step, value) in &report.sections {
        let Some(fields) = value.as_object() else {
            continue;
        };
        let settings: Vec<String> = fields
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| {
                format!(
                    "{k} {}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_string)
                )
            })
            .collect();
        out.push_str(&format!(
            "{name}: {} rows × {} features → {} ({})\n",
            report.n_samples,
            report.n_features,
            step.replace('_', " "),
            settings.join(", ")
        ));
    }
    if let Some(e) = &report.reconstruction_error {
        out.push_str(&format!(
            "reconstruction error (squared, scaled space): mean {:.4e}, median {:.4e}, p99 {:.4e}, max {:.4e}\n",
            e.mean, e.p50, e.p99, e.max
        ));
    }
    for f in &report.filters {
        out.push_str(&format!(
            "filter '{}': kept {} of {} rows\n",
            f.filter, f.rows_out, f.rows_in
        ));
    }
    if report.rows_skipped > 0 {
        out.push_str(&format!(
            "rows skipped for missing values: {}\n",
            report.rows_skipped
        ));
    }
    if let Some(ae) = &report.autoencoder {
        let widths: Vec<String> = ae.widths.iter().map(|w| w.to_string()).collect();
        out.push_str(&format!(
            "{name}: {} rows → autoencoder {} (code {})\n",
            report.n_samples,
            widths.join("-"),
            ae.latent
        ));
        out.push_str(&format!(
            "{:>6}  {:>12}  {:>15}\n",
            "epoch", "train loss", "validation loss"
        ));
        for e in &ae.epochs {
            let mark = if e.epoch == ae.best_epoch {
                "  ← kept"
            } else {
                ""
            };
            let validation = e
                .validation_loss
                .map_or("-".to_string(), |v| format!("{v:.6}"));
            out.push_str(&format!(
                "{:>6}  {:>12.6}  {:>15}{mark}\n",
                e.epoch, e.train_loss, validation
            ));
        }
        out.push_str(&format!(
            "stopped: {} · {} training rows, {} validation rows · {:.0} samples/s · mean reconstruction error {:.4e}\n",
            ae.stop_reason.as_str().replace('_', " "),
            ae.train_rows,
            ae.validation_rows,
            ae.samples_per_second,
            ae.reconstruction_error
        ));
    }
    // Training epochs are summed into one line; other passes get a line each.
    let is_training = |name: &str| name.starts_with("epoch ") || name.starts_with("validate ");
    for p in report.passes.iter().filter(|p| !is_training(&p.name)) {
        out.push_str(&format!(
            "pass {:<10} {:>10} rows in {:>8.2} s ({:.0} rows/s)\n",
            p.name, p.rows, p.seconds, p.rows_per_second
        ));
    }
    let training: Vec<_> = report
        .passes
        .iter()
        .filter(|p| is_training(&p.name))
        .collect();
    if !training.is_empty() {
        let seconds: f64 = training.iter().map(|p| p.seconds).sum();
        out.push_str(&format!(
            "training   {} passes (epochs and validation) in {seconds:.2} s\n",
            training.len()
        ));
    }
    out
}
