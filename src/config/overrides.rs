//! `--set KEY=VALUE`: cluster jobs reuse one pipeline file and change a key or two per
//! job (`--set input.path=shard-07/`). Keys are dotted paths (`steps.1.pca.n_components`);
//! the value is read as YAML, so `--set input.passthrough=[id,label]` works. The result is
//! checked by the same serde types as the file, and errors name the override.

use serde_json::Value;

use super::RawPipeline;
use crate::error::{Error, Result};

pub fn apply_overrides(raw: RawPipeline, overrides: &[String]) -> Result<RawPipeline> {
    if overrides.is_empty() {
        return Ok(raw);
    }
    let mut tree = serde_json::to_value(&raw).map_err(|e| Error::config(e.to_string()))?;
    for item in overrides {
        let (key, text) = item.split_once('=').ok_or_else(|| {
            Error::config(format!(
                "--set {item}: expected KEY=VALUE, e.g. input.path=data/"
            ))
        })?;
        let value: Value = if text.is_empty() {
            Value::String(String::new())
        } else {
            serde_saphyr::from_str(text).map_err(|e| {
                Error::config(format!(
                    "--set {key}: cannot read value '{text}': {}",
                    e.without_snippet()
                ))
            })?
        };
        set_path(&mut tree, key, value)?;
        // Checked after each override, so the error names the one that broke the file.
        serde_json::from_value::<RawPipeline>(tree.clone())
            .map_err(|e| Error::config(format!("--set {key}={text}: {e}")))?;
    }
    serde_json::from_value(tree).map_err(|e| Error::config(format!("after --set overrides: {e}")))
}

fn set_path(tree: &mut Value, key: &str, value: Value) -> Result<()> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(Error::config(format!("--set {key}: empty part in key")));
    }
    let mut node = tree;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let so_far = parts[..=i].join(".");
        node = match node {
            Value::Object(map) => {
                if last {
                    map.insert(part.to_string(), value);
                    return Ok(());
                }
                map.entry(part.to_string())
                    .or_insert_with(|| Value::Object(Default::default()))
            }
            Value::Array(items) => {
                let index: usize = part.parse().map_err(|_| {
                    Error::config(format!("--set {key}: '{so_far}' needs a list index"))
                })?;
                let len = items.len();
                let slot = items.get_mut(index).ok_or_else(|| {
                    Error::config(format!(
                        "--set {key}: index {index} is out of range (the list has {len} items)"
                    ))
                })?;
                if last {
                    *slot = value;
                    return Ok(());
                }
                slot
            }
            _ => {
                return Err(Error::config(format!(
                    "--set {key}: '{}' is not a mapping or a list",
                    parts[..i].join(".")
                )));
            }
        };
    }
    unreachable!("the loop returns on the last part")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{MissingPolicy, NComponents, RawStep};

    fn example() -> RawPipeline {
        RawPipeline::from_yaml(
            "name: t\ninput: { path: a.csv }\nsteps:\n  - pca: { n_components: 2 }\noutput: { dir: out }\n",
            "t.yaml",
        )
        .unwrap()
    }

    #[test]
    fn overrides_nested_keys_and_list_items() {
        let p = apply_overrides(
            example(),
            &[
                "input.path=shard-7/".into(),
                "input.missing=skip_row".into(),
                "steps.0.pca.n_components=0.9".into(),
                "input.passthrough=[id, label]".into(),
            ],
        )
        .unwrap();
        assert_eq!(p.input.path, "shard-7/");
        assert_eq!(p.input.missing, MissingPolicy::SkipRow);
        assert_eq!(p.input.passthrough, vec!["id", "label"]);
        let RawStep::Pca(pca) = &p.steps[0] else {
            panic!()
        };
        assert_eq!(pca.n_components, NComponents::Fraction(0.9));
    }

    #[test]
    fn bad_overrides_name_the_key() {
        let err = apply_overrides(example(), &["input.batch_rows=lots".into()]).unwrap_err();
        assert!(err.to_string().contains("batch_rows"), "{err}");
        let err = apply_overrides(example(), &["steps.3.pca.n_components=2".into()]).unwrap_err();
        assert!(err.to_string().contains("steps.3"), "{err}");
        let err = apply_overrides(example(), &["input.path".into()]).unwrap_err();
        assert!(err.to_string().contains("KEY=VALUE"), "{err}");
    }
}
