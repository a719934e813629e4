//! Where a Parquet output came from, in its footer's key-value metadata: a downstream job
//! that finds reduced.parquet (or a `transform` output) alone can tell which model made
//! it, from which features, and check that model by its SHA-256 before trusting the rows.
//! The keys are listed in docs/model-format.md.

use sha2::{Digest, Sha256};

use crate::config::OnnxDtype;
use crate::model::Header;

pub const VERSION: &str = "dimred.version";
pub const PIPELINE: &str = "dimred.pipeline";
pub const MODEL_SHA256: &str = "dimred.model_sha256";
pub const FEATURE_NAMES: &str = "dimred.feature_names";
pub const OUTPUT_COLUMNS: &str = "dimred.output_columns";
pub const STEPS: &str = "dimred.steps";
pub const DIRECTION: &str = "dimred.direction";
pub const DTYPE: &str = "dimred.dtype";

/// The key-value pairs for an output of the model whose model.json is `model_json`:
/// `inverse` for rows mapped back to the features, `dtype` the written columns' type.
pub fn metadata(
    header: &Header,
    steps: &[&str],
    model_json: &[u8],
    inverse: bool,
    dtype: OnnxDtype,
) -> Vec<(String, String)> {
    let json = |v: &[String]| serde_json::to_string(v).expect("strings serialise");
    let steps: Vec<String> = steps.iter().map(|s| s.to_string()).collect();
    let dtype = match dtype {
        OnnxDtype::Float32 => "float32",
        OnnxDtype::Float64 => "float64",
    };
    [
        (VERSION, env!("CARGO_PKG_VERSION").to_string()),
        (PIPELINE, header.pipeline.clone()),
        (MODEL_SHA256, sha256_hex(model_json)),
        (FEATURE_NAMES, json(&header.feature_names_in_)),
        (OUTPUT_COLUMNS, json(&header.output_columns)),
        (STEPS, json(&steps)),
        (
            DIRECTION,
            if inverse { "inverse" } else { "forward" }.into(),
        ),
        (DTYPE, dtype.into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Lower-case hex, as `sha256sum` prints it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_the_standard_digest() {
        // FIPS 180-2's test vector for "abc"
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
