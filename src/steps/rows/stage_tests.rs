//! The SQL row stages against polars on the whole frame: chunked evaluation equals one
//! evaluation of every row, and planning infers types and refuses what cannot run.

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use polars::prelude::{DataType as PlType, IntoLazy};

use super::stage::{frame, plan};
use super::*;
use crate::source::ColumnKind;
use crate::steps::rows::DeriveParams;

/// A dataset of the columns `x` (f64 with nulls), `n` (i64), `kind` (text).
fn dataset() -> Dataset {
    Dataset {
        path: "mem".into(),
        files: Vec::new(),
        file_sizes: Vec::new(),
        format: crate::source::Format::Parquet,
        columns: vec![
            ColumnInfo {
                name: "x".into(),
                kind: ColumnKind::Numeric,
                float32: false,
            },
            ColumnInfo {
                name: "n".into(),
                kind: ColumnKind::Numeric,
                float32: false,
            },
            ColumnInfo {
                name: "kind".into(),
                kind: ColumnKind::Other("text".into()),
                float32: false,
            },
        ],
        total_rows: None,
        total_bytes: 0,
        column_chunk_bytes: Vec::new(),
        column_page_bytes: Vec::new(),
        offset_index: false,
        metadata_bytes: 0,
        footers: Vec::new(),
        footers_bytes: 0,
        derived: 0,
        declared: Vec::new(),
    }
}

fn batch(rows: usize) -> RecordBatch {
    let x: Float64Array = (0..rows)
        .map(|i| (i % 11 != 3).then(|| ((i * 7919) % 1000) as f64 / 37.0 - 9.0))
        .collect();
    let n: Int64Array = (0..rows).map(|i| Some((i as i64 * 31) % 17 - 5)).collect();
    let kind: StringArray = (0..rows).map(|i| Some(["mu", "e", "tau"][i % 3])).collect();
    RecordBatch::try_from_iter(vec![
        ("x", Arc::new(x) as ArrayRef),
        ("n", Arc::new(n) as ArrayRef),
        ("kind", Arc::new(kind) as ArrayRef),
    ])
    .unwrap()
}

fn planned(filter: &str, derive: &[(&str, &str)]) -> RowPlan {
    let f = RowExpr::new(filter);
    let d = DeriveParams(
        derive
            .iter()
            .map(|(n, e)| (n.to_string(), RowExpr::new(*e)))
            .collect(),
    );
    let mut problems = Vec::new();
    let plan = plan(
        &[(0, RowStep::Filter(&f)), (1, RowStep::Derive(&d))],
        &dataset(),
        &mut problems,
    );
    assert!(problems.is_empty(), "{problems:?}");
    plan
}

/// Stages run on chunks of `rows` rows, concatenated: (kept offsets, derived columns).
fn chunked(plan: &RowPlan, whole: &RecordBatch, rows: usize) -> (Vec<u32>, Vec<Vec<Option<f64>>>) {
    let mut kept = Vec::new();
    let mut derived = vec![Vec::new(); plan.derived.len()];
    let mut at = 0;
    while at < whole.num_rows() {
        let len = rows.min(whole.num_rows() - at);
        let mut b = whole.slice(at, len);
        let mut rows_here: Vec<u32> = (0..len as u32).collect();
        for stage in &plan.stages {
            let (next, k) = stage.apply(&b).unwrap();
            if let Some(k) = k {
                rows_here = k.iter().map(|&r| rows_here[r as usize]).collect();
            }
            b = next;
        }
        kept.extend(rows_here.iter().map(|r| r + at as u32));
        for (j, d) in plan.derived.iter().enumerate() {
            let c = b.column_by_name(&d.name).unwrap();
            let c = arrow_cast_f64(c);
            derived[j].extend(c);
        }
        at += len;
    }
    (kept, derived)
}

fn arrow_cast_f64(c: &ArrayRef) -> Vec<Option<f64>> {
    c.as_primitive::<Float64Type>().iter().collect()
}

#[test]
fn chunked_stages_equal_polars_on_the_whole_frame() {
    let whole = batch(1000);
    let filter = "x > -2 AND kind <> 'tau' AND n BETWEEN -3 AND 9";
    let derive = [
        ("a", "ln(abs(x) + 1) * n"),
        ("b", "CASE WHEN kind = 'mu' THEN x / 2 ELSE pow(x, 2) END"),
        ("c", "a - b"),
    ];
    let plan = planned(filter, &derive);
    assert_eq!(plan.reads, vec![0, 1, 2]);
    // polars itself, once, on the whole frame (its own filter, not the stage's mask)
    let mut lazy = frame(&whole, &["x".into(), "n".into(), "kind".into()])
        .unwrap()
        .lazy()
        .with_row_index("row", None)
        .filter(polars::sql::sql_expr(filter).unwrap());
    for (name, e) in derive {
        lazy = lazy.with_column(polars::sql::sql_expr(e).unwrap().alias(name));
    }
    let reference = lazy.collect().unwrap();
    let rows: Vec<u32> = reference
        .column("row")
        .unwrap()
        .as_materialized_series()
        .idx()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert!(
        rows.len() > 200 && rows.len() < 800,
        "{} rows kept",
        rows.len()
    );
    for chunk in [1000, 7, 64] {
        let (kept, derived) = chunked(&plan, &whole, chunk);
        assert_eq!(kept, rows, "chunks of {chunk}");
        for (j, (name, _)) in derive.iter().enumerate() {
            let want: Vec<Option<f64>> = reference
                .column(name)
                .unwrap()
                .as_materialized_series()
                .cast(&PlType::Float64)
                .unwrap()
                .f64()
                .unwrap()
                .iter()
                .collect();
            assert_eq!(derived[j], want, "{name}, chunks of {chunk}");
        }
    }
    let (rows_in, rows_out) = plan.filters[0].count.get();
    assert_eq!(rows_in, 3000);
    assert_eq!(rows_out, 3 * rows.len() as u64);
    // the column batch as arrow holds it after the stages
    let (out, _) = plan.stages[1].apply(&whole).unwrap();
    assert_eq!(out.num_columns(), 6);
    assert_eq!(out.column(0).as_primitive::<Float64Type>().len(), 1000);
}

#[test]
fn planning_infers_types_and_refuses_what_cannot_run() {
    let planned = planned(
        "kind = 'mu'",
        &[("half", "n / 2"), ("big", "x > 3"), ("k", "lower(kind)")],
    );
    assert_eq!(planned.derived_types[1], "boolean");
    assert_eq!(planned.derived_types[2], "text");
    assert_eq!(planned.derived[0].kind, ColumnKind::Numeric);
    assert_eq!(planned.derived[1].kind, ColumnKind::Other("boolean".into()));
    let mut problems = Vec::new();
    let bad = RowExpr::new("x + 1");
    let clash = DeriveParams(vec![("x".into(), RowExpr::new("n"))]);
    let typo = DeriveParams(vec![("y".into(), RowExpr::new("nn * 2"))]);
    plan(
        &[
            (0, RowStep::Filter(&bad)),
            (1, RowStep::Derive(&clash)),
            (2, RowStep::Derive(&typo)),
        ],
        &dataset(),
        &mut problems,
    );
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(
        problems[0].starts_with("steps[0].filter: 'x + 1' is f64"),
        "{}",
        problems[0]
    );
    assert!(problems[1].contains("steps[1].derive.x: column 'x' exists already"));
    assert!(problems[2].contains("steps[2].derive.y: no column named 'nn'"));
}
