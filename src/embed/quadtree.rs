//! The Barnes–Hut quadtree of t-SNE's repulsive forces (van der Maaten, "Accelerating
//! t-SNE using tree-based algorithms", JMLR 15, 2014, §4.2), built like scikit-learn's
//! `_QuadTree`: the root box is the points' bounding box (its upper edge pushed out a
//! little), each cell splits at its centre into four, points closer than 1e-6 in every
//! coordinate share a leaf, and a cell stands for its points when
//! width² / distance² < θ².
//!
//! Cells are stored in depth-first order, each with the index just past its subtree, so
//! a query walks the array forward without a stack: summarise a cell and jump past it, or
//! step into its first child.

/// Coordinates closer than this are one point (scikit-learn's `EPSILON`).
const DUPLICATE: f64 = 1e-6;

/// A depth no real embedding reaches (cells halve each level); past it the points left
/// become one leaf rather than a deeper recursion.
const MAX_DEPTH: usize = 64;

#[derive(Clone, Copy)]
struct Cell {
    centre_of_mass: [f64; 2],
    size: f64,
    squared_width: f64,
    /// The index just past this cell's subtree; `own index + 1` for a leaf.
    next: u32,
}

pub(super) struct QuadTree {
    cells: Vec<Cell>,
    order: Vec<u32>,
}

/// A cell's box.
#[derive(Clone, Copy)]
struct Bounds {
    low: [f64; 2],
    high: [f64; 2],
}

impl Bounds {
    fn centre(&self) -> [f64; 2] {
        [
            (self.low[0] + self.high[0]) / 2.0,
            (self.low[1] + self.high[1]) / 2.0,
        ]
    }

    /// The quadrant above or below the centre in x and in y.
    fn child(&self, x_high: bool, y_high: bool) -> Bounds {
        let centre = self.centre();
        let (mut low, mut high) = (self.low, self.high);
        if x_high {
            low[0] = centre[0];
        } else {
            high[0] = centre[0];
        }
        if y_high {
            low[1] = centre[1];
        } else {
            high[1] = centre[1];
        }
        Bounds { low, high }
    }
}

impl QuadTree {
    pub fn new(points: &[[f64; 2]]) -> QuadTree {
        let mut tree = QuadTree {
            cells: Vec::with_capacity(2 * points.len()),
            order: (0..points.len() as u32).collect(),
        };
        if points.is_empty() {
            return tree;
        }
        let mut order = std::mem::take(&mut tree.order);
        tree.grow(points, &mut order, root_bounds(points), 0);
        tree.order = order;
        tree
    }

    /// Point indices in the tree's depth-first order: neighbours in the plane are near in
    /// this list.
    pub fn order(&self) -> &[u32] {
        &self.order
    }

    /// The repulsion on `point`: (Σ size·q²·(point − c), Σ size·q) over the summarising
    /// cells c, with q = 1 / (1 + ‖point − c‖²). A leaf at the point itself is left out.
    pub fn repulsion(&self, point: [f64; 2], squared_theta: f64) -> ([f64; 2], f64) {
        let (mut force, mut z) = ([0.0, 0.0], 0.0);
        let mut at = 0;
        while at < self.cells.len() {
            let cell = &self.cells[at];
            let dx = point[0] - cell.centre_of_mass[0];
            let dy = point[1] - cell.centre_of_mass[1];
            let d2 = dx * dx + dy * dy;
            let leaf = cell.next as usize == at + 1;
            let itself = leaf && dx.abs() <= DUPLICATE && dy.abs() <= DUPLICATE;
            if leaf || cell.squared_width < squared_theta * d2 {
                if !itself {
                    let q = 1.0 / (1.0 + d2);
                    z += cell.size * q;
                    let m = cell.size * q * q;
                    force[0] += m * dx;
                    force[1] += m * dy;
                }
                at = cell.next as usize;
            } else {
                at += 1;
            }
        }
        (force, z)
    }

    fn grow(&mut self, points: &[[f64; 2]], order: &mut [u32], bounds: Bounds, depth: usize) {
        let at = self.cells.len();
        let (centre_of_mass, duplicates) = summary(points, order);
        let (mut bounds, mut depth) = (bounds, depth);
        if !duplicates {
            // A cell whose points all fall in one quadrant is accepted only where that
            // quadrant would be (same centre of mass and size, smaller width), so it is
            // skipped: the sums are the same, and the chains that tight clumps make cost
            // no visits.
            while depth < MAX_DEPTH {
                match only_quadrant(points, order, bounds) {
                    Some(inner) => (bounds, depth) = (inner, depth + 1),
                    None => break,
                }
            }
        }
        let width = [
            bounds.high[0] - bounds.low[0],
            bounds.high[1] - bounds.low[1],
        ];
        self.cells.push(Cell {
            centre_of_mass,
            size: order.len() as f64,
            squared_width: (width[0] * width[0]).max(width[1] * width[1]),
            next: 0,
        });
        if !duplicates && depth < MAX_DEPTH {
            for (part, child) in quadrants(points, order, bounds) {
                if !part.is_empty() {
                    self.grow(points, part, child, depth + 1);
                }
            }
        }
        self.cells[at].next = self.cells.len() as u32;
    }
}

/// The points' centre of mass, and whether they all lie within 1e-6 of the first.
fn summary(points: &[[f64; 2]], order: &[u32]) -> ([f64; 2], bool) {
    let first = points[order[0] as usize];
    let mut sum = [0.0, 0.0];
    let mut duplicates = true;
    for &i in order {
        let p = points[i as usize];
        sum[0] += p[0];
        sum[1] += p[1];
        duplicates &= (p[0] - first[0]).abs() <= DUPLICATE && (p[1] - first[1]).abs() <= DUPLICATE;
    }
    let size = order.len() as f64;
    ([sum[0] / size, sum[1] / size], duplicates)
}

/// The quadrant of `bounds` holding all the points, if one does.
fn only_quadrant(points: &[[f64; 2]], order: &[u32], bounds: Bounds) -> Option<Bounds> {
    let centre = bounds.centre();
    let side = |i: u32| {
        let p = points[i as usize];
        (p[0] >= centre[0], p[1] >= centre[1])
    };
    let first = side(order[0]);
    order
        .iter()
        .all(|&i| side(i) == first)
        .then(|| bounds.child(first.0, first.1))
}

/// The points' bounding box, its upper edge moved out as scikit-learn does, so every
/// point lies strictly inside.
fn root_bounds(points: &[[f64; 2]]) -> Bounds {
    let mut low = [f64::INFINITY; 2];
    let mut high = [f64::NEG_INFINITY; 2];
    for p in points {
        for a in 0..2 {
            low[a] = low[a].min(p[a]);
            high[a] = high[a].max(p[a]);
        }
    }
    for h in &mut high {
        *h = (*h * (1.0 + 1e-3 * h.signum())).max(*h + 1e-3);
    }
    Bounds { low, high }
}

/// The four children of a cell, in scikit-learn's order (x below/above the centre, then
/// y), each with the slice of `order` it holds.
fn quadrants<'a>(
    points: &[[f64; 2]],
    order: &'a mut [u32],
    bounds: Bounds,
) -> [(&'a mut [u32], Bounds); 4] {
    let centre = bounds.centre();
    let upper = |a: usize| move |i: &u32| points[*i as usize][a] >= centre[a];
    let split_x = partition(order, upper(0));
    let (left, right) = order.split_at_mut(split_x);
    let split_left = partition(left, upper(1));
    let split_right = partition(right, upper(1));
    let (low_low, low_high) = left.split_at_mut(split_left);
    let (high_low, high_high) = right.split_at_mut(split_right);
    let child = |x_high, y_high| bounds.child(x_high, y_high);
    [
        (low_low, child(false, false)),
        (low_high, child(false, true)),
        (high_low, child(true, false)),
        (high_high, child(true, true)),
    ]
}

/// Moves the items for which `upper` is false to the front; returns how many there are.
fn partition(items: &mut [u32], upper: impl Fn(&u32) -> bool) -> usize {
    let mut split = 0;
    for i in 0..items.len() {
        if !upper(&items[i]) {
            items.swap(i, split);
            split += 1;
        }
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn points(n: usize, seed: u64) -> Vec<[f64; 2]> {
        let mut v = vec![0.0; 2 * n];
        Rng::new(seed).fill_normal(&mut v);
        v.chunks(2).map(|c| [c[0], c[1]]).collect()
    }

    /// Σ over the other points, computed pair by pair.
    fn exact(points: &[[f64; 2]], i: usize) -> ([f64; 2], f64) {
        let (mut f, mut z) = ([0.0, 0.0], 0.0);
        for (j, p) in points.iter().enumerate() {
            if j != i {
                let (dx, dy) = (points[i][0] - p[0], points[i][1] - p[1]);
                let q = 1.0 / (1.0 + dx * dx + dy * dy);
                z += q;
                f[0] += q * q * dx;
                f[1] += q * q * dy;
            }
        }
        (f, z)
    }

    #[test]
    fn theta_zero_is_the_exact_sum() {
        let pts = points(300, 1);
        let tree = QuadTree::new(&pts);
        for i in 0..pts.len() {
            let (f, z) = tree.repulsion(pts[i], 0.0);
            let (fe, ze) = exact(&pts, i);
            assert!((z - ze).abs() <= 1e-12 * ze, "{z} {ze}");
            for a in 0..2 {
                assert!((f[a] - fe[a]).abs() <= 1e-12 * (fe[0].abs() + fe[1].abs()));
            }
        }
    }

    #[test]
    fn theta_half_is_close_and_counts_every_other_point() {
        // (scikit-learn's own tree gives the same numbers: tsne.rs tests that)
        let pts = points(2000, 2);
        let tree = QuadTree::new(&pts);
        assert_eq!(tree.cells[0].size, 2000.0);
        for i in (0..pts.len()).step_by(97) {
            let (f, z) = tree.repulsion(pts[i], 0.25);
            let (fe, ze) = exact(&pts, i);
            assert!((z - ze).abs() <= 3e-2 * ze, "{z} {ze}");
            let norm = fe[0].hypot(fe[1]);
            assert!((f[0] - fe[0]).hypot(f[1] - fe[1]) <= 0.05 * norm + 1e-3 * ze);
        }
    }

    #[test]
    fn duplicates_share_a_leaf_and_do_not_repel_themselves() {
        let pts = vec![[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 5e-7]];
        let tree = QuadTree::new(&pts);
        let (_, z) = tree.repulsion(pts[0], 0.0);
        // only the point at (1, 1) is another point: q = 1 / (1 + 2)
        assert!((z - 1.0 / 3.0).abs() < 1e-15, "{z}");
        // the three near-duplicates are one leaf of size 3, the root and (1, 1) the others
        assert_eq!(tree.cells.len(), 3);
        let (f, z) = tree.repulsion([0.5, 0.5], 0.0);
        assert!((z - 4.0 / 1.5).abs() < 1e-6, "{z}");
        assert!((f[0] - (3.0 - 1.0) * 0.5 / 2.25).abs() < 1e-6, "{f:?}");
    }

    #[test]
    fn a_tight_clump_makes_no_chain_of_cells() {
        // halving from a box of width ~100 down to 1e-3 takes 17 levels with one child
        // each; they are skipped: root, the clump's cell, its two points, the far point
        let pts = vec![[0.0, 0.0], [1e-3, 0.0], [100.0, 100.0]];
        let tree = QuadTree::new(&pts);
        assert_eq!(tree.cells.len(), 5);
        assert_eq!(tree.cells[0].next, 5);
    }
}
