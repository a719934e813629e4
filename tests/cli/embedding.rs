//! `report.embedding`: a t-SNE, MDS or Isomap picture of the report's sample, with its
//! trustworthiness in report.json, its points in report.html and embedding.parquet (the
//! pictured rows' passthrough columns, then e1, e2); and its errors.

use std::path::Path;

use super::common::*;

fn run(dir: &Path, embedding: &str) -> std::process::Output {
    let yaml = format!(
        "name: picture\ninput: {{ path: {}, features: {{ regex: '^pixel_' }}, passthrough: [label] }}\n\
         steps:\n  - pca: {{ n_components: 20 }}\noutput: {{ dir: {} }}\n\
         report: {{ color_by: label, embedding: {embedding} }}\n",
        root().join("sample-data/digits.parquet").display(),
        dir.join("out").display()
    );
    let file = pipeline(dir, &yaml);
    dimred().arg("run").arg(&file).arg("-q").output().unwrap()
}

#[test]
fn each_method_writes_its_picture_and_its_trustworthiness() {
    for (method, extra, rows) in [
        ("tsne", ", sample: 400, perplexity: 20", 400),
        ("mds", "", 1797),
        ("isomap", ", sample: 300, n_neighbors: 10", 300),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let output = run(tmp.path(), &format!("{{ method: {method}{extra} }}"));
        assert!(
            output.status.success(),
            "{method}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let out = tmp.path().join("out");
        let report = json(&out.join("report.json"));
        let section = &report["embedding"];
        assert_eq!(section["method"], method);
        assert_eq!(section["rows"], rows);
        let trust = section["trustworthiness"].as_f64().unwrap();
        assert!(trust > 0.8 && trust <= 1.0, "{method}: {trust}");
        let names = parquet_column_names(&out.join("embedding.parquet"));
        assert_eq!(names, ["label", "e1", "e2"], "{method}");
        let columns = parquet_columns(&out.join("embedding.parquet"));
        assert!(
            columns
                .iter()
                .all(|(_, v)| v.len() == rows && v.iter().all(|x| x.is_finite()))
        );
        let html = std::fs::read_to_string(out.join("report.html")).unwrap();
        assert!(html.contains("data-plot=\"embedding\""), "{method}");
        assert!(report["outputs"].to_string().contains("embedding.parquet"));
    }
}

#[test]
fn tsne_of_digits_is_trustworthy() {
    // the lecture's picture: t-SNE of the digits' first 20 PCA scores keeps neighbours
    let tmp = tempfile::tempdir().unwrap();
    let output = run(tmp.path(), "{ method: tsne, sample: 1000 }");
    assert!(output.status.success());
    let report = json(&tmp.path().join("out/report.json"));
    let trust = report["embedding"]["trustworthiness"].as_f64().unwrap();
    assert!(trust >= 0.95, "{trust}");
}

#[test]
fn bad_embedding_keys_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    for (embedding, code, needle) in [
        ("{ method: tsne, sample: 2 }", 2, "report.embedding.sample"),
        (
            "{ method: tsne, perplexity: -1 }",
            2,
            "report.embedding.perplexity",
        ),
        ("{ method: umap }", 2, "umap"),
        (
            "{ method: isomap, sample: 300, n_neighbors: 1 }",
            3,
            "report.embedding",
        ),
    ] {
        let output = run(tmp.path(), embedding);
        assert_eq!(output.status.code(), Some(code), "{embedding}");
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{embedding}: {err}");
        assert!(err.contains(needle), "{embedding}: {err}");
        assert!(!tmp.path().join("out/embedding.parquet").exists());
    }
}
