//! True convolution and the classic image kernels.
//!
//! A convolution layer computes cross-correlation,
//! `C(i, j) = Σ_{m,n} f(i + m, j + n) g(m, n)`. The *convolution* of signal
//! processing, `C(i, j) = Σ_{m,n} f(i - m, j - n) g(m, n)`, is the same
//! correlation with the kernel flipped on both axes — which is why tutorial
//! 000 passes `W1[::-1, ::-1]` to `scipy.signal.convolve` to get the
//! image-processing result.

use crate::layers::conv2d::valid_range;

/// Flips a kernel on both axes (`g[::-1, ::-1]`).
///
/// ```
/// use constnet::convolve::flip;
/// assert_eq!(flip(&[[1.0, 2.0], [3.0, 4.0]]), [[4.0, 3.0], [2.0, 1.0]]);
/// ```
pub fn flip<const K: usize>(k: &[[f32; K]; K]) -> [[f32; K]; K] {
    core::array::from_fn(|m| core::array::from_fn(|n| k[K - 1 - m][K - 1 - n]))
}

/// Single-channel cross-correlation with zero padding `PAD` and stride 1
/// (a `Conv2d<1, 1, K, PAD, 1, false>` on one image):
/// `out[i][j] = Σ_{m,n} x[i + m - PAD][j + n - PAD] k[m][n]`.
///
/// # Shapes
/// `x` is `H x W`, `out` is `OH x OW` with `OH = H + 2*PAD - K + 1` (checked at build time).
///
/// ```
/// use constnet::convolve::correlate;
/// use constnet::convolve::kernels::IDENTITY;
/// let x = [[1.0, 2.0], [3.0, 4.0]];
/// let mut out = [[0.0; 2]; 2];
/// correlate::<2, 2, 3, 1, 2, 2>(&x, &IDENTITY, &mut out);
/// assert_eq!(out, x);
/// ```
pub fn correlate<const H: usize, const W: usize, const K: usize, const PAD: usize, const OH: usize, const OW: usize>(
    x: &[[f32; W]; H],
    k: &[[f32; K]; K],
    out: &mut [[f32; OW]; OH],
) {
    const {
        assert!(
            OH == crate::conv_out(H, K, PAD, 1) && OW == crate::conv_out(W, K, PAD, 1),
            "correlate: output must be (H + 2*PAD - K + 1) x (W + 2*PAD - K + 1)"
        )
    };
    for row in out.iter_mut() {
        row.fill(0.0);
    }
    for m in 0..K {
        let (lo_y, hi_y) = valid_range(H, OH, m, PAD, 1);
        for oy in lo_y..hi_y {
            for n in 0..K {
                let (lo, hi) = valid_range(W, OW, n, PAD, 1);
                if lo >= hi {
                    continue;
                }
                let xs = &x[oy + m - PAD][lo + n - PAD..hi + n - PAD];
                crate::math::axpy(&mut out[oy][lo..hi], k[m][n], xs);
            }
        }
    }
}

/// True 2-D convolution, `out[i][j] = Σ_{m,n} x[i - m + K - 1 - PAD][j - n + K - 1 - PAD] k[m][n]`:
/// the correlation with the flipped kernel. With `PAD = K/2` (odd `K`) it
/// equals `scipy.signal.convolve(x, k, mode='same')`; with `PAD = 0`,
/// `mode='valid'`; with `PAD = K - 1`, `mode='full'`.
///
/// ```
/// use constnet::convolve::convolve;
/// // scipy.signal.convolve([[0,0,0],[0,1,0],[0,0,0]], [[1,2,3],[4,5,6],[7,8,9]], mode='same')
/// // spreads the kernel itself around the impulse:
/// let impulse = [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]];
/// let k = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]];
/// let mut out = [[0.0; 3]; 3];
/// convolve::<3, 3, 3, 1, 3, 3>(&impulse, &k, &mut out);
/// assert_eq!(out, k);
/// ```
pub fn convolve<const H: usize, const W: usize, const K: usize, const PAD: usize, const OH: usize, const OW: usize>(
    x: &[[f32; W]; H],
    k: &[[f32; K]; K],
    out: &mut [[f32; OW]; OH],
) {
    correlate::<H, W, K, PAD, OH, OW>(x, &flip(k), out);
}

/// The classic 3x3 kernels of tutorial 001 (correlation kernels, as a
/// `Conv2d` weight is).
pub mod kernels {
    /// Leaves the image unchanged.
    pub const IDENTITY: [[f32; 3]; 3] = [[0., 0., 0.], [0., 1., 0.], [0., 0., 0.]];
    /// Prewitt, vertical edges.
    pub const PREWITT_V: [[f32; 3]; 3] = [[-1., 0., 1.], [-1., 0., 1.], [-1., 0., 1.]];
    /// Prewitt, horizontal edges.
    pub const PREWITT_H: [[f32; 3]; 3] = [[-1., -1., -1.], [0., 0., 0.], [1., 1., 1.]];
    /// Sobel, vertical edges (more weight on the centre row).
    pub const SOBEL_V: [[f32; 3]; 3] = [[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]];
    /// Sobel, horizontal edges.
    pub const SOBEL_H: [[f32; 3]; 3] = [[-1., -2., -1.], [0., 0., 0.], [1., 2., 1.]];
    /// Laplacian, 4-neighbour.
    pub const LAPLACIAN_4: [[f32; 3]; 3] = [[0., 1., 0.], [1., -4., 1.], [0., 1., 0.]];
    /// Laplacian, 8-neighbour.
    pub const LAPLACIAN_8: [[f32; 3]; 3] = [[1., 1., 1.], [1., -8., 1.], [1., 1., 1.]];
    /// Sharpen.
    pub const SHARPEN: [[f32; 3]; 3] = [[0., -1., 0.], [-1., 5., -1.], [0., -1., 0.]];
    /// Box blur, `1/9` everywhere.
    pub const BOX_BLUR: [[f32; 3]; 3] = [[1. / 9.; 3]; 3];
    /// Gaussian blur, `[[1,2,1],[2,4,2],[1,2,1]] / 16`.
    pub const GAUSSIAN_BLUR: [[f32; 3]; 3] =
        [[1. / 16., 2. / 16., 1. / 16.], [2. / 16., 4. / 16., 2. / 16.], [1. / 16., 2. / 16., 1. / 16.]];

    /// Every kernel above with its name, for galleries.
    pub const ALL: [(&str, [[f32; 3]; 3]); 10] = [
        ("identity", IDENTITY),
        ("prewitt_v", PREWITT_V),
        ("prewitt_h", PREWITT_H),
        ("sobel_v", SOBEL_V),
        ("sobel_h", SOBEL_H),
        ("laplacian_4", LAPLACIAN_4),
        ("laplacian_8", LAPLACIAN_8),
        ("sharpen", SHARPEN),
        ("box_blur", BOX_BLUR),
        ("gaussian_blur", GAUSSIAN_BLUR),
    ];
}
