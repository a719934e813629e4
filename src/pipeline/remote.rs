//! Commands whose output folder is object storage: they write into the plan's staging
//! folder as into any output folder, fetch what they read back from there (the shards'
//! partials, an earlier state) into it first, and upload the results only once they
//! have succeeded. Messages name the URLs, never the staging folder.

use std::path::{Path, PathBuf};

use crate::cloud;
use crate::config::Plan;
use crate::error::{Error, Result};
use crate::sink::prepare_dir;

/// Creates the output folder; for object storage also proves the bucket takes writes.
pub fn prepare_output(plan: &Plan) -> Result<()> {
    prepare_dir(&plan.output_dir)?;
    if let Some(url) = &plan.output_url {
        cloud::check_writable(url)?;
    }
    Ok(())
}

/// Uploads the staged outputs (nothing for a local output folder). The previous run's
/// set goes first, as in a local folder: its `_SUCCESS`, then every object that marker
/// lists, so two runs' objects never stand side by side under final names. The report and
/// then `_SUCCESS` go last, so a reader that sees them finds the model beside them.
pub fn publish(plan: &Plan) -> Result<()> {
    if let (Some(url), Some(staging)) = (&plan.output_url, &plan.staging) {
        remove_previous_set(url).map_err(|e| named(e, plan))?;
        staging
            .publish(url, &["report.html", "report.json", crate::sink::SUCCESS])
            .map_err(|e| named(e, plan))?;
    }
    Ok(())
}

/// Deletes the set the previous run published under `url`, as its `_SUCCESS` lists it
/// (only the names a run publishes: a marker's other lines are not trusted).
fn remove_previous_set(url: &str) -> Result<()> {
    let marker = cloud::join(url, crate::sink::SUCCESS);
    let Some(listed) = cloud::download(&marker)? else {
        return Ok(());
    };
    cloud::delete(&marker)?;
    for name in String::from_utf8_lossy(&listed).lines() {
        if crate::sink::PUBLISHED.contains(&name.trim()) {
            cloud::delete(&cloud::join(url, name.trim()))?;
        }
    }
    Ok(())
}

/// The folder holding `relative` of the output (such as `partials`), fetched from object
/// storage into the staging folder (under a dot-name, which is not uploaded again) when
/// the output is remote. Only `.json` files are fetched: partial states are small.
pub fn fetched(plan: &Plan, relative: &str) -> Result<PathBuf> {
    let Some(url) = &plan.output_url else {
        return Ok(plan.output_dir.join(relative));
    };
    let local = plan.output_dir.join(format!(".fetched-{relative}"));
    fetch_json(&cloud::join(url, relative), &local)?;
    Ok(local)
}

/// An earlier output folder (`merge --with`), local or in object storage: the local
/// folder holding its `state/`, kept alive by the returned guard when it was fetched.
pub fn earlier_output(dir: &Path) -> Result<(PathBuf, Option<cloud::Staging>)> {
    let text = dir.to_string_lossy();
    if !cloud::is_url(&text) {
        return Ok((dir.to_path_buf(), None));
    }
    let staging = cloud::Staging::new("with");
    let state = super::saved::state_path(&staging.dir);
    let url = cloud::join(
        &text,
        &super::saved::state_path(Path::new("")).to_string_lossy(),
    );
    if let Some(bytes) = cloud::download(&url)? {
        prepare_dir(state.parent().expect("the state file is in a folder"))?;
        std::fs::write(&state, bytes).map_err(|e| Error::io("write", &state, e))?;
    }
    Ok((staging.dir.clone(), Some(staging)))
}

fn fetch_json(url: &str, local: &Path) -> Result<()> {
    let listed = match cloud::list(&format!("{url}/"), |p| {
        p.extension().is_some_and(|e| e == "json")
    }) {
        Ok(listed) => listed,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    prepare_dir(local)?;
    for object in listed {
        let text = object.url.to_string_lossy().to_string();
        let Some(name) = object.url.file_name() else {
            continue;
        };
        if let Some(bytes) = cloud::download(&text)? {
            let path = local.join(name);
            std::fs::write(&path, bytes).map_err(|e| Error::io("write", &path, e))?;
        }
    }
    Ok(())
}

/// `e` with the staging folder's paths replaced by the output's URL.
pub fn named(e: Error, plan: &Plan) -> Error {
    let Some(url) = &plan.output_url else {
        return e;
    };
    let staged = plan.output_dir.display().to_string();
    let e = renamed(e, &format!("{staged}/.fetched-"), &format!("{url}/"));
    renamed(e, &staged, url)
}

/// `e` with every mention of the local path `local` (a copy fetched or staged for the
/// command) replaced by `shown`, what the user named.
pub fn renamed(e: Error, local: &str, shown: &str) -> Error {
    let swap = |text: String| text.replace(local, shown);
    match e {
        Error::Config(text) => Error::Config(swap(text)),
        Error::Data {
            mut position,
            message,
        } => {
            position.file = position
                .file
                .map(|f| PathBuf::from(swap(f.display().to_string())));
            Error::Data {
                position,
                message: swap(message),
            }
        }
        Error::Io {
            action,
            path,
            source,
        } => Error::Io {
            action,
            path: PathBuf::from(swap(path.display().to_string())),
            source,
        },
        other => other,
    }
}
