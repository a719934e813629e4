//! Streaming for real: a 2-million-row run stays under 512 MB peak memory, and its peak is
//! the same as a run on a quarter of the rows (memory is bounded by the chunk, not the data).
//! Peak RSS is the process's own VmHWM, written to report.json.

use super::common::*;

fn peak_for(rows: u64, dir: &std::path::Path) -> (u64, u64) {
    let data = dir.join(format!("m{rows}.parquet"));
    dimred()
        .args([
            "generate",
            "--rows",
            &rows.to_string(),
            "--cols",
            "32",
            "--rank",
            "4",
            "--seed",
            "3",
            "-q",
            "--output",
        ])
        .arg(&data)
        .assert()
        .success();
    let out = dir.join(format!("out{rows}"));
    let pipeline = pipeline(
        dir,
        &format!(
            "name: memory\ninput:\n  path: {}\n  batch_rows: 8192\nsteps:\n  - scale: {{ method: standard }}\n  - pca: {{ n_components: 4 }}\noutput:\n  dir: {}\n",
            data.display(),
            out.display()
        ),
    );
    dimred()
        .arg("run")
        .arg(&pipeline)
        .arg("-q")
        .assert()
        .success();
    let report = json(&out.join("report.json"));
    std::fs::remove_file(&data).unwrap();
    (
        report["peak_rss_bytes"]
            .as_u64()
            .expect("peak_rss_bytes on Linux"),
        report["n_samples"].as_u64().unwrap(),
    )
}

#[test]
fn two_million_rows_stay_under_512_mb_and_memory_is_flat() {
    let tmp = tempfile::tempdir().unwrap();
    let (small, n_small) = peak_for(500_000, tmp.path());
    let (large, n_large) = peak_for(2_000_000, tmp.path());
    assert_eq!((n_small, n_large), (500_000, 2_000_000));
    // The data is 2e6 × 32 × 8 B = 512 MB: holding it would break the bound.
    assert!(large < 512 * 1024 * 1024, "peak {} MB", large >> 20);
    // 4× the rows, same memory (allow 25 % + 16 MB for allocator noise).
    assert!(
        (large as f64) < 1.25 * small as f64 + 16.0 * 1024.0 * 1024.0,
        "peak grew with rows: {} MB at 0.5M, {} MB at 2M",
        small >> 20,
        large >> 20
    );
}
