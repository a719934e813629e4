//! Parses a row step's expression with polars' SQL parser and keeps it row-local: a value
//! may depend on its own row only, so aggregates, window functions and subqueries are
//! refused (their result would depend on how the rows fall into chunks). The offending
//! part is quoted back as written.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, visit_expressions};
use sqlparser::dialect::GenericDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

/// The most operators (plus the deepest nesting of parentheses) an expression may hold.
/// It bounds the depth of the expression's tree, which the parser, the row-locality
/// check and polars all walk recursively: a generated filter of thousands of `AND`ed
/// terms would overflow the stack. More conditions go into more `filter` steps (each
/// step's rows are the previous one's).
pub const MAX_DEPTH: usize = 200;

/// Functions of polars' SQL that read more than their own row: aggregates (`SUM`,
/// `AVG`, …), window functions (`LAG`, `ROW_NUMBER`, …), `UNNEST` (changes the row count)
/// and `COLUMNS` (a selection of columns, not a value).
const NOT_ROW_LOCAL: &[&str] = &[
    "avg",
    "corr",
    "count",
    "covar",
    "covar_pop",
    "covar_samp",
    "first",
    "last",
    "max",
    "median",
    "min",
    "quantile_cont",
    "quantile_disc",
    "stdev",
    "stddev",
    "stdev_samp",
    "stddev_samp",
    "string_agg",
    "listagg",
    "group_concat",
    "sum",
    "total",
    "var",
    "variance",
    "var_samp",
    "array_agg",
    "unnest",
    "rank",
    "dense_rank",
    "first_value",
    "last_value",
    "lag",
    "lead",
    "row_number",
    "columns",
];

/// A parsed expression: the columns it names, in order of first use.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub columns: Vec<String>,
}

/// Parses `text` as one SQL expression and checks it is row-local. The error says what
/// is wrong in plain words, quoting the offending part.
pub fn check(text: &str) -> Result<Checked, String> {
    if text.trim().is_empty() {
        return Err("the expression is empty".into());
    }
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, text)
        .tokenize()
        .map_err(|e| format!("cannot read '{text}' as SQL: {}", plain(&e.to_string())))?;
    let depth = depth_bound(&tokens);
    if depth > MAX_DEPTH {
        let start: String = text.chars().take(40).collect();
        return Err(format!(
            "the expression '{start}…' is too deep: {depth} operators and nested parentheses, at most {MAX_DEPTH}; split it over several filter or derive steps"
        ));
    }
    let mut parser = Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(|e| format!("cannot read '{text}' as SQL: {}", plain(&e.to_string())))?;
    let expr = parser
        .parse_expr()
        .map_err(|e| format!("cannot read '{text}' as SQL: {}", plain(&e.to_string())))?;
    let next = parser.peek_token().token;
    if next != Token::EOF {
        return Err(format!(
            "'{text}' goes on after the expression '{expr}' (at '{next}'); a step takes one expression, not a query or a clause (no ORDER BY, GROUP BY, JOIN or FROM)"
        ));
    }
    let mut columns: Vec<String> = Vec::new();
    let found = visit_expressions(&expr, |e| {
        match e {
            Expr::Identifier(ident) if !columns.contains(&ident.value) => {
                columns.push(ident.value.clone());
            }
            Expr::CompoundIdentifier(parts) => {
                let name: Vec<&str> = parts.iter().map(|p| p.value.as_str()).collect();
                return ControlFlow::Break(format!(
                    "'{}' names a column of a table; name the column alone (in double quotes if it has a dot: \"{}\")",
                    e,
                    name.join(".")
                ));
            }
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                return ControlFlow::Break(format!(
                    "'{e}' is a subquery; only row-local expressions are allowed (no aggregates, windows or subqueries)"
                ));
            }
            Expr::Wildcard(_) | Expr::QualifiedWildcard(..) => {
                return ControlFlow::Break(format!(
                    "'{e}' selects columns; a step takes an expression of named columns"
                ));
            }
            Expr::Function(f) => {
                let name = f.name.to_string().to_ascii_lowercase();
                if f.over.is_some() {
                    return ControlFlow::Break(format!(
                        "'{e}' is a window function (OVER); only row-local expressions are allowed (no aggregates, windows or subqueries)"
                    ));
                }
                if NOT_ROW_LOCAL.contains(&name.as_str()) {
                    return ControlFlow::Break(format!(
                        "'{e}' is an aggregate or window function over many rows; only row-local expressions are allowed (no aggregates, windows or subqueries)"
                    ));
                }
                if f.filter.is_some() || !f.within_group.is_empty() {
                    return ControlFlow::Break(format!(
                        "'{e}' aggregates over rows; only row-local expressions are allowed"
                    ));
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    });
    if let ControlFlow::Break(problem) = found {
        return Err(problem);
    }
    Ok(Checked { columns })
}

/// An upper bound on the depth of the tree of `tokens`: every token that is not a name,
/// a literal or punctuation counts as an operator, plus the deepest nesting of
/// parentheses.
fn depth_bound(tokens: &[Token]) -> usize {
    let (mut nesting, mut deepest, mut operators) = (0usize, 0usize, 0usize);
    for token in tokens {
        match token {
            Token::LParen => {
                nesting += 1;
                deepest = deepest.max(nesting);
            }
            Token::RParen => nesting = nesting.saturating_sub(1),
            Token::Whitespace(_)
            | Token::Comma
            | Token::EOF
            | Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_) => {}
            Token::Word(w) if w.keyword == Keyword::NoKeyword || w.quote_style.is_some() => {}
            _ => operators += 1,
        }
    }
    operators + deepest
}

/// The parser's words without its own prefix and position (the place is named in front).
fn plain(message: &str) -> String {
    let m = message
        .trim_start_matches("sql parser error: ")
        .trim_start_matches("SQL parser error: ");
    match m.find(" at Line:") {
        Some(i) => m[..i].to_string(),
        None => m.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_local_expressions_name_their_columns() {
        let c = check("pt > 20 AND abs(eta) < 2.5").unwrap();
        assert_eq!(c.columns, vec!["pt", "eta"]);
        let c = check("ln(energy) / NULLIF(pt, 0)").unwrap();
        assert_eq!(c.columns, vec!["energy", "pt"]);
        let c = check("CASE WHEN \"mean radius\" > 12 THEN 1.0 ELSE 0.0 END").unwrap();
        assert_eq!(c.columns, vec!["mean radius"]);
        assert!(check("pt BETWEEN 1 AND 2 OR pt IN (5, 6)").is_ok());
        assert_eq!(check("1.5").unwrap().columns, Vec::<String>::new());
    }

    #[test]
    fn aggregates_windows_and_subqueries_are_refused_by_name() {
        for (text, part) in [
            ("pt > AVG(pt)", "AVG(pt)"),
            ("sum(x) > 1", "sum(x)"),
            ("x - LAG(x) OVER (ORDER BY t)", "LAG(x) OVER"),
            ("abs(x) OVER ()", "OVER"),
            ("x > (SELECT max(x) FROM data)", "SELECT"),
            ("x IN (SELECT y FROM other)", "SELECT y"),
            ("ROW_NUMBER() OVER (ORDER BY x)", "ROW_NUMBER()"),
            ("COUNT(*)", "COUNT(*)"),
        ] {
            let err = check(text).unwrap_err();
            assert!(err.contains(part), "{text}: {err}");
            assert!(
                err.contains("row-local") || err.contains("selects columns"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn clauses_and_bad_syntax_are_plain_errors() {
        let err = check("pt > 20 ORDER BY pt").unwrap_err();
        assert!(err.contains("ORDER"), "{err}");
        let err = check("pt > 20 GROUP BY eta").unwrap_err();
        assert!(err.contains("GROUP"), "{err}");
        let err = check("pt >").unwrap_err();
        assert!(err.starts_with("cannot read 'pt >' as SQL"), "{err}");
        assert!(!err.contains("Line:"), "{err}");
        let err = check("data.pt > 1").unwrap_err();
        assert!(err.contains("data.pt"), "{err}");
        assert!(check("  ").unwrap_err().contains("empty"));
    }

    #[test]
    fn deep_expressions_are_refused_before_they_are_parsed() {
        let terms = |n: usize| {
            (0..n)
                .map(|i| format!("x{} > {i}", i % 7))
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        // 50 terms: 50 comparisons and 49 ANDs
        assert!(check(&terms(50)).is_ok());
        let err = check(&terms(3000)).unwrap_err();
        assert!(
            err.contains("too deep") && err.contains("at most 200"),
            "{err}"
        );
        let nested = format!("{}x{}", "(".repeat(5000), ")".repeat(5000));
        let err = check(&nested).unwrap_err();
        assert!(err.contains("too deep"), "{err}");
    }
}
