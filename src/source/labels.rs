//! Label columns as class names: what the report's colours and classifier check and a
//! supervised step (LDA) read, so both name and order classes alike.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;

use crate::error::{Error, Result};

/// The values of a label column as text (integers as written, booleans as true/false);
/// missing values are `None`: nulls, a floating NaN, and text that is one of the
/// missing-value markers of a CSV cell (`NA`, `NaN`, `null`, …), as for features: a
/// missing label is never a class of its own.
pub fn label_values(column: &ArrayRef, name: &str) -> Result<Vec<Option<String>>> {
    let n = column.len();
    let text = |f: &dyn Fn(usize) -> String| -> Vec<Option<String>> {
        (0..n)
            .map(|i| {
                (!column.is_null(i))
                    .then(|| f(i))
                    .filter(|t| !crate::source::csv::is_missing(t.trim()))
            })
            .collect()
    };
    macro_rules! prim {
        ($t:ty) => {{
            let a = column.as_primitive::<$t>();
            text(&|i| a.value(i).to_string())
        }};
    }
    Ok(match column.data_type() {
        DataType::Int8 => prim!(Int8Type),
        DataType::Int16 => prim!(Int16Type),
        DataType::Int32 => prim!(Int32Type),
        DataType::Int64 => prim!(Int64Type),
        DataType::UInt8 => prim!(UInt8Type),
        DataType::UInt16 => prim!(UInt16Type),
        DataType::UInt32 => prim!(UInt32Type),
        DataType::UInt64 => prim!(UInt64Type),
        DataType::Float32 => prim!(Float32Type),
        DataType::Float64 => prim!(Float64Type),
        DataType::Boolean => {
            let a = column.as_boolean();
            text(&|i| a.value(i).to_string())
        }
        DataType::Utf8 => {
            let a = column.as_string::<i32>();
            text(&|i| a.value(i).to_string())
        }
        DataType::LargeUtf8 => {
            let a = column.as_string::<i64>();
            text(&|i| a.value(i).to_string())
        }
        DataType::Utf8View => {
            let a = column.as_string_view();
            text(&|i| a.value(i).to_string())
        }
        DataType::Dictionary(..) => {
            // A pandas categorical: the dictionary's labels, row by row through the keys.
            let dictionary = column
                .as_any_dictionary_opt()
                .ok_or_else(|| Error::data(format!("label column '{name}' could not be read")))?;
            let labels = label_values(dictionary.values(), name)?;
            let keys = dictionary.normalized_keys();
            (0..n)
                .map(|i| {
                    if column.is_null(i) {
                        None
                    } else {
                        labels.get(keys[i]).cloned().flatten()
                    }
                })
                .collect()
        }
        other => {
            return Err(Error::data(format!(
                "label column '{name}' holds {}, which cannot be a class label",
                crate::source::plain_type(other)
            )));
        }
    })
}

/// Sorted distinct labels: numeric order when all parse as numbers, else text order.
pub fn classes(labels: &[String]) -> Vec<String> {
    let mut distinct: Vec<String> = labels.to_vec();
    distinct.sort();
    distinct.dedup();
    let numbers: Option<Vec<f64>> = distinct.iter().map(|l| l.parse::<f64>().ok()).collect();
    if let Some(numbers) = numbers {
        let mut pairs: Vec<(f64, String)> = numbers.into_iter().zip(distinct).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        distinct = pairs.into_iter().map(|(_, l)| l).collect();
    }
    distinct
}
