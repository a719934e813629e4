//! report.html: one self-contained page (inline CSS and SVG; no script, no network, no
//! URL) that people read on a laptop or print. A pure function of the `Report` and the
//! saved `ReportSample`, like report.json, so `dimred report DIR` re-renders it from the
//! files without refitting. The page is also well-formed XML (every tag closed, no named
//! entities beyond XML's), so tests parse it.

mod sample_sections;
use sample_sections::{embedding_section, evaluation_section, scatter_section, structure_section};
#[cfg(test)]
mod tests;

use std::fmt::Write;

use super::escape::escape;
use super::plots;
use super::sample::ReportSample;
use super::{PcaReport, Report};

const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif;
       color: #222; margin: 0 auto; max-width: 1180px; padding: 16px 24px; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 3px 9px; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
pre { background: #f6f6f6; border: 1px solid #e2e2e2; padding: 8px 12px; font-size: 0.85em;
      overflow-x: auto; white-space: pre-wrap; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
svg { max-width: 100%; height: auto; border: 1px solid #eee; }
.note { color: #666; font-style: italic; }
.grid { display: grid; grid-template-columns: max-content 1fr; column-gap: 12px; }
@media print { body { max-width: none; padding: 0; } section { break-inside: avoid; }
               pre { white-space: pre-wrap; } }
";

fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e5 || v.abs() < 1e-3 {
        format!("{v:.4e}")
    } else {
        format!("{v:.4}")
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn note(out: &mut String, text: &str) {
    let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(text));
}

/// The whole page.
pub fn render(report: &Report, sample: Option<&ReportSample>) -> String {
    let mut out = String::new();
    let name = report
        .pipeline
        .get("name")
        .and_then(|v| v.as_str())
        .unwrap_or("dimred run");
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n\
         <title>{} — dimred report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(name)
    );
    let _ = writeln!(out, "<h1>{}</h1>", escape(name));
    let summary = match &report.pca {
        Some(pca) => format!(
            "{} rows × {} features → {} components ({} solver, {}); dimred {}",
            thousands(report.n_samples),
            report.n_features,
            pca.n_components,
            pca.solver,
            super::scaling_words(&report.scaler),
            report.dimred_version
        ),
        None => format!(
            "{} rows × {} features; dimred {}",
            thousands(report.n_samples),
            report.n_features,
            report.dimred_version
        ),
    };
    let _ = writeln!(out, "<p class=\"sub\">{}</p>", escape(&summary));

    run_section(&mut out, report);
    if let Some(pca) = &report.pca {
        variance_section(&mut out, report, pca);
    }
    step_sections(&mut out, report);
    scatter_section(&mut out, report, sample);
    embedding_section(&mut out, report, sample);
    structure_section(&mut out, report, sample);
    if let Some(ae) = &report.autoencoder {
        out.push_str("<section id=\"autoencoder\">\n<h2>Autoencoder training</h2>\n");
        let _ = writeln!(
            out,
            "<p>Layers {}; latent size {}; {} training and {} validation rows; stopped by {}; \
             best epoch {} of {}; mean reconstruction error {}.</p>",
            escape(
                &ae.widths
                    .iter()
                    .map(|w| w.to_string())
                    .collect::<Vec<_>>()
                    .join(" → ")
            ),
            ae.latent,
            thousands(ae.train_rows),
            thousands(ae.validation_rows),
            escape(ae.stop_reason.as_str()),
            ae.best_epoch,
            ae.epochs.len(),
            fmt_num(ae.reconstruction_error)
        );
        if ae.epochs.is_empty() {
            note(&mut out, "no epochs were recorded");
        } else {
            out.push_str(&plots::loss_curves(&ae.epochs, ae.best_epoch));
        }
        out.push_str("</section>\n");
    }
    if let Some(images) = sample.and_then(|s| s.images.as_ref()) {
        out.push_str("<section id=\"images\">\n<h2>Reconstructions</h2>\n");
        if images.sequence {
            let _ = writeln!(
                out,
                "<p>The first {} rows as windows of {} steps × {} features, one line per feature, \
                 and the same windows rebuilt from their codes.</p>",
                images.original.len().min(6),
                images.shape[0],
                images.shape[1]
            );
            out.push_str(&plots::sequence_lines(images));
        } else {
            let _ = writeln!(
                out,
                "<p>The first {} rows as {} × {} images, and the same rows rebuilt from their reduced \
                 coordinates.</p>",
                images.original.len(),
                images.shape[0],
                images.shape[1]
            );
            out.push_str(&plots::image_grid(images));
        }
        out.push_str("</section>\n");
    }
    if let Some(e) = &report.reconstruction_error {
        out.push_str("<section id=\"reconstruction-error\">\n<h2>Reconstruction error</h2>\n");
        let _ = writeln!(
            out,
            "<p>Per-row squared error in the scaled space over {} rows (quantiles from {} sampled \
             rows).</p>",
            thousands(e.rows),
            thousands(e.sampled as u64)
        );
        out.push_str(&plots::error_distribution(e));
        out.push_str("</section>\n");
    }
    evaluation_section(&mut out, report);
    out.push_str("</body>\n</html>\n");
    out
}

fn run_section(out: &mut String, report: &Report) {
    out.push_str("<section id=\"run\">\n<h2>The run</h2>\n<table>\n");
    let filters = report.filters.iter().map(|f| {
        (
            "filter",
            format!(
                "steps[{}] {}: kept {} of {} rows ({:.1} %)",
                f.step,
                f.filter,
                thousands(f.rows_out),
                thousands(f.rows_in),
                100.0 * f.rows_out as f64 / f.rows_in.max(1) as f64
            ),
        )
    });
    let rows = [
        (
            "input",
            format!("{} ({})", report.input.path, report.input.format),
        ),
        ("files", report.input.files.join(", ")),
        ("rows read", thousands(report.rows_read)),
    ]
    .into_iter()
    .chain(filters)
    .chain([
        ("rows skipped", thousands(report.rows_skipped)),
        ("rows written", thousands(report.rows_written)),
        ("seconds in total", format!("{:.3}", report.seconds_total)),
        (
            "peak memory",
            report
                .peak_rss_bytes
                .map_or("unknown".into(), |b| format!("{:.1} MB", b as f64 / 1e6)),
        ),
        ("outputs", report.outputs.join(", ")),
    ]);
    for (k, v) in rows {
        let _ = writeln!(out, "<tr><th>{}</th><td>{}</td></tr>", k, escape(&v));
    }
    out.push_str("</table>\n<table>\n<tr><th>pass</th><th class=\"num\">rows</th><th class=\"num\">seconds</th><th class=\"num\">rows per second</th></tr>\n");
    // An autoencoder's epochs (and their validation passes) are summed into two rows; the
    // loss table below has them one by one.
    let mut rows: Vec<(String, u64, f64)> = Vec::new();
    for (prefix, what) in [
        ("epoch ", "training epochs"),
        ("validate ", "validation passes"),
    ] {
        let group: Vec<_> = report
            .passes
            .iter()
            .filter(|p| p.name.starts_with(prefix))
            .collect();
        if !group.is_empty() {
            rows.push((
                format!("{} {what}", group.len()),
                group.iter().map(|p| p.rows).sum(),
                group.iter().map(|p| p.seconds).sum(),
            ));
        }
    }
    let grouped = |name: &str| name.starts_with("epoch ") || name.starts_with("validate ");
    let mut all: Vec<(String, u64, f64)> = report
        .passes
        .iter()
        .filter(|p| !grouped(&p.name))
        .map(|p| (p.name.clone(), p.rows, p.seconds))
        .collect();
    // Training comes before the output pass.
    let at = all
        .iter()
        .position(|r| r.0 == "transform" || r.0 == "evaluate")
        .unwrap_or(all.len());
    for (i, r) in rows.into_iter().enumerate() {
        all.insert(at + i, r);
    }
    for (name, rows, seconds) in all {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{:.3}</td><td class=\"num\">{}</td></tr>",
            escape(&name),
            thousands(rows),
            seconds,
            thousands((rows as f64 / seconds.max(1e-9)).round() as u64)
        );
    }
    out.push_str("</table>\n<p>The pipeline as run (after <code>--set</code> overrides):</p>\n");
    let yaml = serde_saphyr::to_string(&report.pipeline)
        .unwrap_or_else(|_| serde_json::to_string_pretty(&report.pipeline).unwrap_or_default());
    let _ = writeln!(out, "<pre>{}</pre>\n</section>", escape(yaml.trim_end()));
}

fn variance_section(out: &mut String, report: &Report, pca: &PcaReport) {
    out.push_str("<section id=\"variance\">\n<h2>Variance explained</h2>\n");
    let log = report
        .pipeline
        .pointer("/report/log_scale")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let total: f64 = pca.explained_variance_ratio.iter().sum();
    let _ = writeln!(
        out,
        "<p>{} components keep {:.2}% of the total variance {}.</p>",
        pca.n_components,
        total * 100.0,
        fmt_num(pca.total_variance)
    );
    out.push_str("<div class=\"plots\">\n");
    out.push_str(&plots::scree(&pca.explained_variance_ratio, log));
    out.push_str(&plots::cumulative(
        &pca.cumulative_variance_ratio,
        pca.n_components,
    ));
    out.push_str("</div>\n");
    let marks: Vec<String> = [0.9, 0.95, 0.99]
        .iter()
        .map(
            |m| match pca.cumulative_variance_ratio.iter().position(|c| c > m) {
                Some(i) => format!("{:.0}% needs {} component(s)", m * 100.0, i + 1),
                None => format!(
                    "{:.0}% needs more than the {} kept",
                    m * 100.0,
                    pca.n_components
                ),
            },
        )
        .collect();
    let _ = writeln!(out, "<p>{}.</p>", escape(&marks.join("; ")));
    out.push_str("<table>\n<tr><th>component</th><th class=\"num\">variance</th><th class=\"num\">% of variance</th><th class=\"num\">cumulative %</th></tr>\n");
    for i in 0..pca.n_components.min(pca.explained_variance.len()) {
        let _ = writeln!(
            out,
            "<tr><td>pc{}</td><td class=\"num\">{}</td><td class=\"num\">{:.2}%</td><td class=\"num\">{:.2}%</td></tr>",
            i + 1,
            fmt_num(pca.explained_variance[i]),
            pca.explained_variance_ratio[i] * 100.0,
            pca.cumulative_variance_ratio[i] * 100.0
        );
    }
    out.push_str("</table>\n</section>\n");
}

/// The sections of steps the page has no plots for (a random projection's settings): a
/// table of what the step wrote.
fn step_sections(out: &mut String, report: &Report) {
    for (name, value) in &report.sections {
        let Some(fields) = value.as_object() else {
            continue;
        };
        let _ = writeln!(
            out,
            "<section id=\"{}\">\n<h2>Step: {}</h2>\n<table>",
            escape(name),
            escape(&name.replace('_', " "))
        );
        for (k, v) in fields {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => "-".into(),
                other => other.to_string(),
            };
            let _ = writeln!(
                out,
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(k),
                escape(&v)
            );
        }
        out.push_str("</table>\n</section>\n");
    }
}
