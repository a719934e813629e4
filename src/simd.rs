//! Vector instructions chosen at run time, shared by the reader's row layout and the
//! autoencoder's elementwise loops.

/// Runs `f` compiled for the widest vector instructions the CPU has (AVX-512, else AVX2
/// with FMA, else the x86-64 baseline of SSE2), chosen at run time so one binary runs
/// everywhere. The elementwise loops (activations, their derivatives, the optimizer)
/// otherwise run four f32 lanes at a time. No fused multiply-add is introduced, so every
/// level gives the same numbers.
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")]
        unsafe fn v4<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn v3<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512vl") && has!("avx512dq") && has!("avx512bw") {
            // SAFETY: the CPU has every feature v4 is compiled for.
            return unsafe { v4(f) };
        }
        if has!("avx2") && has!("fma") {
            // SAFETY: as above, for v3.
            return unsafe { v3(f) };
        }
    }
    f()
}
