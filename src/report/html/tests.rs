use super::*;
use crate::report::{AutoencoderReport, EpochReport, InputReport, PassReport};

/// A report of a run without a pca step, by hand, as an autoencoder step would fill it.
fn autoencoder_report() -> Report {
    Report {
        dimred_version: "0.1.0".into(),
        pipeline: serde_json::json!({"name": "ae <test> & co"}),
        input: InputReport {
            path: "x.parquet".into(),
            format: "parquet".into(),
            files: vec!["x.parquet".into()],
        },
        scaler: "standard".into(),
        n_samples: 1000,
        n_features: 4,
        feature_names: (0..4).map(|i| format!("f{i}")).collect(),
        output_columns: vec![],
        pca: None,
        autoencoder: Some(AutoencoderReport {
            widths: vec![4, 3, 2, 3, 4],
            latent: 2,
            epochs: (1..=6)
                .map(|e| EpochReport {
                    epoch: e,
                    train_loss: 1.0 / e as f64,
                    validation_loss: Some(1.2 / e as f64 + if e > 4 { 0.2 } else { 0.0 }),
                    seconds: 0.1,
                    learning_rate: None,
                    samples_per_second: None,
                })
                .collect(),
            best_epoch: 4,
            stop_reason: crate::steps::autoencoder::history::StopReason::EarlyStopping,
            train_rows: 900,
            validation_rows: 100,
            reconstruction_error: 0.3,
            samples_per_second: 1e5,
            replay: Default::default(),
        }),
        rows_read: 1000,
        rows_skipped: 0,
        filters: Vec::new(),
        rows_written: 1000,
        passes: vec![PassReport {
            name: "epoch 1".into(),
            rows: 1000,
            seconds: 0.1,
            rows_per_second: 1e4,
        }],
        seconds_total: 1.0,
        peak_rss_bytes: None,
        reconstruction_error: None,
        evaluation: None,
        sections: serde_json::Map::new(),
        outputs: vec![],
    }
}

#[test]
fn autoencoder_loss_curves_mark_the_best_epoch() {
    let report = autoencoder_report();
    let sample = ReportSample {
        rows_seen: 3,
        index: vec![0, 1, 2],
        reduced: vec![vec![0.0, 1.0], vec![1.0, 0.5], vec![2.0, -1.0]],
        ..ReportSample::default()
    };
    let html = render(&report, Some(&sample));
    assert!(html.contains("data-plot=\"loss\""));
    assert!(html.contains("best epoch 4"));
    assert!(
        html.contains("data-plot=\"scatter\""),
        "latent 2 has a scatter"
    );
    assert!(!html.contains("data-plot=\"scree\""), "no pca, no scree");
    assert!(html.contains("ae &lt;test&gt; &amp; co"));
    assert!(!html.contains("<script"));
    assert!(!html.contains("http"));
    // the loss values drawn are the epochs'
    let start = html.find("data-plot=\"loss\" data-values=\"").unwrap() + 30;
    let end = start + html[start..].find('"').unwrap();
    let values: Vec<[Option<f64>; 2]> =
        serde_json::from_str(&html[start..end].replace("&quot;", "\"")).unwrap();
    assert_eq!(values.len(), 6);
    assert_eq!(values[1][0], Some(0.5));
}

#[test]
fn without_a_sample_the_page_says_so() {
    let mut report = autoencoder_report();
    report.autoencoder.as_mut().unwrap().epochs.clear();
    let html = render(&report, None);
    assert!(html.contains("no sample was saved"));
    assert!(html.contains("no epochs were recorded"));
}

#[test]
fn wide_data_shows_top_loadings_and_no_correlation() {
    use crate::report::sample::Loadings;
    let p = 3000;
    let names: Vec<String> = (0..p).map(|i| format!("feature_{i}")).collect();
    let components = faer::Mat::from_fn(3, p, |c, j| ((c * 7 + j) as f64 * 0.01).sin());
    let loadings = Loadings::top(components.as_ref(), &names);
    assert_eq!(loadings.features.len(), 30);
    assert_eq!(loadings.n_features, p);
    let mut report = autoencoder_report();
    report.n_features = p;
    report.feature_names = names;
    let sample = ReportSample {
        rows_seen: 2,
        index: vec![0, 1],
        reduced: vec![vec![0.0, 1.0], vec![1.0, 0.5]],
        loadings: Some(loadings),
        ..ReportSample::default()
    };
    let html = render(&report, Some(&sample));
    assert!(html.contains("top 30 of 3000 features"));
    assert!(html.contains("correlation matrix is left out"));
}
