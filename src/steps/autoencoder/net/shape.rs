//! What a batch is: a per-sample shape (`[features]`, `[height, width, channels]`) and how
//! the samples lie in a column-major matrix. Dense layers multiply with the batch as rows
//! (`Features`: n × size, a column is one feature over the batch); image layers multiply
//! with the batch as columns (`Samples`: size × n, a column is one sample in row-major
//! order, channels last), so im2col of a whole batch is one product. The network
//! transposes between them where the layers change.

use std::fmt;

use faer::{Mat, MatMut, MatRef};
use serde::{Deserialize, Serialize};

use super::activation::Real;

/// A sample's dimensions, row-major, channels last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Shape(pub Vec<usize>);

impl Shape {
    pub fn flat(n: usize) -> Shape {
        Shape(vec![n])
    }

    pub fn size(&self) -> usize {
        self.0.iter().product()
    }

    /// `size`, or None when the product does not fit a usize (dimensions as written).
    pub fn checked_size(&self) -> Option<usize> {
        self.0.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
    }

    pub fn is_flat(&self) -> bool {
        self.0.len() == 1
    }

    /// `(steps, features)` of a sequence shape.
    pub fn sequence(&self) -> Option<(usize, usize)> {
        match self.0[..] {
            [t, f] => Some((t, f)),
            _ => None,
        }
    }

    /// `(height, width, channels)` of an image shape.
    pub fn image(&self) -> Option<(usize, usize, usize)> {
        match self.0[..] {
            [h, w, c] => Some((h, w, c)),
            _ => None,
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.0.iter().map(|d| d.to_string()).collect();
        write!(f, "[{}]", dims.join(", "))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// n × size: dense layers' products.
    Features,
    /// size × n, stored without padding between columns: image layers' products.
    Samples,
}

/// A batch buffer in one layout. `Samples` buffers are contiguous (one slice of
/// size × n values), which the image layers' products rely on to view a batch of
/// `[h, w, c]` samples as a `c × (n·h·w)` matrix; `Features` buffers are faer's own
/// matrices, as the dense layers have always used.
#[derive(Debug, Clone)]
pub enum Buf<T: Real> {
    Features(Mat<T>),
    Samples { data: Vec<T>, size: usize, n: usize },
}

impl<T: Real> Buf<T> {
    pub fn zeros(layout: Layout, n: usize, size: usize) -> Buf<T> {
        match layout {
            Layout::Features => Buf::Features(Mat::zeros(n, size)),
            Layout::Samples => Buf::Samples {
                data: vec![T::zero(); n * size],
                size,
                n,
            },
        }
    }

    pub fn layout(&self) -> Layout {
        match self {
            Buf::Features(_) => Layout::Features,
            Buf::Samples { .. } => Layout::Samples,
        }
    }

    /// Samples in the batch.
    pub fn samples(&self) -> usize {
        match self {
            Buf::Features(m) => m.nrows(),
            Buf::Samples { n, .. } => *n,
        }
    }

    pub fn as_ref(&self) -> MatRef<'_, T> {
        match self {
            Buf::Features(m) => m.as_ref(),
            Buf::Samples { data, size, n } => MatRef::from_column_major_slice(data, *size, *n),
        }
    }

    pub fn as_mut(&mut self) -> MatMut<'_, T> {
        match self {
            Buf::Features(m) => m.as_mut(),
            Buf::Samples { data, size, n } => MatMut::from_column_major_slice_mut(data, *size, *n),
        }
    }

    /// Fits the buffer to `n` samples of `size` in `layout`, reallocating only on a change.
    pub fn fit(&mut self, layout: Layout, n: usize, size: usize) {
        let same = match self {
            Buf::Features(m) => layout == Layout::Features && m.nrows() == n && m.ncols() == size,
            Buf::Samples { size: s, n: m, .. } => {
                layout == Layout::Samples && *s == size && *m == n
            }
        };
        if !same {
            *self = Buf::zeros(layout, n, size);
        }
    }
}

/// The values of a matrix whose columns follow each other without padding (a `Samples`
/// buffer's view, or a part of one made of whole columns).
pub fn contiguous<'a, T: Real>(m: MatRef<'a, T>) -> &'a [T] {
    let len = m.nrows() * m.ncols();
    if len == 0 {
        return &[];
    }
    assert!(
        m.row_stride() == 1 && (m.ncols() == 1 || m.col_stride() == m.nrows() as isize),
        "a Samples batch is contiguous"
    );
    // SAFETY: unit row stride and a column stride equal to the row count: the `len`
    // values from the first one are exactly the matrix's, all borrowed for 'a.
    unsafe { std::slice::from_raw_parts(m.as_ptr(), len) }
}

/// As `contiguous`, mutably.
pub fn contiguous_mut<'a, T: Real>(m: MatMut<'a, T>) -> &'a mut [T] {
    let len = m.nrows() * m.ncols();
    if len == 0 {
        return &mut [];
    }
    assert!(
        m.row_stride() == 1 && (m.ncols() == 1 || m.col_stride() == m.nrows() as isize),
        "a Samples batch is contiguous"
    );
    // SAFETY: as in `contiguous`; the view is borrowed mutably for 'a.
    unsafe { std::slice::from_raw_parts_mut(m.as_ptr_mut(), len) }
}

/// Copies `src` in its layout into `dst` in the other (a transpose of the matrix).
pub fn transpose_into<T: Real>(src: MatRef<'_, T>, mut dst: MatMut<'_, T>) {
    dst.copy_from(src.transpose());
}
