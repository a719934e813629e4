//! The binary: its allocator, then the command line (`dimred::command`, which the Python
//! package's `dimred` command runs too).

/// mimalloc returns memory freed on another thread promptly; with glibc's malloc, chunks
/// allocated by the reader and freed by the fitter kept peak memory far above the
/// O(batch × features) bound (673 MB instead of ~250 MB on 1M × 256). With the `python`
/// feature the library declares it (for the Python module), and the binary uses that.
#[cfg(not(feature = "python"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    dimred::command::keep_freed_pages();
    std::process::exit(dimred::command::main(std::env::args_os()));
}
