//! The short table `run` prints at the end: component, variance, % of variance,
//! cumulative %.

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
            "{name}: {} rows × {} features → {} components ({} solver, {} scaling)\n",
            report.n_samples, report.n_features, pca.n_components, pca.solver, report.scaler
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
    if let Some(e) = &report.reconstruction_error {
        out.push_str(&format!(
            "reconstruction error (squared, scaled space): mean {:.4e}, median {:.4e}, p99 {:.4e}, max {:.4e}\n",
            e.mean, e.p50, e.p99, e.max
        ));
    }
    if report.rows_skipped > 0 {
        out.push_str(&format!(
            "rows skipped for missing values: {}\n",
            report.rows_skipped
        ));
    }
    for p in &report.passes {
        out.push_str(&format!(
            "pass {:<10} {:>10} rows in {:>8.2} s ({:.0} rows/s)\n",
            p.name, p.rows, p.seconds, p.rows_per_second
        ));
    }
    out
}
