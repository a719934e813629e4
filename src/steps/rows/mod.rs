//! Row steps: `filter` keeps the rows where a SQL condition holds, `derive` appends
//! columns computed from each row. Both are SQL expressions evaluated by polars on every
//! chunk as it is read, before any fitted step sees it, so a cut or a new feature costs
//! no extra pass and no copy of the dataset. Only row-local expressions are accepted (no
//! aggregates, windows or subqueries): a value must depend on its own row alone, or the
//! result would depend on the chunk size.
//!
//! `plan` checks them when the pipeline is validated, before any data is read: each
//! expression is parsed (`check`), the columns it names must exist, and the derived
//! columns' types are inferred by polars from the input's schema. `RowPlan` then holds
//! the source's stages (`stage`), the derived columns (appended to the dataset's columns,
//! so `input.features` selects them like any other) and the filters' row counts.

#[cfg(feature = "sql")]
mod check;
#[cfg(feature = "sql")]
mod convert;
#[cfg(feature = "sql")]
mod stage;
#[cfg(all(test, feature = "sql"))]
mod stage_tests;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::source::{ColumnInfo, Dataset, RowStage};

/// A SQL expression as written, with where it was written (for messages).
#[derive(Debug, Clone, Default)]
pub struct RowExpr {
    pub text: String,
    /// `file:line:column` of the expression in the pipeline file, when it came from one.
    pub at: Option<String>,
    line_col: Option<(usize, usize)>,
}

impl RowExpr {
    pub fn new(text: impl Into<String>) -> RowExpr {
        RowExpr {
            text: text.into(),
            ..RowExpr::default()
        }
    }

    /// Names the file the expression was read from (its line and column are known from
    /// parsing).
    pub fn locate(&mut self, origin: &str) {
        if let Some((line, column)) = self.line_col {
            self.at = Some(format!("{origin}:{line}:{column}"));
        }
    }
}

/// The text alone: where it was written changes nothing the pipeline does.
impl PartialEq for RowExpr {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Serialize for RowExpr {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for RowExpr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<String>::deserialize(d)?;
        let at = spanned.referenced;
        Ok(RowExpr {
            text: spanned.value,
            at: None,
            line_col: (at.line() > 0).then(|| (at.line() as usize, at.column() as usize)),
        })
    }
}

/// `derive:` new column names and their expressions, in the order written (a later one
/// may use an earlier one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeriveParams(pub Vec<(String, RowExpr)>);

impl Serialize for DeriveParams {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, expr) in &self.0 {
            map.serialize_entry(name, expr)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for DeriveParams {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = DeriveParams;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of new column names to SQL expressions")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<DeriveParams, A::Error> {
                let mut entries: Vec<(String, RowExpr)> = Vec::new();
                while let Some((name, expr)) = map.next_entry::<String, RowExpr>()? {
                    if entries.iter().any(|(n, _)| *n == name) {
                        return Err(serde::de::Error::custom(format!(
                            "derive: column '{name}' is given twice"
                        )));
                    }
                    entries.push((name, expr));
                }
                Ok(DeriveParams(entries))
            }
        }
        d.deserialize_map(Entries)
    }
}

/// A filter's rows in and out over one pass, shared between its stage (which counts)
/// and the report.
#[derive(Debug, Default)]
pub struct FilterCount {
    rows_in: AtomicU64,
    rows_out: AtomicU64,
}

impl FilterCount {
    pub fn add(&self, rows_in: usize, rows_out: usize) {
        self.rows_in.fetch_add(rows_in as u64, Ordering::Relaxed);
        self.rows_out.fetch_add(rows_out as u64, Ordering::Relaxed);
    }

    pub fn get(&self) -> (u64, u64) {
        (
            self.rows_in.load(Ordering::Relaxed),
            self.rows_out.load(Ordering::Relaxed),
        )
    }
}

/// A filter of the plan: its step index and expression, and its counts.
#[derive(Debug, Clone)]
pub struct PlannedFilter {
    pub step: usize,
    pub text: String,
    pub count: Arc<FilterCount>,
}

/// What the row steps add to a read: the stages in order, the columns they append (to
/// the dataset's columns) and the file columns they read.
#[derive(Debug, Clone, Default)]
pub struct RowPlan {
    pub stages: Vec<Arc<dyn RowStage>>,
    /// The derived columns, in order.
    pub derived: Vec<ColumnInfo>,
    /// Their types as polars infers them from the input's schema.
    pub derived_types: Vec<String>,
    /// Indices (into the dataset's file columns) of the columns the expressions name.
    pub reads: Vec<usize>,
    pub filters: Vec<PlannedFilter>,
    /// The row steps as written (model.json keeps them for `transform`).
    pub written: Vec<crate::steps::RawStep>,
}

/// One row step as written (`RawStep::row_step`).
#[derive(Debug, Clone, Copy)]
pub enum RowStep<'a> {
    Filter(&'a RowExpr),
    Derive(&'a DeriveParams),
}

impl RowPlan {
    /// What `dimred validate` says of the row steps: one line per filter, one for the
    /// derived columns and their types.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for f in &self.filters {
            out.push_str(&format!(
                "filter: steps[{}] keeps rows where {}\n",
                f.step, f.text
            ));
        }
        if !self.derived.is_empty() {
            let columns: Vec<String> = self
                .derived
                .iter()
                .zip(&self.derived_types)
                .map(|(c, t)| format!("{} ({t})", c.name))
                .collect();
            out.push_str(&format!("derived: {}\n", columns.join(", ")));
        }
        out
    }

    /// Each filter's rows in and out so far (see `FilterCount`).
    pub fn counts(&self) -> Vec<(u64, u64)> {
        self.filters.iter().map(|f| f.count.get()).collect()
    }
}

/// Checks the row steps against the dataset and builds their stages. `steps` are the
/// row steps with their indices in the pipeline; problems are collected, each naming the
/// step and where it was written.
pub fn plan(
    steps: &[(usize, RowStep<'_>)],
    dataset: &Dataset,
    problems: &mut Vec<String>,
) -> RowPlan {
    if steps.is_empty() {
        return RowPlan::default();
    }
    #[cfg(feature = "sql")]
    {
        stage::plan(steps, dataset, problems)
    }
    #[cfg(not(feature = "sql"))]
    {
        let _ = dataset;
        for (i, step) in steps {
            let kind = match step {
                RowStep::Filter(_) => "filter",
                RowStep::Derive(_) => "derive",
            };
            problems.push(format!(
                "steps[{i}]: this dimred was built without SQL expressions (cargo feature `sql`), so a {kind} step cannot run; rebuild with default features"
            ));
        }
        RowPlan::default()
    }
}

/// Where a problem with an expression is: `file:line:column: steps[i].kind`.
#[cfg(feature = "sql")]
pub(crate) fn place(i: usize, kind: &str, expr: &RowExpr, column: Option<&str>) -> String {
    let key = match column {
        Some(name) => format!("steps[{i}].{kind}.{name}"),
        None => format!("steps[{i}].{kind}"),
    };
    match &expr.at {
        Some(at) => format!("{at}: {key}"),
        None => key,
    }
}

/// The row kinds' registrations (`steps::registry!`), one per kind of keys (`RowExpr` for
/// `filter`, `DeriveParams` for `derive`): the reader runs them, so they plan to
/// `InReader` and have no model section.
pub struct RowKind<P>(std::marker::PhantomData<P>);

impl<P> crate::steps::StepKind for RowKind<P>
where
    RowKind<P>: crate::steps::Named,
    P: fmt::Debug + Clone + PartialEq + Serialize + serde::de::DeserializeOwned,
{
    type Params = P;
    fn plan(_: &P) -> Box<dyn crate::steps::PlannedStep> {
        Box::new(InReader(<Self as crate::steps::Named>::NAME))
    }
    fn load(
        _: &serde_json::Map<String, serde_json::Value>,
        _: usize,
    ) -> Result<Box<dyn crate::steps::FittedStep>> {
        Err(no_model_section(<Self as crate::steps::Named>::NAME))
    }
}

/// A model.json naming a row step among its fitted ones was edited by hand.
fn no_model_section(kind: &str) -> Error {
    Error::config(format!(
        "model field 'steps' names a {kind} step; row steps run in the reader and have no model section"
    ))
}

/// A row step where a fitted step was expected: the plan hands row steps to the reader,
/// so reaching this is a bug, reported as one rather than a panic.
#[derive(Debug)]
pub struct InReader(pub &'static str);

impl crate::steps::PlannedStep for InReader {
    fn kind(&self) -> &'static str {
        self.0
    }
    fn output_width(&self, input: usize) -> Option<usize> {
        Some(input)
    }
    fn start(&self, _input: &crate::steps::StepInput) -> Result<crate::steps::Fit> {
        Err(Error::internal(format!(
            "a {} step reached the fit loop; row steps run in the reader",
            self.0
        )))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::RawPipeline;
    use crate::steps::RawStep;

    const YAML: &str = "name: r
input: { path: x.csv }
steps:
  - filter: \"pt > 20\"
  - derive: { b: \"ln(a)\", a2: \"a * 2\" }
  - pca: { n_components: 2 }
output: { dir: out }
";

    #[test]
    fn expressions_keep_where_they_were_written_and_their_order() {
        let raw = RawPipeline::from_yaml(YAML, "p.yaml").unwrap();
        let RawStep::Filter(f) = &raw.steps[0] else {
            panic!("{:?}", raw.steps[0])
        };
        assert_eq!(f.text, "pt > 20");
        assert_eq!(f.at.as_deref(), Some("p.yaml:4:13"));
        let RawStep::Derive(d) = &raw.steps[1] else {
            panic!("{:?}", raw.steps[1])
        };
        let names: Vec<&str> = d.0.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["b", "a2"]);
        assert_eq!(d.0[1].1.at.as_deref(), Some("p.yaml:5:31"));
        // as model.json and report.json write them, and back (no location from JSON)
        let json = serde_json::to_string(&raw.steps[..2]).unwrap();
        assert_eq!(
            json,
            r#"[{"filter":"pt > 20"},{"derive":{"b":"ln(a)","a2":"a * 2"}}]"#
        );
        let back: Vec<RawStep> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, raw.steps[..2]);
        let err = RawPipeline::from_yaml(&YAML.replace("a2: \"a * 2\"", "b: \"a * 2\""), "p.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("p.yaml:5:"), "{err}");
    }
}
