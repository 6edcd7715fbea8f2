//! ISA-neutral descriptions of the kernels' operands: sizes and strides,
//! never pointers. The entry points check them against the slices they
//! come with; the backends turn them into their own raw forms.

/// Zero floats kept after every padded buffer a convolution kernel reads:
/// a kernel may load whole vectors at a row's last outputs, up to 15
/// floats past it with 16 lanes (2 vectors' worth leaves room for wider
/// backends' row ends too).
pub(crate) const SLACK: usize = 32;

/// Geometry of a stride-1 convolution over a zero-padded input.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConvGeom {
    /// Input channels summed over.
    pub in_c: usize,
    /// Kernel side.
    pub k: usize,
    /// Floats between input channels (a padded plane).
    pub x_plane: usize,
    /// Floats between input rows (a padded row).
    pub x_row: usize,
    /// Weight strides: per output channel, per input channel, per kernel
    /// row, per kernel column (negative for a flipped kernel).
    pub w_out: isize,
    /// See `w_out`.
    pub w_in: isize,
    /// See `w_out`.
    pub w_m: isize,
    /// See `w_out`.
    pub w_n: isize,
    /// Floats between output channels.
    pub y_plane: usize,
}

/// Where a batch of convolution inputs and outputs sit: sample `b`'s
/// padded input at `b*x_sample`, its output at `b*y_sample` (`oh x ow`
/// per channel, rows of `ow`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConvBatch {
    /// Samples.
    pub n: usize,
    /// Floats between samples' padded inputs.
    pub x_sample: usize,
    /// Floats between samples' outputs.
    pub y_sample: usize,
    /// Output rows.
    pub oh: usize,
    /// Output columns.
    pub ow: usize,
    /// Whether each output is stored as `max(y, 0)`: a ReLU fused into the
    /// convolution (the bits a ReLU after it gives).
    pub relu: bool,
}

/// How a convolution's sums start.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Start<'a> {
    /// At zero.
    Zero,
    /// At the bias of each output channel.
    Bias(&'a [f32]),
    /// At the values already in the output (a second pass adds to the first).
    Load,
}

/// Where the gradients of a row of up to 16 2x2 windows go: the masks of
/// the windows whose top-left, top-right, bottom-left and bottom-right
/// input receives it (none where the window's maximum is not positive, and
/// no gradient passes the ReLU). A pooling convolution stores one per
/// pooled row in its output's memory; the pooling's backward reads them.
pub(crate) type Route = [u16; 4];

/// Bytes of a [`Route`] record.
pub(crate) const ROUTE_BYTES: usize = size_of::<Route>();

/// Whether a sample's `oh x ow` outputs (of one channel) hold the
/// [`Route`] records of their pooling: `ceil(oh/2)` of [`ROUTE_BYTES`].
pub(crate) fn routes_fit(oh: usize, ow: usize) -> bool {
    oh.div_ceil(2) * ROUTE_BYTES <= oh * ow * size_of::<f32>()
}

/// The ReLU a 2x2 max-pool runs before it, fused.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PoolRelu {
    /// No ReLU: the windows of the input itself.
    Absent,
    /// A ReLU applied in registers: its output is not stored (forward), and
    /// only its input gradient is, not the pooling's (backward).
    Apply,
}

/// The constants of one Adam step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AdamConsts {
    pub lr: f32,
    pub b1: f32,
    pub b2: f32,
    pub eps: f32,
    /// `1 - b1^t`.
    pub c1: f32,
    /// `1 - b2^t`.
    pub c2: f32,
}

/// Most parts a split matrix product ([`Kernels::bcast_gemm`](super::Kernels::bcast_gemm)) takes.
pub(crate) const MAX_PARTS: usize = 8;

/// A function the vector math computes element by element (`kernels::vmath`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum MathFn {
    /// `e^x`.
    Exp,
    /// `e^(x - c)`, the difference rounded to `f32` first (softmax's
    /// exponentials, `c` the largest logit).
    ExpSub(f32),
    /// `tanh(x)`.
    Tanh,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
}
