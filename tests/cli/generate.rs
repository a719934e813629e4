//! `dimred generate --images HxW`: labelled pictures of shapes for the conv autoencoder.

use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::common::*;

fn images(out: &Path, args: &[&str]) {
    dimred()
        .args(["generate", "-q", "--output"])
        .arg(out)
        .args(args)
        .assert()
        .success();
}

fn labels(path: &Path) -> Vec<i64> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let column = batch.column_by_name("label").expect("a label column");
        out.extend(column.as_primitive::<Int64Type>().values().iter().copied());
    }
    out
}

#[test]
fn images_are_float32_pixels_in_the_unit_range_with_every_label() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("im.parquet");
    // Several row groups, so the groups' streams are exercised.
    let args = [
        "--rows",
        "600",
        "--images",
        "16x14",
        "--seed",
        "3",
        "--row-group-rows",
        "128",
    ];
    images(&data, &args);

    let names = parquet_column_names(&data);
    let mut expected: Vec<String> = (0..224).map(|p| format!("pixel_{p}")).collect();
    expected.push("label".into());
    assert_eq!(names, expected);

    let pixels = parquet_f32_columns(&data);
    assert_eq!(pixels.len(), 224, "every pixel column is Float32");
    assert!(pixels.iter().all(|(_, v)| v.len() == 600));
    assert!(
        pixels
            .iter()
            .flat_map(|(_, v)| v)
            .all(|&x| (0.0..=1.0).contains(&x)),
        "a pixel outside [0, 1]"
    );
    // Each image holds a shape: a bright pixel (its intensity, at least 0.6, where the
    // shape covers a whole pixel) on a mostly dark background.
    for row in 0..600 {
        let image: Vec<f64> = pixels.iter().map(|(_, v)| v[row]).collect();
        let max = image.iter().cloned().fold(0.0, f64::max);
        let dark = image.iter().filter(|&&x| x < 0.2).count();
        assert!(max > 0.35, "row {row}: brightest pixel {max}");
        assert!(dark > 60, "row {row}: only {dark} dark pixels");
    }

    let labels = labels(&data);
    assert_eq!(labels.len(), 600);
    for class in 0..6 {
        let n = labels.iter().filter(|&&l| l == class).count();
        assert!(n > 50, "label {class}: {n} of 600 rows");
    }
    assert!(labels.iter().all(|l| (0..6).contains(l)));

    // Shapes differ by class: a filled disc lights more pixels than a line.
    let lit = |class: i64| {
        let rows: Vec<usize> = (0..600).filter(|&r| labels[r] == class).collect();
        let count: usize = rows
            .iter()
            .map(|&r| pixels.iter().filter(|(_, v)| v[r] > 0.3).count())
            .sum();
        count as f64 / rows.len() as f64
    };
    assert!(lit(0) > 1.5 * lit(4), "disc {} vs line {}", lit(0), lit(4));
}

#[test]
fn images_depend_only_on_the_options() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        tmp.path().join("a.parquet"),
        tmp.path().join("b.parquet"),
        tmp.path().join("c.parquet"),
    );
    let args = [
        "--rows",
        "300",
        "--images",
        "8x8",
        "--seed",
        "7",
        "--row-group-rows",
        "64",
    ];
    images(&a, &args);
    images(&b, &args);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    images(
        &c,
        &[
            "--rows",
            "300",
            "--images",
            "8x8",
            "--seed",
            "8",
            "--row-group-rows",
            "64",
        ],
    );
    assert_ne!(parquet_f32_columns(&a), parquet_f32_columns(&c));
}

#[test]
fn images_as_csv_carry_integer_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("im.csv");
    images(&data, &["--rows", "5", "--images", "2x3", "--seed", "1"]);
    let text = std::fs::read_to_string(&data).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("pixel_0,pixel_1,pixel_2,pixel_3,pixel_4,pixel_5,label")
    );
    for line in lines {
        let label = line.rsplit(',').next().unwrap();
        assert!(
            label.parse::<i64>().is_ok_and(|l| (0..6).contains(&l)),
            "{line}"
        );
    }
}

#[test]
fn a_bad_images_value_or_a_spectrum_flag_is_one_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.parquet");
    for (args, says) in [
        (
            vec!["--images", "28"],
            "--images 28: give the image size as HxW, e.g. 28x28",
        ),
        (
            vec!["--images", "0x5"],
            "--images 0x5: the height and the width must be at least 1",
        ),
        (
            vec!["--images", "axb"],
            "--images axb: give the image size as HxW",
        ),
        (vec!["--images", "300x300"], "at most 65536 pixels"),
        (
            vec!["--images", "28x28", "--cols", "4", "--rank", "2"],
            "--images draws shapes and takes no spectrum options: drop --cols, --rank",
        ),
    ] {
        let assert = dimred()
            .args(["generate", "-q", "--rows", "10", "--output"])
            .arg(&out)
            .args(&args)
            .assert()
            .code(2);
        let err = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: not one line: {err}"
        );
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!out.exists());
    }
}
