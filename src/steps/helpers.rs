//! What every step kind uses to read and write its model sections and to check its input:
//! fields of model.json, matrices as arrays of rows, positive values, enough rows, a
//! pseudo-inverse for the maps that are not invertible.

use faer::{Mat, MatRef};
use serde_json::{Map, Value};

use super::StepInput;
use crate::engine::PassStats;
use crate::error::{Error, Result};

/// A kind's keys from JSON: a baseline sets the keys it sizes and leaves the rest at
/// their defaults.
pub fn params_from<T: serde::de::DeserializeOwned>(keys: Value) -> Result<T> {
    serde_json::from_value(keys).map_err(|e| Error::internal(format!("a baseline's keys: {e}")))
}

/// The Moore–Penrose pseudo-inverse (p × k) of a k × p matrix, by its SVD: the least
/// squares way back for a step whose map is not invertible (random projection, LDA).
pub fn pseudo_inverse(c: MatRef<'_, f64>) -> Mat<f64> {
    let (k, p) = (c.nrows(), c.ncols());
    let Ok(svd) = c.thin_svd() else {
        return Mat::zeros(p, k);
    };
    let s = svd.S().column_vector();
    let largest = (0..s.nrows()).map(|i| s[i]).fold(0.0, f64::max);
    let cutoff = largest * f64::EPSILON * k.max(p) as f64;
    let (u, v) = (svd.U(), svd.V());
    Mat::from_fn(p, k, |i, j| {
        (0..s.nrows())
            .filter(|&r| s[r] > cutoff)
            .map(|r| v[(i, r)] * u[(j, r)] / s[r])
            .sum()
    })
}

/// A fit needs at least two rows; says why there are fewer.
pub fn check_rows(input: &StepInput, what: &str, stats: &PassStats, n: u64) -> Result<()> {
    if n == 0 {
        let why = if stats.rows_read > 0 {
            " after skipping rows with missing values"
        } else {
            ""
        };
        return Err(Error::data(format!(
            "input {} has no rows{why}",
            input.source
        )));
    }
    if n < 2 {
        return Err(Error::data(format!(
            "input {} has 1 row; {what} needs at least 2",
            input.source
        )));
    }
    Ok(())
}

/// A model.json field, parsed; `what` names the model file in errors.
pub fn field<T: serde::de::DeserializeOwned>(model: &Map<String, Value>, key: &str) -> Result<T> {
    let value = model.get(key).cloned().unwrap_or(Value::Null);
    serde_json::from_value(value)
        .map_err(|e| Error::config(format!("model field '{key}' is missing or malformed: {e}")))
}

/// A loaded model's values that divide (scales, a whitening variance, a kernel's width)
/// must be positive: an edited or damaged model.json with a 0 there would write NaN or
/// inf into every output. The error names the field and the entry.
pub fn check_positive(key: &str, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !(*v > 0.0 && v.is_finite())) {
        Some(i) if values.len() == 1 => Err(Error::config(format!(
            "model field '{key}' is {}; it must be a positive number",
            values[i]
        ))),
        Some(i) => Err(Error::config(format!(
            "model field '{key}' has {} at index {i}; every entry must be a positive number",
            values[i]
        ))),
        None => Ok(()),
    }
}

/// Rows as a JSON array of arrays (scikit-learn's `components_` layout).
pub fn rows_json(m: MatRef<'_, f64>) -> Value {
    Value::Array(
        (0..m.nrows())
            .map(|r| Value::from((0..m.ncols()).map(|c| m[(r, c)]).collect::<Vec<f64>>()))
            .collect(),
    )
}

/// The matrix of an array of arrays with `cols` columns each.
pub fn rows_mat(rows: &[Vec<f64>], cols: usize) -> Option<Mat<f64>> {
    rows.iter()
        .all(|r| r.len() == cols)
        .then(|| Mat::from_fn(rows.len(), cols, |r, c| rows[r][c]))
}
