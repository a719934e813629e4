//! Pooling and nearest-neighbour upsampling on batches laid out as samples (channels
//! last): `max_pool` keeps each window's largest value and remembers where it was (the
//! first, where several are equal), `avg_pool` its mean, `upsample` repeats each value
//! over a `size` block. Threads take whole samples.

use faer::{MatMut, MatRef};

use super::activation::{Real, vectorized};
use super::layer::{Backward, Cache, Forward, Layer, OnnxForm};
use super::par::each_piece;
use super::plan::PlannedLayer;
use super::shape::{Layout, Shape, contiguous, contiguous_mut};
use super::spec::LayerSpec;
use crate::onnx::{DType, Graph};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Max,
    Avg,
    Upsample,
}

#[derive(Debug, Clone)]
pub struct Pool {
    kind: Kind,
    /// Window (pooling) or block (upsampling) size, and the pooling stride.
    size: (usize, usize),
    stride: (usize, usize),
    spec: LayerSpec,
    shapes: (Shape, Shape),
}

impl Pool {
    pub fn new(p: &PlannedLayer) -> Pool {
        let (kind, size, stride) = match &p.spec {
            LayerSpec::MaxPool(s) => (Kind::Max, s.size, s.stride.unwrap_or(s.size)),
            LayerSpec::AvgPool(s) => (Kind::Avg, s.size, s.stride.unwrap_or(s.size)),
            LayerSpec::Upsample(s) => (Kind::Upsample, s.size, s.size),
            _ => unreachable!("a pooling spec"),
        };
        Pool {
            kind,
            size: (size.0, size.1),
            stride: (stride.0, stride.1),
            spec: p.spec.clone(),
            shapes: (p.input.clone(), p.output.clone()),
        }
    }

    fn dims(&self) -> ((usize, usize, usize), (usize, usize)) {
        let i = self.shapes.0.image().expect("planned as an image");
        let o = self.shapes.1.image().expect("planned as an image");
        (i, (o.0, o.1))
    }

    /// For each output position of a sample, the input positions it comes from (window
    /// or source), as `f(first output value, first input value, first of its window)`:
    /// each names a run of `channels` values, so the kinds' loops run over channels and
    /// vectorise.
    #[inline(always)]
    fn each(&self, mut f: impl FnMut(usize, usize, bool)) {
        let ((_, w, c), (oh, ow)) = self.dims();
        for oy in 0..oh {
            for ox in 0..ow {
                let o = (oy * ow + ox) * c;
                if self.kind == Kind::Upsample {
                    f(o, ((oy / self.size.0) * w + ox / self.size.1) * c, true);
                    continue;
                }
                for ky in 0..self.size.0 {
                    for kx in 0..self.size.1 {
                        let (y, x) = (oy * self.stride.0 + ky, ox * self.stride.1 + kx);
                        f(o, (y * w + x) * c, ky == 0 && kx == 0);
                    }
                }
            }
        }
    }

    fn channels(&self) -> usize {
        self.dims().0.2
    }
}

/// Contiguous sample ranges for up to `parts` threads.
fn split(n: usize, parts: usize) -> Vec<(usize, usize)> {
    let parts = parts.clamp(1, n.max(1));
    (0..parts)
        .map(|i| (i * n / parts, (i + 1) * n / parts))
        .collect()
}

impl<T: Real> Layer<T> for Pool {
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
        Some(Layout::Samples)
    }

    fn forward(&self, x: MatRef<'_, T>, out: MatMut<'_, T>, cache: &mut Cache<T>, f: &mut Forward) {
        let (isz, osz) = (self.shapes.0.size(), self.shapes.1.size());
        let n = x.ncols();
        let xs = contiguous(x);
        let outs = contiguous_mut(out);
        if self.kind == Kind::Max && f.train {
            cache.index.resize(n * osz, 0);
        }
        let window = T::of((self.size.0 * self.size.1) as f64);
        let ranges = split(n, f.threads);
        let mut items = Vec::new();
        let (mut o_rest, mut i_rest): (&mut [T], &mut [u32]) = (outs, &mut cache.index);
        for &(a, b) in &ranges {
            let (o, or) = o_rest.split_at_mut((b - a) * osz);
            let take = if i_rest.len() >= (b - a) * osz {
                (b - a) * osz
            } else {
                0
            };
            let (ix, ir) = i_rest.split_at_mut(take);
            items.push((a, b, o, ix));
            (o_rest, i_rest) = (or, ir);
        }
        let c = self.channels();
        each_piece(items, |(a, b, out, idx)| {
            vectorized(
                #[inline(always)]
                || {
                    for (s, i) in (a..b).enumerate() {
                        let x = &xs[i * isz..(i + 1) * isz];
                        let y = &mut out[s * osz..(s + 1) * osz];
                        match self.kind {
                            Kind::Upsample => {
                                self.each(|o, i, _| y[o..o + c].copy_from_slice(&x[i..i + c]))
                            }
                            Kind::Avg => {
                                y.fill(T::zero());
                                self.each(|o, i, _| {
                                    for (y, &x) in y[o..o + c].iter_mut().zip(&x[i..i + c]) {
                                        *y += x;
                                    }
                                });
                                y.iter_mut().for_each(|v| *v /= window);
                            }
                            Kind::Max if idx.is_empty() => self.each(|o, i, first| {
                                let (y, x) = (&mut y[o..o + c], &x[i..i + c]);
                                if first {
                                    y.copy_from_slice(x);
                                } else {
                                    for (y, &x) in y.iter_mut().zip(x) {
                                        *y = if x > *y { x } else { *y };
                                    }
                                }
                            }),
                            Kind::Max => {
                                let idx = &mut idx[s * osz..(s + 1) * osz];
                                self.each(|o, i, first| {
                                    let (y, x) = (&mut y[o..o + c], &x[i..i + c]);
                                    let ix = &mut idx[o..o + c];
                                    if first {
                                        y.copy_from_slice(x);
                                        for (k, ix) in ix.iter_mut().enumerate() {
                                            *ix = (i + k) as u32;
                                        }
                                    } else {
                                        for (k, ((y, &x), ix)) in
                                            y.iter_mut().zip(x).zip(ix.iter_mut()).enumerate()
                                        {
                                            if x > *y {
                                                *y = x;
                                                *ix = (i + k) as u32;
                                            }
                                        }
                                    }
                                });
                            }
                        }
                    }
                },
            )
        });
    }

    fn backward(&self, b: Backward<'_, T>) {
        let Some(dx) = b.dx else { return };
        let (isz, osz) = (self.shapes.0.size(), self.shapes.1.size());
        let n = b.y.ncols();
        let dy = contiguous(b.dy.as_ref());
        let dxs = contiguous_mut(dx);
        dxs.fill(T::zero());
        let window = T::of((self.size.0 * self.size.1) as f64);
        let idx = &b.cache.index;
        let c = self.channels();
        let ranges = split(n, b.threads);
        let mut items = Vec::new();
        let mut rest = dxs;
        for &(a, e) in &ranges {
            let (d, r) = rest.split_at_mut((e - a) * isz);
            items.push((a, e, d));
            rest = r;
        }
        each_piece(items, |(a, e, d)| {
            for (s, i) in (a..e).enumerate() {
                let g = &dy[i * osz..(i + 1) * osz];
                let d = &mut d[s * isz..(s + 1) * isz];
                match self.kind {
                    Kind::Max => {
                        for (o, &gv) in g.iter().enumerate() {
                            d[idx[i * osz + o] as usize] += gv;
                        }
                    }
                    Kind::Avg => self.each(|o, i, _| {
                        for (d, &g) in d[i..i + c].iter_mut().zip(&g[o..o + c]) {
                            *d += g / window;
                        }
                    }),
                    Kind::Upsample => self.each(|o, i, _| {
                        for (d, &g) in d[i..i + c].iter_mut().zip(&g[o..o + c]) {
                            *d += g;
                        }
                    }),
                }
            }
        });
    }

    fn workspace_bytes(&self, n: usize) -> u64 {
        match self.kind {
            Kind::Max => (n * self.shapes.1.size() * 4) as u64,
            _ => 0,
        }
    }

    fn onnx_form(&self) -> Option<OnnxForm> {
        Some(OnnxForm::Nchw)
    }

    fn onnx(&self, g: &mut Graph, x: &str, _name: &str) -> String {
        let attrs = [
            super::conv::ints("kernel_shape", &[self.size.0, self.size.1]),
            super::conv::ints("strides", &[self.stride.0, self.stride.1]),
        ];
        match self.kind {
            Kind::Max => g.node_with("MaxPool", &[x], &attrs),
            Kind::Avg => g.node_with("AveragePool", &[x], &attrs),
            Kind::Upsample => {
                let scales = [1.0, 1.0, self.size.0 as f64, self.size.1 as f64];
                let s = g.constant_as("upsample.scales", &[4], &scales, DType::Float32);
                // half_pixel with round_prefer_floor (the defaults) picks ⌊o / size⌋ for
                // an integral factor.
                g.node_with("Resize", &[x, "", &s], &[])
            }
        }
    }

    fn box_clone(&self) -> Box<dyn Layer<T>> {
        Box::new(self.clone())
    }
}
