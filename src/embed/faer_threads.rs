//! Runs faer on threads that end afterwards. faer's AVX-512 kernels (through the `gemm`
//! crate) return with the upper halves of the vector registers dirty, and the legacy-SSE
//! code that plain Rust compiles to then runs several times slower on that thread: the
//! quadtree walk of t-SNE ran 3× slower on threads that had done one GEMM, and a
//! `vzeroupper` after the GEMM restored it. Rather than reach for that instruction (unsafe,
//! x86 only), the few faer calls here get threads of their own.

/// `f` on a new thread; its result (or its panic) comes back here.
pub(super) fn on_own_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| match scope.spawn(f).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// `f` inside a new rayon pool as wide as the current one, whose threads end with it.
pub(super) fn in_own_pool<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(rayon::current_num_threads())
        .build();
    match pool {
        Ok(pool) => pool.install(f),
        // no threads to be had: the same result, only slower afterwards
        Err(_) => f(),
    }
}
