//! [`instance!`]: one backend's instance of the generic kernels, the
//! functions its `kernels` module holds (AVX2, NEON, portable).

/// Writes a backend's instance of the generic kernels: one `unsafe fn`
/// a kernel, with the kernel's name and arguments, the backend's
/// attributes (its `#[target_feature]`, none for the portable lanes), its
/// token (`token`, an expression evaluated inside each function) and its
/// register tiles (the kernels' const parameters, in their order).
///
/// Each function is the generic kernel on that token, so its safety
/// contract is the kernel's, plus the backend's CPU features; only the
/// safe entry points of [`crate::kernels`] call them, after checking the
/// CPU (once per process) and every length.
macro_rules! instance {
    (
        $(#[$attr:meta])*
        token: $s:expr,
        dense_forward: <$df:literal>,
        dense_forward_packed: <$dp:literal>,
        bcast_gemm: <$g0:literal, $g1:literal, $g2:literal, $g3:literal>,
        conv_batch: <$c0:literal, $c1:literal, $c2:literal, $c3:literal>,
        conv_cl: <$cl:literal>,
        conv_dw_batch: <$w0:literal, $w1:literal, $w2:literal>,
        conv_dw_t: <$t0:literal, $t1:literal>,
        lane_sums4: <$q:literal> $(,)?
    ) => {
        use $crate::kernels::AdamConsts;
        use $crate::kernels::generic::{self, RawBatch, RawGeom, RawStart};

        /// [`generic::dense::dense_forward`] with this backend's tiles.
        ///
        /// # Safety
        /// The backend's CPU features; as the generic kernel.
        $(#[$attr])*
        pub(crate) unsafe fn dense_forward(
            dims: (usize, usize, usize),
            x: *const f32,
            w: *const f32,
            bias: Option<*const f32>,
            y: *mut f32,
        ) {
            // SAFETY: the caller's contract.
            unsafe { generic::dense::dense_forward::<_, $df>($s, dims, x, w, bias, y) }
        }

        /// [`generic::dense::dense_forward_packed`] with this backend's tiles.
        ///
        /// # Safety
        /// The backend's CPU features; as the generic kernel.
        $(#[$attr])*
        pub(crate) unsafe fn dense_forward_packed(
            dims: (usize, usize, usize),
            xt: *const f32,
            w: *const f32,
            bias: Option<*const f32>,
            y: *mut f32,
        ) {
            // SAFETY: the caller's contract.
            unsafe { generic::dense::dense_forward_packed::<_, $dp>($s, dims, xt, w, bias, y) }
        }

        /// [`generic::dense::bcast_gemm`] with this backend's tiles.
        ///
        /// # Safety
        /// The backend's CPU features; as the generic kernel.
        $(#[$attr])*
        pub(crate) unsafe fn bcast_gemm(
            dims: (usize, usize, usize),
            parts: &[(*const f32, *const f32)],
            strides: (usize, usize, usize),
            c: (*mut f32, usize),
            accumulate: bool,
            rows_outer: bool,
        ) {
            // SAFETY: the caller's contract.
            unsafe {
                generic::dense::bcast_gemm::<_, $g0, $g1, $g2, $g3>($s, dims, parts, strides, c, accumulate, rows_outer)
            }
        }

        /// [`generic::conv::conv_batch`] with this backend's tiles (and
        /// channels-last tiles of `conv_cl` outputs; 0: none).
        ///
        /// # Safety
        /// The backend's CPU features; as the generic kernel.
        $(#[$attr])*
        pub(crate) unsafe fn conv_batch(g: &RawGeom, out_c: usize, batch: &RawBatch, start: RawStart) {
            // SAFETY: the caller's contract.
            unsafe { generic::conv::conv_batch::<_, $c0, $c1, $c2, $c3, $cl>($s, g, out_c, batch, start) }
        }

        /// [`generic::conv::conv_pool_batch`].
        ///
        /// # Safety
        /// The backend's CPU features; as the generic kernel.
        $(#[$attr])*
        pub(crate) unsafe fn conv_pool_batch(
            g: &RawGeom,
            out_c: usize,
            batch: &RawBatch,
            start: RawStart,
            pooled: (*mut f32, usize),
            routes: bool,
        ) {
            // SAFETY: the caller's contract.
            unsafe { generic::conv::conv_pool_batch($s, g, out_c, batch, start, pooled, routes) }
        }

        /// [`generic::conv_grad::conv_dw_batch`] with this backend's tiles.
        ///
        /// # Safety
        /// The backend's CPU features; as the generic kernel.
        $(#[$attr])*
        pub(crate) unsafe fn conv_dw_batch(g: &RawGeom, out_c: usize, batch: &RawBatch, dw: *mut f32) {
            // SAFETY: the caller's contract.
            unsafe { generic::conv_grad::conv_dw_batch::<_, $w0, $w1, $w2>($s, g, out_c, batch, dw) }
        }

        /// [`generic::conv_grad::conv_dw_t`] with this backend's tiles.
        ///
        /// # Safety
        /// The backend's CPU features; as the generic kernel (`out_c` a multiple of 16).
        $(#[$attr])*
        pub(crate) unsafe fn conv_dw_t(
            g: &RawGeom,
            taps: core::ops::Range<usize>,
            x: *const f32,
            hw: (usize, usize),
            dyt: (*const f32, usize),
            dwt: *mut f32,
        ) {
            // SAFETY: the caller's contract.
            unsafe { generic::conv_grad::conv_dw_t::<_, $t0, $t1>($s, g, taps, x, hw, dyt, dwt) }
        }

        /// [`generic::pool::maxpool2_forward`].
        ///
        /// # Safety
        /// The backend's CPU features; as the generic kernel.
        $(#[$attr])*
        pub(crate) unsafe fn maxpool2_forward(dims: (usize, usize, usize), x: *const f32, relu: bool, y: *mut f32) {
            // SAFETY: the caller's contract.
            unsafe { generic::pool::maxpool2_forward($s, dims, x, relu, y) }
        }

        /// [`generic::pool::maxpool2_backward`].
        ///
        /// # Safety
        /// The backend's CPU features; as the generic kernel.
        $(#[$attr])*
        pub(crate) unsafe fn maxpool2_backward(
            dims: (usize, usize, usize),
            xydy: (*const f32, *const f32, *const f32),
            dx: *mut f32,
            relu: bool,
        ) {
            // SAFETY: the caller's contract.
            unsafe { generic::pool::maxpool2_backward($s, dims, xydy, dx, relu) }
        }

        /// [`generic::pool::maxpool2_backward_routes`].
        ///
        /// # Safety
        /// The backend's CPU features; as the generic kernel.
        $(#[$attr])*
        pub(crate) unsafe fn maxpool2_backward_routes(
            dims: (usize, usize, usize),
            routes: (*const u8, usize, usize),
            dy: *const f32,
            dx: *mut f32,
        ) {
            // SAFETY: the caller's contract.
            unsafe { generic::pool::maxpool2_backward_routes($s, dims, routes, dy, dx) }
        }

        /// [`generic::elementwise::pad_planes`].
        ///
        /// # Safety
        /// The backend's CPU features; as the generic kernel.
        $(#[$attr])*
        pub(crate) unsafe fn pad_planes(
            src: *const f32,
            chw_p: (usize, usize, usize, usize),
            dst: *mut f32,
            slack: usize,
        ) {
            // SAFETY: the caller's contract.
            unsafe { generic::elementwise::pad_planes($s, src, chw_p, dst, slack) }
        }

        /// [`generic::elementwise::relu_forward`].
        ///
        /// # Safety
        /// The backend's CPU features; as the generic kernel.
        $(#[$attr])*
        pub(crate) unsafe fn relu_forward(x: *const f32, y: *mut f32, n: usize) {
            // SAFETY: the caller's contract.
            unsafe { generic::elementwise::relu_forward($s, x, y, n) }
        }

        /// [`generic::elementwise::relu_backward`].
        ///
        /// # Safety
        /// The backend's CPU features; as the generic kernel.
        $(#[$attr])*
        pub(crate) unsafe fn relu_backward(y: *const f32, dy: *const f32, dx: *mut f32, n: usize) {
            // SAFETY: the caller's contract.
            unsafe { generic::elementwise::relu_backward($s, y, dy, dx, n) }
        }

        /// [`generic::elementwise::lane_sums4`], `16 / LANES` vectors a plane.
        ///
        /// # Safety
        /// The backend's CPU features; as the generic kernel.
        $(#[$attr])*
        pub(crate) unsafe fn lane_sums4(x: *const f32, len: usize, np: usize, full: usize) -> [[f32; 16]; 4] {
            // SAFETY: the caller's contract.
            unsafe { generic::elementwise::lane_sums4::<_, $q>($s, x, len, np, full) }
        }

        /// [`generic::elementwise::all_within`].
        ///
        /// # Safety
        /// The backend's CPU features; as the generic kernel.
        $(#[$attr])*
        pub(crate) unsafe fn all_within(x: *const f32, n: usize, limit: f32) -> bool {
            // SAFETY: the caller's contract.
            unsafe { generic::elementwise::all_within($s, x, n, limit) }
        }

        /// [`generic::elementwise::sgd_update`].
        ///
        /// # Safety
        /// The backend's CPU features; as the generic kernel.
        $(#[$attr])*
        pub(crate) unsafe fn sgd_update(pgv: (*mut f32, *const f32, Option<*mut f32>), n: usize, lr: f32, mu: f32) {
            // SAFETY: the caller's contract.
            unsafe { generic::elementwise::sgd_update($s, pgv, n, lr, mu) }
        }

        /// [`generic::elementwise::adam_update`].
        ///
        /// # Safety
        /// The backend's CPU features; as the generic kernel.
        $(#[$attr])*
        pub(crate) unsafe fn adam_update(pgmv: (*mut f32, *const f32, *mut f32, *mut f32), n: usize, k: AdamConsts) {
            // SAFETY: the caller's contract.
            unsafe { generic::elementwise::adam_update($s, pgmv, n, k) }
        }
    };
}

pub(crate) use instance;
