//! Object storage: `s3://`, `gs://` and `az://` inputs and outputs through the
//! `object_store` crate (the `cloud` cargo feature, on by default). Everything here is
//! blocking on a small I/O runtime of its own, so the readers and writers above stay
//! plain threads. Credentials and endpoints come from each cloud's standard environment
//! variables (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, …); no message this
//! module makes ever carries a secret (`plain`).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// URL schemes read and written through object storage.
const SCHEMES: [&str; 7] = [
    "s3://", "s3a://", "gs://", "az://", "azure://", "abfs://", "abfss://",
];

/// Whether `text` names object storage rather than a local path.
pub fn is_url(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    SCHEMES.iter().any(|s| lower.starts_with(s))
}

/// Whether `path` (a `PathBuf` holding a URL, as the dataset's file list does) is remote.
pub fn is_remote(path: &Path) -> bool {
    path.to_str().is_some_and(is_url)
}

/// One object a listing found.
#[derive(Debug, Clone)]
pub struct Listed {
    pub url: PathBuf,
    pub size: u64,
}

#[cfg(not(feature = "cloud"))]
mod imp {
    use super::*;

    fn unsupported(url: &str) -> Error {
        Error::config(format!(
            "{url}: this dimred was built without object storage (cargo feature `cloud`); rebuild with default features, or copy the data to a local path"
        ))
    }

    pub fn list(pattern: &str, _known: fn(&Path) -> bool) -> Result<Vec<Listed>> {
        Err(unsupported(pattern))
    }
    pub fn parquet_metadata(
        url: &Path,
        _size: u64,
    ) -> Result<parquet::arrow::arrow_reader::ArrowReaderMetadata> {
        Err(unsupported(&url.display().to_string()))
    }
    pub fn row_group(
        url: &Path,
        _size: u64,
        _meta: &parquet::arrow::arrow_reader::ArrowReaderMetadata,
        _mask: parquet::arrow::ProjectionMask,
        _group: usize,
        _rows: Option<std::ops::Range<usize>>,
        _batch_rows: usize,
    ) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader> {
        Err(unsupported(&url.display().to_string()))
    }
    pub fn read_stream(url: &Path) -> Result<Box<dyn std::io::Read + Send>> {
        Err(unsupported(&url.display().to_string()))
    }
    pub fn download(url: &str) -> Result<Option<Vec<u8>>> {
        Err(unsupported(url))
    }
    pub fn upload_file(_local: &Path, url: &str) -> Result<()> {
        Err(unsupported(url))
    }
    pub fn delete(url: &str) -> Result<()> {
        Err(unsupported(url))
    }
    pub fn check_writable(url: &str) -> Result<()> {
        Err(unsupported(url))
    }
}

#[cfg(feature = "cloud")]
mod imp {
    use std::collections::HashMap;
    use std::io::Read;
    use std::sync::{Arc, Mutex, OnceLock};

    use bytes::Bytes;
    use futures_util::StreamExt;
    use futures_util::stream::BoxStream;
    use object_store::path::Path as Key;
    use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
    use parquet::arrow::ProjectionMask;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReader;
    use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
    use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
    use parquet::errors::ParquetError;
    use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

    use super::*;

    /// The I/O runtime: two threads drive the HTTP requests; callers block on them.
    fn runtime() -> &'static tokio::runtime::Runtime {
        static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
        RUNTIME.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("dimred-io")
                .enable_all()
                .build()
                .expect("the I/O runtime starts")
        })
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        runtime().block_on(f)
    }

    /// `scheme://bucket/key` → the bucket's store (built once per bucket) and the key.
    fn locate(url: &str) -> Result<(Arc<dyn ObjectStore>, Key)> {
        static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| Error::config(format!("{url}: not an object storage URL")))?;
        let scheme = scheme.to_ascii_lowercase();
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::config(format!("{url}: the URL names no bucket")));
        }
        let root = format!("{scheme}://{bucket}");
        let key = Key::parse(key)
            .map_err(|e| Error::config(format!("{url}: not a valid object key ({e})")))?;
        let mut stores = STORES
            .get_or_init(Default::default)
            .lock()
            .map_err(|_| Error::internal("the object store cache is poisoned"))?;
        if let Some(store) = stores.get(&root) {
            return Ok((store.clone(), key));
        }
        let built: object_store::Result<Arc<dyn ObjectStore>> = match scheme.as_str() {
            "s3" | "s3a" => object_store::aws::AmazonS3Builder::from_env()
                .with_url(&root)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
            "gs" => object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(&root)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
            _ => object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(&root)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        };
        let store = built.map_err(|e| {
            Error::config(format!(
                "{root}: cannot set up object storage: {}",
                plain(&e)
            ))
        })?;
        stores.insert(root, store.clone());
        Ok((store, key))
    }

    fn failed(action: &'static str, url: &str, e: &object_store::Error) -> Error {
        let kind = match e {
            object_store::Error::NotFound { .. } => std::io::ErrorKind::NotFound,
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => std::io::ErrorKind::PermissionDenied,
            _ => std::io::ErrorKind::Other,
        };
        // a 404 is a missing object unless the service says otherwise (a missing bucket)
        let said = match e {
            object_store::Error::NotFound { .. } if !e.to_string().contains("<Code>") => {
                "no such object".to_string()
            }
            _ => plain(e),
        };
        Error::io(action, url, std::io::Error::new(kind, said))
    }

    /// An object store error in one line of plain words: the service's own code and
    /// message when the response carries them, every secret of the environment masked.
    fn plain(e: &dyn std::fmt::Display) -> String {
        let text = e.to_string();
        let between = |open: &str, close: &str| -> Option<String> {
            let start = text.find(open)? + open.len();
            let end = text[start..].find(close)? + start;
            Some(text[start..end].trim().to_string())
        };
        let said = match (
            between("<Code>", "</Code>"),
            between("<Message>", "</Message>"),
        ) {
            (Some(code), message) => {
                let words = match code.as_str() {
                    "NoSuchBucket" => "no such bucket",
                    "InvalidAccessKeyId"
                    | "SignatureDoesNotMatch"
                    | "InvalidToken"
                    | "ExpiredToken" => "the credentials were refused",
                    "AccessDenied" => "access denied",
                    "NoSuchKey" => "no such object",
                    _ => "the storage service refused the request",
                };
                match message {
                    Some(m) if !m.is_empty() => format!("{words} ({code}: {m})"),
                    _ => format!("{words} ({code})"),
                }
            }
            _ => {
                // the XML body (when any) is noise; the first clause names the failure
                let cut = text.find("<?xml").unwrap_or(text.len());
                text[..cut].split_whitespace().collect::<Vec<_>>().join(" ")
            }
        };
        scrub(&said)
    }

    /// Masks the values of the credential variables, should a message ever echo one.
    fn scrub(text: &str) -> String {
        crate::error::mask_secrets(text)
    }

    /// The objects `pattern` names, sorted: one object (`s3://b/x.parquet`), a folder's
    /// objects of a known format (`s3://b/data/`), or a glob over keys (`s3://b/y=*/*.parquet`,
    /// where `*` stays within one `/`-separated part).
    pub fn list(pattern: &str, known: fn(&Path) -> bool) -> Result<Vec<Listed>> {
        let (scheme_bucket, key_text) = {
            let (scheme, rest) = pattern.split_once("://").unwrap_or(("", pattern));
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            (format!("{scheme}://{bucket}"), key.to_string())
        };
        let (store, _) = locate(&scheme_bucket)?;
        let is_glob = key_text.contains(['*', '?', '[']);
        let url_of = |key: &Key| PathBuf::from(format!("{scheme_bucket}/{key}"));
        if !is_glob && known(Path::new(&key_text)) {
            let key = Key::parse(&key_text)
                .map_err(|e| Error::config(format!("{pattern}: not a valid object key ({e})")))?;
            let meta = block_on(store.head(&key)).map_err(|e| failed("open input", pattern, &e))?;
            return Ok(vec![Listed {
                url: url_of(&meta.location),
                size: meta.size,
            }]);
        }
        let (prefix, matcher) = if is_glob {
            let first = key_text.find(['*', '?', '[']).unwrap_or(0);
            let dir = key_text[..first].rfind('/').map_or("", |i| &key_text[..i]);
            let glob = glob::Pattern::new(&key_text).map_err(|e| {
                Error::config(format!("input.path '{pattern}' is not a valid glob: {e}"))
            })?;
            (dir.to_string(), Some(glob))
        } else {
            (key_text.trim_end_matches('/').to_string(), None)
        };
        let prefix_key = Key::parse(&prefix)
            .map_err(|e| Error::config(format!("{pattern}: not a valid object key ({e})")))?;
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        let mut found = Vec::new();
        block_on(async {
            let mut stream = store.list(Some(&prefix_key));
            while let Some(item) = stream.next().await {
                let meta = item.map_err(|e| failed("list input", pattern, &e))?;
                let key = meta.location.as_ref();
                let wanted = match &matcher {
                    Some(glob) => glob.matches_with(key, options),
                    // a folder: its own objects, not those of folders inside it
                    None => !key[prefix.len()..].trim_start_matches('/').contains('/'),
                };
                if wanted && known(Path::new(key)) {
                    found.push(Listed {
                        url: url_of(&meta.location),
                        size: meta.size,
                    });
                }
            }
            Ok::<(), Error>(())
        })?;
        found.sort_by(|a, b| a.url.cmp(&b.url));
        Ok(found)
    }

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
        ) -> futures_util::future::BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>>
        {
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

    /// A small object (a model, a partial state) whole; `None` when there is none.
    pub fn download(url: &str) -> Result<Option<Vec<u8>>> {
        let (store, key) = locate(url)?;
        let got = block_on(async {
            match store.get(&key).await {
                Ok(result) => result.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        got.map(|b| b.map(|b| b.to_vec()))
            .map_err(|e| failed("read", url, &e))
    }

    /// Removes an object; one that is not there is not an error.
    pub fn delete(url: &str) -> Result<()> {
        let (store, key) = locate(url)?;
        block_on(async {
            match store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })
        .map_err(|e| failed("delete", url, &e))
    }

    /// Part size of a multipart upload: what an upload holds in memory (times the parts
    /// in flight).
    const PART_BYTES: usize = 8 << 20;

    /// Uploads a local file. The object appears whole or not at all (a multipart upload
    /// completes atomically), so a failed upload leaves nothing under the final name.
    pub fn upload_file(local: &Path, url: &str) -> Result<()> {
        let (store, key) = locate(url)?;
        let mut file = std::fs::File::open(local).map_err(|e| Error::io("read", local, e))?;
        let size = file
            .metadata()
            .map_err(|e| Error::io("read", local, e))?
            .len();
        if size <= PART_BYTES as u64 {
            let mut bytes = Vec::with_capacity(size as usize);
            file.read_to_end(&mut bytes)
                .map_err(|e| Error::io("read", local, e))?;
            block_on(store.put(&key, PutPayload::from(bytes)))
                .map_err(|e| failed("write", url, &e))?;
            return Ok(());
        }
        block_on(async {
            let upload = store
                .put_multipart(&key)
                .await
                .map_err(|e| failed("write", url, &e))?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = match file.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = writer.abort().await;
                        return Err(Error::io("read", local, e));
                    }
                };
                if n == 0 {
                    break;
                }
                if let Err(e) = writer.wait_for_capacity(2).await {
                    return Err(failed("write", url, &e));
                }
                writer.write(&buf[..n]);
            }
            writer
                .finish()
                .await
                .map_err(|e| failed("write", url, &e))?;
            Ok(())
        })
    }

    /// Proves the bucket is there and takes writes before any data is read (a probe
    /// object, written and deleted), so a long fit never ends in "access denied".
    pub fn check_writable(url: &str) -> Result<()> {
        let probe = format!(
            "{}/.dimred-write-test-{}",
            url.trim_end_matches('/'),
            std::process::id()
        );
        let (store, key) = locate(&probe)?;
        block_on(async {
            store
                .put(&key, PutPayload::from_static(b""))
                .await
                .map_err(|e| failed("write to output folder", url, &e))?;
            let _ = store.delete(&key).await;
            Ok(())
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_service_error_is_one_plain_line_with_its_code() {
            let body = "Generic S3 error: Client error with status 403 Forbidden: <?xml version=\"1.0\"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>The signature does not match.</Message></Error>";
            assert_eq!(
                plain(&body),
                "the credentials were refused (SignatureDoesNotMatch: The signature does not match.)"
            );
            let bucket = "<Error><Code>NoSuchBucket</Code></Error>";
            assert_eq!(plain(&bucket), "no such bucket (NoSuchBucket)");
            let other = "error sending request\n  for url <?xml junk";
            assert_eq!(plain(&other), "error sending request for url");
        }
    }
}

pub use imp::*;

/// A local folder standing in for an object storage output while a command writes it:
/// files are written there (atomically, as into any output folder), uploaded when the
/// command has succeeded, and the folder is removed when this is dropped, whatever the
/// outcome.
#[derive(Debug)]
pub struct Staging {
    pub dir: PathBuf,
}

impl Staging {
    /// A new, not yet created, folder under the system's temporary folder (`TMPDIR`: on a
    /// cluster, the node's local disk).
    pub fn new(what: &str) -> Staging {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Staging {
            dir: std::env::temp_dir()
                .join(format!("dimred-{what}-{}-{nanos:09}", std::process::id())),
        }
    }

    /// Uploads every file under the folder to `url` (keys relative to it), skipping the
    /// folder's own bookkeeping (names starting with a dot: the lock, temporaries, inputs
    /// fetched for the command). Files named in `last` go after the others, so a reader
    /// that waits for them finds the rest in place.
    pub fn publish(&self, url: &str, last: &[&str]) -> Result<Vec<String>> {
        let mut files: Vec<PathBuf> = files_under(&self.dir)
            .into_iter()
            .filter(|f| {
                !f.components()
                    .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
            })
            .collect();
        files.sort_by_key(|f| last.iter().position(|l| Path::new(l) == f));
        let mut sent = Vec::with_capacity(files.len());
        for relative in files {
            let target = join(url, &relative.to_string_lossy());
            upload_file(&self.dir.join(&relative), &target)?;
            sent.push(target);
        }
        Ok(sent)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `base/relative` for a URL or a local folder alike.
pub fn join(base: &str, relative: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), relative)
}

/// Every regular file under `dir`, as paths relative to it, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if let Ok(relative) = path.strip_prefix(root) {
                out.push(relative.to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_local_paths() {
        assert!(is_url("s3://bucket/data/*.parquet"));
        assert!(is_url("S3://bucket/x.csv"));
        assert!(is_url("gs://b/x"));
        assert!(is_url("az://container/x"));
        assert!(!is_url("data/s3://x"));
        assert!(!is_url("/data/x.parquet"));
        assert!(!is_url("s3:/x"));
        assert_eq!(join("s3://b/out/", "model.json"), "s3://b/out/model.json");
    }
}
