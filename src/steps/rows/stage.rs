//! The row steps run by polars: planning (each expression checked, its columns found,
//! its type inferred on the input's schema) and the source stages that evaluate them on
//! each batch. Only the columns an expression names go to polars; a filter's mask comes
//! back and the batch is filtered by arrow itself, so the other columns are never handed
//! over.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_schema::{Field, Schema};
use polars::prelude::{Column, DataFrame, DataType as PlType, Expr, IntoLazy, LazyFrame, col};

use super::check;
use super::convert::{to_arrow, to_polars};
use super::{FilterCount, PlannedFilter, RowExpr, RowPlan, RowStep, place};
use crate::error::{Error, Result};
use crate::source::{ColumnInfo, ColumnKind, Dataset, RowStage};
use crate::steps::RawStep;

/// The name a filter's condition is evaluated under, in a frame of only the columns it
/// names (so a column of that name would merely be shadowed after its use).
const KEEP: &str = "__dimred_filter_condition__";

/// Checks the row steps and builds their stages (see `super::plan`).
pub fn plan(
    steps: &[(usize, RowStep<'_>)],
    dataset: &Dataset,
    problems: &mut Vec<String>,
) -> RowPlan {
    // What each column is, as far as the plan knows before reading: a number unless
    // the file says otherwise (CSV columns are read as numbers or text when needed).
    let mut schema: Vec<(String, PlType)> = dataset
        .columns
        .iter()
        .map(|c| (c.name.clone(), type_of(&c.kind)))
        .collect();
    let file_width = schema.len();
    // CSV headers carry no types: the file columns the expressions name are peeked at
    let named: Vec<usize> = steps
        .iter()
        .flat_map(|(_, step)| match step {
            RowStep::Filter(e) => vec![*e],
            RowStep::Derive(d) => d.0.iter().map(|(_, e)| e).collect(),
        })
        .filter_map(|e| check::check(&e.text).ok())
        .flat_map(|c| c.columns)
        .filter_map(|name| dataset.columns.iter().position(|c| c.name == name))
        .collect();
    match dataset.peek_kinds(&named) {
        Ok(kinds) => {
            for (c, kind) in named.iter().zip(&kinds) {
                schema[*c].1 = type_of(kind);
            }
        }
        Err(e) => problems.push(e.to_string()),
    }
    let mut plan = RowPlan::default();
    for &(i, step) in steps {
        match step {
            RowStep::Filter(expr) => {
                plan.written.push(RawStep::Filter(expr.clone()));
                let at = place(i, "filter", expr, None);
                let Some((parsed, inputs)) = parse(expr, &schema, &at, problems) else {
                    continue;
                };
                match infer(&schema, &inputs, &parsed) {
                    Ok(PlType::Boolean) => {}
                    Ok(other) => {
                        problems.push(format!(
                            "{at}: '{}' is {} values, not a condition (true or false)",
                            expr.text,
                            type_name(&other)
                        ));
                        continue;
                    }
                    Err(e) => {
                        problems.push(format!("{at}: {e}"));
                        continue;
                    }
                }
                note_reads(&mut plan.reads, &inputs, &schema, file_width);
                let count = Arc::new(FilterCount::default());
                plan.filters.push(PlannedFilter {
                    step: i,
                    text: expr.text.clone(),
                    count: count.clone(),
                });
                plan.stages.push(Arc::new(SqlFilter {
                    inputs,
                    condition: parsed,
                    at,
                    count,
                }));
            }
            RowStep::Derive(params) => {
                plan.written.push(RawStep::Derive(params.clone()));
                if params.0.is_empty() {
                    problems.push(format!(
                        "steps[{i}].derive: names no columns; give `new_name: expression` pairs"
                    ));
                    continue;
                }
                let mut columns = Vec::new();
                let mut inputs: Vec<String> = Vec::new();
                let before = schema.len();
                for (name, expr) in &params.0 {
                    let at = place(i, "derive", expr, Some(name));
                    if schema.iter().any(|(n, _)| n == name) {
                        problems.push(format!(
                            "{at}: column '{name}' exists already; give the derived column a new name"
                        ));
                        continue;
                    }
                    let Some((parsed, used)) = parse(expr, &schema, &at, problems) else {
                        continue;
                    };
                    let ty = match infer(&schema, &used, &parsed) {
                        Ok(ty) => ty,
                        Err(e) => {
                            problems.push(format!("{at}: {e}"));
                            continue;
                        }
                    };
                    // Columns this step derives itself are made here, not read.
                    let made: Vec<&str> =
                        schema[before..].iter().map(|(n, _)| n.as_str()).collect();
                    for u in used {
                        if !made.contains(&u.as_str()) && !inputs.contains(&u) {
                            inputs.push(u);
                        }
                    }
                    plan.derived_types.push(type_name(&ty));
                    plan.derived.push(ColumnInfo {
                        name: name.clone(),
                        kind: kind_of(&ty),
                        float32: false,
                    });
                    schema.push((name.clone(), ty));
                    columns.push((name.clone(), parsed, at));
                }
                note_reads(&mut plan.reads, &inputs, &schema, file_width);
                if !columns.is_empty() {
                    plan.stages.push(Arc::new(SqlDerive { inputs, columns }));
                }
            }
        }
    }
    plan.reads.sort_unstable();
    plan
}

/// The expression checked, its columns found in `schema` and translated by polars;
/// problems are pushed and `None` returned.
fn parse(
    expr: &RowExpr,
    schema: &[(String, PlType)],
    at: &str,
    problems: &mut Vec<String>,
) -> Option<(Expr, Vec<String>)> {
    let checked = match check::check(&expr.text) {
        Ok(c) => c,
        Err(e) => {
            problems.push(format!("{at}: {e}"));
            return None;
        }
    };
    let absent: Vec<&str> = checked
        .columns
        .iter()
        .filter(|c| !schema.iter().any(|(n, _)| n == *c))
        .map(String::as_str)
        .collect();
    if !absent.is_empty() {
        problems.push(format!(
            "{at}: no column named {} (in the input, or derived by an earlier step; names are case-sensitive)",
            absent
                .iter()
                .map(|c| format!("'{c}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return None;
    }
    match polars::sql::sql_expr(&expr.text) {
        Ok(parsed) => Some((parsed, checked.columns)),
        Err(e) => {
            problems.push(format!(
                "{at}: polars cannot evaluate '{}': {}",
                expr.text,
                plain(&e)
            ));
            None
        }
    }
}

/// The file columns among `names` go into the read.
fn note_reads(
    reads: &mut Vec<usize>,
    names: &[String],
    schema: &[(String, PlType)],
    file_width: usize,
) {
    for name in names {
        if let Some(c) = schema[..file_width].iter().position(|(n, _)| n == name)
            && !reads.contains(&c)
        {
            reads.push(c);
        }
    }
}

/// The type of `expr` on columns of `schema`, by polars on an empty frame.
fn infer(schema: &[(String, PlType)], inputs: &[String], expr: &Expr) -> Result<PlType> {
    let columns: Vec<Column> = inputs
        .iter()
        .map(|name| {
            let ty = schema
                .iter()
                .find(|(n, _)| n == name)
                .map_or(PlType::Float64, |(_, t)| t.clone());
            Column::new_empty(name.as_str().into(), &ty)
        })
        .collect();
    let frame = DataFrame::new(0, columns).map_err(|e| Error::config(plain(&e)))?;
    let mut lazy = frame.lazy().select([expr.clone().alias(KEEP)]);
    let out = lazy
        .collect_schema()
        .map_err(|e| Error::config(format!("polars cannot evaluate it: {}", plain(&e))))?;
    out.get(KEEP)
        .cloned()
        .ok_or_else(|| Error::internal("polars gave no type for an expression"))
}

fn type_of(kind: &ColumnKind) -> PlType {
    match kind {
        ColumnKind::Numeric | ColumnKind::Unknown => PlType::Float64,
        ColumnKind::Other(t) if t == "boolean" => PlType::Boolean,
        ColumnKind::Other(_) => PlType::String,
    }
}

fn kind_of(ty: &PlType) -> ColumnKind {
    if ty.is_primitive_numeric() {
        ColumnKind::Numeric
    } else {
        ColumnKind::Other(type_name(ty))
    }
}

/// A polars type in the words the rest of dimred uses.
pub fn type_name(ty: &PlType) -> String {
    match ty {
        PlType::Boolean => "boolean".into(),
        PlType::String => "text".into(),
        t if t.is_float() => format!("{t} (float)"),
        t if t.is_integer() => format!("{t} (integer)"),
        t => t.to_string(),
    }
}

/// A polars error's first line, without its kind's prefix.
fn plain(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or("").trim();
    for prefix in [
        "SQLInterface: ",
        "SQLSyntax: ",
        "InvalidOperation: ",
        "ComputeError: ",
        "ColumnNotFound: ",
        "SchemaMismatch: ",
    ] {
        if let Some(rest) = line.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    line.to_string()
}

/// The named columns of a batch as a polars frame (their buffers shared).
fn frame(batch: &RecordBatch, names: &[String]) -> Result<DataFrame> {
    let columns = names
        .iter()
        .map(|name| {
            let array = batch.column_by_name(name).ok_or_else(|| {
                Error::internal(format!("column '{name}' did not reach a row step"))
            })?;
            Ok(Column::from(to_polars(name, array)?))
        })
        .collect::<Result<Vec<Column>>>()?;
    DataFrame::new(batch.num_rows(), columns).map_err(|e| Error::internal(plain(&e)))
}

/// Runs `lazy` and takes its columns `names` back as arrow, each checked to hold one value
/// per row. `at[i]` names where `names[i]` was written.
fn evaluated(lazy: LazyFrame, names: &[&str], rows: usize, at: &[&str]) -> Result<Vec<ArrayRef>> {
    // a derive's place without its first column's name: the step
    let suffix = format!(".{}", names[0]);
    let step = at[0].strip_suffix(&suffix).unwrap_or(at[0]);
    let out = lazy
        .select(names.iter().map(|n| col(*n)).collect::<Vec<_>>())
        .collect()
        .map_err(|e| Error::data(format!("{step}: polars failed: {}", plain(&e))))?;
    names
        .iter()
        .zip(at)
        .map(|(name, at)| {
            let column = out
                .column(name)
                .map_err(|e| Error::internal(plain(&e)))?
                .as_materialized_series()
                .clone();
            let array = to_arrow(&column)?;
            if array.len() != rows {
                return Err(Error::data(format!(
                    "{at}: gave {} values for {rows} rows; only row-local expressions are allowed",
                    array.len()
                )));
            }
            Ok(array)
        })
        .collect()
}

/// `filter`: keeps the rows where the condition is true (false and null drop the row,
/// as SQL's WHERE does).
#[derive(Debug)]
struct SqlFilter {
    inputs: Vec<String>,
    condition: Expr,
    at: String,
    count: Arc<FilterCount>,
}

impl RowStage for SqlFilter {
    fn reader_of(&self, column: &str) -> Option<String> {
        self.inputs
            .iter()
            .any(|c| c == column)
            .then(|| self.at.clone())
    }

    fn apply(&self, batch: &RecordBatch) -> Result<(RecordBatch, Option<Vec<u32>>)> {
        let n = batch.num_rows();
        let lazy = frame(batch, &self.inputs)?
            .lazy()
            .with_column(self.condition.clone().alias(KEEP));
        let mask = evaluated(lazy, &[KEEP], n, &[&self.at])?.remove(0);
        let mask = mask
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| Error::data(format!("{}: is not a condition", self.at)))?;
        let rows: Vec<u32> = (0..n as u32)
            .filter(|&i| mask.is_valid(i as usize) && mask.value(i as usize))
            .collect();
        self.count.add(n, rows.len());
        if rows.len() == n {
            return Ok((batch.clone(), None));
        }
        // nulls count as false
        let keep = BooleanArray::from_iter((0..n).map(|i| Some(mask.is_valid(i) && mask.value(i))));
        let kept = arrow_select::filter::filter_record_batch(batch, &keep)
            .map_err(|e| Error::internal(format!("cannot drop filtered rows: {e}")))?;
        Ok((kept, Some(rows)))
    }
}

/// `derive`: appends its columns, each evaluated after the ones before it.
#[derive(Debug)]
struct SqlDerive {
    inputs: Vec<String>,
    columns: Vec<(String, Expr, String)>,
}

impl RowStage for SqlDerive {
    fn reader_of(&self, column: &str) -> Option<String> {
        if !self.inputs.iter().any(|c| c == column) {
            return None;
        }
        self.columns.first().map(|(_, _, at)| at.clone())
    }

    fn apply(&self, batch: &RecordBatch) -> Result<(RecordBatch, Option<Vec<u32>>)> {
        let n = batch.num_rows();
        let mut lazy = frame(batch, &self.inputs)?.lazy();
        for (name, expr, _) in &self.columns {
            lazy = lazy.with_column(expr.clone().alias(name.as_str()));
        }
        let names: Vec<&str> = self.columns.iter().map(|(n, _, _)| n.as_str()).collect();
        let at: Vec<&str> = self.columns.iter().map(|(_, _, a)| a.as_str()).collect();
        let arrays_out = evaluated(lazy, &names, n, &at)?;
        let schema = batch.schema();
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        let mut arrays: Vec<ArrayRef> = batch.columns().to_vec();
        for (name, array) in names.iter().zip(arrays_out) {
            fields.push(Field::new(
                name.to_string(),
                array.data_type().clone(),
                true,
            ));
            arrays.push(array);
        }
        let out = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
            .map_err(|e| Error::internal(format!("cannot append derived columns: {e}")))?;
        Ok((out, None))
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;
    use arrow_array::{Float64Array, Int64Array, StringArray};

    use super::*;
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
    fn chunked(
        plan: &RowPlan,
        whole: &RecordBatch,
        rows: usize,
    ) -> (Vec<u32>, Vec<Vec<Option<f64>>>) {
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
}
