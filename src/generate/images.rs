//! `dimred generate --images HxW`: labelled pictures, one shape a row (a disc, a ring, a
//! rectangle, a plus, a diagonal line or two dots) at a seeded place, size and brightness
//! over light noise, written group by group from seeded streams like the spectrum's rows.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, Int64Array};
use arrow_schema::{DataType, Field, Schema};

use super::{Groups, OutputFormat, group_rng, open_writer};
use crate::error::{Error, Result};
use crate::progress::{Progress, Total};
use crate::rng::Rng;

/// `--images HxW`: the pictures' height and width in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageSize {
    pub height: usize,
    pub width: usize,
}

/// The most pixels (columns) an image may have: 256 × 256.
pub const MAX_IMAGE_PIXELS: usize = 1 << 16;

impl ImageSize {
    /// Reads `HxW` (`28x28`), as `--images` takes it.
    pub fn parse(text: &str) -> Result<ImageSize> {
        let bad = || {
            Error::config(format!(
                "--images {text}: give the image size as HxW, e.g. 28x28"
            ))
        };
        let (h, w) = text.trim().split_once(['x', 'X']).ok_or_else(bad)?;
        let (height, width) = (
            h.trim().parse::<usize>().map_err(|_| bad())?,
            w.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if height == 0 || width == 0 {
            return Err(Error::config(format!(
                "--images {text}: the height and the width must be at least 1"
            )));
        }
        if height.saturating_mul(width) > MAX_IMAGE_PIXELS {
            return Err(Error::config(format!(
                "--images {text}: at most {MAX_IMAGE_PIXELS} pixels (256x256) per image"
            )));
        }
        Ok(ImageSize { height, width })
    }

    pub fn pixels(&self) -> usize {
        self.height * self.width
    }
}

#[derive(Debug, Clone)]
pub struct ImageOptions {
    pub rows: u64,
    pub size: ImageSize,
    pub seed: u64,
    pub output: PathBuf,
    /// Rows per row group (part of what the data depends on, as for the spectrum).
    pub row_group_rows: usize,
}

/// The shapes `--images` draws, by label.
pub const SHAPES: [&str; 6] = [
    "disc",
    "ring",
    "rectangle",
    "plus",
    "diagonal line",
    "two dots",
];

/// Standard deviation of the noise added to every pixel (before clamping to [0, 1]).
const PIXEL_NOISE: f64 = 0.05;

/// One shape, placed: its label (an index into [`SHAPES`]) and where and how it is drawn.
struct Shape {
    label: usize,
    /// Centre (x to the right, y down) in pixels; pixel (i, j) covers [j, j+1) × [i, i+1).
    cx: f64,
    cy: f64,
    /// Its extent from the centre.
    r: f64,
    /// Half the thickness of a ring, a plus's arms or a line.
    t: f64,
    /// Half sides of a rectangle as fractions of r; for a line or two dots, `u` picks the
    /// direction.
    u: f64,
    v: f64,
    intensity: f64,
}

impl Shape {
    /// A shape of a uniformly drawn class, size, place and brightness: always eight
    /// uniform draws, so every image takes the same share of the stream.
    fn draw(rng: &mut Rng, size: ImageSize) -> Shape {
        let mut next = || 1.0 - rng.uniform(); // in [0, 1)
        let label = ((next() * SHAPES.len() as f64) as usize).min(SHAPES.len() - 1);
        let (h, w) = (size.height as f64, size.width as f64);
        let r = h.min(w) * (0.18 + 0.17 * next());
        let place = |extent: f64, u: f64| {
            if extent > 2.0 * r {
                r + (extent - 2.0 * r) * u
            } else {
                extent / 2.0
            }
        };
        let (ux, uy) = (next(), next());
        Shape {
            label,
            cx: place(w, ux),
            cy: place(h, uy),
            r,
            t: (0.15 * r).max(0.75),
            u: next(),
            v: next(),
            intensity: 0.6 + 0.4 * next(),
        }
    }

    /// Signed distance from the point (x, y) to the shape's edge, negative inside.
    fn distance(&self, x: f64, y: f64) -> f64 {
        let (dx, dy) = (x - self.cx, y - self.cy);
        let (r, t) = (self.r, self.t);
        match self.label {
            0 => dx.hypot(dy) - r,
            1 => (dx.hypot(dy) - (r - t)).abs() - t,
            2 => (dx.abs() - r * (0.5 + 0.5 * self.u)).max(dy.abs() - r * (0.5 + 0.5 * self.v)),
            3 => (dx.abs() - r)
                .max(dy.abs() - t)
                .min((dx.abs() - t).max(dy.abs() - r)),
            4 => {
                // A segment of half-length r through the centre, near 45° or 135°.
                let base = if self.u < 0.5 { 0.25 } else { 0.75 };
                let angle = std::f64::consts::PI * base + 0.4 * (self.v - 0.5);
                let (c, s) = (angle.cos(), angle.sin());
                let along = (dx * c + dy * s).clamp(-r, r);
                (dx - along * c).hypot(dy - along * s) - t
            }
            _ => {
                let angle = std::f64::consts::PI * self.u;
                let (ox, oy) = (0.6 * r * angle.cos(), 0.6 * r * angle.sin());
                (dx - ox).hypot(dy - oy).min((dx + ox).hypot(dy + oy)) - 0.4 * r
            }
        }
    }

    /// The image, row-major: the shape's coverage of each pixel (its distance from the
    /// pixel's centre, anti-aliased over one pixel) times its intensity, plus `noise`
    /// (standard normals) times [`PIXEL_NOISE`], clamped to [0, 1].
    fn render(&self, size: ImageSize, noise: &[f64], out: &mut [f32]) {
        for i in 0..size.height {
            for j in 0..size.width {
                let p = i * size.width + j;
                let d = self.distance(j as f64 + 0.5, i as f64 + 0.5);
                let coverage = (0.5 - d).clamp(0.0, 1.0);
                out[p] =
                    (self.intensity * coverage + PIXEL_NOISE * noise[p]).clamp(0.0, 1.0) as f32;
            }
        }
    }
}

/// `dimred generate --images HxW`: `rows` pictures of H × W pixels as Float32 columns
/// `pixel_0 … pixel_{HW-1}` (row-major) in [0, 1] and an Int64 `label`, the index of the
/// shape drawn ([`SHAPES`]: a filled disc, a ring, a filled rectangle, a plus, a diagonal
/// line, two dots), each at a random place, size and brightness over light Gaussian noise:
/// something for a convolutional autoencoder to learn and labels for a classifier. Row
/// groups are drawn in parallel, each from its own stream, so the file depends only on the
/// options; memory is one group of f32 columns per core.
pub fn generate_images(opts: &ImageOptions, quiet: bool) -> Result<()> {
    let size = opts.size;
    let pixels = size.pixels();
    let names = (0..pixels).map(|p| format!("pixel_{p}")).collect();
    let target = Labelled {
        rows: opts.rows,
        seed: opts.seed,
        output: &opts.output,
        row_group_rows: opts.row_group_rows,
    };
    target.write(names, quiet, |rng, out| {
        let shape = Shape::draw(rng, size);
        let mut noise = vec![0.0; pixels];
        rng.fill_normal(&mut noise);
        shape.render(size, &noise, out);
        shape.label as i64
    })
}

/// Where labelled Float32 rows go, and how many from which seed.
pub(super) struct Labelled<'a> {
    pub rows: u64,
    pub seed: u64,
    pub output: &'a std::path::Path,
    pub row_group_rows: usize,
}

impl Labelled<'_> {
    /// Writes Float32 columns `names` and an Int64 `label`, each row drawn by `draw` (its
    /// values into the slice, its label returned) from its group's stream. Row groups are
    /// drawn in parallel, each from its own stream, so the file depends only on the
    /// options; memory is one group of f32 columns per core.
    pub fn write(
        &self,
        names: Vec<String>,
        quiet: bool,
        draw: impl Fn(&mut Rng, &mut [f32]) -> i64 + Sync,
    ) -> Result<()> {
        let format = OutputFormat::of(self.output)?;
        if self.rows == 0 {
            return Err(Error::config("--rows must be at least 1"));
        }
        if self.row_group_rows == 0 {
            return Err(Error::config("--row-group-rows must be at least 1"));
        }
        let width = names.len();
        let mut fields: Vec<Field> = names
            .into_iter()
            .map(|n| Field::new(n, DataType::Float32, false))
            .collect();
        fields.push(Field::new("label", DataType::Int64, false));
        let schema = Arc::new(Schema::new(fields));
        let (file, mut writer) = open_writer(self.output, format, &schema, self.row_group_rows)?;
        let progress = Progress::new("generate", Total::Rows(self.rows), quiet);
        let groups = Groups {
            rows: self.rows,
            row_group_rows: self.row_group_rows,
        };
        let make_group = |g: u64| -> Vec<ArrayRef> {
            let n = groups.len(g);
            let mut rng = group_rng(self.seed, g);
            let mut columns = vec![Vec::<f32>::with_capacity(n); width];
            let mut labels = Vec::with_capacity(n);
            let mut row = vec![0.0f32; width];
            for _ in 0..n {
                labels.push(draw(&mut rng, &mut row));
                for (column, &v) in columns.iter_mut().zip(&row) {
                    column.push(v);
                }
            }
            let mut arrays: Vec<ArrayRef> = columns
                .into_iter()
                .map(|c| Arc::new(Float32Array::from(c)) as ArrayRef)
                .collect();
            arrays.push(Arc::new(Int64Array::from(labels)));
            arrays
        };
        groups.write(&mut writer, self.output, &schema, &progress, make_group)?;
        writer.close().map_err(|e| e.in_output(self.output))?;
        file.commit()?;
        progress.finish();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shape drawn at the centre of a 28 × 28 image without noise, at full intensity.
    fn render(label: usize, u: f64) -> Vec<f32> {
        let size = ImageSize {
            height: 28,
            width: 28,
        };
        let shape = Shape {
            label,
            cx: 14.0,
            cy: 14.0,
            r: 8.0,
            t: 1.2,
            u,
            v: 0.5,
            intensity: 1.0,
        };
        let mut image = vec![0.0; size.pixels()];
        shape.render(size, &vec![0.0; size.pixels()], &mut image);
        image
    }

    #[test]
    fn shapes_are_what_their_labels_say() {
        let at = |image: &[f32], row: usize, col: usize| image[row * 28 + col];
        let (centre, right, corner) = ((14, 14), (14, 20), (7, 7));
        let disc = render(0, 0.5);
        assert_eq!(at(&disc, centre.0, centre.1), 1.0);
        assert_eq!(at(&disc, corner.0, corner.1), 0.0, "outside the disc");
        let ring = render(1, 0.5);
        assert_eq!(at(&ring, centre.0, centre.1), 0.0, "a ring is hollow");
        assert_eq!(at(&ring, right.0, right.1), 1.0);
        let rectangle = render(2, 1.0); // half sides 8 across, 6 down
        assert_eq!(at(&rectangle, 8, 8), 1.0, "a rectangle has corners");
        assert_eq!(at(&rectangle, 7, 14), 0.0, "above the rectangle");
        let plus = render(3, 0.5);
        assert_eq!(at(&plus, right.0, right.1), 1.0);
        assert_eq!(at(&plus, corner.0, corner.1), 0.0, "a plus has no corners");
        let line = render(4, 0.25); // 45°, down to the right
        assert_eq!(at(&line, 17, 17), 1.0);
        assert_eq!(at(&line, 11, 17), 0.0, "off the diagonal");
        let dots = render(5, 0.0); // side by side
        assert_eq!(at(&dots, centre.0, centre.1), 0.0, "a gap between the dots");
        assert_eq!(at(&dots, 14, 18), 1.0);
        assert!(
            [disc, ring, rectangle, plus, line, dots]
                .iter()
                .flatten()
                .all(|v| (0.0..=1.0).contains(v))
        );
    }

    #[test]
    fn image_sizes_are_h_by_w() {
        assert_eq!(
            ImageSize::parse("28x14").unwrap(),
            ImageSize {
                height: 28,
                width: 14
            }
        );
        assert_eq!(ImageSize::parse("3X5").unwrap().pixels(), 15);
        for bad in ["28", "x", "28x", "-1x4", "0x5", "257x256", "2x3x4"] {
            assert!(ImageSize::parse(bad).is_err(), "{bad}");
        }
    }
}
