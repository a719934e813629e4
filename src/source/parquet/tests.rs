//! The Parquet reader's unit tests.

use super::*;
use crate::source::RowLayout;
use arrow_array::{Float32Array, Int64Array};
use arrow_schema::Field;

fn batch(a: Vec<Option<f32>>, b: Vec<i64>) -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("a", DataType::Float32, true),
        Field::new("b", DataType::Int64, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Float32Array::from(a)),
            Arc::new(Int64Array::from(b)),
        ],
    )
    .unwrap()
}

#[test]
fn a_shuffled_read_gives_the_same_chunks_on_any_number_of_decoding_threads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("groups.parquet");
    let n = 50;
    let schema = Arc::new(Schema::new(vec![
        Field::new("row", DataType::Float64, false),
        Field::new("twice", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(arrow_array::Float64Array::from_iter_values(
                (0..n).map(|i| i as f64),
            )),
            Arc::new(arrow_array::Float64Array::from_iter_values(
                (0..n).map(|i| 2.0 * i as f64),
            )),
        ],
    )
    .unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(7))
        .build();
    let file = File::create(&path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();

    let dataset = Dataset::open(path.to_str().unwrap()).unwrap();
    let spec = ReadSpec {
        features: vec![0, 1],
        passthrough: Vec::new(),
        batch_rows: 3,
        missing: crate::source::MissingMode::Error,
        shuffle: Some(11),
        rows32: None,
    };
    let progress = Progress::new("test", crate::progress::Total::Rows(0), true);
    let read = |decoders: usize| {
        let mut chunks = Vec::new();
        let mut state = ReadState::default();
        read_shuffled(
            decoders,
            &dataset,
            &spec,
            11,
            &progress,
            &mut state,
            &mut |c| {
                chunks.push((
                    c.first_row,
                    c.features.col(0).iter().copied().collect::<Vec<_>>(),
                ));
                true
            },
        )
        .unwrap();
        chunks
    };
    let one = read(1);
    // Every row once, each chunk's rows where its first_row says, groups shuffled.
    let mut rows: Vec<f64> = one.iter().flat_map(|(_, v)| v.clone()).collect();
    assert_ne!(rows, (0..n).map(|i| i as f64).collect::<Vec<_>>());
    for (first, values) in &one {
        assert_eq!(values[0], *first as f64);
    }
    rows.sort_by(f64::total_cmp);
    assert_eq!(rows, (0..n).map(|i| i as f64).collect::<Vec<_>>());
    assert_eq!(read(2), one);
    assert_eq!(read(3), one);
}

#[test]
fn rows_laid_out_by_the_reader_are_the_chunks_rows_and_refuse_what_it_would() {
    let n = 70; // more than one block of rows
    let a: Vec<Option<f32>> = (0..n).map(|i| Some(i as f32 * 0.37 - 3.0)).collect();
    let b: Vec<i64> = (0..n).map(|i| i as i64 * 1000 - 7).collect();
    let layout = RowLayout {
        shift: vec![0.25, -3.0],
        scale: Some(vec![3.0, 7.0]),
        unit: false,
    };
    let mut rows = Vec::new();
    // Column order as the spec asks: b before a.
    assert!(layout_rows(
        &batch(a.clone(), b.clone()),
        &[1, 0],
        &layout,
        &mut rows
    ));
    assert_eq!(rows.len(), 2 * n);
    for i in 0..n {
        // Shift and scale are per feature of the layout: b is its first.
        let want_b = ((b[i] as f64 - 0.25) / 3.0) as f32;
        let want_a = ((a[i].unwrap() as f64 + 3.0) / 7.0) as f32;
        assert_eq!(rows[2 * i].to_bits(), want_b.to_bits());
        assert_eq!(rows[2 * i + 1].to_bits(), want_a.to_bits());
    }
    // Left to the usual chunk: a null, a NaN, a value outside [0, 1] for bce.
    let mut with_null = a.clone();
    with_null[5] = None;
    assert!(!layout_rows(
        &batch(with_null, b.clone()),
        &[0, 1],
        &layout,
        &mut rows
    ));
    let mut with_nan = a.clone();
    with_nan[66] = Some(f32::NAN);
    assert!(!layout_rows(
        &batch(with_nan, b.clone()),
        &[0, 1],
        &layout,
        &mut rows
    ));
    let unit = RowLayout {
        shift: vec![0.0, 0.0],
        scale: None,
        unit: true,
    };
    let small: Vec<Option<f32>> = (0..n).map(|i| Some(i as f32 / n as f32)).collect();
    assert!(layout_rows(
        &batch(small.clone(), vec![1; n]),
        &[0, 1],
        &unit,
        &mut rows
    ));
    assert!(!layout_rows(
        &batch(small, vec![2; n]),
        &[0, 1],
        &unit,
        &mut rows
    ));
}
