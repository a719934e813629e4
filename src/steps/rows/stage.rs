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
pub(super) fn frame(batch: &RecordBatch, names: &[String]) -> Result<DataFrame> {
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
