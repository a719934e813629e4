//! Layers that move no value: `flatten` and `reshape` change only the shape a sample is
//! read as (the values keep their row-major order in either layout), and `dropout` zeroes
//! values while training (inverted dropout: survivors scaled by 1 / (1 − rate), as Keras
//! and PyTorch) and passes them through otherwise.

use faer::{MatMut, MatRef};

use super::activation::Real;
use super::layer::{Backward, Cache, Forward, Layer, OnnxForm};
use super::plan::PlannedLayer;
use super::shape::{Layout, Shape};
use super::spec::LayerSpec;

#[derive(Debug, Clone)]
pub struct Reshape {
    spec: LayerSpec,
    shapes: (Shape, Shape),
}

impl Reshape {
    pub fn new(p: &PlannedLayer) -> Reshape {
        Reshape {
            spec: p.spec.clone(),
            shapes: (p.input.clone(), p.output.clone()),
        }
    }
}

impl<T: Real> Layer<T> for Reshape {
    fn spec(&self) -> &LayerSpec {
        &self.spec
    }
    fn input_shape(&self) -> &Shape {
        &self.shapes.0
    }
    fn output_shape(&self) -> &Shape {
        &self.shapes.1
    }
    fn layout(&self) -> Option<Layout> {
        None
    }
    fn forward(&self, x: MatRef<'_, T>, mut out: MatMut<'_, T>, _: &mut Cache<T>, _: &mut Forward) {
        out.copy_from(x);
    }
    fn backward(&self, b: Backward<'_, T>) {
        if let Some(mut dx) = b.dx {
            dx.copy_from(b.dy.as_ref());
        }
    }
    fn onnx_form(&self) -> Option<OnnxForm> {
        None
    }
    fn box_clone(&self) -> Box<dyn Layer<T>> {
        Box::new(self.clone())
    }
}

#[derive(Debug, Clone)]
pub struct Dropout {
    spec: LayerSpec,
    shape: Shape,
    rate: f64,
}

impl Dropout {
    pub fn new(p: &PlannedLayer, rate: f64) -> Dropout {
        Dropout {
            spec: p.spec.clone(),
            shape: p.input.clone(),
            rate,
        }
    }
}

impl<T: Real> Layer<T> for Dropout {
    fn spec(&self) -> &LayerSpec {
        &self.spec
    }
    fn input_shape(&self) -> &Shape {
        &self.shape
    }
    fn output_shape(&self) -> &Shape {
        &self.shape
    }
    fn layout(&self) -> Option<Layout> {
        None
    }

    /// The mask (0 or 1 / (1 − rate) per value) is drawn value by value in column order
    /// from the epoch's stream, so it is fixed by the seed whatever the threads.
    fn forward(
        &self,
        x: MatRef<'_, T>,
        mut out: MatMut<'_, T>,
        cache: &mut Cache<T>,
        f: &mut Forward,
    ) {
        let rng = match (&mut f.rng, f.train && self.rate > 0.0) {
            (Some(rng), true) => rng,
            _ => {
                out.copy_from(x);
                return;
            }
        };
        let keep = T::of(1.0 / (1.0 - self.rate));
        cache.values.clear();
        for j in 0..x.ncols() {
            for i in 0..x.nrows() {
                let m = if rng.uniform() < self.rate {
                    T::zero()
                } else {
                    keep
                };
                cache.values.push(m);
                out[(i, j)] = x[(i, j)] * m;
            }
        }
    }

    fn backward(&self, b: Backward<'_, T>) {
        let Some(mut dx) = b.dx else { return };
        if b.cache.values.is_empty() {
            dx.copy_from(b.dy.as_ref());
            return;
        }
        let rows = dx.nrows();
        for j in 0..dx.ncols() {
            for i in 0..rows {
                dx[(i, j)] = b.dy[(i, j)] * b.cache.values[j * rows + i];
            }
        }
    }

    fn workspace_bytes(&self, n: usize) -> u64 {
        (n * self.shape.size() * std::mem::size_of::<T>()) as u64
    }

    fn onnx_form(&self) -> Option<OnnxForm> {
        None
    }

    fn box_clone(&self) -> Box<dyn Layer<T>> {
        Box::new(self.clone())
    }
}
