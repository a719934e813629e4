//! The Parquet reader's unit tests.

use arrow_schema::DataType;

use super::*;
use arrow_schema::Field;

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
        decoder: None,
        stages: Vec::new(),
        shard: None,
        reads: Vec::new(),
    };
    let progress = Progress::new("test", crate::progress::Total::Rows(0), true);
    let read = |decoders: usize| {
        let mut chunks = Vec::new();
        let mut state = ReadState::default();
        read_units(
            decoders,
            &dataset,
            &spec,
            Some(11),
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
