//! The report's plots, drawn with plotters' SVG backend into strings. Text is laid out
//! with plotters' built-in width estimate (no font files, no system fonts: the browser
//! draws the `<text>` elements). Each SVG's root carries `data-plot` (its name) and
//! `data-values` (the plotted numbers as JSON), so tests can check the picture against
//! report.json; the `xmlns` attribute is dropped (inline SVG in HTML needs none, and the
//! report holds no URL at all).

use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;

use super::ErrorSummary;
use super::sample::{ImageRows, Loadings};
use crate::evaluate::Score;

type DrawResult = Result<(), Box<dyn std::error::Error>>;

const FONT: &str = "sans-serif";
const TEXT: u32 = 15;
const CAPTION: u32 = 18;

/// Category colours (matplotlib's tab10), then grey for the rest.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const BLUE: RGBColor = PALETTE[0];
const ORANGE: RGBColor = PALETTE[1];
const GREEN_BAR: RGBColor = PALETTE[2];
const GREY: RGBColor = RGBColor(150, 150, 150);

/// Draws into an SVG string of `size`, then tags its root with the plot's name and data.
fn svg(
    name: &str,
    size: (u32, u32),
    values: &impl Serialize,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult,
) -> String {
    let mut buf = String::new();
    let outcome = {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        let drawn = root
            .fill(&WHITE)
            .map_err(Into::into)
            .and_then(|()| draw(&root));
        drawn.and_then(|()| root.present().map_err(Into::into))
    };
    if let Err(e) = outcome {
        return format!(
            "<p class=\"note\">the {} plot could not be drawn: {}</p>",
            name,
            super::escape::escape(&e.to_string())
        );
    }
    let json = serde_json::to_string(values).expect("plot values serialise");
    let tag = format!(
        "<svg data-plot=\"{}\" data-values=\"{}\" role=\"img\"",
        name,
        super::escape::escape(&json)
    );
    buf.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
        .replacen("<svg", &tag, 1)
}

/// An integer tick label, or nothing between integers.
fn integer_label(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        String::new()
    }
}

/// Explained-variance ratio per component, as bars; `log` draws the ratio on a log axis.
pub fn scree(ratio: &[f64], log: bool) -> String {
    let k = ratio.len();
    svg("scree", (560, 380), &ratio, |root| {
        let value = |r: f64| if log { r.max(1e-300).log10() } else { r };
        let top = ratio.iter().copied().fold(0.0f64, f64::max);
        let bottom = ratio
            .iter()
            .copied()
            .filter(|r| *r > 0.0)
            .fold(1.0f64, f64::min);
        let (y0, y1) = if log {
            (
                bottom.log10().floor().min(-1.0),
                top.log10().ceil().max(bottom.log10().floor() + 1.0),
            )
        } else {
            (0.0, (top * 1.1).max(1e-12))
        };
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Scree plot: variance explained per component",
                (FONT, CAPTION),
            )
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(0.4f64..k as f64 + 0.6, y0..y1)?;
        let y_label = |v: &f64| {
            if log {
                // label the powers of ten only
                if (v - v.round()).abs() < 1e-9 {
                    let pct = 100.0 * 10f64.powf(v.round());
                    if pct >= 1.0 {
                        format!("{pct:.0}%")
                    } else {
                        format!("{pct}%")
                    }
                } else {
                    String::new()
                }
            } else {
                format!("{:.0}%", v * 100.0)
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(k.min(15) + 1)
            .x_label_formatter(&integer_label)
            .y_label_formatter(&y_label)
            .x_desc("component")
            .y_desc(if log {
                "explained variance ratio (log)"
            } else {
                "explained variance ratio"
            })
            .label_style((FONT, TEXT))
            .axis_desc_style((FONT, TEXT))
            .draw()?;
        chart.draw_series(ratio.iter().enumerate().map(|(i, r)| {
            let x = (i + 1) as f64;
            Rectangle::new([(x - 0.35, y0), (x + 0.35, value(*r))], BLUE.filled())
        }))?;
        Ok(())
    })
}

/// Cumulative explained-variance ratio with the 90/95/99 % marks and the chosen k.
pub fn cumulative(cumulative: &[f64], k: usize) -> String {
    let n = cumulative.len();
    svg("cumulative", (560, 380), &cumulative, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Cumulative variance explained", (FONT, CAPTION))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(0.5f64..n as f64 + 0.5, 0f64..1.05)?;
        chart
            .configure_mesh()
            .x_labels(n.min(15) + 1)
            .x_label_formatter(&integer_label)
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .x_desc("number of components")
            .y_desc("cumulative ratio")
            .label_style((FONT, TEXT))
            .axis_desc_style((FONT, TEXT))
            .draw()?;
        let marks = [(0.9, GREY), (0.95, PALETTE[2]), (0.99, PALETTE[3])];
        for (mark, colour) in marks {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(0.5, mark), (n as f64 + 0.5, mark)],
                colour.stroke_width(1),
            )))?;
        }
        // the marks' legend, in the empty lower right of the plot
        let (lx, ldx) = (n as f64 * 0.62 + 0.5, n as f64 * 0.07);
        for (i, (mark, colour)) in marks.iter().rev().enumerate() {
            let y = 0.42 - 0.08 * i as f64;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(lx, y), (lx + ldx, y)],
                colour.stroke_width(2),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                format!("{:.0}% of variance", mark * 100.0),
                (lx + ldx * 1.3, y),
                (FONT, 13)
                    .into_font()
                    .color(&BLACK)
                    .pos(plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Left,
                        plotters::style::text_anchor::VPos::Center,
                    )),
            )))?;
        }
        let points: Vec<(f64, f64)> = cumulative
            .iter()
            .enumerate()
            .map(|(i, c)| ((i + 1) as f64, *c))
            .collect();
        chart.draw_series(LineSeries::new(points.clone(), BLUE.stroke_width(2)))?;
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, BLUE.filled())))?;
        if k >= 1 && k <= n {
            let kx = k as f64;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(kx, 0.0), (kx, 1.05)],
                ORANGE.stroke_width(2),
            )))?;
            let anchor_left = k * 2 <= n;
            chart.draw_series(std::iter::once(Text::new(
                format!(" k = {k} ({:.1}%) ", cumulative[k - 1] * 100.0),
                (kx, 0.08),
                (FONT, TEXT).into_font().color(&ORANGE).pos(
                    plotters::style::text_anchor::Pos::new(
                        if anchor_left {
                            plotters::style::text_anchor::HPos::Left
                        } else {
                            plotters::style::text_anchor::HPos::Right
                        },
                        plotters::style::text_anchor::VPos::Center,
                    ),
                ),
            )))?;
        }
        Ok(())
    })
}

/// Distinct colour classes in first-seen order of the sorted class list.
fn class_colour(i: usize) -> RGBColor {
    PALETTE.get(i).copied().unwrap_or(GREY)
}

/// The first two reduced coordinates of the sample, coloured by class when given
/// (`classes` sorted; `class_of[i]` indexes it). The legend sits beside the plot.
pub fn scatter(
    points: &[(f64, f64)],
    classes: &[String],
    class_of: &[Option<usize>],
    legend_title: &str,
    axes: (&str, &str),
) -> String {
    let values: Vec<[f64; 2]> = points.iter().map(|p| [p.0, p.1]).collect();
    let legend_width = if classes.is_empty() { 0 } else { 150 };
    svg("scatter", (760, 520), &values, |root| {
        let (plot, legend) = root.split_horizontally(760 - legend_width);
        let range = |f: &dyn Fn(&(f64, f64)) -> f64| {
            let (lo, hi) = points
                .iter()
                .map(f)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(v), b.max(v))
                });
            let pad = ((hi - lo) * 0.05).max(1e-9);
            (lo - pad)..(hi + pad)
        };
        let mut chart = ChartBuilder::on(&plot)
            .caption(
                format!(
                    "Sample in {} and {} ({} rows)",
                    axes.0,
                    axes.1,
                    points.len()
                ),
                (FONT, CAPTION),
            )
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(range(&|p| p.0), range(&|p| p.1))?;
        chart
            .configure_mesh()
            .x_desc(axes.0)
            .y_desc(axes.1)
            .label_style((FONT, TEXT))
            .axis_desc_style((FONT, TEXT))
            .draw()?;
        let radius = if points.len() > 2000 { 2 } else { 3 };
        chart.draw_series(points.iter().zip(0..).map(|(p, i)| {
            let colour = match class_of.get(i).copied().flatten() {
                Some(c) => class_colour(c),
                None if classes.is_empty() => BLUE,
                None => GREY,
            };
            Circle::new(*p, radius, colour.mix(0.7).filled())
        }))?;
        if !classes.is_empty() {
            legend.draw(&Text::new(
                truncate(legend_title, 18),
                (8, 30),
                (FONT, TEXT).into_font().style(FontStyle::Bold),
            ))?;
            let shown = classes.len().min(PALETTE.len());
            for (i, name) in classes.iter().take(shown).enumerate() {
                let y = 60 + 24 * i as i32;
                legend.draw(&Circle::new((16, y), 6, class_colour(i).filled()))?;
                legend.draw(&Text::new(
                    truncate(name, 16),
                    (30, y - 8),
                    (FONT, TEXT).into_font(),
                ))?;
            }
            if classes.len() > shown {
                let y = 60 + 24 * shown as i32;
                legend.draw(&Circle::new((16, y), 6, GREY.filled()))?;
                legend.draw(&Text::new(
                    format!("{} more", classes.len() - shown),
                    (30, y - 8),
                    (FONT, TEXT).into_font(),
                ))?;
            }
        }
        Ok(())
    })
}

fn truncate(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_string()
    } else {
        let mut t: String = text.chars().take(chars - 1).collect();
        t.push('…');
        t
    }
}

/// Diverging colour for v in [−1, 1]: blue (negative), white, red (positive).
fn diverging(v: f64) -> RGBColor {
    let v = v.clamp(-1.0, 1.0);
    let mix = |a: f64, b: f64, t: f64| (a + (b - a) * t).round() as u8;
    if v >= 0.0 {
        RGBColor(255, mix(255.0, 40.0, v), mix(255.0, 40.0, v))
    } else {
        RGBColor(mix(255.0, 40.0, -v), mix(255.0, 90.0, -v), 255)
    }
}

/// A heat map of `values[row][col]` scaled by `scale` (|v| / scale = full colour), with
/// the rows and columns named.
fn heatmap(
    name: &str,
    title: &str,
    rows: &[String],
    cols: &[String],
    values: &[Vec<f64>],
    scale: f64,
) -> String {
    let (nr, nc) = (rows.len(), cols.len());
    let label_chars = rows
        .iter()
        .map(|r| r.chars().count())
        .max()
        .unwrap_or(4)
        .min(28);
    let left = (label_chars as u32 * 7 + 20).max(60);
    let cell = if nr > 40 { 12 } else { 18 };
    let width = (left + 40 + (nc as u32 * 44).clamp(240, 900)).max(420);
    let height = 120 + cell * nr as u32 + 60;
    svg(name, (width, height), &values, |root| {
        let (main, bar) = root.split_vertically(height - 50);
        let mut chart = ChartBuilder::on(&main)
            .caption(title, (FONT, CAPTION))
            .margin(12)
            .x_label_area_size(if nc > 12 { 60 } else { 36 })
            .y_label_area_size(left)
            .build_cartesian_2d(0f64..nc as f64, 0f64..nr as f64)?;
        let col_label = |v: &f64| {
            let i = v.floor() as usize;
            if (v - v.floor() - 0.5).abs() < 1e-9 && i < nc {
                truncate(&cols[i], 12)
            } else {
                String::new()
            }
        };
        let row_label = |v: &f64| {
            let i = v.floor() as usize;
            if (v - v.floor() - 0.5).abs() < 1e-9 && i < nr {
                truncate(&rows[nr - 1 - i], 28)
            } else {
                String::new()
            }
        };
        let mut mesh = chart.configure_mesh();
        mesh.disable_mesh()
            .x_labels(nc * 2 + 1)
            .y_labels(nr * 2 + 1)
            .x_label_formatter(&col_label)
            .y_label_formatter(&row_label)
            .label_style((FONT, if nr > 40 { 11 } else { 13 }));
        if nc > 12 {
            mesh.x_label_style((FONT, 11).into_font().transform(FontTransform::Rotate90));
        }
        mesh.draw()?;
        chart.draw_series(values.iter().enumerate().flat_map(|(r, row)| {
            let y = (nr - 1 - r) as f64;
            row.iter().enumerate().map(move |(c, v)| {
                Rectangle::new(
                    [(c as f64, y), (c as f64 + 1.0, y + 1.0)],
                    diverging(v / scale).filled(),
                )
            })
        }))?;
        // colour bar
        let (w, _) = bar.dim_in_pixel();
        let x0 = w as i32 / 2 - 150;
        for s in 0..60 {
            let v = -1.0 + 2.0 * s as f64 / 59.0;
            bar.draw(&Rectangle::new(
                [(x0 + s * 5, 8), (x0 + s * 5 + 5, 22)],
                diverging(v).filled(),
            ))?;
        }
        let style = (FONT, 13).into_font();
        bar.draw(&Text::new(
            format!("{:.2}", -scale),
            (x0 - 48, 8),
            style.clone(),
        ))?;
        bar.draw(&Text::new(
            format!("{:.2}", scale),
            (x0 + 306, 8),
            style.clone(),
        ))?;
        bar.draw(&Text::new("0", (x0 + 147, 26), style))?;
        Ok(())
    })
}

/// Loadings of the first components on the top features.
pub fn loadings(l: &Loadings) -> String {
    let k = l.values.first().map_or(0, |r| r.len());
    let cols: Vec<String> = (1..=k).map(|c| format!("pc{c}")).collect();
    let scale = l
        .values
        .iter()
        .flatten()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(1e-12);
    let title = if l.features.len() < l.n_features {
        format!(
            "Loadings: top {} of {} features by |loading|",
            l.features.len(),
            l.n_features
        )
    } else {
        "Loadings of the components on the features".to_string()
    };
    heatmap("loadings", &title, &l.features, &cols, &l.values, scale)
}

/// The features' correlation matrix.
pub fn correlation(names: &[String], values: &[Vec<f64>]) -> String {
    let short: Vec<String> = (0..names.len()).map(|i| format!("{}", i + 1)).collect();
    let rows: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{n} ({})", i + 1))
        .collect();
    heatmap(
        "correlation",
        "Correlation matrix of the features",
        &rows,
        &short,
        values,
        1.0,
    )
}

/// Train and validation loss per epoch, the best epoch marked.
pub fn loss_curves(epochs: &[crate::report::EpochReport], best: usize) -> String {
    let values: Vec<[Option<f64>; 2]> = epochs
        .iter()
        .map(|e| [Some(e.train_loss), e.validation_loss])
        .collect();
    svg("loss", (760, 420), &values, |root| {
        let (plot, legend) = root.split_horizontally(600);
        let n = epochs.len().max(1) as f64;
        let all = epochs
            .iter()
            .flat_map(|e| std::iter::once(e.train_loss).chain(e.validation_loss));
        let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
        let pad = ((hi - lo) * 0.08).max(1e-9);
        let mut chart = ChartBuilder::on(&plot)
            .caption("Autoencoder loss per epoch", (FONT, CAPTION))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d(0.5f64..n + 0.5, (lo - pad).max(0.0)..hi + pad)?;
        chart
            .configure_mesh()
            .x_labels((n as usize).min(15) + 1)
            .x_label_formatter(&integer_label)
            .y_label_formatter(&|v| format!("{v:.3}"))
            .x_desc("epoch")
            .y_desc("loss")
            .label_style((FONT, TEXT))
            .axis_desc_style((FONT, TEXT))
            .draw()?;
        let train: Vec<(f64, f64)> = epochs
            .iter()
            .map(|e| (e.epoch as f64, e.train_loss))
            .collect();
        let validation: Vec<(f64, f64)> = epochs
            .iter()
            .filter_map(|e| e.validation_loss.map(|v| (e.epoch as f64, v)))
            .collect();
        chart.draw_series(LineSeries::new(train.clone(), BLUE.stroke_width(2)))?;
        chart.draw_series(train.iter().map(|p| Circle::new(*p, 3, BLUE.filled())))?;
        chart.draw_series(LineSeries::new(validation.clone(), ORANGE.stroke_width(2)))?;
        chart.draw_series(
            validation
                .iter()
                .map(|p| Circle::new(*p, 3, ORANGE.filled())),
        )?;
        let bx = best as f64;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(bx, (lo - pad).max(0.0)), (bx, hi + pad)],
            PALETTE[2].stroke_width(2),
        )))?;
        let entries = [
            (BLUE, "train".to_string()),
            (ORANGE, "validation".to_string()),
            (PALETTE[2], format!("best epoch {best}")),
        ];
        for (i, (colour, name)) in entries.iter().enumerate() {
            if i == 1 && validation.is_empty() {
                continue;
            }
            let y = 60 + 24 * i as i32;
            legend.draw(&Rectangle::new([(6, y - 2), (26, y + 2)], colour.filled()))?;
            legend.draw(&Text::new(
                name.clone(),
                (32, y - 8),
                (FONT, TEXT).into_font(),
            ))?;
        }
        Ok(())
    })
}

/// Originals (top) beside their reconstructions (bottom), as grey images.
pub fn image_grid(images: &ImageRows) -> String {
    let [h, w] = images.shape;
    let count = images.original.len();
    let pixel = (96 / h.max(w)).max(2) as i32;
    let (iw, ih) = (w as i32 * pixel, h as i32 * pixel);
    let left = 130;
    let gap = 10;
    let width = (left + count as i32 * (iw + gap) + 10).max(300) as u32;
    let height = (50 + 2 * (ih + 30)) as u32;
    let values = [&images.original, &images.reconstructed];
    svg("images", (width, height), &values, |root| {
        let lo = images
            .original
            .iter()
            .flatten()
            .fold(f64::INFINITY, |m, v| m.min(*v));
        let hi = images
            .original
            .iter()
            .flatten()
            .fold(f64::NEG_INFINITY, |m, v| m.max(*v));
        let span = (hi - lo).max(1e-12);
        root.draw(&Text::new(
            "Originals and their reconstructions",
            (10, 8),
            (FONT, CAPTION).into_font(),
        ))?;
        for (r, (label, rows)) in [
            ("original", &images.original),
            ("reconstructed", &images.reconstructed),
        ]
        .iter()
        .enumerate()
        {
            let y0 = 40 + r as i32 * (ih + 30);
            root.draw(&Text::new(
                label.to_string(),
                (10, y0 + ih / 2 - 8),
                (FONT, TEXT).into_font(),
            ))?;
            for (n, row) in rows.iter().enumerate() {
                let x0 = left + n as i32 * (iw + gap);
                for (idx, v) in row.iter().enumerate() {
                    let (py, px) = ((idx / w) as i32, (idx % w) as i32);
                    // matplotlib's gray_r: low values white, high values black
                    let g = (255.0 * (1.0 - ((v - lo) / span).clamp(0.0, 1.0))).round() as u8;
                    root.draw(&Rectangle::new(
                        [
                            (x0 + px * pixel, y0 + py * pixel),
                            (x0 + (px + 1) * pixel, y0 + (py + 1) * pixel),
                        ],
                        RGBColor(g, g, g).filled(),
                    ))?;
                }
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + iw, y0 + ih)],
                    GREY.stroke_width(1),
                ))?;
            }
        }
        Ok(())
    })
}

/// The reconstruction error's quantiles as bars, the mean as a line.
pub fn error_distribution(e: &ErrorSummary) -> String {
    let names = ["min", "p50", "p90", "p95", "p99", "max"];
    let values = [e.min, e.p50, e.p90, e.p95, e.p99, e.max];
    svg("reconstruction_error", (560, 380), &values, |root| {
        let top = (e.max * 1.1).max(1e-12);
        let mut chart = ChartBuilder::on(root)
            .caption("Reconstruction error ‖x − x̂‖² per row", (FONT, CAPTION))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..6.0, 0f64..top)?;
        let label = |v: &f64| {
            let i = v.floor() as usize;
            if (v - v.floor() - 0.5).abs() < 1e-9 && i < 6 {
                names[i].to_string()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(13)
            .x_label_formatter(&label)
            .y_label_formatter(&|v| format!("{v:.3}"))
            .x_desc("quantile over rows")
            .y_desc("squared error (scaled space)")
            .label_style((FONT, TEXT))
            .axis_desc_style((FONT, TEXT))
            .draw()?;
        chart.draw_series(values.iter().enumerate().map(|(i, v)| {
            Rectangle::new([(i as f64 + 0.2, 0.0), (i as f64 + 0.8, *v)], BLUE.filled())
        }))?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, e.mean), (6.0, e.mean)],
            ORANGE.stroke_width(2),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("mean {:.4}", e.mean),
            (0.05, e.mean),
            (FONT, 13)
                .into_font()
                .color(&ORANGE)
                .pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Left,
                    plotters::style::text_anchor::VPos::Bottom,
                )),
        )))?;
        Ok(())
    })
}

/// Test accuracy of each classifier on the scaled and the reduced features.
pub fn evaluation(scores: &[Score], k_neighbors: usize) -> String {
    let values: Vec<f64> = scores.iter().map(|s| s.test_accuracy).collect();
    svg("evaluation", (640, 400), &values, |root| {
        let (plot, legend) = root.split_horizontally(480);
        let models = ["logistic_regression", "knn"];
        let mut chart = ChartBuilder::on(&plot)
            .caption("Test accuracy by feature set", (FONT, CAPTION))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..2.0, 0f64..1.1)?;
        let label = |v: &f64| match (v * 2.0).round() as i64 {
            1 if (v - 0.5).abs() < 1e-9 => "logistic regression".to_string(),
            3 if (v - 1.5).abs() < 1e-9 => format!("k-NN (k = {k_neighbors})"),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(5)
            .x_label_formatter(&label)
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .y_desc("test accuracy")
            .label_style((FONT, TEXT))
            .axis_desc_style((FONT, TEXT))
            .draw()?;
        // One bar per feature set (scaled, reduced, and pca codes after an autoencoder).
        let mut sets: Vec<&str> = Vec::new();
        for s in scores {
            if !sets.contains(&s.features.as_str()) {
                sets.push(&s.features);
            }
        }
        let colour_of = |f: &str| match f {
            "scaled" => BLUE,
            "reduced" => ORANGE,
            _ => GREEN_BAR,
        };
        let width = 0.8 / sets.len().max(1) as f64;
        for s in scores {
            let Some(m) = models.iter().position(|m| *m == s.model) else {
                continue;
            };
            let set = sets.iter().position(|f| *f == s.features).unwrap_or(0);
            let x0 = m as f64 + 0.1 + set as f64 * width;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x0, 0.0), (x0 + width * 0.95, s.test_accuracy)],
                colour_of(&s.features).filled(),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                format!("{:.1}%", s.test_accuracy * 100.0),
                (x0 + width * 0.475, s.test_accuracy),
                (FONT, 12)
                    .into_font()
                    .color(&BLACK)
                    .pos(plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Bottom,
                    )),
            )))?;
        }
        let dims = |f: &str| {
            scores
                .iter()
                .find(|s| s.features == f)
                .map_or(0, |s| s.dimensions)
        };
        for (i, f) in sets.iter().enumerate() {
            let name = match *f {
                "pca" => format!("PCA codes ({})", dims(f)),
                other => format!("{other} ({})", dims(f)),
            };
            let y = 70 + 24 * i as i32;
            legend.draw(&Rectangle::new(
                [(6, y - 7), (20, y + 7)],
                colour_of(f).filled(),
            ))?;
            legend.draw(&Text::new(name, (28, y - 8), (FONT, TEXT).into_font()))?;
        }
        Ok(())
    })
}
