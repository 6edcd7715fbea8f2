//! [`Tensor<C, H, W>`]: one feature map, channels first, row-major.

use crate::Flat;

/// A `C x H x W` feature map stored as `[[[f32; W]; H]; C]`: channels first,
/// row-major, the per-sample layout of PyTorch's NCHW.
///
/// A batch of `B` samples is `[Tensor<C, H, W>; B]` ([`Batch`]). A vector
/// (a dense layer's output) is `Tensor<N, 1, 1>`.
///
/// # Shapes
/// `C` channels, `H` rows, `W` columns; `Tensor::<C, H, W>::LEN = C*H*W`.
///
/// ```
/// use constnet::{Flat, Tensor};
/// let mut t = Tensor::<1, 2, 3>::zeroed();
/// t.0[0][1][2] = 5.0;
/// assert_eq!(t.as_flat()[5], 5.0); // row-major: index (c*H + y)*W + x
/// ```
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tensor<const C: usize, const H: usize, const W: usize>(pub [[[f32; W]; H]; C]);

/// A batch of `B` feature maps of shape `C x H x W`.
pub type Batch<const B: usize, const C: usize, const H: usize, const W: usize> = [Tensor<C, H, W>; B];

// SAFETY: repr(transparent) over nested f32 arrays.
unsafe impl<const C: usize, const H: usize, const W: usize> Flat for Tensor<C, H, W> {}

impl<const C: usize, const H: usize, const W: usize> Default for Tensor<C, H, W> {
    fn default() -> Self {
        Self::zeroed()
    }
}

impl<const C: usize, const H: usize, const W: usize> Tensor<C, H, W> {
    /// Channels.
    pub const C: usize = C;
    /// Rows.
    pub const H: usize = H;
    /// Columns.
    pub const W: usize = W;

    /// Wraps a `[[[f32; W]; H]; C]` array.
    pub const fn from_array(a: [[[f32; W]; H]; C]) -> Self {
        Self(a)
    }

    /// A tensor with every element `v`.
    pub const fn splat(v: f32) -> Self {
        Self([[[v; W]; H]; C])
    }

    /// Builds a tensor from a function of `(channel, row, column)`.
    ///
    /// ```
    /// use constnet::Tensor;
    /// let t = Tensor::<1, 2, 2>::from_fn(|_, y, x| (2 * y + x) as f32);
    /// assert_eq!(t.0, [[[0.0, 1.0], [2.0, 3.0]]]);
    /// ```
    pub fn from_fn(mut f: impl FnMut(usize, usize, usize) -> f32) -> Self {
        let mut t = Self::zeroed();
        for (c, plane) in t.0.iter_mut().enumerate() {
            for (y, row) in plane.iter_mut().enumerate() {
                for (x, v) in row.iter_mut().enumerate() {
                    *v = f(c, y, x);
                }
            }
        }
        t
    }

    /// Copies a slice of `C*H*W` values in PyTorch order.
    ///
    /// # Panics
    /// If `s.len() != C*H*W`.
    pub fn from_slice(s: &[f32]) -> Self {
        let mut t = Self::zeroed();
        assert_eq!(
            s.len(),
            Self::LEN,
            "Tensor::from_slice: expected C*H*W = {} values, received {}",
            Self::LEN,
            s.len()
        );
        t.as_flat_mut().copy_from_slice(s);
        t
    }

    /// Applies `f` to every element.
    pub fn map_inplace(&mut self, f: impl Fn(f32) -> f32) {
        self.as_flat_mut().iter_mut().for_each(|v| *v = f(*v));
    }

    /// Element-wise `self += other`.
    pub fn add_assign(&mut self, other: &Self) {
        self.as_flat_mut().iter_mut().zip(other.as_flat()).for_each(|(a, b)| *a += b);
    }

    /// Element-wise `self *= other` (Hadamard product).
    pub fn mul_assign(&mut self, other: &Self) {
        self.as_flat_mut().iter_mut().zip(other.as_flat()).for_each(|(a, b)| *a *= b);
    }

    /// `self += alpha * other`.
    pub fn axpy(&mut self, alpha: f32, other: &Self) {
        crate::math::axpy(self.as_flat_mut(), alpha, other.as_flat());
    }

    /// Sum of all elements.
    pub fn sum(&self) -> f32 {
        crate::math::sum(self.as_flat())
    }

    /// Index of the largest element in flat (PyTorch) order; the first one on ties.
    ///
    /// ```
    /// use constnet::Tensor;
    /// assert_eq!(Tensor::<3, 1, 1>::from_array([[[0.1]], [[0.7]], [[0.2]]]).argmax(), 1);
    /// ```
    pub fn argmax(&self) -> usize {
        crate::math::argmax(self.as_flat())
    }

    /// The largest absolute difference to `other` (for tests and checks).
    pub fn max_abs_diff(&self, other: &Self) -> f32 {
        self.as_flat().iter().zip(other.as_flat()).fold(0.0, |m, (a, b)| m.max((a - b).abs()))
    }
}
