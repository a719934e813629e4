//! Isomap (Tenenbaum, de Silva & Langford, Science 290, 2000) as scikit-learn's
//! `Isomap(n_neighbors=k, n_components=2)`: the k-nearest-neighbour graph with Euclidean
//! edge lengths, taken as undirected (an edge when either end is among the other's k
//! nearest), geodesic distances by Dijkstra from every node, then classical MDS of the
//! geodesics (scikit-learn's KernelPCA of −½·H·D²·H is the same thing).
//!
//! Unlike scikit-learn, a graph in several pieces is an error rather than patched with
//! extra edges: distances between pieces would be made up, and a larger k is the honest
//! fix. Memory is the n × n geodesic matrix (8·n² bytes).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use faer::{Mat, MatRef};
use rayon::prelude::*;

use super::knn::{Neighbours, Rows, nearest};
use super::mds;

/// For each node, its neighbours and edge lengths, sorted by neighbour.
type Graph = Vec<Vec<(usize, f64)>>;

/// Isomap's two coordinates for the rows of `x`; `1 ≤ n_neighbors < n`.
pub(super) fn isomap(
    x: MatRef<'_, f64>,
    n_neighbors: usize,
    seed: u64,
) -> Result<Mat<f64>, String> {
    let rows = Rows::new(x);
    let graph = undirected(&nearest(&rows, n_neighbors));
    let pieces = components(&graph);
    if pieces > 1 {
        return Err(format!(
            "the {n_neighbors}-nearest-neighbour graph falls into {pieces} disconnected \
             components, so Isomap's geodesic distances between them are undefined; try a \
             larger n_neighbors."
        ));
    }
    let squared = squared_geodesics(&graph);
    mds::classical(&squared, rows.n, seed)
}

/// The kNN graph made symmetric: i–j is an edge when j is among i's neighbours or i among
/// j's, with length ‖xᵢ − xⱼ‖ (the same bits both ways).
fn undirected(neighbours: &Neighbours) -> Graph {
    let n = neighbours.index.len() / neighbours.k;
    let mut graph: Graph = vec![Vec::new(); n];
    for i in 0..n {
        for (j, d2) in neighbours.of(i) {
            let length = d2.sqrt();
            graph[i].push((j, length));
            graph[j].push((i, length));
        }
    }
    for edges in &mut graph {
        edges.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        edges.dedup_by_key(|e| e.0);
    }
    graph
}

/// How many connected pieces the graph has.
fn components(graph: &Graph) -> usize {
    let mut seen = vec![false; graph.len()];
    let mut pieces = 0;
    let mut stack = Vec::new();
    for start in 0..graph.len() {
        if seen[start] {
            continue;
        }
        pieces += 1;
        seen[start] = true;
        stack.push(start);
        while let Some(i) = stack.pop() {
            for &(j, _) in &graph[i] {
                if !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
    }
    pieces
}

/// The squared shortest-path lengths between all pairs (row-major n × n), one Dijkstra
/// per source, sources in parallel.
fn squared_geodesics(graph: &Graph) -> Vec<f64> {
    let n = graph.len();
    let mut out = vec![0.0; n * n];
    out.par_chunks_mut(n).enumerate().for_each(|(source, row)| {
        for (o, d) in row.iter_mut().zip(dijkstra(graph, source)) {
            *o = d * d;
        }
    });
    out
}

/// Shortest-path lengths from `source` (infinite where unreachable).
fn dijkstra(graph: &Graph, source: usize) -> Vec<f64> {
    let mut distance = vec![f64::INFINITY; graph.len()];
    let mut done = vec![false; graph.len()];
    let mut heap = BinaryHeap::new();
    distance[source] = 0.0;
    heap.push(Candidate(0.0, source));
    while let Some(Candidate(d, i)) = heap.pop() {
        if done[i] {
            continue;
        }
        done[i] = true;
        for &(j, length) in &graph[i] {
            let through = d + length;
            if through < distance[j] {
                distance[j] = through;
                heap.push(Candidate(through, j));
            }
        }
    }
    distance
}

/// A heap entry ordered so the nearest pops first (ties by node index).
#[derive(PartialEq)]
struct Candidate(f64, usize);

impl Eq for Candidate {}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dijkstra_matches_floyd_warshall_on_a_small_graph() {
        // a ring of 7 with one chord; lengths chosen so the chord is sometimes shorter
        let mut graph: Graph = vec![Vec::new(); 7];
        let mut add = |a: usize, b: usize, w: f64| {
            graph[a].push((b, w));
            graph[b].push((a, w));
        };
        for i in 0..7 {
            add(i, (i + 1) % 7, 1.0 + i as f64 * 0.1);
        }
        add(0, 3, 2.5);
        let n = 7;
        let mut fw = vec![f64::INFINITY; n * n];
        for i in 0..n {
            fw[i * n + i] = 0.0;
            for &(j, w) in &graph[i] {
                fw[i * n + j] = fw[i * n + j].min(w);
            }
        }
        for m in 0..n {
            for i in 0..n {
                for j in 0..n {
                    fw[i * n + j] = fw[i * n + j].min(fw[i * n + m] + fw[m * n + j]);
                }
            }
        }
        let sq = squared_geodesics(&graph);
        for k in 0..n * n {
            assert!((sq[k] - fw[k] * fw[k]).abs() < 1e-12, "{k}");
        }
        assert_eq!(components(&graph), 1);
    }

    #[test]
    fn the_graph_is_symmetric_without_duplicate_edges() {
        let x = Mat::from_fn(6, 1, |i, _| [0.0, 1.0, 2.0, 10.0, 11.0, 13.0][i]);
        let graph = undirected(&nearest(&Rows::new(x.as_ref()), 1));
        // 0–1 (each other's nearest), 2→1, 3–4, 5→4
        assert_eq!(graph[1], vec![(0, 1.0), (2, 1.0)]);
        assert_eq!(graph[4], vec![(3, 1.0), (5, 2.0)]);
        assert_eq!(components(&graph), 2);
    }
}
