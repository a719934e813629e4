//! The network's scalar type and its activations. The derivative of every activation is
//! written in terms of its output, so a forward pass keeps only activations; the loops
//! choose the activation once outside, so they vectorise.

use super::super::keys::Activation;

/// The scalar type of a network: f32 for training (as PyTorch's default), f64 for the
/// finite-difference gradient checks.
pub trait Real:
    faer::traits::RealField + num_traits::Float + Copy + Send + Sync + std::fmt::Debug + 'static
{
    fn of(v: f64) -> Self;
    fn f64(self) -> f64;
    /// 2ⁿ for an integral n within the normal range, from the exponent bits.
    fn pow2(n: Self) -> Self;
    /// The nearest integer (ties to even) for |x| < 2²², by adding and subtracting
    /// 1.5 · 2^(mantissa bits): plain arithmetic, so loops using it vectorise, where
    /// `round` is a libm call.
    fn round_fast(self) -> Self;
}

impl Real for f32 {
    #[inline(always)]
    fn of(v: f64) -> f32 {
        v as f32
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn pow2(n: f32) -> f32 {
        f32::from_bits(((n as i32 + 127) as u32) << 23)
    }
    #[inline(always)]
    fn round_fast(self) -> f32 {
        const MAGIC: f32 = 12_582_912.0; // 1.5 · 2²³
        (self + MAGIC) - MAGIC
    }
}

impl Real for f64 {
    #[inline(always)]
    fn of(v: f64) -> f64 {
        v
    }
    #[inline(always)]
    fn f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn pow2(n: f64) -> f64 {
        f64::from_bits(((n as i64 + 1023) as u64) << 52)
    }
    #[inline(always)]
    fn round_fast(self) -> f64 {
        const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 · 2⁵²
        (self + MAGIC) - MAGIC
    }
}

pub use crate::simd::vectorized;

/// The sum of `v` in sixteen interleaved partial sums, so the adds vectorise (a single
/// running sum is a chain of dependent adds). The order is fixed, so the result is the
/// same at every vector width.
#[inline(always)]
pub fn lane_sum<T: Real>(v: &[T]) -> T {
    let mut acc = [T::zero(); 16];
    let chunks = v.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    let total = acc.iter().fold(T::zero(), |s, &a| s + a);
    rest.iter().fold(total, |s, &x| s + x)
}

/// SELU's constants (Klambauer et al., 2017).
pub const SELU_LAMBDA: f64 = 1.050_700_987_355_480_5;
pub const SELU_ALPHA: f64 = 1.673_263_242_354_377_2;

#[inline(always)]
pub fn activate<T: Real>(act: Activation, z: T) -> T {
    match act {
        Activation::Linear => z,
        Activation::Sigmoid => sigmoid_fast(z),
        Activation::Tanh => num_traits::Float::tanh(z),
        Activation::Relu => {
            if z > T::zero() {
                z
            } else {
                T::zero()
            }
        }
        Activation::Selu => {
            if z > T::zero() {
                T::of(SELU_LAMBDA) * z
            } else {
                T::of(SELU_LAMBDA * SELU_ALPHA) * num_traits::Float::exp_m1(z)
            }
        }
    }
}

/// The logistic function without branches or libm calls: `1 / (1 + e^(−z))` with e^x
/// from a range reduction x = n ln 2 + r, a degree-7 polynomial for e^r on |r| ≤ ln 2 / 2
/// and 2ⁿ built from the exponent bits; z is clamped where the result is 0 or 1 in f32
/// anyway. Within a few ulp of the exact value (tested), for f32 and f64 alike.
#[inline(always)]
pub fn sigmoid_fast<T: Real>(z: T) -> T {
    let x = (-z).max(T::of(-87.0)).min(T::of(87.0));
    let n = (x * T::of(std::f64::consts::LOG2_E)).round_fast();
    // Cody & Waite: ln 2 in two parts, the first exact in a few bits, so n·ln 2 costs no
    // rounding for |n| ≤ 126.
    let r = (x - n * T::of(0.693_359_375)) - n * T::of(-2.121_944_400_546_905_8e-4);
    // e^r by its Taylor polynomial in Horner form (the remainder is below 2⁻²⁴ here).
    let mut p = T::of(1.0 / 5040.0);
    for c in [
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + T::of(c);
    }
    let e = p * T::pow2(n);
    T::one() / (T::one() + e)
}

/// d act / dz, from the activation's output `a`.
#[inline(always)]
pub fn derivative<T: Real>(act: Activation, a: T) -> T {
    match act {
        Activation::Linear => T::one(),
        Activation::Sigmoid => a * (T::one() - a),
        Activation::Tanh => T::one() - a * a,
        Activation::Relu => {
            if a > T::zero() {
                T::one()
            } else {
                T::zero()
            }
        }
        // z > 0 ⇔ a > 0; below, a = λα(eᶻ − 1) so da/dz = λα eᶻ = a + λα.
        Activation::Selu => {
            if a > T::zero() {
                T::of(SELU_LAMBDA)
            } else {
                a + T::of(SELU_LAMBDA * SELU_ALPHA)
            }
        }
    }
}

/// `d *= act'(a)` over a column, with the activation chosen once outside the loop so the
/// loop vectorises (a `match` per value does not).
#[inline(always)]
pub fn mul_derivative<T: Real>(act: Activation, d: &mut [T], a: &[T]) {
    #[inline(always)]
    fn apply<T: Real>(d: &mut [T], a: &[T], f: impl Fn(T) -> T) {
        for (d, &a) in d.iter_mut().zip(a) {
            *d *= f(a);
        }
    }
    match act {
        Activation::Linear => {}
        Activation::Sigmoid => apply(d, a, |a| derivative(Activation::Sigmoid, a)),
        Activation::Tanh => apply(d, a, |a| derivative(Activation::Tanh, a)),
        Activation::Relu => apply(d, a, |a| derivative(Activation::Relu, a)),
        Activation::Selu => apply(d, a, |a| derivative(Activation::Selu, a)),
    }
}

/// `v = act(v)` over a run of values.
#[inline(always)]
pub fn activate_slice<T: Real>(act: Activation, v: &mut [T]) {
    #[inline(always)]
    fn apply<T: Real>(v: &mut [T], f: impl Fn(T) -> T) {
        for v in v {
            *v = f(*v);
        }
    }
    match act {
        Activation::Linear => {}
        Activation::Sigmoid => apply(v, sigmoid_fast),
        Activation::Tanh => apply(v, |z| activate(Activation::Tanh, z)),
        Activation::Relu => apply(v, |z| activate(Activation::Relu, z)),
        Activation::Selu => apply(v, |z| activate(Activation::Selu, z)),
    }
}

/// The output layer's dz under the mean squared error, `d = c (y − t) act'(y)`, with the
/// activation chosen outside the loop as in `mul_derivative`.
#[inline(always)]
pub fn mse_output_gradient<T: Real>(act: Activation, c: T, d: &mut [T], y: &[T], t: &[T]) {
    #[inline(always)]
    fn apply<T: Real>(c: T, d: &mut [T], y: &[T], t: &[T], f: impl Fn(T) -> T) {
        for ((d, &y), &t) in d.iter_mut().zip(y).zip(t) {
            *d = c * (y - t) * f(y);
        }
    }
    match act {
        Activation::Linear => apply(c, d, y, t, |_| T::one()),
        Activation::Sigmoid => apply(c, d, y, t, |y| derivative(Activation::Sigmoid, y)),
        Activation::Tanh => apply(c, d, y, t, |y| derivative(Activation::Tanh, y)),
        Activation::Relu => apply(c, d, y, t, |y| derivative(Activation::Relu, y)),
        Activation::Selu => apply(c, d, y, t, |y| derivative(Activation::Selu, y)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_sigmoid_matches_the_exact_one() {
        let mut worst = 0.0f64;
        for i in -200_000..=200_000 {
            let z = i as f64 * 1e-4;
            let exact = 1.0 / (1.0 + (-z).exp());
            // Against the exact value at the f32 input (rounding z itself moves σ by up to
            // |z|·2⁻²⁴ relative).
            let zf = z as f32;
            let exact32 = 1.0 / (1.0 + (-(zf as f64)).exp());
            let fast = sigmoid_fast(zf) as f64;
            worst = worst.max((fast - exact32).abs() / exact32);
            let fast64 = sigmoid_fast(z);
            assert!((fast64 - exact).abs() <= 1e-7 * exact, "f64 at {z}");
        }
        assert!(worst < 4e-7, "worst relative error {worst:e}");
        assert_eq!(sigmoid_fast(1000.0f32), 1.0);
        assert!(sigmoid_fast(-1000.0f32) < 1e-37);
    }
}
