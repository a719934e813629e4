//! Curves and bars: the loss per epoch, the reconstruction error's distribution and the
//! classifier scores.

use plotters::prelude::*;

use super::{BLUE, CAPTION, FONT, GREEN_BAR, ORANGE, PALETTE, TEXT, integer_label, svg};
use crate::evaluate::Score;
use crate::report::ErrorSummary;

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
        // One bar per feature set (scaled, reduced, then each compared reducer's codes).
        let mut sets: Vec<&str> = Vec::new();
        for s in scores {
            if !sets.contains(&s.features.as_str()) {
                sets.push(&s.features);
            }
        }
        let compared = crate::steps::compared_kinds();
        let colour_of = |f: &str| match f {
            "scaled" => BLUE,
            "reduced" => ORANGE,
            f => match compared.iter().position(|k| *k == f) {
                Some(0) | None => GREEN_BAR,
                Some(i) => PALETTE[2 + i % (PALETTE.len() - 2)],
            },
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
            let name = format!(
                "{} ({})",
                crate::steps::compared_as(f).unwrap_or(f),
                dims(f)
            );
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
