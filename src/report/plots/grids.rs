//! Heatmaps (loadings, correlation), the image grid of original and rebuilt rows, and
//! the same rows drawn as windows of lines when the autoencoder reads sequences.

use plotters::prelude::*;

use super::{CAPTION, FONT, GREY, PALETTE, TEXT, svg, truncate};
use crate::report::sample::{ImageRows, Loadings};

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

/// Originals (top) beside their reconstructions (bottom), as grey images.
pub fn image_grid(images: &ImageRows) -> String {
    let [h, w] = images.shape;
    let pixel = (96 / h.max(w)).max(2) as i32;
    let (iw, ih) = (w as i32 * pixel, h as i32 * pixel);
    let frame = Frame {
        name: "images",
        caption: "Originals and their reconstructions",
        count: images.original.len(),
        cell: (iw, ih),
        gap: 10,
    };
    frame.draw(images, |root, (x0, y0), row, (lo, span)| {
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
        Ok(())
    })
}

/// The first rows read as `[steps, features]` windows, each a small chart of one line per
/// feature over the steps: the originals above, their reconstructions below on the same
/// scale, so a reader sees what the recurrent autoencoder keeps of a window.
pub fn sequence_lines(images: &ImageRows) -> String {
    let [steps, features] = images.shape;
    let (cw, ch) = (180i32, 110i32);
    let frame = Frame {
        name: "sequences",
        caption: "Windows and their reconstructions (one line per feature)",
        count: images.original.len().min(6),
        cell: (cw, ch),
        gap: 14,
    };
    frame.draw(images, |root, (x0, y0), row, (lo, span)| {
        root.draw(&Rectangle::new(
            [(x0, y0), (x0 + cw, y0 + ch)],
            GREY.stroke_width(1),
        ))?;
        let x = |t: usize| x0 + 4 + (t as i32 * (cw - 8)) / (steps.max(2) as i32 - 1);
        let y = |v: f64| y0 + ch - 4 - (((v - lo) / span).clamp(0.0, 1.0) * (ch - 8) as f64) as i32;
        for (f, colour) in PALETTE.iter().enumerate().take(features) {
            let points: Vec<(i32, i32)> = (0..steps)
                .filter_map(|t| row.get(t * features + f).map(|&v| (x(t), y(v))))
                .collect();
            root.draw(&PathElement::new(points, colour.stroke_width(1)))?;
        }
        Ok(())
    })
}

/// What the pictures of reconstructions share: a caption, then the first `count`
/// originals in a row above their reconstructions, each row labelled on the left, every
/// cell `cell` pixels and drawn on the originals' scale.
struct Frame {
    name: &'static str,
    caption: &'static str,
    count: usize,
    cell: (i32, i32),
    gap: i32,
}

impl Frame {
    /// `cell(root, top-left corner, row, (lo, span))` draws one row's picture.
    fn draw(
        &self,
        images: &ImageRows,
        mut cell: impl FnMut(
            &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
            (i32, i32),
            &[f64],
            (f64, f64),
        ) -> super::DrawResult,
    ) -> String {
        let (cw, ch) = self.cell;
        let left = 130;
        let width = (left + self.count as i32 * (cw + self.gap) + 10).max(300) as u32;
        let height = (50 + 2 * (ch + 30)) as u32;
        let values = [&images.original, &images.reconstructed];
        svg(self.name, (width, height), &values, |root| {
            let shown = || images.original.iter().take(self.count).flatten();
            let lo = shown().fold(f64::INFINITY, |m, v| m.min(*v));
            let hi = shown().fold(f64::NEG_INFINITY, |m, v| m.max(*v));
            let span = (hi - lo).max(1e-12);
            root.draw(&Text::new(
                self.caption,
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
                let y0 = 40 + r as i32 * (ch + 30);
                root.draw(&Text::new(
                    label.to_string(),
                    (10, y0 + ch / 2 - 8),
                    (FONT, TEXT).into_font(),
                ))?;
                for (n, row) in rows.iter().take(self.count).enumerate() {
                    let x0 = left + n as i32 * (cw + self.gap);
                    cell(root, (x0, y0), row, (lo, span))?;
                }
            }
            Ok(())
        })
    }
}
