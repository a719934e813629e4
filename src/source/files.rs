//! The input's files: listing a path, a folder or a glob (local or in object storage),
//! and checking that every file has the first one's columns.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{ColumnInfo, Format};
use crate::error::{Error, Result};

/// The input's files with their sizes, in sorted order.
pub(super) fn list_files(path: &str) -> Result<Vec<(PathBuf, u64)>> {
    let found: Vec<(PathBuf, u64)> = if crate::cloud::is_url(path) {
        crate::cloud::list(path, |p| Format::of(p).is_some())?
            .into_iter()
            .map(|o| (o.url, o.size))
            .collect()
    } else {
        local_files(path)?
            .into_iter()
            .map(|f| {
                let size = std::fs::metadata(&f).map_err(|e| Error::io("open input", &f, e))?;
                Ok((f, size.len()))
            })
            .collect::<Result<_>>()?
    };
    if found.is_empty() {
        return Err(Error::config(format!(
            "input {path}: no .csv, .csv.gz or .parquet files found"
        )));
    }
    Ok(found)
}

fn local_files(path: &str) -> Result<Vec<PathBuf>> {
    let is_glob = path.contains(['*', '?', '[']);
    let mut files: Vec<PathBuf> = if is_glob {
        let paths = glob::glob(path)
            .map_err(|e| Error::config(format!("input.path '{path}' is not a valid glob: {e}")))?;
        paths
            .filter_map(|p| p.ok())
            .filter(|p| p.is_file())
            .collect()
    } else {
        let p = Path::new(path);
        let meta = std::fs::metadata(p).map_err(|e| Error::io("open input", p, e))?;
        if meta.is_dir() {
            let entries = std::fs::read_dir(p).map_err(|e| Error::io("list input folder", p, e))?;
            let mut files = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| Error::io("list input folder", p, e))?;
                let file = entry.path();
                if file.is_file() && Format::of(&file).is_some() {
                    files.push(file);
                }
            }
            files
        } else {
            if Format::of(p).is_none() {
                return Err(Error::config(format!(
                    "input {path}: unknown file type (expected .csv, .csv.gz or .parquet)"
                )));
            }
            vec![p.to_path_buf()]
        }
    };
    files.retain(|f| Format::of(f).is_some());
    files.sort();
    Ok(files)
}

pub(super) fn check_unique(columns: &[ColumnInfo], file: &Path) -> Result<()> {
    let mut seen = HashSet::new();
    for c in columns {
        if !seen.insert(c.name.as_str()) {
            return Err(Error::data("duplicate column name in the header")
                .in_file(file)
                .at_column(&c.name));
        }
    }
    Ok(())
}

pub(super) fn same_schema(
    first: &[ColumnInfo],
    other: &[ColumnInfo],
    first_file: &Path,
    file: &Path,
) -> Result<()> {
    for (i, c) in other.iter().enumerate() {
        match first.get(i) {
            None => {
                return Err(Error::data(format!(
                    "schema differs from {}: extra column",
                    first_file.display()
                ))
                .in_file(file)
                .at_column(&c.name));
            }
            Some(f) if f.name != c.name => {
                return Err(Error::data(format!(
                    "schema differs from {}: column {} is '{}' there",
                    first_file.display(),
                    i + 1,
                    f.name
                ))
                .in_file(file)
                .at_column(&c.name));
            }
            Some(f) if f.kind != c.kind => {
                return Err(Error::data(format!(
                    "schema differs from {}: the column is {} there, {} here",
                    first_file.display(),
                    f.kind,
                    c.kind
                ))
                .in_file(file)
                .at_column(&c.name));
            }
            _ => {}
        }
    }
    if let Some(missing) = first.get(other.len()) {
        return Err(Error::data(format!(
            "schema differs from {}: column is missing",
            first_file.display()
        ))
        .in_file(file)
        .at_column(&missing.name));
    }
    Ok(())
}
