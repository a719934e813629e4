//! The object stores themselves: one per bucket, on a small I/O runtime; listing,
//! whole-object reads and writes, multipart uploads, and messages without secrets.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock};

use futures_util::StreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

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

pub(super) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

/// `scheme://bucket/key` → the bucket's store (built once per bucket) and the key.
pub(super) fn locate(url: &str) -> Result<(Arc<dyn ObjectStore>, Key)> {
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
    // reqwest is built without a bundled crypto provider (Cargo.toml): ring, installed once
    // for the process before the first client. Err means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
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

pub(super) fn failed(action: &'static str, url: &str, e: &object_store::Error) -> Error {
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
pub(super) fn plain(e: &dyn std::fmt::Display) -> String {
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
pub(super) fn scrub(text: &str) -> String {
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
        block_on(store.put(&key, PutPayload::from(bytes))).map_err(|e| failed("write", url, &e))?;
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
