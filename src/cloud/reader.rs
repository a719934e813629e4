//! Reading Parquet and CSV from object storage: footers, row groups (whole or in
//! slices of rows through the offset index) and byte streams.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReader;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use super::store::{block_on, failed, locate, plain, scrub};
use super::*;

/// A Parquet file's footer (one or two ranged reads at its end), with its offset index
/// when it has one (one more read): the page locations let a large row group be
/// fetched in slices of rows (`row_group`).
pub fn parquet_metadata(url: &Path, size: u64) -> Result<ArrowReaderMetadata> {
    let text = url.display().to_string();
    let (store, key) = locate(&text)?;
    let mut reader = Ranged { store, key, size };
    let options = ArrowReaderOptions::new()
        .with_offset_index_policy(parquet::file::metadata::PageIndexPolicy::Optional);
    block_on(ArrowReaderMetadata::load_async(&mut reader, options))
        .map_err(|e| parquet_failed(&text, e))
}

fn parquet_failed(url: &str, e: parquet::errors::ParquetError) -> Error {
    match e {
        parquet::errors::ParquetError::External(inner) => {
            Error::io("read input", url, std::io::Error::other(plain(&inner)))
        }
        other => Error::data(format!(
            "not a readable Parquet file: {}",
            scrub(&crate::error::library_words(&other.to_string()))
        ))
        .in_file(Path::new(url)),
    }
}

/// Bytes fetched from a file's end for its footer: one request brings the footer's
/// length and, when the footer is no larger, the footer itself; without a hint every
/// footer is two requests, its length and then the footer.
const FOOTER_PREFETCH: usize = 64 << 10;

/// A Parquet file in object storage read by ranges: the footer from its known end, a
/// row group's column chunks in one coalesced request.
struct Ranged {
    store: Arc<dyn ObjectStore>,
    key: Key,
    size: u64,
}

fn external(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for Ranged {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> futures_util::future::BoxFuture<'_, parquet::errors::Result<Bytes>> {
        Box::pin(async move {
            self.store
                .get_range(&self.key, range)
                .await
                .map_err(external)
        })
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> futures_util::future::BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        Box::pin(async move {
            self.store
                .get_ranges(&self.key, &ranges)
                .await
                .map_err(external)
        })
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> futures_util::future::BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        Box::pin(async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .with_prefetch_hint(Some(FOOTER_PREFETCH))
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        })
    }
}

/// One row group's projected column chunks, fetched in one go (ranges coalesced), as a
/// plain reader decoding them from memory; or with `rows` (a file with an offset index)
/// only the pages holding those rows. Only this row group, or slice, is held.
pub fn row_group(
    url: &Path,
    size: u64,
    meta: &ArrowReaderMetadata,
    mask: ProjectionMask,
    group: usize,
    rows: Option<std::ops::Range<usize>>,
    batch_rows: usize,
) -> Result<ParquetRecordBatchReader> {
    use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
    let text = url.display().to_string();
    let (store, key) = locate(&text)?;
    let reader = Ranged { store, key, size };
    let mut builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, meta.clone())
        .with_projection(mask)
        .with_row_groups(vec![group])
        .with_batch_size(batch_rows);
    if let Some(rows) = rows {
        builder = builder.with_row_selection(RowSelection::from(vec![
            RowSelector::skip(rows.start),
            RowSelector::select(rows.len()),
        ]));
    }
    let mut stream = builder.build().map_err(|e| parquet_failed(&text, e))?;
    block_on(stream.next_row_group())
        .map_err(|e| parquet_failed(&text, e))?
        .ok_or_else(|| Error::internal(format!("{text}: row group {group} came back empty")))
}

/// An object read front to back as it arrives (CSV input), never whole in memory.
pub fn read_stream(url: &Path) -> Result<Box<dyn Read + Send>> {
    let text = url.display().to_string();
    let (store, key) = locate(&text)?;
    let result = block_on(store.get(&key)).map_err(|e| failed("open input", &text, &e))?;
    Ok(Box::new(Streamed {
        stream: result.into_stream(),
        held: Bytes::new(),
    }))
}

struct Streamed {
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    held: Bytes,
}

impl Read for Streamed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.held.is_empty() {
            match block_on(self.stream.next()) {
                Some(Ok(bytes)) => self.held = bytes,
                Some(Err(e)) => return Err(std::io::Error::other(plain(&e))),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.held.len());
        buf[..n].copy_from_slice(&self.held.split_to(n));
        Ok(n)
    }
}
