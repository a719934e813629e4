//! `report.embedding`: a t-SNE, MDS or Isomap picture of the report's sample, with its
//! trustworthiness (scikit-learn's, at 5 neighbours) so a reader knows how far to believe
//! it. The rows pictured are an evenly spaced subset of the reservoir sample (itself
//! uniform), in input order.

use std::time::Instant;

use arrow_array::RecordBatch;
use faer::Mat;
use serde_json::{Value, json};

use super::sample::EmbeddingPoints;
use crate::config::{EmbedMethod, EmbedSpace, RawEmbedding};
use crate::embed::{EmbedParams, Method, embed, trustworthiness};
use crate::error::{Error, Result};
use crate::evaluate::EvalRows;

/// Neighbours of the trustworthiness score (the and scikit-learn's default 5).
const TRUST_NEIGHBORS: usize = 5;

/// The picture: report.json's section, the points for report.html, and embedding.parquet's
/// rows (the pictured rows' passthrough columns, then `e1`, `e2`).
pub struct Embedded {
    pub section: Value,
    pub points: EmbeddingPoints,
    pub passthrough: Option<RecordBatch>,
    pub coordinates: Mat<f64>,
}

/// The picture of `rows` (the sample; `color` and `passthrough` aligned with it).
pub fn picture(
    raw: &RawEmbedding,
    rows: &EvalRows,
    color: Option<&[Option<String>]>,
    passthrough: Option<&RecordBatch>,
) -> Result<Embedded> {
    let n = rows.index.len();
    let take = raw.sample.min(n);
    if take < 3 {
        return Err(Error::data(format!(
            "report.embedding: the sample has {n} row(s); a picture needs at least 3"
        )));
    }
    let chosen: Vec<usize> = (0..take).map(|i| i * n / take).collect();
    let source = match raw.space {
        EmbedSpace::Reduced => &rows.reduced,
        EmbedSpace::Scaled => &rows.scaled,
    };
    let d = source[0].len();
    let x = Mat::from_fn(take, d, |i, j| source[chosen[i]][j]);
    let params = EmbedParams {
        method: match raw.method {
            EmbedMethod::Tsne => Method::Tsne,
            EmbedMethod::Mds => Method::Mds,
            EmbedMethod::Isomap => Method::Isomap,
        },
        perplexity: raw.perplexity,
        n_neighbors: raw.n_neighbors,
        seed: raw.seed,
        ..EmbedParams::default()
    };
    let started = Instant::now();
    let y =
        embed(x.as_ref(), &params).map_err(|e| Error::data(format!("report.embedding: {e}")))?;
    let seconds = started.elapsed().as_secs_f64();
    let trust = (take > 2 * TRUST_NEIGHBORS + 1)
        .then(|| trustworthiness(x.as_ref(), y.as_ref(), TRUST_NEIGHBORS));
    let method = serde_json::to_value(raw.method).unwrap_or(Value::Null);
    let mut section = json!({
        "method": method,
        "space": raw.space,
        "rows": take,
        "seconds": seconds,
        "trustworthiness": trust,
        "trustworthiness_neighbors": TRUST_NEIGHBORS,
        "seed": raw.seed,
    });
    match raw.method {
        EmbedMethod::Tsne => section["perplexity"] = json!(raw.perplexity),
        EmbedMethod::Isomap => section["n_neighbors"] = json!(raw.n_neighbors),
        EmbedMethod::Mds => {}
    }
    let passthrough = match passthrough {
        Some(batch) => {
            let at = arrow_array::UInt32Array::from_iter_values(chosen.iter().map(|&i| i as u32));
            Some(
                arrow_select::take::take_record_batch(batch, &at)
                    .map_err(|e| Error::data(format!("cannot pick the pictured rows: {e}")))?,
            )
        }
        None => None,
    };
    Ok(Embedded {
        section,
        points: EmbeddingPoints {
            method: method.as_str().unwrap_or_default().to_string(),
            points: (0..take).map(|i| [y[(i, 0)], y[(i, 1)]]).collect(),
            color: color.map(|c| chosen.iter().map(|&i| c[i].clone()).collect()),
        },
        passthrough,
        coordinates: y,
    })
}
