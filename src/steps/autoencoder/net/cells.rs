//! One time step of each recurrent cell, forward and back, on a piece of a batch: the
//! elementwise gate arithmetic between the products `recurrent.rs` forms (PyTorch's gate
//! order and GRU's reset-after candidate). Kept apart from the layer, which owns the
//! weights, the pieces and the products.

use super::activation::{Real, sigmoid_fast, vectorized};

/// tanh through the branch-free sigmoid (tanh z = 2σ(2z) − 1), so the step loops
/// vectorise; within 1e-7 of libm's.
#[inline(always)]
pub fn tanh_fast<T: Real>(z: T) -> T {
    T::of(2.0) * sigmoid_fast(z + z) - T::one()
}

/// One LSTM step on `nr` rows: `gates` holds the pre-activations `x W_ih + h W_hh`
/// (biases not yet added) and becomes i, f, g, o; `rest` gets c, tanh c and h; `hp`,
/// `cp` move to this step's h and c.
pub(super) fn lstm_step<T: Real>(
    gates: &mut [T],
    rest: &mut [T],
    hp: &mut [T],
    cp: &mut [T],
    bias: &[T],
    h: usize,
    nr: usize,
) {
    let (gi, gates) = gates.split_at_mut(h * nr);
    let (gf, gates) = gates.split_at_mut(h * nr);
    let (gg, go) = gates.split_at_mut(h * nr);
    let (cs, rest) = rest.split_at_mut(h * nr);
    let (tcs, hs) = rest.split_at_mut(h * nr);
    vectorized(
        #[inline(always)]
        || {
            for j in 0..h {
                let (bi, bf, bg, bo) = (bias[j], bias[h + j], bias[2 * h + j], bias[3 * h + j]);
                let r = j * nr..(j + 1) * nr;
                let (gi, gf, gg, go) = (
                    &mut gi[r.clone()],
                    &mut gf[r.clone()],
                    &mut gg[r.clone()],
                    &mut go[r.clone()],
                );
                let (cs, tcs, hs) = (&mut cs[r.clone()], &mut tcs[r.clone()], &mut hs[r.clone()]);
                let (hp, cp) = (&mut hp[r.clone()], &mut cp[r]);
                for k in 0..nr {
                    let i = sigmoid_fast(gi[k] + bi);
                    let f = sigmoid_fast(gf[k] + bf);
                    let g = tanh_fast(gg[k] + bg);
                    let o = sigmoid_fast(go[k] + bo);
                    let c = f * cp[k] + i * g;
                    let tc = tanh_fast(c);
                    let hv = o * tc;
                    (gi[k], gf[k], gg[k], go[k]) = (i, f, g, o);
                    (cs[k], tcs[k], hs[k]) = (c, tc, hv);
                    (cp[k], hp[k]) = (c, hv);
                }
            }
        },
    );
}

/// One GRU step: `gates` holds `x W_ih` and becomes r, z, n; `ah` is `h W_hh` (zero at
/// the first step); `rest` gets `W_hn h + b_hn` and h; `hp` moves to this step's h.
#[allow(clippy::too_many_arguments)]
pub(super) fn gru_step<T: Real>(
    gates: &mut [T],
    rest: &mut [T],
    ah: &[T],
    hp: &mut [T],
    b_ih: &[T],
    b_hh: &[T],
    h: usize,
    nr: usize,
) {
    let (gr, gates) = gates.split_at_mut(h * nr);
    let (gz, gn) = gates.split_at_mut(h * nr);
    let (hns, hs) = rest.split_at_mut(h * nr);
    let (ar, ah) = ah.split_at(h * nr);
    let (az, an) = ah.split_at(h * nr);
    vectorized(
        #[inline(always)]
        || {
            for j in 0..h {
                let br = b_ih[j] + b_hh[j];
                let bz = b_ih[h + j] + b_hh[h + j];
                let (bin, bhn) = (b_ih[2 * h + j], b_hh[2 * h + j]);
                let r = j * nr..(j + 1) * nr;
                let (gr, gz, gn) = (&mut gr[r.clone()], &mut gz[r.clone()], &mut gn[r.clone()]);
                let (ar, az, an) = (&ar[r.clone()], &az[r.clone()], &an[r.clone()]);
                let (hns, hs, hp) = (&mut hns[r.clone()], &mut hs[r.clone()], &mut hp[r]);
                for k in 0..nr {
                    let rv = sigmoid_fast(gr[k] + ar[k] + br);
                    let z = sigmoid_fast(gz[k] + az[k] + bz);
                    let hn = an[k] + bhn;
                    let n = tanh_fast(gn[k] + bin + rv * hn);
                    let hv = (T::one() - z) * n + z * hp[k];
                    (gr[k], gz[k], gn[k], hns[k], hs[k], hp[k]) = (rv, z, n, hn, hv, hv);
                }
            }
        },
    );
}

/// One LSTM step backwards: from `dh` (the loss's gradient at h_t) and `dc` (at c_t from
/// the step after), the gates' pre-activation gradients into `da`; `dc` becomes the
/// gradient at c_{t−1}.
pub(super) fn lstm_step_back<T: Real>(
    block: &[T],
    c_prev: &[T],
    dh: &mut [T],
    dc: &mut [T],
    da: &mut [T],
    h: usize,
    nr: usize,
) {
    let m = h * nr;
    let (gi, gf, gg, go) = (
        &block[..m],
        &block[m..2 * m],
        &block[2 * m..3 * m],
        &block[3 * m..4 * m],
    );
    let tcs = &block[5 * m..6 * m];
    let (di, da) = da.split_at_mut(m);
    let (df, da) = da.split_at_mut(m);
    let (dg, d_o) = da.split_at_mut(m);
    vectorized(
        #[inline(always)]
        || {
            for k in 0..m {
                let (i, f, g, o, tc) = (gi[k], gf[k], gg[k], go[k], tcs[k]);
                let one = T::one();
                let dcv = dc[k] + dh[k] * o * (one - tc * tc);
                d_o[k] = dh[k] * tc * o * (one - o);
                di[k] = dcv * g * i * (one - i);
                df[k] = dcv * c_prev[k] * f * (one - f);
                dg[k] = dcv * i * (one - g * g);
                dc[k] = dcv * f;
            }
        },
    );
}

/// One GRU step backwards: from `dh`, the pre-activation gradients of the input side
/// (`dax`: r, z, n) and the recurrent side (`dah`: r, z, and n through the reset gate);
/// `dh` becomes the direct part of the gradient at h_{t−1} (z ⊙ dh).
pub(super) fn gru_step_back<T: Real>(
    block: &[T],
    h_prev: &[T],
    dh: &mut [T],
    dax: &mut [T],
    dah: &mut [T],
    h: usize,
    nr: usize,
) {
    let m = h * nr;
    let (gr, gz, gn, hns) = (
        &block[..m],
        &block[m..2 * m],
        &block[2 * m..3 * m],
        &block[3 * m..4 * m],
    );
    let (xr, dax) = dax.split_at_mut(m);
    let (xz, xn) = dax.split_at_mut(m);
    let (hr, dah) = dah.split_at_mut(m);
    let (hz, hn_) = dah.split_at_mut(m);
    vectorized(
        #[inline(always)]
        || {
            for k in 0..m {
                let (r, z, n, hn) = (gr[k], gz[k], gn[k], hns[k]);
                let one = T::one();
                let d = dh[k];
                let dan = d * (one - z) * (one - n * n);
                let daz = d * (h_prev[k] - n) * z * (one - z);
                let dar = dan * hn * r * (one - r);
                (xr[k], xz[k], xn[k]) = (dar, daz, dan);
                (hr[k], hz[k], hn_[k]) = (dar, daz, dan * r);
                dh[k] = d * z;
            }
        },
    );
}
