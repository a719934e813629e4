//! The report's plots, drawn with plotters' SVG backend into strings. Text is laid out
//! with plotters' built-in width estimate (no font files, no system fonts: the browser
//! draws the `<text>` elements). Each SVG's root carries `data-plot` (its name) and
//! `data-values` (the plotted numbers as JSON), so tests can check the picture against
//! report.json; the `xmlns` attribute is dropped (inline SVG in HTML needs none, and the
//! report holds no URL at all).

mod curves;
mod grids;

pub use curves::{error_distribution, evaluation, loss_curves};
pub use grids::{correlation, image_grid, loadings, sequence_lines};

use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;

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
    scatter_named("scatter", points, classes, class_of, legend_title, axes)
}

/// `scatter` under another plot name (the embedding's picture).
pub fn scatter_named(
    name: &str,
    points: &[(f64, f64)],
    classes: &[String],
    class_of: &[Option<usize>],
    legend_title: &str,
    axes: (&str, &str),
) -> String {
    let values: Vec<[f64; 2]> = points.iter().map(|p| [p.0, p.1]).collect();
    let legend_width = if classes.is_empty() { 0 } else { 150 };
    svg(name, (760, 520), &values, |root| {
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

pub(super) fn truncate(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_string()
    } else {
        let mut t: String = text.chars().take(chars - 1).collect();
        t.push('…');
        t
    }
}
