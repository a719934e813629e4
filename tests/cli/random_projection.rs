//! The `random_projection` step end to end: scikit-learn's matrices (entries and density
//! as its formulas give them), distances kept within the Johnson–Lindenstrauss bound,
//! the same rows from `run` and from `transform` on the saved model, and its errors.

use std::path::Path;

use super::common::*;

fn run(dir: &Path, yaml: &str) -> std::path::PathBuf {
    let file = pipeline(dir, yaml);
    dimred().arg("run").arg(&file).arg("-q").assert().success();
    dir.join("out")
}

/// Squared distances between every pair of the first `n` rows, after / before.
fn distance_ratios(before: &[Vec<f64>], after: &[Vec<f64>], n: usize) -> Vec<f64> {
    let d2 = |cols: &[Vec<f64>], a: usize, b: usize| -> f64 {
        cols.iter().map(|c| (c[a] - c[b]).powi(2)).sum()
    };
    let mut ratios = Vec::new();
    for a in 0..n {
        for b in a + 1..n {
            ratios.push(d2(after, a, b) / d2(before, a, b));
        }
    }
    ratios
}

fn columns_named(path: &Path, prefix: &str) -> Vec<Vec<f64>> {
    parquet_columns(path)
        .into_iter()
        .filter(|(n, _)| n.starts_with(prefix))
        .map(|(_, v)| v)
        .collect()
}

#[test]
fn sparse_projection_of_digits_follows_sklearn_and_transform_agrees() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    dimred()
        .args([
            "run",
            "pipelines/digits_random_projection.yaml",
            "--quiet",
            "--set",
        ])
        .arg(format!("output.dir={}", out.display()))
        .assert()
        .success();
    let model = json(&out.join("model.json"));
    assert_eq!(
        model["steps"],
        serde_json::json!(["scale", "random_projection"])
    );
    let section = &model["random_projection"];
    assert_eq!(section["n_components_"], 32);
    // scikit-learn's density 'auto' is 1/sqrt(n_features); nonzeros are ±sqrt(1/(d k)).
    let density = section["density_"].as_f64().unwrap();
    assert_eq!(density, 1.0 / 8.0);
    let comps = matrix(&section["components_"]);
    let magnitude = (1.0 / (density * 32.0)).sqrt();
    let nonzero: Vec<f64> = comps
        .iter()
        .flatten()
        .copied()
        .filter(|v| *v != 0.0)
        .collect();
    assert!(nonzero.iter().all(|v| (v.abs() - magnitude).abs() < 1e-15));
    // nonzeros ~ Binomial(32 × 64, 1/8): mean 256, sd 15
    assert!((196..=316).contains(&nonzero.len()), "{}", nonzero.len());

    // The reduced rows are ((x − mean_) @ components_ᵀ), computed here from model.json.
    let reduced = columns_named(&out.join("reduced.parquet"), "rp");
    assert_eq!(reduced.len(), 32);
    let pixels = columns_named(&root().join("sample-data/digits.parquet"), "pixel_");
    let mean = floats(&model["mean_"]);
    for (r, row) in comps.iter().enumerate().take(4) {
        let expected: Vec<f64> = (0..pixels[0].len())
            .map(|i| (0..64).map(|j| (pixels[j][i] - mean[j]) * row[j]).sum())
            .collect();
        assert_rel(&reduced[r], &expected, 1e-12, &format!("rp{}", r + 1));
    }

    let again = tmp.path().join("again.parquet");
    dimred()
        .args(["transform", "--quiet", "--model"])
        .arg(out.join("model.json"))
        .args(["--input", "sample-data/digits.parquet", "--output"])
        .arg(&again)
        .assert()
        .success();
    assert_eq!(columns_named(&again, "rp"), reduced, "transform == run");

    // --inverse maps back through the pseudo-inverse: 32 of 64 dimensions survive, so the
    // rebuilt rows are the projection of the centred rows onto the components' row space.
    let back = tmp.path().join("back.parquet");
    dimred()
        .args(["transform", "--quiet", "--inverse", "--model"])
        .arg(out.join("model.json"))
        .args(["--input"])
        .arg(out.join("reduced.parquet"))
        .arg("--output")
        .arg(&back)
        .assert()
        .success();
    let rebuilt = columns_named(&back, "pixel_");
    assert_eq!(rebuilt.len(), 64);
    // Projecting the rebuilt rows again gives the same codes (P P⁺ = I on the codes).
    for (r, row) in comps.iter().enumerate().take(4) {
        let again: Vec<f64> = (0..rebuilt[0].len())
            .map(|i| (0..64).map(|j| (rebuilt[j][i] - mean[j]) * row[j]).sum())
            .collect();
        assert_rel(&again, &reduced[r], 1e-9, &format!("P P+ rp{}", r + 1));
    }
}

#[test]
fn auto_components_keep_every_distance_within_the_jl_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("wide.parquet");
    dimred()
        .args([
            "generate", "-q", "--rows", "200", "--cols", "3000", "--rank", "20", "--seed", "3",
            "--output",
        ])
        .arg(&data)
        .assert()
        .success();
    let out = run(
        tmp.path(),
        &format!(
            "name: wide-rp\ninput:\n  path: {}\nsteps:\n  - random_projection: {{ n_components: auto, eps: 0.5, seed: 4 }}\noutput:\n  dir: {}\n",
            data.display(),
            tmp.path().join("out").display()
        ),
    );
    let model = json(&out.join("model.json"));
    // scikit-learn's johnson_lindenstrauss_min_dim(200, eps=0.5) = 254
    assert_eq!(model["random_projection"]["n_components_"], 254);
    let report = json(&out.join("report.json"));
    assert_eq!(report["random_projection"]["eps"], 0.5);
    let before = columns_named(&data, "f");
    let after = columns_named(&out.join("reduced.parquet"), "rp");
    let ratios = distance_ratios(&before, &after, 200);
    let worst = ratios.iter().map(|r| (r - 1.0).abs()).fold(0.0, f64::max);
    assert!(
        worst < 0.5,
        "a pair's squared distance changed by {worst} (eps 0.5)"
    );
}

#[test]
fn gaussian_entries_have_variance_one_over_k() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(
        tmp.path(),
        &format!(
            "name: g\ninput:\n  path: {}\n  features: {{ regex: \"^pixel_\" }}\nsteps:\n  - random_projection: {{ n_components: 16, seed: 9 }}\noutput:\n  dir: {}\n",
            root().join("sample-data/digits.parquet").display(),
            tmp.path().join("out").display()
        ),
    );
    let comps = matrix(&json(&out.join("model.json"))["random_projection"]["components_"]);
    let values: Vec<f64> = comps.into_iter().flatten().collect();
    let n = values.len() as f64; // 1024 entries
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    // N(0, 1/16): the sample mean's sd is 0.0078, the variance's about 0.0028
    assert!(mean.abs() < 0.04, "{mean}");
    assert!((var - 1.0 / 16.0).abs() < 0.015, "{var}");
}

#[test]
fn auto_beyond_the_features_is_refused_before_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let file = pipeline(
        tmp.path(),
        &format!(
            "name: rp\ninput:\n  path: {}\n  features: {{ regex: \"^pixel_\" }}\nsteps:\n  - random_projection: {{ n_components: auto, eps: 0.5 }}\noutput:\n  dir: {}\n",
            root().join("sample-data/digits.parquet").display(),
            tmp.path().join("out").display()
        ),
    );
    // scikit-learn: "eps=0.500000 and n_samples=1797 lead to a target dimension of 359
    // which is larger than the original space with n_features=64"
    let assert = dimred().arg("validate").arg(&file).assert().code(2);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        err.contains("gives 359 components, more than the 64 features"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    for (yaml, needle) in [
        ("{ n_components: auto, eps: 1.5 }", "eps must lie in (0, 1)"),
        (
            "{ n_components: 4, density: 0.5 }",
            "density applies to kind: sparse only",
        ),
        ("{ n_components: 0 }", "n_components must be at least 1"),
        (
            "{ n_components: 4, kind: sparse, density: 2.0 }",
            "density must lie in (0, 1]",
        ),
        ("{ n_components: many }", "expected a number or auto"),
        (
            "{ n_components: 4, eps: 0.3 }",
            "eps applies to n_components: auto only",
        ),
    ] {
        let text = format!(
            "name: rp\ninput:\n  path: {}\n  features: {{ regex: \"^pixel_\" }}\nsteps:\n  - random_projection: {yaml}\noutput:\n  dir: {}\n",
            root().join("sample-data/digits.parquet").display(),
            tmp.path().join("out").display()
        );
        let file = pipeline(tmp.path(), &text);
        let assert = dimred().arg("validate").arg(&file).assert().code(2);
        let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert!(err.contains(needle), "{yaml}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}

#[test]
fn pca_after_a_projection_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "name: rp\ninput:\n  path: {}\n  features: {{ regex: \"^pixel_\" }}\nsteps:\n  - random_projection: {{ n_components: 8 }}\n  - pca: {{ n_components: 2 }}\noutput:\n  dir: {}\n",
        root().join("sample-data/digits.parquet").display(),
        tmp.path().join("out").display()
    );
    let file = pipeline(tmp.path(), &text);
    let assert = dimred().arg("validate").arg(&file).assert().code(2);
    let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        err.contains("steps[1]: pca must be the first reducer"),
        "{err}"
    );
}
