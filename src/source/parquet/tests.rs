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

/// The bytes the local reader is counted for: a page of 20,000 values whatever the row
/// group's size, plus the dictionary when the column has one (1,000 distinct float64
/// values: 8,000 bytes).
#[test]
fn a_column_is_counted_for_its_dictionary_and_a_page_not_its_row_group() {
    let dir = tempfile::tempdir().unwrap();
    let n = 50_000;
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, false)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(arrow_array::Float64Array::from_iter_values(
            (0..n).map(|i| (i % 1000) as f64 + 0.5),
        ))],
    )
    .unwrap();
    let footer = |name: &str, dictionary: bool, group_rows: usize| {
        let path = dir.path().join(name);
        let props = parquet::file::properties::WriterProperties::builder()
            .set_dictionary_enabled(dictionary)
            .set_compression(parquet::basic::Compression::UNCOMPRESSED)
            .set_max_row_group_row_count(Some(group_rows))
            .build();
        let file = File::create(&path).unwrap();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        schema_footer(&path, size)
    };
    let (one, many) = (
        footer("one.parquet", false, n),
        footer("many.parquet", false, 5_000),
    );
    // 400,000 bytes of values in one chunk, 40,000 in each of the ten
    assert!(one.chunk_bytes[0] >= 400_000 && many.chunk_bytes[0] < 41_000);
    // a page of 20,000 float64 values (page headers and levels add a little)
    assert!(
        (160_000..=180_000).contains(&one.page_bytes[0]),
        "{}",
        one.page_bytes[0]
    );
    // a row group smaller than a page is held whole
    assert_eq!(many.page_bytes[0], many.chunk_bytes[0]);
    let dict = footer("dict.parquet", true, n);
    let indices = dict.page_bytes[0] - 8_000;
    assert!(
        dict.page_bytes[0] >= 8_000 && indices <= 20_000 * 2 + 64,
        "{}",
        dict.page_bytes[0]
    );
}

fn schema_footer(path: &Path, size: u64) -> Footer {
    schema(path, size).unwrap()
}

/// `Dataset::read_order` gives, without reading, the order in which a shuffled read
/// visits the rows, across files: what the autoencoder's epochs replayed from memory
/// follow.
#[test]
fn read_order_is_the_order_a_shuffled_read_visits_the_rows_in() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new(
        "row",
        DataType::Float64,
        false,
    )]));
    // two files of 30 and 20 rows in row groups of 7: rows 0–29 and 30–49
    for (name, rows) in [("a.parquet", 0..30), ("b.parquet", 30..50)] {
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(arrow_array::Float64Array::from_iter_values(
                rows.map(|i| i as f64),
            ))],
        )
        .unwrap();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(7))
            .build();
        let file = File::create(dir.path().join(name)).unwrap();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }
    let dataset = Dataset::open(dir.path().to_str().unwrap()).unwrap();
    let progress = Progress::new("test", crate::progress::Total::Rows(0), true);
    for shuffle in [Some(3), Some(11), None] {
        let spec = ReadSpec {
            features: vec![0],
            passthrough: Vec::new(),
            batch_rows: 4,
            missing: crate::source::MissingMode::Error,
            shuffle,
            decoder: None,
            stages: Vec::new(),
            shard: None,
            reads: Vec::new(),
        };
        let mut read = Vec::new();
        dataset
            .read(&spec, &progress, None, &mut |c| {
                let values: Vec<f64> = c.features.col(0).iter().copied().collect();
                read.extend(values.iter().enumerate().map(|(i, &v)| (c.row_index(i), v)));
                true
            })
            .unwrap();
        let ranges = dataset.read_order(&spec).unwrap();
        if shuffle.is_some() {
            assert_eq!(ranges.len(), 5 + 3, "one range per row group");
        }
        let ordered: Vec<u64> = ranges
            .into_iter()
            .flat_map(|r| r.start..r.end.min(50))
            .collect();
        let indices: Vec<u64> = read.iter().map(|&(i, _)| i).collect();
        assert_eq!(indices, ordered, "shuffle {shuffle:?}");
        assert!(read.iter().all(|&(i, v)| v == i as f64));
        if shuffle.is_some() {
            assert_ne!(indices, (0..50).collect::<Vec<_>>());
        }
    }
}
