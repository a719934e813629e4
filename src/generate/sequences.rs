//! `dimred generate --sequences STEPSxFEATURES`: fixed-length windows, one per row, for
//! the recurrent autoencoder's benchmarks and tests. Each window is a class's sinusoid
//! (its frequency band is the label) with a second harmonic, on every feature with its own
//! amplitude and phase, plus Gaussian noise; written like the images, group by group from
//! seeded streams.

use std::f64::consts::TAU;
use std::path::PathBuf;

use super::images::Labelled;
use crate::error::{Error, Result};

/// `--sequences STEPSxFEATURES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceSize {
    pub steps: usize,
    pub features: usize,
}

/// The most values a window may have (columns of the file).
pub const MAX_SEQUENCE_VALUES: usize = 1 << 16;

/// Frequency bands, in cycles per window: label c's fundamental lies in
/// [c + 1, c + 1.4) × `CYCLES`.
pub const CLASSES: usize = 4;
const CYCLES: f64 = 2.0;
/// Standard deviation of the noise on every value.
const NOISE: f64 = 0.1;

impl SequenceSize {
    pub fn parse(text: &str) -> Result<SequenceSize> {
        let bad = || {
            Error::config(format!(
                "--sequences {text}: give the window as STEPSxFEATURES, e.g. 200x4"
            ))
        };
        let (t, f) = text.trim().split_once(['x', 'X']).ok_or_else(bad)?;
        let (steps, features) = (
            t.trim().parse::<usize>().map_err(|_| bad())?,
            f.trim().parse::<usize>().map_err(|_| bad())?,
        );
        if steps < 2 || features == 0 {
            return Err(Error::config(format!(
                "--sequences {text}: at least 2 steps and 1 feature"
            )));
        }
        if steps.saturating_mul(features) > MAX_SEQUENCE_VALUES {
            return Err(Error::config(format!(
                "--sequences {text}: at most {MAX_SEQUENCE_VALUES} values per window"
            )));
        }
        Ok(SequenceSize { steps, features })
    }
}

#[derive(Debug, Clone)]
pub struct SequenceOptions {
    pub rows: u64,
    pub size: SequenceSize,
    pub seed: u64,
    pub output: PathBuf,
    pub row_group_rows: usize,
}

/// One window into `out` (step by step, features within a step); returns its label.
/// Always 1 + 4·features uniform draws and steps·features normals per window.
fn window(rng: &mut crate::rng::Rng, size: SequenceSize, out: &mut [f32]) -> i64 {
    let label = ((rng.uniform() * CLASSES as f64) as usize).min(CLASSES - 1);
    let cycles = CYCLES * (label as f64 + 1.0 + 0.4 * rng.uniform());
    let waves: Vec<[f64; 4]> = (0..size.features)
        .map(|_| {
            [
                0.5 + 0.5 * rng.uniform(), // amplitude
                TAU * rng.uniform(),       // phase
                0.3 * rng.uniform(),       // second harmonic's amplitude
                TAU * rng.uniform(),       // its phase
            ]
        })
        .collect();
    let mut noise = vec![0.0; size.steps * size.features];
    rng.fill_normal(&mut noise);
    for t in 0..size.steps {
        let x = TAU * cycles * t as f64 / size.steps as f64;
        for (f, [a, p, a2, p2]) in waves.iter().enumerate() {
            let i = t * size.features + f;
            out[i] = (a * (x + p).sin() + a2 * (2.0 * x + p2).sin() + NOISE * noise[i]) as f32;
        }
    }
    label as i64
}

/// `rows` windows of `steps × features` Float32 columns `t{t}_f{f}` (step-major, as the
/// autoencoder's `shape: [steps, features]` reads them) and an Int64 `label`, the window's
/// frequency band (0 … 3).
pub fn generate_sequences(opts: &SequenceOptions, quiet: bool) -> Result<()> {
    let size = opts.size;
    let names = (0..size.steps)
        .flat_map(|t| (0..size.features).map(move |f| format!("t{t}_f{f}")))
        .collect();
    Labelled {
        rows: opts.rows,
        seed: opts.seed,
        output: &opts.output,
        row_group_rows: opts.row_group_rows,
    }
    .write(names, quiet, |rng, out| window(rng, size, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_their_class_sinusoid_within_the_noise() {
        let size = SequenceSize::parse("200x3").unwrap();
        let mut out = vec![0.0f32; 600];
        let mut rng = crate::rng::Rng::new(1);
        for _ in 0..20 {
            let label = window(&mut rng, size, &mut out) as usize;
            assert!(label < CLASSES);
            // the strongest frequency (whole cycles per window) is the label's band, on
            // every feature: the second harmonic is weaker and the noise spread thin
            for f in 0..3 {
                let power = |k: usize| {
                    let (mut re, mut im) = (0.0f64, 0.0f64);
                    for t in 0..200 {
                        let a = TAU * (k * t) as f64 / 200.0;
                        re += out[t * 3 + f] as f64 * a.cos();
                        im += out[t * 3 + f] as f64 * a.sin();
                    }
                    re * re + im * im
                };
                let peak = (1..40)
                    .max_by(|&a, &b| power(a).total_cmp(&power(b)))
                    .unwrap();
                let low = CYCLES * (label as f64 + 1.0);
                assert!(
                    peak as f64 >= low - 1.0 && peak as f64 <= low + 0.4 * CYCLES + 1.0,
                    "label {label}: strongest at {peak} cycles"
                );
            }
            assert!(out.iter().all(|v| v.abs() < 2.5));
        }
    }

    #[test]
    fn sizes_are_steps_by_features() {
        assert_eq!(
            SequenceSize::parse("28x28").unwrap(),
            SequenceSize {
                steps: 28,
                features: 28
            }
        );
        for bad in ["28", "1x4", "4x0", "x", "70000x1", "2x3x4"] {
            assert!(SequenceSize::parse(bad).is_err(), "{bad}");
        }
    }
}
