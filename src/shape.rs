//! The shape formulas, as `const fn`s, and the [`Shape`] trait that lets the
//! compiler infer every layer's output shape from its input shape.

/// Output size of a convolution along one axis:
/// `S_c = (S_f - S_g + 2P) / S + 1`, i.e. `(n + 2*pad - k) / stride + 1`,
/// for an input of `n`, a kernel of `k`, zero padding `pad` on both sides
/// and a stride of `stride` (PyTorch `Conv2d` with `dilation = 1`).
///
/// A kernel larger than the padded input is a compile-time error when the
/// formula is evaluated in a constant.
///
/// ```
/// use constnet::conv_out;
/// assert_eq!(conv_out(28, 3, 1, 1), 28); // 'same'
/// assert_eq!(conv_out(28, 5, 0, 1), 24); // 'valid', tutorial 002
/// assert_eq!(conv_out(5, 3, 0, 1), 3);   // the 5x5 worked example
/// assert_eq!(conv_out(7, 3, 0, 2), 3);
/// assert_eq!(conv_out(8, 3, 1, 2), 4);   // floor: the last partial step is dropped
/// ```
pub const fn conv_out(n: usize, k: usize, pad: usize, stride: usize) -> usize {
    assert!(stride > 0, "conv_out: STRIDE must be at least 1");
    assert!(k > 0, "conv_out: kernel size K must be at least 1");
    assert!(n + 2 * pad >= k, "conv_out: kernel K is larger than the padded input N + 2*PAD");
    (n + 2 * pad - k) / stride + 1
}

/// Output size of a pooling layer whose window and stride are both `p`, in
/// ceil mode: a partial window at the edge is kept, so the output is
/// `ceil(n / p) = (n + p - 1) / p` (PyTorch `MaxPool2d(p, ceil_mode=True)`).
///
/// ```
/// use constnet::pool_out;
/// assert_eq!(pool_out(28, 2), 14);
/// assert_eq!(pool_out(3, 2), 2); // the worked example keeps the edge window
/// assert_eq!(pool_out(7, 2), 4);
/// ```
pub const fn pool_out(n: usize, p: usize) -> usize {
    assert!(p > 0, "pool_out: pool size P must be at least 1");
    n.div_ceil(p)
}

/// What a layer turns an input of shape `C x H x W` into.
///
/// The associated constants are evaluated in concrete positions (a network
/// declaration), so a layer that does not fit its input is a build error
/// whose message states the rule, at the line that declared the network:
///
/// ```compile_fail
/// use constnet::{Dense, Shape};
/// // Dense<676, 1> after a 28x28 'same' conv: 676 != 1*28*28.
/// const N: usize = <Dense<676, 1> as Shape<1, 28, 28>>::OUT_C;
/// ```
pub trait Shape<const C: usize, const H: usize, const W: usize> {
    /// Output channels.
    const OUT_C: usize;
    /// Output height.
    const OUT_H: usize;
    /// Output width.
    const OUT_W: usize;
}
