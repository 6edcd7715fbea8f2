//! Register-blocked AVX-512F kernels behind the layers' fast paths.
//!
//! Nothing here is generic over a layer's shape: shapes arrive as run-time
//! sizes and strides, and only the register tile (`OB x SB`, …) is a const
//! parameter, so the kernels are compiled a handful of times whatever the
//! networks — compile time stays small — while the inner loops are as fast
//! as fully specialised ones (they are long and their tiles are fixed).
//!
//! Every kernel is `unsafe` with `#[target_feature(enable = "avx512f,avx512vl")]`:
//! callers check [`crate::math::simd`] first and pass pointers that are
//! valid for the loads and stores each kernel documents.
//!
//! - [`conv_tile`]: `OB` output channels x `SB` row segments of a stride-1
//!   convolution over a zero-padded input, as `OB*SB` vector accumulators
//!   (one FMA per tap, weight broadcast, input loaded at a shifted address).
//!   The same kernel computes the input gradient (a convolution of the padded
//!   output gradient with the flipped kernel: negative weight strides).
//! - [`conv_cl_tile`]: the same sum for 16 output channels x up to 16
//!   outputs of a row, with the channels along the lanes (input broadcast,
//!   16 weights loaded), transposed in registers before it is stored.
//! - [`conv_rows_tile`]: the same sum for a single output channel over `R`
//!   whole rows of at most 32 outputs, with counted loops and fixed
//!   offsets (seed 1's one-filter convolution).
//! - [`conv_dw_tile`]: the weight gradient, `OB` output channels x `TB` taps,
//!   reduced over every output position of the batch.
//! - [`dot_tile`]: `y[r][c] = Σ_k a[r][k] b[c][k]` with both operands
//!   contiguous in `k` (a dense layer's forward pass, `y = x Wᵀ`).
//! - [`bcast_tile`]: `c[r][i] (+)= Σ_k a[r][k] b[k][i]` with `b`'s rows
//!   contiguous in `i` (a dense layer's weight and input gradients).

#![cfg(target_arch = "x86_64")]
#![allow(clippy::too_many_arguments)]

use core::arch::x86_64::*;

/// Floats per AVX-512 vector.
pub(crate) const V: usize = 16;

/// The mask of the first `n` lanes (`n <= 16`).
#[inline(always)]
pub(crate) fn lanes(n: usize) -> u16 {
    if n >= V { u16::MAX } else { ((1u32 << n) - 1) as u16 }
}

/// Up to 16 consecutive output positions of one output row.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seg {
    /// The input under lane 0 for tap `(c, m, n) = (0, 0, 0)` (in a padded input).
    pub x: *const f32,
    /// Output channel 0 at lane 0.
    pub y: *mut f32,
    /// Lanes that are real output positions.
    pub mask: u16,
}

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
    /// Weight of (output channel 0, input channel 0, tap 0, 0).
    pub w: *const f32,
    /// Weight strides: per output channel, per input channel, per kernel row, per kernel column.
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

/// How a tile's accumulators start.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Start {
    /// At zero.
    Zero,
    /// At the bias of each output channel (pointer to channel 0's).
    Bias(*const f32),
    /// At the values already in the output (a second pass adds to the first).
    Load,
}

/// `y[o0+o][seg s] = start + Σ_{c,m,n} w[o0+o][c][m][n] · x_s[c·x_plane + m·x_row + n + lane]`
/// for `o < OB`, `s < SB`; lanes outside a segment's mask are neither
/// stored nor (for `Start::Load`) loaded.
///
/// # Safety
/// AVX-512F; every segment's input is readable for `16` floats at every
/// tap offset; its output is writable (and, for `Load`, readable) at its
/// masked lanes for channels `o0..o0+OB`; the weights at every tap.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn conv_tile<const OB: usize, const SB: usize, const K: usize>(
    g: &ConvGeom,
    o0: usize,
    segs: &[Seg; SB],
    start: Start,
    relu: bool,
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); SB]; OB];
        match start {
            Start::Zero => {}
            Start::Bias(b) => {
                for (o, row) in acc.iter_mut().enumerate() {
                    *row = [_mm512_set1_ps(*b.add(o0 + o)); SB];
                }
            }
            Start::Load => {
                for (o, row) in acc.iter_mut().enumerate() {
                    for (s, a) in row.iter_mut().enumerate() {
                        *a = _mm512_maskz_loadu_ps(segs[s].mask, segs[s].y.add((o0 + o) * g.y_plane));
                    }
                }
            }
        }
        let xs: [*const f32; SB] = core::array::from_fn(|s| segs[s].x);
        let w0 = g.w.offset(o0 as isize * g.w_out);
        for c in 0..g.in_c {
            let wc = w0.offset(c as isize * g.w_in);
            let xc = c * g.x_plane;
            // K > 0: the kernel side is a constant and the tap loops unroll.
            let k = if K > 0 { K } else { g.k };
            for m in 0..k {
                let wm = wc.offset(m as isize * g.w_m);
                let xm = xc + m * g.x_row;
                for n in 0..k {
                    let wn = wm.offset(n as isize * g.w_n);
                    let xv: [__m512; SB] = core::array::from_fn(|s| _mm512_loadu_ps(xs[s].add(xm + n)));
                    for (o, row) in acc.iter_mut().enumerate() {
                        let wv = _mm512_set1_ps(*wn.offset(o as isize * g.w_out));
                        for (a, x) in row.iter_mut().zip(&xv) {
                            *a = _mm512_fmadd_ps(wv, *x, *a);
                        }
                    }
                }
            }
        }
        for (o, row) in acc.iter().enumerate() {
            for (s, &a) in row.iter().enumerate() {
                let a = if relu { _mm512_max_ps(a, _mm512_setzero_ps()) } else { a };
                _mm512_mask_storeu_ps(segs[s].y.add((o0 + o) * g.y_plane), segs[s].mask, a);
            }
        }
    }
}

/// `dw[o0+o][tap t] += Σ_segments Σ_lanes dy_s[(o0+o)·dy_plane + lane] · x_s[tap_off[t] + lane]`
/// for `o < OB`, `t < TB`, over the masked lanes of every segment of
/// `batch` (whose `y` is the output gradient); `dw_tap[t]` is where tap `t`
/// of output channel `o0` is stored (`None`: a padding tap of the last
/// tile, computed and dropped), `dw_out` the stride between output channels.
///
/// # Safety
/// AVX-512F; every segment's input readable for 16 floats at every tap
/// offset; its output gradient readable at its masked lanes for channels
/// `o0..o0+OB`; the gradient entries writable.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn conv_dw_tile<const OB: usize, const TB: usize>(
    batch: &ConvBatch,
    x_row: usize,
    dy_plane: usize,
    o0: usize,
    tap_off: &[usize; TB],
    dw_tap: &[Option<*mut f32>; TB],
    dw_out: usize,
) {
    let mut acc = [[_mm512_setzero_ps(); TB]; OB];
    for b in 0..batch.n {
        // SAFETY (this block): the caller's contract: every pointer formed
        // below addresses the caller's buffers (the input taps including the
        // slack after the last padded plane; the output gradient at the start
        // of a segment), and the loads are masked to the segment's lanes.
        unsafe {
            let xb = batch.x.add(b * batch.x_sample);
            let db = batch.y.cast_const().add(b * batch.y_sample);
            let pt: [*const f32; TB] = core::array::from_fn(|t| xb.add(tap_off[t]));
            let pd: [*const f32; OB] = core::array::from_fn(|o| db.add((o0 + o) * dy_plane));
            for i in 0..batch.oh {
                let mut j = 0;
                while j < batch.ow {
                    let k = lanes(batch.ow - j);
                    let (xi, di) = (i * x_row + j, i * batch.ow + j);
                    let dyv: [__m512; OB] = core::array::from_fn(|o| _mm512_maskz_loadu_ps(k, pd[o].add(di)));
                    for (t, p) in pt.iter().enumerate() {
                        let xv = _mm512_loadu_ps(p.add(xi));
                        for (o, row) in acc.iter_mut().enumerate() {
                            row[t] = _mm512_mask3_fmadd_ps(dyv[o], xv, row[t], k);
                        }
                    }
                    j += V;
                }
            }
        }
    }
    for (o, row) in acc.iter().enumerate() {
        for (t, a) in row.iter().enumerate() {
            if let Some(p) = dw_tap[t] {
                // SAFETY: the caller's contract.
                unsafe { *p.add(o * dw_out) += _mm512_reduce_add_ps(*a) };
            }
        }
    }
}

/// Output channels `o0..o0+OB` of the weight gradient, in tiles of `TB`
/// taps, over chunks of samples small enough that a chunk's output gradient
/// (for these channels) and input planes stay in the L1 cache while every
/// tap tile sweeps them; each (chunk, tile) pair ends in `OB*TB` horizontal
/// sums added into `dw`.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_dw_block<const OB: usize, const TB: usize>(batch: &ConvBatch, g: &ConvGeom, o0: usize, dw: *mut f32) {
    const L1_BUDGET: usize = 20 << 10;
    let taps = g.in_c * g.k * g.k;
    let per_sample = 4 * (OB * batch.oh * batch.ow + 2 * g.x_plane);
    let chunk = (L1_BUDGET / per_sample).clamp(1, batch.n.max(1));
    let mut s0 = 0;
    while s0 < batch.n {
        let part = ConvBatch {
            n: chunk.min(batch.n - s0),
            x: batch.x.wrapping_add(s0 * batch.x_sample),
            y: batch.y.wrapping_add(s0 * batch.y_sample),
            ..*batch
        };
        // Tap (c, m, n) of the next tile, stepped rather than divided out.
        let (mut c, mut m, mut n) = (0, 0, 0);
        let mut t0 = 0;
        while t0 < taps {
            // The offsets of taps t0..t0+TB; past the last tap, the last
            // offset again (computed and dropped).
            let mut last = 0;
            let off: [usize; TB] = core::array::from_fn(|i| {
                if t0 + i < taps {
                    last = c * g.x_plane + m * g.x_row + n;
                    n += 1;
                    if n == g.k {
                        (n, m) = (0, m + 1);
                        if m == g.k {
                            (m, c) = (0, c + 1);
                        }
                    }
                }
                last
            });
            let dst: [Option<*mut f32>; TB] =
                core::array::from_fn(|i| if t0 + i < taps { Some(dw.wrapping_add(o0 * taps + t0 + i)) } else { None });
            // SAFETY: the caller's contract (see `conv_dw_batch`); `part` is a
            // sub-range of the caller's batch.
            unsafe { conv_dw_tile::<OB, TB>(&part, g.x_row, batch.oh * batch.ow, o0, &off, &dst, taps) };
            t0 += TB;
        }
        s0 += chunk;
    }
}

/// The weight gradient of one output channel `o` over one input channel
/// (seed 1's one filter), streamed over the rows of padded input: each
/// input row `r` is loaded once per tap column and meets the output
/// gradient rows `r - m` of every kernel row `m`, kept in registers as they
/// slide by (rows outside the plane are zero); `K x K` accumulators, one
/// per tap, sum over every row of every sample. [`conv_dw_tile`] loads each
/// input row once per tap instead (`K` times as many loads, most of them
/// split over two cache lines) and keeps a pointer per tap (nine for a 3x3
/// kernel, more than the registers hold).
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_dw_rows<const K: usize, const NS: usize>(batch: &ConvBatch, o: usize, x_row: usize, dw: *mut f32) {
    let last = lanes(batch.ow - (NS - 1) * V);
    let mask = |s: usize| if s + 1 == NS { last } else { u16::MAX };
    let plane = batch.oh * batch.ow;
    let zero = [_mm512_setzero_ps(); NS];
    let mut acc = [[_mm512_setzero_ps(); K]; K];
    for b in 0..batch.n {
        // SAFETY (this block): the caller's contract (see `conv_dw_batch`):
        // the `oh + K - 1` rows of padded input, with the slack after the
        // last plane, and the output gradient rows, loaded masked.
        unsafe {
            let xb = batch.x.add(b * batch.x_sample);
            let db = batch.y.cast_const().add(b * batch.y_sample + o * plane);
            // dys[m]: the output gradient row r - m.
            let mut dys = [zero; K];
            for r in 0..batch.oh + K - 1 {
                for m in (1..K).rev() {
                    dys[m] = dys[m - 1];
                }
                dys[0] = if r < batch.oh {
                    core::array::from_fn(|s| _mm512_maskz_loadu_ps(mask(s), db.add(r * batch.ow + s * V)))
                } else {
                    zero
                };
                let xr = xb.add(r * x_row);
                for n in 0..K {
                    for s in 0..NS {
                        let xv = _mm512_loadu_ps(xr.add(n + s * V));
                        for (row, d) in acc.iter_mut().zip(&dys) {
                            // Lanes past the row keep their sum (0 · inf would be NaN).
                            row[n] = _mm512_mask3_fmadd_ps(d[s], xv, row[n], mask(s));
                        }
                    }
                }
            }
        }
    }
    let dc = dw.wrapping_add(o * K * K);
    for (m, row) in acc.iter().enumerate() {
        for (n, a) in row.iter().enumerate() {
            // SAFETY: the caller's contract: `dw` holds every output channel's taps.
            unsafe { *dc.add(m * K + n) += _mm512_reduce_add_ps(*a) };
        }
    }
}

/// [`conv_dw_rows`] for one input channel and a 3x3 kernel over rows of
/// at most 32 outputs or a 5x5 one over rows of at most 16 (what fits the
/// registers); returns `false`, having done nothing, for any other shape.
/// (With several input channels each output gradient plane would be read
/// once per channel, and it does not keep a chunk of samples in the L1
/// cache as [`conv_dw_block`] does; only one input channel was measured.)
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_dw_rows_one(batch: &ConvBatch, g: &ConvGeom, o: usize, dw: *mut f32) -> bool {
    if g.in_c != 1 {
        return false;
    }
    // SAFETY: the caller's contract (see `conv_dw_batch`).
    unsafe {
        match (batch.ow.div_ceil(V), g.k) {
            (1, 3) => conv_dw_rows::<3, 1>(batch, o, g.x_row, dw),
            (1, 5) => conv_dw_rows::<5, 1>(batch, o, g.x_row, dw),
            (2, 3) => conv_dw_rows::<3, 2>(batch, o, g.x_row, dw),
            _ => return false,
        }
    }
    true
}

/// Adds the weight gradient of a stride-1 convolution over a batch into
/// `dw` (`[out_c][in_c][k][k]`): `batch.y` is the output gradient, `g` the
/// forward geometry (its weight fields unused).
///
/// # Safety
/// AVX-512F; as [`conv_batch`], with `dw` writable for `out_c*in_c*k*k` floats.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn conv_dw_batch(g: &ConvGeom, out_c: usize, batch: &ConvBatch, dw: *mut f32) {
    let mut o0 = 0;
    // SAFETY: the caller's contract.
    unsafe {
        while o0 + 4 <= out_c {
            conv_dw_block::<4, 5>(batch, g, o0, dw);
            o0 += 4;
        }
        while o0 < out_c {
            if !conv_dw_rows_one(batch, g, o0, dw) {
                conv_dw_block::<1, 9>(batch, g, o0, dw);
            }
            o0 += 1;
        }
    }
}

/// `y[r·y_r + c·y_c] = start[c] + Σ_{k<n} a[r·a_r + k] · b[c·b_c + k]` for
/// `r < MB`, `c < NB`: both operands contiguous in `k`; the last partial
/// vector of `k` is masked.
///
/// # Safety
/// AVX-512F; `a` rows and `b` rows readable for `n` floats; the outputs writable.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn dot_tile<const MB: usize, const NB: usize>(
    n: usize,
    a: *const f32,
    a_r: usize,
    b: *const f32,
    b_c: usize,
    bias: Option<*const f32>,
    y: *mut f32,
    y_r: usize,
    y_c: usize,
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); NB]; MB];
        let full = n / V * V;
        let mut k = 0;
        while k < full {
            let av: [__m512; MB] = core::array::from_fn(|r| _mm512_loadu_ps(a.add(r * a_r + k)));
            for c in 0..NB {
                let bv = _mm512_loadu_ps(b.add(c * b_c + k));
                for r in 0..MB {
                    acc[r][c] = _mm512_fmadd_ps(av[r], bv, acc[r][c]);
                }
            }
            k += V;
        }
        if full < n {
            let m = lanes(n - full);
            let av: [__m512; MB] = core::array::from_fn(|r| _mm512_maskz_loadu_ps(m, a.add(r * a_r + k)));
            for c in 0..NB {
                let bv = _mm512_maskz_loadu_ps(m, b.add(c * b_c + k));
                for r in 0..MB {
                    acc[r][c] = _mm512_fmadd_ps(av[r], bv, acc[r][c]);
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                let s0 = match bias {
                    Some(p) => *p.add(c),
                    None => 0.0,
                };
                *y.add(r * y_r + c * y_c) = s0 + _mm512_reduce_add_ps(*v);
            }
        }
    }
}

/// `*y = start + Σ_{k<n} a[k] · b[k]`, one dot product: four
/// accumulators over consecutive vectors of `k` (one would be a chain of
/// dependent FMAs, 4 cycles each), summed pairwise at the end.
///
/// # Safety
/// AVX-512F; `a` and `b` readable for `n` floats, `y` writable.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn dot_one(n: usize, a: *const f32, b: *const f32, bias: Option<*const f32>, y: *mut f32) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let fma = |acc: __m512, k: usize, m: u16| {
            _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a.add(k)), _mm512_maskz_loadu_ps(m, b.add(k)), acc)
        };
        let (mut a0, mut a1, mut a2, mut a3) =
            (_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps());
        let mut k = 0;
        while k + 4 * V <= n {
            a0 = fma(a0, k, u16::MAX);
            a1 = fma(a1, k + V, u16::MAX);
            a2 = fma(a2, k + 2 * V, u16::MAX);
            a3 = fma(a3, k + 3 * V, u16::MAX);
            k += 4 * V;
        }
        // The last one to four vectors, the last one masked.
        let tail = [&mut a0, &mut a1, &mut a2, &mut a3];
        for acc in tail {
            if k < n {
                *acc = fma(*acc, k, lanes(n - k));
                k += V;
            }
        }
        let sum = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
        *y = bias.map_or(0.0, |p| *p) + _mm512_reduce_add_ps(sum);
    }
}

/// `c[r·c_r + i] (+)= Σ_{(a, b) in parts} Σ_{k<kdim} a[r·a_r + k·a_k] · b[k·b_k + i]`
/// for `r < RB` and `i` in `IV` vectors from 0 (the last one masked by
/// `last`): `b`'s rows are contiguous in `i`, `a`'s elements are broadcast;
/// the parts (a batch's samples held in several buffers) are summed in
/// order, as one sum over `parts.len()·kdim` terms. With `accumulate` the
/// sum is added to `c`, otherwise it overwrites it.
///
/// # Safety
/// AVX-512F; every part's `a` readable at every `(r, k)`, its `b` rows
/// readable at the (masked) lanes of the `IV` vectors; `c` likewise writable.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn bcast_tile<const RB: usize, const IV: usize>(
    kdim: usize,
    parts: &[(*const f32, *const f32)],
    a_r: usize,
    a_k: usize,
    b_k: usize,
    c: *mut f32,
    c_r: usize,
    last: u16,
    accumulate: bool,
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let mask = |v: usize| if v + 1 == IV { last } else { u16::MAX };
        let mut acc = [[_mm512_setzero_ps(); IV]; RB];
        for &(a, b) in parts {
            for k in 0..kdim {
                let bv: [__m512; IV] = core::array::from_fn(|v| _mm512_maskz_loadu_ps(mask(v), b.add(k * b_k + v * V)));
                for (r, row) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*a.add(r * a_r + k * a_k));
                    for (x, bv) in row.iter_mut().zip(&bv) {
                        *x = _mm512_fmadd_ps(av, *bv, *x);
                    }
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            for (v, x) in row.iter().enumerate() {
                let p = c.add(r * c_r + v * V);
                let out = if accumulate { _mm512_add_ps(*x, _mm512_maskz_loadu_ps(mask(v), p)) } else { *x };
                _mm512_mask_storeu_ps(p, mask(v), out);
            }
        }
    }
}

/// Where a batch of convolution inputs and outputs sit: sample `b`'s
/// padded input at `x + b*x_sample`, its output at `y + b*y_sample`
/// (`oh x ow` per channel, rows of `ow`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConvBatch {
    /// Samples.
    pub n: usize,
    /// Padded input of sample 0.
    pub x: *const f32,
    /// Floats between samples' padded inputs.
    pub x_sample: usize,
    /// Output of sample 0.
    pub y: *mut f32,
    /// Floats between samples' outputs.
    pub y_sample: usize,
    /// Output rows.
    pub oh: usize,
    /// Output columns.
    pub ow: usize,
    /// Whether each output is stored as `max(y, 0)`: a [`Relu`](crate::Relu)
    /// fused into the convolution (the same bits as [`relu_forward`] after it).
    pub relu: bool,
}

impl ConvBatch {
    /// Calls `f` with every output segment, sample by sample, row by row.
    #[inline(always)]
    fn for_each_seg(&self, x_row: usize, mut f: impl FnMut(Seg)) {
        for b in 0..self.n {
            for i in 0..self.oh {
                let mut j = 0;
                while j < self.ow {
                    // SAFETY (pointer arithmetic only): inside the caller's buffers.
                    f(Seg {
                        x: self.x.wrapping_add(b * self.x_sample + i * x_row + j),
                        y: self.y.wrapping_add(b * self.y_sample + i * self.ow + j),
                        mask: lanes(self.ow - j),
                    });
                    j += V;
                }
            }
        }
    }
}

/// Output channels `o0..o0+OB` of a whole batch, in tiles of `SB` segments
/// (the last tile filled with empty-mask copies of its last segment).
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_block<const OB: usize, const SB: usize>(g: &ConvGeom, o0: usize, batch: &ConvBatch, start: Start) {
    match g.k {
        // SAFETY: the caller's contract.
        3 => unsafe { conv_block_k::<OB, SB, 3>(g, o0, batch, start) },
        // SAFETY: as above.
        5 => unsafe { conv_block_k::<OB, SB, 5>(g, o0, batch, start) },
        // SAFETY: as above.
        _ => unsafe { conv_block_k::<OB, SB, 0>(g, o0, batch, start) },
    }
}

/// [`conv_block`] with the kernel side `K` a constant (`0`: read from `g`).
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_block_k<const OB: usize, const SB: usize, const K: usize>(
    g: &ConvGeom,
    o0: usize,
    batch: &ConvBatch,
    start: Start,
) {
    let mut tile = [Seg { x: core::ptr::null(), y: core::ptr::null_mut(), mask: 0 }; SB];
    let mut n = 0;
    batch.for_each_seg(g.x_row, |s| {
        tile[n] = s;
        n += 1;
        if n == SB {
            // SAFETY: the caller's contract (see `conv_batch`).
            unsafe { conv_tile::<OB, SB, K>(g, o0, &tile, start, batch.relu) };
            n = 0;
        }
    });
    if n > 0 {
        for i in n..SB {
            tile[i] = Seg { mask: 0, ..tile[n - 1] };
        }
        // SAFETY: as above; the copies store nothing.
        unsafe { conv_tile::<OB, SB, K>(g, o0, &tile, start, batch.relu) };
    }
}

/// Output channel `o` x `R` consecutive output rows x `S` 16-column
/// segments of one sample: the sum of [`conv_tile`] for one channel, for
/// rows of at most `16*S` outputs. The tile's inputs sit at fixed offsets
/// from one pointer (row `r`, segment `s`, tap `(c, m, n)`:
/// `x + c·x_plane + (r+m)·x_row + 16s + n`), so every load is a base
/// register plus a scaled stride or a constant and the loops over a sample
/// are plain counted loops. For a single channel, [`conv_tile`]'s
/// per-segment bookkeeping cost more than its arithmetic: seed 1's 3x3
/// convolution of a 28x28 image took half the time this way.
///
/// # Safety
/// As [`conv_tile`]: `x` is the input under the tile's first output row,
/// readable for 16 floats at every tap offset of every row and segment;
/// `y` is that row in channel 0, writable (and, for `Start::Load`,
/// readable) at the masked lanes of `R` rows of `y_row` floats of channel `o`.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_rows_tile<const R: usize, const S: usize, const K: usize>(
    g: &ConvGeom,
    o: usize,
    x: *const f32,
    y: *mut f32,
    y_row: usize,
    masks: &[u16; S],
    start: Start,
    relu: bool,
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let out = |r: usize, s: usize| y.add(o * g.y_plane + r * y_row + s * V);
        let mut acc = [[_mm512_setzero_ps(); S]; R];
        match start {
            Start::Zero => {}
            Start::Bias(b) => acc = [[_mm512_set1_ps(*b.add(o)); S]; R],
            Start::Load => {
                for (r, segs) in acc.iter_mut().enumerate() {
                    for (s, a) in segs.iter_mut().enumerate() {
                        *a = _mm512_maskz_loadu_ps(masks[s], out(r, s));
                    }
                }
            }
        }
        let w0 = g.w.offset(o as isize * g.w_out);
        for c in 0..g.in_c {
            let wc = w0.offset(c as isize * g.w_in);
            let xc = x.add(c * g.x_plane);
            for m in 0..K {
                let wm = wc.offset(m as isize * g.w_m);
                for n in 0..K {
                    let wv = _mm512_set1_ps(*wm.offset(n as isize * g.w_n));
                    for (r, segs) in acc.iter_mut().enumerate() {
                        for (s, a) in segs.iter_mut().enumerate() {
                            *a = _mm512_fmadd_ps(wv, _mm512_loadu_ps(xc.add((r + m) * g.x_row + s * V + n)), *a);
                        }
                    }
                }
            }
        }
        for (r, segs) in acc.iter().enumerate() {
            for (s, &a) in segs.iter().enumerate() {
                let a = if relu { _mm512_max_ps(a, _mm512_setzero_ps()) } else { a };
                _mm512_mask_storeu_ps(out(r, s), masks[s], a);
            }
        }
    }
}

/// Output channel `o` of a whole batch whose rows are at most `16*S`
/// wide, `R` rows at a time (a sample's last rows one at a time).
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_rows_block<const R: usize, const S: usize, const K: usize>(
    g: &ConvGeom,
    o: usize,
    batch: &ConvBatch,
    start: Start,
) {
    let masks: [u16; S] = core::array::from_fn(|s| cols(s * V, batch.ow));
    for b in 0..batch.n {
        let xb = batch.x.wrapping_add(b * batch.x_sample);
        let yb = batch.y.wrapping_add(b * batch.y_sample);
        let tile = |i: usize| (xb.wrapping_add(i * g.x_row), yb.wrapping_add(i * batch.ow));
        let mut i = 0;
        // SAFETY (both loops): the caller's contract (see `conv_batch`); the
        // tiles cover rows i..i+R (or i) of this sample, all below `oh`.
        while i + R <= batch.oh {
            let (x, y) = tile(i);
            unsafe { conv_rows_tile::<R, S, K>(g, o, x, y, batch.ow, &masks, start, batch.relu) };
            i += R;
        }
        while i < batch.oh {
            let (x, y) = tile(i);
            unsafe { conv_rows_tile::<1, S, K>(g, o, x, y, batch.ow, &masks, start, batch.relu) };
            i += 1;
        }
    }
}

/// Output channel `o` of a batch with rows of at most 32 outputs and a
/// 3x3 or 5x5 kernel, 8 rows (or 4 rows of two segments: 8 accumulators,
/// enough to hide the FMA latency) per tile; returns `false`, having done
/// nothing, for any other shape.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_rows_one(g: &ConvGeom, o: usize, batch: &ConvBatch, start: Start) -> bool {
    // SAFETY: the caller's contract (see `conv_batch`).
    unsafe {
        match (batch.ow.div_ceil(V), g.k) {
            (1, 3) => conv_rows_block::<8, 1, 3>(g, o, batch, start),
            (1, 5) => conv_rows_block::<8, 1, 5>(g, o, batch, start),
            (2, 3) => conv_rows_block::<4, 2, 3>(g, o, batch, start),
            (2, 5) => conv_rows_block::<4, 2, 5>(g, o, batch, start),
            _ => return false,
        }
    }
    true
}

/// A stride-1 convolution of a batch: `out_c` output channels of every
/// sample (see [`conv_tile`] for the sum).
///
/// # Safety
/// AVX-512F; the buffers `g` and `batch` describe are valid, each padded
/// input followed by [`SLACK`] readable floats.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn conv_batch(g: &ConvGeom, out_c: usize, batch: &ConvBatch, start: Start) {
    let mut o0 = 0;
    // SAFETY: the caller's contract.
    unsafe {
        while o0 + 8 <= out_c {
            conv_block::<8, 3>(g, o0, batch, start);
            o0 += 8;
        }
        if o0 + 4 <= out_c {
            conv_block::<4, 5>(g, o0, batch, start);
            o0 += 4;
        }
        if o0 + 2 <= out_c {
            conv_block::<2, 8>(g, o0, batch, start);
            o0 += 2;
        }
        if o0 < out_c && !conv_rows_one(g, o0, batch, start) {
            conv_block::<1, 6>(g, o0, batch, start);
        }
    }
}

/// `OB` output channels x `R` output rows (`R` even, from an even row) x
/// `S` 16-column segments of one sample, each a sum of [`conv_tile`]'s
/// (not stored), put through a ReLU and a 2x2 max-pool in registers: `R /
/// 2` rows of the pooled planes, with the bits [`maxpool2_forward`] gives
/// with [`PoolRelu::Apply`] from the outputs (each output's ReLU, lanes
/// past the row end as 0, the two rows' maximum, then each pair of
/// columns'), and, with `ROUTES`, each pooled row's [`Route`] record at
/// `routes`. Rows from `nr` on are past the outputs: the caller
/// points them at row `nr - 1`, and they are not pooled on their own (a
/// last pooled row of one output row pools that row alone, as
/// `maxpool2_forward` does).
///
/// # Safety
/// As [`conv_rows_tile`] for the inputs under `x[r]` (the padded input
/// under output row `r`); `masks` the lanes of each segment below the
/// row's width `ow`; `pooled` is the first
/// pooled row of channel `o0`, writable at `min(16, pw)` floats of the
/// first `ceil(nr/2)` rows (`pw` apart) of `OB` planes `p_plane` apart;
/// with `ROUTES`, `routes` likewise at a [`Route`] record for each of those
/// rows ([`ROUTE_BYTES`] apart, planes `r_plane` bytes apart).
#[target_feature(enable = "avx512f,avx512vl")]
#[allow(clippy::too_many_arguments)]
unsafe fn conv_pool_tile<const OB: usize, const R: usize, const S: usize, const K: usize, const ROUTES: bool>(
    g: &ConvGeom,
    o0: usize,
    (x, nr): ([*const f32; R], usize),
    masks: &[u16; S],
    pooled: *mut f32,
    (p_plane, pw): (usize, usize),
    start: Start,
    (routes, r_plane): (*mut u8, usize),
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let zero = _mm512_setzero_ps();
        let mut acc = [[[zero; S]; R]; OB];
        if let Start::Bias(b) = start {
            for (o, rows) in acc.iter_mut().enumerate() {
                *rows = [[_mm512_set1_ps(*b.add(o0 + o)); S]; R];
            }
        }
        let w0 = g.w.offset(o0 as isize * g.w_out);
        for c in 0..g.in_c {
            let wc = w0.offset(c as isize * g.w_in);
            let xc = c * g.x_plane;
            for m in 0..K {
                let wm = wc.offset(m as isize * g.w_m);
                let xm = xc + m * g.x_row;
                for n in 0..K {
                    let wn = wm.offset(n as isize * g.w_n);
                    let xv: [[__m512; S]; R] =
                        core::array::from_fn(|r| core::array::from_fn(|s| _mm512_loadu_ps(x[r].add(xm + s * V + n))));
                    for (o, rows) in acc.iter_mut().enumerate() {
                        let wv = _mm512_set1_ps(*wn.offset(o as isize * g.w_out));
                        for (row, xr) in rows.iter_mut().zip(&xv) {
                            for (a, xs) in row.iter_mut().zip(xr) {
                                *a = _mm512_fmadd_ps(wv, *xs, *a);
                            }
                        }
                    }
                }
            }
        }
        let pool = (p_plane, pw);
        if ROUTES {
            conv_pool_routed(acc, nr, masks, pooled, pool, (routes, r_plane))
        } else {
            conv_pool_epilogue::<OB, R, S, false>(acc, nr, masks, pooled, pool, (routes, r_plane))
        }
    }
}

/// [`conv_pool_epilogue`] with the routes, a function of its own, not
/// inlined: computed in the tile, the routes took the registers the sums
/// needed, and the sums were stored to the stack at every step of the FMA
/// loop (the training step took 1.09-1.13x the time); here they are
/// stored once.
///
/// # Safety
/// As [`conv_pool_tile`].
#[target_feature(enable = "avx512f,avx512vl")]
#[inline(never)]
unsafe fn conv_pool_routed<const OB: usize, const R: usize, const S: usize>(
    acc: [[[__m512; S]; R]; OB],
    nr: usize,
    masks: &[u16; S],
    pooled: *mut f32,
    pool: (usize, usize),
    routes: (*mut u8, usize),
) {
    // SAFETY: the caller's contract.
    unsafe { conv_pool_epilogue::<OB, R, S, true>(acc, nr, masks, pooled, pool, routes) }
}

/// [`conv_pool_tile`]'s pooling, and with `ROUTES` its routes, from its
/// sums `acc`.
///
/// # Safety
/// As [`conv_pool_tile`].
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_pool_epilogue<const OB: usize, const R: usize, const S: usize, const ROUTES: bool>(
    acc: [[[__m512; S]; R]; OB],
    nr: usize,
    masks: &[u16; S],
    pooled: *mut f32,
    (p_plane, pw): (usize, usize),
    (routes, r_plane): (*mut u8, usize),
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let zero = _mm512_setzero_ps();
        let (ie, io) = (_mm512_loadu_si512(EVEN.as_ptr().cast()), _mm512_loadu_si512(ODD.as_ptr().cast()));
        let p_mask = lanes(pw);
        // The windows with a right column: `ow / 2` of them.
        let right = lanes(masks.iter().map(|m| m.count_ones() as usize).sum::<usize>() / 2);
        // A row's outputs as the windows' left and right columns.
        let split = |row: [__m512; S]| {
            let (lo, hi) = (row[0], row[S - 1]);
            (_mm512_permutex2var_ps(lo, ie, hi), _mm512_permutex2var_ps(lo, io, hi))
        };
        for (o, acc) in acc.iter().enumerate() {
            // Over a constant count, so that the loop unrolls and every
            // accumulator stays in its register (indexed by a variable, the
            // array would live on the stack: the FMA loop then spilled).
            for i in 0..R.div_ceil(2) {
                if 2 * i >= nr {
                    break;
                }
                // The windows' maxima of the ReLU's outputs, as
                // maxpool2_forward takes them: lanes past the row as 0,
                // rows first.
                let m: [__m512; S] = core::array::from_fn(|s| {
                    let top = _mm512_maskz_max_ps(masks[s], acc[2 * i][s], zero);
                    if 2 * i + 1 < nr {
                        _mm512_max_ps(top, _mm512_maskz_max_ps(masks[s], acc[2 * i + 1][s], zero))
                    } else {
                        top
                    }
                });
                let (lo, hi) = (m[0], if S > 1 { m[S - 1] } else { zero });
                let even = _mm512_permutex2var_ps(lo, ie, hi);
                let odd = _mm512_permutex2var_ps(lo, io, hi);
                let p = _mm512_max_ps(even, odd);
                _mm512_mask_storeu_ps(pooled.add(o * p_plane + i * pw), p_mask, p);
                if !ROUTES {
                    continue;
                }
                // The first output equal to a positive maximum, row-major,
                // as `maxpool2_backward` finds it in the stored outputs.
                let pos = _mm512_mask_cmp_ps_mask::<_CMP_GT_OQ>(p_mask, p, zero);
                let eq = |mask: u16, v: __m512| _mm512_mask_cmp_ps_mask::<_CMP_EQ_OQ>(mask, v, p);
                let (l, r) = split(acc[2 * i]);
                let (tl, tr) = (eq(pos, l), eq(pos & right, r));
                let (bl, br) = if 2 * i + 1 < nr {
                    let (l, r) = split(acc[2 * i + 1]);
                    (eq(pos, l), eq(pos & right, r))
                } else {
                    (0, 0)
                };
                let record = routes.add(o * r_plane + i * ROUTE_BYTES).cast::<Route>();
                record.write_unaligned(first_max([tl, tr, bl, br]));
            }
        }
    }
}

/// Where the gradients of a row of up to 16 2x2 windows go: the masks of
/// the windows (lanes) whose top-left, top-right, bottom-left and
/// bottom-right input receives it (none where the window's maximum is not
/// positive, and no gradient passes the ReLU). [`conv_pool_tile`] stores
/// them, [`maxpool2_backward_routes`] reads them, as they are in memory.
pub(crate) type Route = [u16; 4];

/// Bytes of a [`Route`] record.
pub(crate) const ROUTE_BYTES: usize = size_of::<Route>();

/// The first of each window's inputs equal to its maximum, row-major: the
/// masks of the windows whose top-left, top-right, bottom-left and
/// bottom-right input equals it, each window kept in its first mask only
/// (the rule of [`maxpool2_backward`] and of the [`Route`]s).
#[inline(always)]
fn first_max([tl, tr, bl, br]: Route) -> Route {
    let tr = tr & !tl;
    let bl = bl & !(tl | tr);
    [tl, tr, bl, br & !(tl | tr | bl)]
}

/// Channels and rows per [`conv_pool_tile`] for rows of `ow` outputs: 4
/// channels x 6 rows of one segment, or 4 x 2 rows of two (24 or 16
/// accumulators).
pub(crate) fn conv_pool_block(ow: usize) -> (usize, usize) {
    if ow <= V { (4, 6) } else { (4, 2) }
}

/// Whether [`conv_pool_batch`] can compute this convolution: rows of at
/// most 32 outputs, a 3x3 or 5x5 kernel, output channels a multiple of
/// [`conv_pool_block`]'s, and a bias or zero start.
pub(crate) fn conv_pool_applies(g: &ConvGeom, out_c: usize, ow: usize, start: Start) -> bool {
    (1..=2 * V).contains(&ow)
        && matches!(g.k, 3 | 5)
        && out_c.is_multiple_of(conv_pool_block(ow).0)
        && !matches!(start, Start::Load)
}

/// [`conv_batch`], then a ReLU and a 2x2 max-pool (stride 2, edge windows
/// kept) in the same tiles ([`conv_pool_tile`]): the outputs are not
/// stored, the pooled planes (`ceil(oh/2) x ceil(ow/2)` per channel,
/// `p_sample` floats between samples) get the bits of [`maxpool2_forward`]
/// with [`PoolRelu::Apply`] over them, and, with `routes`, each sample's
/// output buffer (at `batch.y`) receives the windows' [`Route`]s, for
/// [`maxpool2_backward_routes`]: a record per pooled row (channel by
/// channel, row by row), its windows' four masks. Without `routes`
/// `batch.y` is not touched.
///
/// # Safety
/// As [`conv_batch`], `conv_pool_applies(g, out_c, batch.ow, start)`,
/// `pooled` writable for `n` samples of `out_c` pooled planes, and with
/// `routes` each sample's output buffer writable for `out_c·ceil(oh/2)`
/// records ([`routes_fit`]).
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn conv_pool_batch(
    g: &ConvGeom,
    out_c: usize,
    batch: &ConvBatch,
    start: Start,
    pooled: *mut f32,
    p_sample: usize,
    routes: bool,
) {
    debug_assert!(conv_pool_applies(g, out_c, batch.ow, start));
    debug_assert!(!routes || routes_fit(batch.oh, batch.ow));
    let (oh, ow) = (batch.oh, batch.ow);
    let (ph, pw) = (oh.div_ceil(2), ow.div_ceil(2));
    let masks = [cols(0, ow), cols(V, ow)];
    let (ob, rows) = conv_pool_block(ow);
    // The tile of output rows r0.. of sample b: rows past the last as the last.
    fn tile<const R: usize>(batch: &ConvBatch, x_row: usize, b: usize, r0: usize) -> ([*const f32; R], usize) {
        let row = |r: usize| (r0 + r).min(batch.oh - 1);
        let x = core::array::from_fn(|r| batch.x.wrapping_add(b * batch.x_sample + row(r) * x_row));
        (x, (batch.oh - r0).min(R))
    }
    for b in 0..batch.n {
        let rb = batch.y.wrapping_add(b * batch.y_sample).cast::<u8>();
        for o0 in (0..out_c).step_by(ob) {
            let mut r0 = 0;
            while r0 < oh {
                let pr = pooled.wrapping_add(b * p_sample + o0 * ph * pw + r0 / 2 * pw);
                let pool = (ph * pw, pw);
                let rt = if routes { rb.wrapping_add((o0 * ph + r0 / 2) * ROUTE_BYTES) } else { core::ptr::null_mut() };
                // The tile of 4 channels x R rows x S segments, K x K.
                macro_rules! run {
                    ($r:literal, $s:literal, $k:literal) => {{
                        let m: [u16; $s] = core::array::from_fn(|i| masks[i]);
                        let x = tile(batch, g.x_row, b, r0);
                        let rt = (rt, ph * ROUTE_BYTES);
                        if routes {
                            conv_pool_tile::<4, $r, $s, $k, true>(g, o0, x, &m, pr, pool, start, rt)
                        } else {
                            conv_pool_tile::<4, $r, $s, $k, false>(g, o0, x, &m, pr, pool, start, rt)
                        }
                    }};
                }
                // SAFETY: the caller's contract: rows r0.. below oh of
                // sample b, channels o0..o0+ob <= out_c.
                unsafe {
                    match (rows, oh - r0 >= rows, g.k) {
                        (6, true, 3) => run!(6, 1, 3),
                        (6, true, _) => run!(6, 1, 5),
                        (6, false, 3) => run!(2, 1, 3),
                        (6, false, _) => run!(2, 1, 5),
                        (_, _, 3) => run!(2, 2, 3),
                        _ => run!(2, 2, 5),
                    }
                }
                r0 += if oh - r0 >= rows { rows } else { 2 };
            }
        }
    }
}

/// Whether a sample's `oh x ow` outputs (of one channel) hold the
/// [`Route`] records of their pooling: `ceil(oh/2)` of [`ROUTE_BYTES`].
pub(crate) fn routes_fit(oh: usize, ow: usize) -> bool {
    oh.div_ceil(2) * ROUTE_BYTES <= oh * ow * size_of::<f32>()
}

/// Floats of the packed weights [`conv_cl_batch`] keeps on the stack (64 KiB).
pub(crate) const CL_LIMIT: usize = 1 << 14;

/// Outputs per channels-last tile for rows of `ow`: 16, 14 or 12, whichever
/// computes the fewest outputs past the row ends (ties: the larger), or
/// `None` if even that one wastes more than 1/8 of the work.
fn cl_positions(ow: usize) -> Option<usize> {
    let waste = |p: usize| ow.div_ceil(p) * p - ow;
    let p = [16, 14, 12].into_iter().min_by_key(|&p| waste(p))?;
    (ow > 0 && 8 * waste(p) <= ow).then_some(p)
}

/// Whether [`conv_cl_batch`] can compute this convolution: output
/// channels a multiple of 16, a 3x3 or 5x5 kernel, the packed weights of
/// 16 output channels within [`CL_LIMIT`], rows that [`cl_positions`]
/// accepts, and a start other than [`Start::Load`].
pub(crate) fn cl_applies(g: &ConvGeom, out_c: usize, ow: usize, start: Start) -> bool {
    out_c.is_multiple_of(V)
        && matches!(g.k, 3 | 5)
        && g.in_c * g.k * g.k * V <= CL_LIMIT
        && cl_positions(ow).is_some()
        && !matches!(start, Start::Load)
}

/// Whether a convolution's forward pass takes [`conv_cl_batch`]: where it
/// applies and sums at least 256 taps per output. A tile's transposition
/// and the packing of the weights are paid per tile and per call; over
/// tfconv's 800 taps they vanish, and its conv2 took 0.90x the time at
/// B = 32 and 0.93x at B = 1 (21 alternations, in one process, with
/// [`conv_batch`]); over fashion10's 72 they cost what the lanes saved
/// (0.98x at B = 8, 1.01x at B = 1).
pub(crate) fn cl_pays(g: &ConvGeom, out_c: usize, ow: usize, start: Start) -> bool {
    g.in_c * g.k * g.k >= 256 && cl_applies(g, out_c, ow, start)
}

/// Channels-last tile: 16 output channels x `P` consecutive outputs of one
/// row, `y[o·y_plane + p] = start[o] + Σ_{c,m,n} wt[((c·K + m)·K + n)·16 + o]
/// · x[c·x_plane + m·x_row + n + p]` for `o < 16`, `p < np` (outputs from
/// `np` to `P` are computed and dropped). The accumulators are the
/// outputs, each a vector of the 16 channels: the input is broadcast, and
/// one broadcast of a row's input `j` feeds the `K` outputs `j - n` that
/// read it, with `K` weight vectors per kernel row. No lane is idle, where
/// [`conv_tile`]'s rows of 14 use 14 of 16. The sums run in `conv_tile`'s
/// order (`c`, then `m`, then `n`, each an FMA of the same product), so the
/// bits are the same. At the end the tile is transposed in registers and
/// stored channel by channel.
///
/// # Safety
/// AVX-512F; `x` readable at every `c·x_plane + m·x_row + j` for `c <
/// in_c`, `m < K`, `j < P + K - 1`; `wt` holds `in_c·K·K·16` floats; `y`
/// writable at `o·y_plane + p` for `o < 16`, `p < np`.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_cl_tile<const P: usize, const K: usize>(
    in_c: usize,
    x_plane: usize,
    x_row: usize,
    x: *const f32,
    wt: *const f32,
    start: __m512,
    y: *mut f32,
    y_plane: usize,
    np: usize,
    relu: bool,
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let mut acc = [start; P];
        for c in 0..in_c {
            for m in 0..K {
                let row = x.add(c * x_plane + m * x_row);
                let wm = wt.add((c * K + m) * K * V);
                let w: [__m512; K] = core::array::from_fn(|n| _mm512_loadu_ps(wm.add(n * V)));
                // Written out for every input column, so that each
                // accumulator index is a constant and stays in a register.
                macro_rules! columns {
                    ($($j:literal)*) => {$(
                        if $j < P + K - 1 {
                            let b = _mm512_set1_ps(*row.add($j));
                            for (n, wn) in w.iter().enumerate() {
                                if $j >= n && $j - n < P {
                                    acc[$j - n] = _mm512_fmadd_ps(b, *wn, acc[$j - n]);
                                }
                            }
                        }
                    )*};
                }
                columns!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20);
            }
        }
        let zero = _mm512_setzero_ps();
        if relu {
            acc = acc.map(|a| _mm512_max_ps(a, zero));
        }
        let t = transpose_regs(core::array::from_fn(|p| if p < P { acc[p] } else { zero }));
        let mask = lanes(np);
        for (o, v) in t.iter().enumerate() {
            _mm512_mask_storeu_ps(y.add(o * y_plane), mask, *v);
        }
    }
}

/// [`conv_batch`] with the output channels along the vector lanes
/// ([`conv_cl_tile`]), for the shapes [`cl_applies`] accepts: per group of
/// 16 output channels, the weights are packed `[c][m][n][16]` on the stack,
/// then every sample's rows run in tiles of [`cl_positions`] outputs.
///
/// # Safety
/// As [`conv_batch`], and `cl_applies(g, out_c, batch.ow, start)`.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn conv_cl_batch(g: &ConvGeom, out_c: usize, batch: &ConvBatch, start: Start) {
    debug_assert!(cl_applies(g, out_c, batch.ow, start));
    let (k, ow) = (g.k, batch.ow);
    let p = cl_positions(ow).unwrap_or(V);
    let taps = g.in_c * k * k;
    let mut wt = [core::mem::MaybeUninit::<f32>::uninit(); CL_LIMIT];
    for o0 in (0..out_c).step_by(V) {
        // SAFETY (this block): the caller's contract: the weights of
        // channels o0..o0+16 at every tap, the inputs and outputs as
        // `conv_batch`'s (each row's last tile reads at most P - 1 floats
        // past its padded row, inside the next row or the slack).
        unsafe {
            for c in 0..g.in_c {
                for m in 0..k {
                    for n in 0..k {
                        let src = g.w.offset(c as isize * g.w_in + m as isize * g.w_m + n as isize * g.w_n);
                        let t = (c * k + m) * k + n;
                        for o in 0..V {
                            wt[t * V + o].write(*src.offset((o0 + o) as isize * g.w_out));
                        }
                    }
                }
            }
            let wt = wt[..taps * V].as_ptr().cast::<f32>();
            let st = match start {
                Start::Bias(b) => _mm512_loadu_ps(b.add(o0)),
                _ => _mm512_setzero_ps(),
            };
            for s in 0..batch.n {
                for i in 0..batch.oh {
                    let mut j0 = 0;
                    while j0 < ow {
                        let x = batch.x.add(s * batch.x_sample + i * g.x_row + j0);
                        let y = batch.y.add(s * batch.y_sample + o0 * g.y_plane + i * ow + j0);
                        let np = (ow - j0).min(p);
                        let (xp, xr, yp) = (g.x_plane, g.x_row, g.y_plane);
                        match (p, k) {
                            (16, 3) => conv_cl_tile::<16, 3>(g.in_c, xp, xr, x, wt, st, y, yp, np, batch.relu),
                            (14, 3) => conv_cl_tile::<14, 3>(g.in_c, xp, xr, x, wt, st, y, yp, np, batch.relu),
                            (12, 3) => conv_cl_tile::<12, 3>(g.in_c, xp, xr, x, wt, st, y, yp, np, batch.relu),
                            (16, _) => conv_cl_tile::<16, 5>(g.in_c, xp, xr, x, wt, st, y, yp, np, batch.relu),
                            (14, _) => conv_cl_tile::<14, 5>(g.in_c, xp, xr, x, wt, st, y, yp, np, batch.relu),
                            _ => conv_cl_tile::<12, 5>(g.in_c, xp, xr, x, wt, st, y, yp, np, batch.relu),
                        }
                        j0 += p;
                    }
                }
            }
        }
    }
}

/// `y[s][o] = bias[o] + Σ_i x[s][i] · w[o][i]` for `n` samples, `n_in`
/// inputs and `n_out` outputs (row-major `x`, `w`, `y`): a dense layer's
/// forward pass over a batch, in tiles of 4 samples x 6 outputs (the last
/// outputs 4 or 2 at a time, then 1: a one-output tile is a chain of
/// dependent FMAs, so fashion10's 10 outputs are 6 + 4, not 6 + 1 + 1 + 1 + 1).
/// A single output is [`dot_one`] for each sample, four chains (the same
/// bits wherever the sample sits in the batch, as every other tile gives).
///
/// # Safety
/// AVX-512F; `x` holds `n*n_in`, `w` `n_out*n_in`, `y` `n*n_out` floats,
/// `bias` (if any) `n_out`.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn dense_forward(
    n: usize,
    n_in: usize,
    n_out: usize,
    x: *const f32,
    w: *const f32,
    bias: Option<*const f32>,
    y: *mut f32,
) {
    let mut o0 = 0;
    while o0 < n_out {
        let nb = match n_out - o0 {
            6.. => 6,
            4 | 5 => 4,
            2 | 3 => 2,
            _ => 1,
        };
        let (wo, bo) = (w.wrapping_add(o0 * n_in), bias.map(|b| b.wrapping_add(o0)));
        let mut s0 = 0;
        while s0 < n {
            let (xs, ys) = (x.wrapping_add(s0 * n_in), y.wrapping_add(s0 * n_out + o0));
            // One output: every sample alone in `dot_one`, so that a
            // sample's output does not depend on where it sits in the batch.
            let sb = if n - s0 >= 4 && nb > 1 { 4 } else { 1 };
            // SAFETY: the caller's contract; the tile stays inside the arrays.
            unsafe {
                match (sb, nb) {
                    (4, 6) => dot_tile::<4, 6>(n_in, xs, n_in, wo, n_in, bo, ys, n_out, 1),
                    (4, 4) => dot_tile::<4, 4>(n_in, xs, n_in, wo, n_in, bo, ys, n_out, 1),
                    (4, 2) => dot_tile::<4, 2>(n_in, xs, n_in, wo, n_in, bo, ys, n_out, 1),
                    (_, 6) => dot_tile::<1, 6>(n_in, xs, n_in, wo, n_in, bo, ys, n_out, 1),
                    (_, 4) => dot_tile::<1, 4>(n_in, xs, n_in, wo, n_in, bo, ys, n_out, 1),
                    (_, 2) => dot_tile::<1, 2>(n_in, xs, n_in, wo, n_in, bo, ys, n_out, 1),
                    _ => dot_one(n_in, xs, wo, bo, ys),
                }
            }
            s0 += sb;
        }
        o0 += nb;
    }
}

/// `c[r][i] (+)= Σ_{k<kdim} a[r·a_r + k·a_k] · b[k·b_k + i]` for `rows`
/// rows and `cols` columns (`c` rows `c_r` apart): a dense layer's weight
/// gradient (`r` = output, `k` = sample) and input gradient (`r` = sample,
/// `k` = output). `rows_outer` picks the loop order: row blocks outside
/// (stream `c` once) or column strips outside (reuse a strip of `b` across
/// the row blocks). Tiles are 4 rows x 96 columns, except rows outside with
/// 8 rows or more: 8 x 48. For the weight gradient the taller tile reads
/// each `b` row (an input sample, from the L2 cache) once per 8 outputs
/// instead of 4: tfconv's 3136 x 1024 gradient at B = 32 took 11–14 % less
/// time than with 4 x 96 tiles, measured side by side; the input gradient
/// was no faster, and a one-output layer (one row: seed1's) is faster with
/// the wider tile (fewer tile calls). A one-long sum (`kdim == 1`: one
/// sample's weight gradient) skips the tiles: each row of `c` is then a
/// scaled row of `b`.
///
/// # Safety
/// AVX-512F; every `a[r, k]`, `b[k][0..cols]` readable, `c[r][0..cols]` writable.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn bcast_gemm(
    rows: usize,
    cols: usize,
    kdim: usize,
    a: *const f32,
    a_r: usize,
    a_k: usize,
    b: *const f32,
    b_k: usize,
    c: *mut f32,
    c_r: usize,
    accumulate: bool,
    rows_outer: bool,
) {
    // SAFETY: the caller's contract.
    unsafe { bcast_gemm_parts(rows, cols, kdim, &[(a, b)], a_r, a_k, b_k, c, c_r, accumulate, rows_outer) }
}

/// Most parts [`bcast_gemm_parts`] takes.
pub(crate) const MAX_PARTS: usize = 8;

/// [`bcast_gemm`] over a sum split into parts held in separate buffers:
/// `c[r][i] (+)= Σ_{(a, b) in parts} Σ_{k<kdim} a[r·a_r + k·a_k] ·
/// b[k·b_k + i]`, each tile summing the parts in order in its registers (a
/// data-parallel trainer's shards: one pass over `c` for all of them, the
/// sum in the order of one buffer holding them all).
///
/// # Safety
/// AVX-512F; `1 <= parts.len() <= MAX_PARTS`; every part's `a[r, k]`,
/// `b[k][0..cols]` readable, `c[r][0..cols]` writable.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn bcast_gemm_parts(
    rows: usize,
    cols: usize,
    kdim: usize,
    parts: &[(*const f32, *const f32)],
    a_r: usize,
    a_k: usize,
    b_k: usize,
    c: *mut f32,
    c_r: usize,
    accumulate: bool,
    rows_outer: bool,
) {
    debug_assert!((1..=MAX_PARTS).contains(&parts.len()));
    let nvec = cols.div_ceil(V);
    if nvec == 0 {
        return;
    }
    let last = lanes(cols - (nvec - 1) * V);
    if let [(a, b)] = *parts
        && kdim == 1
    {
        // A one-long sum (one sample's weight gradient; the input gradient
        // of a single output row): each row of `c` is a row of `b` scaled,
        // `a·b (+ c)`, the tiles' operations without their set-up. (The FMA
        // into +0 is the tiles' too: a bare product would give -0 for 0·(-x).)
        for r in 0..rows {
            // SAFETY: the caller's contract; the loads and stores are masked to the row.
            unsafe {
                let (av, cr) = (_mm512_set1_ps(*a.add(r * a_r)), c.add(r * c_r));
                for v in 0..nvec {
                    let m = if v + 1 == nvec { last } else { u16::MAX };
                    let bv = _mm512_maskz_loadu_ps(m, b.add(v * V));
                    let mut out = _mm512_fmadd_ps(av, bv, _mm512_setzero_ps());
                    if accumulate {
                        out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(m, cr.add(v * V)));
                    }
                    _mm512_mask_storeu_ps(cr.add(v * V), m, out);
                }
            }
        }
        return;
    }
    let tile = |r0: usize, rb: usize, v0: usize, iv: usize| {
        let m = if v0 + iv == nvec { last } else { u16::MAX };
        let mut at = [(core::ptr::null(), core::ptr::null()); MAX_PARTS];
        for (t, &(a, b)) in at.iter_mut().zip(parts) {
            *t = (a.wrapping_add(r0 * a_r), b.wrapping_add(v0 * V));
        }
        let (p, cr) = (&at[..parts.len()], c.wrapping_add(r0 * c_r + v0 * V));
        // SAFETY: the caller's contract; the tile stays inside the arrays.
        unsafe {
            match (rb, iv) {
                (4, 6) => bcast_tile::<4, 6>(kdim, p, a_r, a_k, b_k, cr, c_r, m, accumulate),
                (4, _) => bcast_tile::<4, 1>(kdim, p, a_r, a_k, b_k, cr, c_r, m, accumulate),
                (_, 6) => bcast_tile::<1, 6>(kdim, p, a_r, a_k, b_k, cr, c_r, m, accumulate),
                (8, 3) => bcast_tile::<8, 3>(kdim, p, a_r, a_k, b_k, cr, c_r, m, accumulate),
                (8, _) => bcast_tile::<8, 1>(kdim, p, a_r, a_k, b_k, cr, c_r, m, accumulate),
                (_, 3) => bcast_tile::<1, 3>(kdim, p, a_r, a_k, b_k, cr, c_r, m, accumulate),
                _ => bcast_tile::<1, 1>(kdim, p, a_r, a_k, b_k, cr, c_r, m, accumulate),
            }
        }
    };
    let (rt, ct) = if rows_outer && rows >= 8 { (8, 3) } else { (4, 6) };
    let row_step = |r0: usize| if rows - r0 >= rt { rt } else { 1 };
    let col_step = |v0: usize| if nvec - v0 >= ct { ct } else { 1 };
    if rows_outer {
        // Each block of rows of `c` is finished before the next: `c` streams
        // through once, row by row (the weight gradient: 12.8 MB for tfconv).
        let mut r0 = 0;
        while r0 < rows {
            let rb = row_step(r0);
            let mut v0 = 0;
            while v0 < nvec {
                let iv = col_step(v0);
                tile(r0, rb, v0, iv);
                v0 += iv;
            }
            r0 += rb;
        }
    } else {
        // Each column strip of `b` is reused by every block of rows while it
        // is in the L2 cache (the input gradient: `b` is the weights).
        let mut v0 = 0;
        while v0 < nvec {
            let iv = col_step(v0);
            let mut r0 = 0;
            while r0 < rows {
                let rb = row_step(r0);
                tile(r0, rb, v0, iv);
                r0 += rb;
            }
            v0 += iv;
        }
    }
}

/// Lane indices that gather the even (`EVEN`) and odd (`ODD`) columns of
/// 32 consecutive columns held in two vectors.
const EVEN: [i32; 16] = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30];
const ODD: [i32; 16] = [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31];
/// Lane indices that interleave lanes 0..8 (`WEAVE_LO`) or 8..16 (`WEAVE_HI`) of two vectors.
const WEAVE_LO: [i32; 16] = [0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23];
const WEAVE_HI: [i32; 16] = [8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31];

/// The mask of the lanes of columns `c0 .. c0+16` that lie below `w`.
#[inline(always)]
fn cols(c0: usize, w: usize) -> u16 {
    if c0 >= w { 0 } else { lanes(w - c0) }
}

/// The ReLU a 2x2 max-pool runs before it, fused ([`maxpool2_forward`],
/// [`maxpool2_backward`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum PoolRelu {
    /// No ReLU: the windows of the input itself.
    Absent,
    /// A ReLU applied in registers: its output is not stored (forward), and
    /// only its input gradient is, not the pooling's (backward).
    Apply,
    /// A ReLU whose output (forward) or input gradient (backward) is
    /// stored here (`planes*h*w` floats).
    Store(*mut f32),
}

/// 2x2 max-pooling (stride 2, ceil mode) of `planes` planes of `h x w`
/// into `oh x ow` (`oh = ceil(h/2)`, `ow = ceil(w/2)`): the maximum of each
/// window, missing rows and columns of edge windows left out.
///
/// With a [`PoolRelu`], a ReLU comes first, fused: the windows are those of
/// `max(x, 0)` (the bits [`relu_forward`] writes). [`PoolRelu::Store`] puts
/// each plane through [`relu_forward`] and pools it from there while it is
/// still in L1: the row-wise stores it replaced, split across cache lines,
/// took longer than the pooling (design.md §8).
///
/// # Safety
/// AVX-512F; `x` holds `planes*h*w` floats, `y` `planes*oh*ow`, and a
/// [`PoolRelu::Store`] pointer is writable for `planes*h*w`.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn maxpool2_forward(planes: usize, h: usize, w: usize, x: *const f32, relu: PoolRelu, y: *mut f32) {
    let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
    // SAFETY: the caller's contract; every load and store is masked to its row.
    unsafe {
        let (ie, io) = (_mm512_loadu_si512(EVEN.as_ptr().cast()), _mm512_loadu_si512(ODD.as_ptr().cast()));
        let ninf = _mm512_set1_ps(f32::NEG_INFINITY);
        let zero = _mm512_setzero_ps();
        let src = if let PoolRelu::Store(r) = relu { r.cast_const() } else { x };
        let apply = matches!(relu, PoolRelu::Apply);
        // A row's 32 columns from `c0`.
        let row = |off: usize, m0: u16, m1: u16| {
            let (lo, hi) = (
                _mm512_mask_loadu_ps(ninf, m0, src.wrapping_add(off)),
                _mm512_mask_loadu_ps(ninf, m1, src.wrapping_add(off + 16)),
            );
            if apply { (_mm512_max_ps(lo, zero), _mm512_max_ps(hi, zero)) } else { (lo, hi) }
        };
        for p in 0..planes {
            if let PoolRelu::Store(r) = relu {
                relu_forward(x.add(p * h * w), r.add(p * h * w), h * w);
            }
            let yp = y.add(p * oh * ow);
            // Column strips of 32 outside the rows: the masks are computed
            // once a strip (the loop was bound by its instructions).
            let mut c0 = 0;
            while c0 < w {
                let (m0, m1, o0) = (cols(c0, w), cols(c0 + 16, w), c0 / 2);
                let mo = cols(o0, ow);
                for oy in 0..oh {
                    let r0 = p * h * w + 2 * oy * w + c0;
                    let (mut lo, mut hi) = row(r0, m0, m1);
                    if 2 * oy + 1 < h {
                        let (lo1, hi1) = row(r0 + w, m0, m1);
                        lo = _mm512_max_ps(lo, lo1);
                        hi = _mm512_max_ps(hi, hi1);
                    }
                    let even = _mm512_permutex2var_ps(lo, ie, hi);
                    let odd = _mm512_permutex2var_ps(lo, io, hi);
                    _mm512_mask_storeu_ps(yp.add(oy * ow + o0), mo, _mm512_max_ps(even, odd));
                }
                c0 += 32;
            }
        }
    }
}

/// Backward of [`maxpool2_forward`]: each `dy` goes to the first input of
/// its window (row-major) equal to the window's maximum `y`; every other
/// `dx` is zero.
///
/// With a [`PoolRelu`], the backward pass of a ReLU before the pooling is
/// fused:
/// - [`PoolRelu::Store`]: `x` is the ReLU's output, `dx` receives the
///   pooling's gradient and the pointer the ReLU's, `dx` where `x > 0`,
///   zero elsewhere (what [`relu_backward`] writes from `dx`).
/// - [`PoolRelu::Apply`]: `x` is the ReLU's *input*, and `dx` receives the
///   ReLU's input gradient alone, the same bits, and the pooling's
///   gradient is not stored. (The first input equal to a positive maximum
///   is the same in `x` as in the ReLU's output, and where the maximum is
///   0 no gradient passes the ReLU.) The input a window routes to equals
///   its maximum, so it is positive exactly where the maximum is: one
///   compare per window zeroes `dy` where the maximum is not positive,
///   instead of a compare of every input.
///
/// The lanes are windows, 16 a strip of 32 columns: each input row is split
/// into the windows' left and right columns, so the first-maximum rule is a
/// few mask operations per row. (With the columns as lanes it took about
/// 30 scalar bit operations a row, and the pass 1.05–1.2x the time; design.md §8.)
///
/// # Safety
/// AVX-512F; `x`, `dx` (and a [`PoolRelu::Store`] pointer) hold
/// `planes*h*w` floats, `y`, `dy` `planes*oh*ow`.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn maxpool2_backward(
    planes: usize,
    h: usize,
    w: usize,
    x: *const f32,
    y: *const f32,
    dy: *const f32,
    dx: *mut f32,
    relu: PoolRelu,
) {
    let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
    // SAFETY: the caller's contract; every load and store is masked to its row.
    unsafe {
        let (ie, io) = (_mm512_loadu_si512(EVEN.as_ptr().cast()), _mm512_loadu_si512(ODD.as_ptr().cast()));
        let (apply, zero) = (matches!(relu, PoolRelu::Apply), _mm512_setzero_ps());
        // A row's 32 columns from `off`, as the windows' left (even) and
        // right (odd) columns, each compared with the windows' maxima.
        let eq = |off: usize, (m0, m1): (u16, u16), m: __m512, (left, right): (u16, u16)| {
            let (lo, hi) =
                (_mm512_maskz_loadu_ps(m0, x.wrapping_add(off)), _mm512_maskz_loadu_ps(m1, x.wrapping_add(off + 16)));
            let (l, r) = (_mm512_permutex2var_ps(lo, ie, hi), _mm512_permutex2var_ps(lo, io, hi));
            (_mm512_mask_cmp_ps_mask::<_CMP_EQ_OQ>(left, l, m), _mm512_mask_cmp_ps_mask::<_CMP_EQ_OQ>(right, r, m))
        };
        let window = |p: usize, c0: usize, oy: usize, m01: (u16, u16), lr: (u16, u16)| {
            let i = p * oh * ow + oy * ow + c0 / 2;
            let (m, mut g) = (_mm512_maskz_loadu_ps(lr.0, y.add(i)), _mm512_maskz_loadu_ps(lr.0, dy.add(i)));
            // The input a window routes to equals its maximum, so it
            // is positive where the maximum is: one ReLU mask a window.
            if apply {
                g = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(m, zero), g);
            }
            // The first input equal to the maximum, row-major:
            // top-left, top-right, bottom-left, bottom-right.
            let top = p * h * w + 2 * oy * w + c0;
            let (tl, tr) = eq(top, m01, m, lr);
            let (bl, br) = if 2 * oy + 1 < h { eq(top + w, m01, m, lr) } else { (0, 0) };
            (g, first_max([tl, tr, bl, br]))
        };
        pool2_scatter(planes, h, w, dx, window, |p| {
            // The ReLU's gradient from the plane's, while it is in L1, with
            // aligned stores (as in the forward pass).
            if let PoolRelu::Store(r) = relu {
                relu_backward(x.add(p * h * w), dx.add(p * h * w), r.add(p * h * w), h * w);
            }
        });
    }
}

/// Backward of [`conv_pool_batch`]'s ReLU and pooling, from the
/// [`Route`]s it stored: each `dy` goes to the input of its window the
/// route names (none where no mask has the window), every other `dx` is zero;
/// the bits of [`maxpool2_backward`] with [`PoolRelu::Apply`] from the
/// outputs the routes were taken from, without reading them.
///
/// The records are [`conv_pool_batch`]'s: the planes in groups of
/// `per_sample` (a sample's channels), each group's records from the
/// group's first byte, `r_sample` bytes apart.
///
/// # Safety
/// AVX-512F; `w <= 32`; `dx` holds `planes*h*w` floats, `dy`
/// `planes*oh*ow`, and `routes` `oh` [`Route`] records for each of
/// `per_sample` planes at each multiple of `r_sample`, for every group.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn maxpool2_backward_routes(
    planes: usize,
    h: usize,
    w: usize,
    (routes, per_sample, r_sample): (*const u8, usize, usize),
    dy: *const f32,
    dx: *mut f32,
) {
    debug_assert!(w <= 2 * V && per_sample > 0);
    let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
    // SAFETY: the caller's contract; the loads of `dy` are masked to its rows.
    unsafe {
        let window = |p: usize, _c0: usize, oy: usize, _m01: (u16, u16), (left, _): (u16, u16)| {
            let record = routes.add(p / per_sample * r_sample + (p % per_sample * oh + oy) * ROUTE_BYTES);
            let g = _mm512_maskz_loadu_ps(left, dy.add((p * oh + oy) * ow));
            (g, record.cast::<Route>().read_unaligned())
        };
        pool2_scatter(planes, h, w, dx, window, |_| {});
    }
}

/// The stores of a 2x2 max-pool's backward pass: for each plane `p`, strip
/// of 32 columns from `c0` and window row `oy`, `window(p, c0, oy, (m0,
/// m1), (left, right))` gives the gradients of the strip's 16 windows
/// (lanes: the columns masks of the strip's two vectors, the windows
/// with a left and with a right column) and the masks of the windows whose
/// top-left, top-right, bottom-left and bottom-right input receives it;
/// the two input rows are stored, woven back into columns (every other
/// `dx` of the rows zero), and `plane_done(p)` runs after each plane.
///
/// # Safety
/// AVX-512F; `dx` holds `planes*h*w` floats.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn pool2_scatter(
    planes: usize,
    h: usize,
    w: usize,
    dx: *mut f32,
    mut window: impl FnMut(usize, usize, usize, (u16, u16), (u16, u16)) -> (__m512, [u16; 4]),
    mut plane_done: impl FnMut(usize),
) {
    let (oh, ow) = (h.div_ceil(2), w.div_ceil(2));
    // SAFETY: the caller's contract; every store is masked to its row.
    unsafe {
        let (il, ih) = (_mm512_loadu_si512(WEAVE_LO.as_ptr().cast()), _mm512_loadu_si512(WEAVE_HI.as_ptr().cast()));
        // The gradient `g` on the windows' left columns `l` and right
        // columns `r`, woven back into the row's 32 columns at `off`.
        let store = |off: usize, (m0, m1): (u16, u16), g: __m512, l: u16, r: u16| {
            let (gl, gr) = (_mm512_maskz_mov_ps(l, g), _mm512_maskz_mov_ps(r, g));
            _mm512_mask_storeu_ps(dx.wrapping_add(off), m0, _mm512_permutex2var_ps(gl, il, gr));
            _mm512_mask_storeu_ps(dx.wrapping_add(off + 16), m1, _mm512_permutex2var_ps(gl, ih, gr));
        };
        for p in 0..planes {
            // Column strips of 32 (16 windows) outside the rows, as in the
            // forward pass; the windows are lanes, with or without a right column.
            let mut c0 = 0;
            while c0 < w {
                let m01 = (cols(c0, w), cols(c0 + 16, w));
                let lr = (cols(c0 / 2, ow), lanes((w - c0) / 2));
                for oy in 0..oh {
                    let (g, [tl, tr, bl, br]) = window(p, c0, oy, m01, lr);
                    let top = p * h * w + 2 * oy * w + c0;
                    store(top, m01, g, tl, tr);
                    if 2 * oy + 1 < h {
                        store(top + w, m01, g, bl, br);
                    }
                }
                c0 += 32;
            }
            plane_done(p);
        }
    }
}

/// `yᵀ` tile of a dense layer over a batch packed as `xt[i][s]` (samples
/// contiguous, `ns` of them, rows `xt_i` apart): `y[s0+s][o0+o] =
/// start[o] + Σ_i w[o0+o][i] · xt[i][s0+s]` for `o < NB` and `s` in `SV`
/// vectors from `s0` (the last masked by `last`): `w` broadcast, `xt`
/// loaded, so each weight is read once per tile of `16*SV` samples.
///
/// # Safety
/// AVX-512F; `w` rows `o0..o0+NB` readable for `n_in` floats; `xt` rows
/// readable at the masked lanes; `y` writable at the valid samples.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn packed_tile<const NB: usize, const SV: usize>(
    n_in: usize,
    w: *const f32,
    bias: Option<*const f32>,
    xt: *const f32,
    xt_i: usize,
    last: u16,
    y: *mut f32,
    n_out: usize,
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let mask = |v: usize| if v + 1 == SV { last } else { u16::MAX };
        let mut acc = [[_mm512_setzero_ps(); SV]; NB];
        for i in 0..n_in {
            let xv: [__m512; SV] = core::array::from_fn(|v| _mm512_maskz_loadu_ps(mask(v), xt.add(i * xt_i + v * V)));
            for (o, row) in acc.iter_mut().enumerate() {
                let wv = _mm512_set1_ps(*w.add(o * n_in + i));
                for (a, x) in row.iter_mut().zip(&xv) {
                    *a = _mm512_fmadd_ps(wv, *x, *a);
                }
            }
        }
        let mut lane = [0.0f32; V];
        for (o, row) in acc.iter().enumerate() {
            let b = match bias {
                Some(p) => *p.add(o),
                None => 0.0,
            };
            for (v, a) in row.iter().enumerate() {
                _mm512_storeu_ps(lane.as_mut_ptr(), *a);
                let n = (mask(v) as u32).count_ones() as usize;
                for (l, &x) in lane[..n].iter().enumerate() {
                    *y.add((v * V + l) * n_out + o) = b + x;
                }
            }
        }
    }
}

/// A dense layer's forward pass over a batch of `n >= 16` samples whose
/// inputs were transposed into `xt` (`n_in x n`, samples contiguous): tiles
/// of 12 outputs x 32 samples (24 accumulators), the weights broadcast and
/// streamed once per 32 samples.
///
/// # Safety
/// AVX-512F; `xt` holds `n_in*n`, `w` `n_out*n_in`, `y` `n*n_out` floats,
/// `bias` (if any) `n_out`.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn dense_forward_packed(
    n: usize,
    n_in: usize,
    n_out: usize,
    xt: *const f32,
    w: *const f32,
    bias: Option<*const f32>,
    y: *mut f32,
) {
    let nvec = n.div_ceil(V);
    let last = lanes(n - (nvec - 1) * V);
    let mut o0 = 0;
    while o0 < n_out {
        let nb = if n_out - o0 >= 12 { 12 } else { 1 };
        let (wo, bo) = (w.wrapping_add(o0 * n_in), bias.map(|b| b.wrapping_add(o0)));
        let mut v0 = 0;
        while v0 < nvec {
            let sv = if nvec - v0 >= 2 { 2 } else { 1 };
            let m = if v0 + sv == nvec { last } else { u16::MAX };
            let (xs, ys) = (xt.wrapping_add(v0 * V), y.wrapping_add(v0 * V * n_out + o0));
            // SAFETY: the caller's contract; the tile stays inside the arrays.
            unsafe {
                match (nb, sv) {
                    (12, 2) => packed_tile::<12, 2>(n_in, wo, bo, xs, n, m, ys, n_out),
                    (12, _) => packed_tile::<12, 1>(n_in, wo, bo, xs, n, m, ys, n_out),
                    (_, 2) => packed_tile::<1, 2>(n_in, wo, bo, xs, n, m, ys, n_out),
                    _ => packed_tile::<1, 1>(n_in, wo, bo, xs, n, m, ys, n_out),
                }
            }
            v0 += sv;
        }
        o0 += nb;
    }
}

/// AVX-512 form of `conv2d::pad_planes`: `c` planes of `h x w` from `src`
/// into `dst` with `p` zeros on every side, then `slack` zeros.
///
/// # Safety
/// AVX-512F; `src` holds `c*h*w` floats, `dst` `c*(h+2p)*(w+2p) + slack`.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn pad_planes(src: *const f32, c: usize, h: usize, w: usize, p: usize, dst: *mut f32, slack: usize) {
    let (rw, rows) = (w + 2 * p, h + 2 * p);
    // SAFETY: the caller's contract; every store stays inside the padded
    // planes and the slack, every load is masked to its source row (the
    // pointers to masked-out lanes are formed with `wrapping_*`).
    unsafe {
        let zero = _mm512_setzero_ps();
        // Zeros over `n` floats from `d`.
        let zeros = |d: *mut f32, n: usize| {
            let mut k = 0;
            while k < n {
                _mm512_mask_storeu_ps(d.add(k), lanes(n - k), zero);
                k += V;
            }
        };
        let mut d = dst;
        let plane = rows * rw;
        for ch in 0..c {
            // The top and bottom padding rows.
            zeros(d, p * rw);
            zeros(d.add((p + h) * rw), p * rw);
            // The padded rows a strip of 16 columns at a time, each vector
            // one load masked to the source columns under it (zeros in the
            // padding) and one store; the masks once a strip.
            let (s, rd) = (src.add(ch * h * w).wrapping_sub(p), d.add(p * rw));
            let mut c0 = 0;
            while c0 < rw {
                let (lo, hi) = (p.saturating_sub(c0), (p + w).saturating_sub(c0));
                let (load, store) = (lanes(hi) & !lanes(lo), lanes(rw - c0));
                for r in 0..h {
                    let v = _mm512_maskz_loadu_ps(load, s.wrapping_add(r * w + c0));
                    _mm512_mask_storeu_ps(rd.add(r * rw + c0), store, v);
                }
                c0 += V;
            }
            d = d.add(plane);
        }
        zeros(d, slack);
    }
}

/// `y = max(x, 0)` over `n` floats (NaN gives 0, as `f32::max` does).
///
/// The stores are aligned to 64 bytes ([`aligned_vectors`]).
///
/// # Safety
/// AVX-512F; `x` readable and `y` writable for `n` floats.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn relu_forward(x: *const f32, y: *mut f32, n: usize) {
    let zero = _mm512_setzero_ps();
    aligned_vectors(y, n, |i, m| {
        // SAFETY: the caller's contract; `i` and the mask stay inside the span.
        unsafe { _mm512_mask_storeu_ps(y.add(i), m, _mm512_max_ps(_mm512_maskz_loadu_ps(m, x.add(i)), zero)) }
    });
}

/// `dx = dy` where `y > 0`, else `0`, over `n` floats, the stores aligned
/// as [`relu_forward`]'s.
///
/// # Safety
/// AVX-512F; `y`, `dy` readable and `dx` writable for `n` floats.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn relu_backward(y: *const f32, dy: *const f32, dx: *mut f32, n: usize) {
    let zero = _mm512_setzero_ps();
    aligned_vectors(dx, n, |i, m| {
        // SAFETY: the caller's contract; `i` and the mask stay inside the span.
        unsafe {
            let pos = _mm512_mask_cmp_ps_mask::<_CMP_GT_OQ>(m, _mm512_maskz_loadu_ps(m, y.add(i)), zero);
            _mm512_mask_storeu_ps(dx.add(i), m, _mm512_maskz_mov_ps(pos, _mm512_maskz_loadu_ps(m, dy.add(i))));
        }
    });
}

/// Calls `step(i, mask)` over `n` floats a vector at a time, the vectors
/// laid so that stores into `dst` are aligned to 64 bytes: a masked head up
/// to `dst`'s first boundary, then whole vectors, then a masked tail (a
/// store split across two cache lines costs about twice an aligned one
/// here, design.md §8). The whole vectors get the constant mask
/// `u16::MAX`, which the compiler turns into plain loads and stores. (A
/// masked load cannot take its data from a store still in flight; seed 1's
/// update reads the gradient the backward pass has just written. With the
/// SGD update, Adam's and the ReLU passes on this loop, seed 1's step took
/// 0.96–0.97x the time, alternated in one process.)
#[inline(always)]
fn aligned_vectors(dst: *mut f32, n: usize, mut step: impl FnMut(usize, u16)) {
    let mut i = dst.align_offset(64).min(V - 1).min(n);
    if i > 0 {
        step(0, lanes(i));
    }
    while i + V <= n {
        step(i, u16::MAX);
        i += V;
    }
    if i < n {
        step(i, lanes(n - i));
    }
}

/// The signature of [`conv_dw_t_tile`] (one instance per tile shape).
type DwTTile = unsafe fn(
    usize,
    usize,
    &[usize],
    *const f32,
    usize,
    core::ops::Range<usize>,
    usize,
    *const f32,
    usize,
    usize,
    *mut f32,
);

/// `dwt[tap t][o] += Σ_{i in rows, j<ow} x[tap_off[t] + i·x_row + j] · dyt[(i·ow + j)·out_c + o]`
/// for `TB` taps from `t0` (fewer at the end: `taps` in all) and `16*OV`
/// output channels from `o0` (24 taps x 1 vector: 24 accumulators, one
/// load and 24 broadcasts per position): the weight gradient of one sample with the
/// output channels along the vector lanes (`dyt` is the output gradient
/// transposed to channels-last), so no lane is wasted and nothing is
/// reduced horizontally; `dwt` is the gradient transposed (`[tap][o]`).
///
/// # Safety
/// AVX-512F; `x` readable at every tap offset plus `i*x_row + j`; `dyt`
/// readable for `oh*ow*out_c` floats, `dwt` writable for `taps*out_c`.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_dw_t_tile<const TB: usize, const OV: usize>(
    t0: usize,
    taps: usize,
    tap_off: &[usize],
    x: *const f32,
    x_row: usize,
    rows: core::ops::Range<usize>,
    ow: usize,
    dyt: *const f32,
    out_c: usize,
    o0: usize,
    dwt: *mut f32,
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        let valid = (taps - t0).min(TB);
        let pt: [*const f32; TB] = core::array::from_fn(|t| x.add(tap_off[t0 + t.min(valid - 1)]));
        let mut acc = [[_mm512_setzero_ps(); OV]; TB];
        for (t, row) in acc.iter_mut().enumerate().take(valid) {
            for (v, a) in row.iter_mut().enumerate() {
                *a = _mm512_loadu_ps(dwt.add((t0 + t) * out_c + o0 + v * V));
            }
        }
        for i in rows {
            let (xr, dr) = (i * x_row, dyt.add(i * ow * out_c + o0));
            for j in 0..ow {
                let dv: [__m512; OV] = core::array::from_fn(|v| _mm512_loadu_ps(dr.add(j * out_c + v * V)));
                for (t, row) in acc.iter_mut().enumerate() {
                    let xb = _mm512_set1_ps(*pt[t].add(xr + j));
                    for (a, d) in row.iter_mut().zip(&dv) {
                        *a = _mm512_fmadd_ps(xb, *d, *a);
                    }
                }
            }
        }
        for (t, row) in acc.iter().enumerate().take(valid) {
            for (v, a) in row.iter().enumerate() {
                _mm512_storeu_ps(dwt.add((t0 + t) * out_c + o0 + v * V), *a);
            }
        }
    }
}

/// [`conv_dw_t_tile`] for one vector of output channels and a 3x3 kernel:
/// `KR` kernel rows `(c, m)` of 3 taps each (taps `t0..t0+3·KR`, `t0` at a
/// row's first tap), over the positions in pairs. The two positions' three
/// taps of a kernel row read 4 consecutive inputs, so a pair takes 2 loads
/// of the output gradient and `4·KR` broadcasts for `6·KR` FMAs, where the
/// 24 x 1 tile takes 25 loads for 24 FMAs, more than the load ports issue
/// beside the FMAs. The sums run in the same order, so the bits are the
/// same as that tile's.
///
/// # Safety
/// As [`conv_dw_t_tile`]; `t0` and `taps` are multiples of 3, and
/// `tap_off[t0 + 3r]` is the offset of kernel row `r`'s first tap.
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn conv_dw_t_rows3<const KR: usize>(
    t0: usize,
    taps: usize,
    tap_off: &[usize],
    x: *const f32,
    x_row: usize,
    rows: core::ops::Range<usize>,
    ow: usize,
    dyt: *const f32,
    out_c: usize,
    o0: usize,
    dwt: *mut f32,
) {
    // SAFETY: the caller's contract covers every access below.
    unsafe {
        debug_assert!(t0.is_multiple_of(3) && (taps - t0).is_multiple_of(3) && taps > t0, "whole kernel rows");
        let valid = ((taps - t0) / 3).min(KR);
        let pr: [*const f32; KR] = core::array::from_fn(|r| x.add(tap_off[t0 + 3 * r.min(valid - 1)]));
        let at = |r: usize, n: usize| dwt.add((t0 + 3 * r + n) * out_c + o0);
        let mut acc = [[_mm512_setzero_ps(); 3]; KR];
        for (r, row) in acc.iter_mut().enumerate().take(valid) {
            for (n, a) in row.iter_mut().enumerate() {
                *a = _mm512_loadu_ps(at(r, n));
            }
        }
        for i in rows {
            let (xr, dr) = (i * x_row, dyt.add(i * ow * out_c + o0));
            let mut j = 0;
            while j + 2 <= ow {
                let (d0, d1) = (_mm512_loadu_ps(dr.add(j * out_c)), _mm512_loadu_ps(dr.add((j + 1) * out_c)));
                for (r, row) in acc.iter_mut().enumerate() {
                    let p = pr[r].add(xr + j);
                    let xv: [__m512; 4] = core::array::from_fn(|q| _mm512_set1_ps(*p.add(q)));
                    for (n, a) in row.iter_mut().enumerate() {
                        *a = _mm512_fmadd_ps(xv[n], d0, *a);
                        *a = _mm512_fmadd_ps(xv[n + 1], d1, *a);
                    }
                }
                j += 2;
            }
            if j < ow {
                let d0 = _mm512_loadu_ps(dr.add(j * out_c));
                for (r, row) in acc.iter_mut().enumerate() {
                    let p = pr[r].add(xr + j);
                    for (n, a) in row.iter_mut().enumerate() {
                        *a = _mm512_fmadd_ps(_mm512_set1_ps(*p.add(n)), d0, *a);
                    }
                }
            }
        }
        for (r, row) in acc.iter().enumerate().take(valid) {
            for (n, a) in row.iter().enumerate() {
                _mm512_storeu_ps(at(r, n), *a);
            }
        }
    }
}

/// Adds one sample's weight gradient for taps `taps.start..taps.end` into
/// `dwt` (`[tap - taps.start][out_c]`, the gradient transposed), from its
/// padded input `x` (geometry `g`) and its output gradient transposed to
/// channels-last, `dyt` (`[oh][ow][out_c]`). `out_c` must be a multiple of
/// 16; tiles of 6 taps x 64 channels (24 accumulators, 4 loads and 6
/// broadcasts per position), or 12 x 32, or 24 x 16 ([`conv_dw_t_rows3`]
/// for a 3x3 kernel when `taps` starts and ends at whole kernel rows, as
/// [`Conv2d`](crate::Conv2d)'s chunks do). The positions go in
/// bands of rows whose output gradient fits in 16 KB, each band swept by
/// every tile while it is in the L1 cache: tfconv's second convolution
/// (196 positions x 64 channels = 50 KB) re-read its whole gradient from
/// L2 for every 6 taps before.
///
/// # Safety
/// AVX-512F; as [`conv_dw_t_tile`] for every tile.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn conv_dw_t(
    g: &ConvGeom,
    taps: core::ops::Range<usize>,
    x: *const f32,
    oh: usize,
    ow: usize,
    dyt: *const f32,
    out_c: usize,
    dwt: *mut f32,
) {
    let mut tap_off = [0usize; 72];
    let band = (4096 / (ow * out_c).max(1)).max(1);
    // Tap (c, m, n) of the next offset, stepped rather than divided out.
    let kk = g.k * g.k;
    // Whole kernel rows in every chunk of 72 taps: the 3x3 row tile applies.
    let rows3 = g.k == 3 && taps.start.is_multiple_of(3) && taps.end.is_multiple_of(3);
    let (mut c, mut m, mut n) = (taps.start / kk, taps.start / g.k % g.k, taps.start % g.k);
    let mut t0 = taps.start;
    while t0 < taps.end {
        let nt = 72.min(taps.end - t0);
        for off in tap_off.iter_mut().take(nt) {
            *off = c * g.x_plane + m * g.x_row + n;
            n += 1;
            if n == g.k {
                (n, m) = (0, m + 1);
                if m == g.k {
                    (m, c) = (0, c + 1);
                }
            }
        }
        let d = dwt.wrapping_add((t0 - taps.start) * out_c);
        for i0 in (0..oh).step_by(band) {
            let rows = i0..(i0 + band).min(oh);
            let mut o0 = 0;
            while o0 < out_c {
                // Taps per tile, channels per tile, and the tile.
                let (tb, step, tile): (usize, usize, DwTTile) = match ((out_c - o0) / V).min(4) {
                    4 => (6, 4 * V, conv_dw_t_tile::<6, 4>),
                    2 | 3 => (12, 2 * V, conv_dw_t_tile::<12, 2>),
                    _ if rows3 => (24, V, conv_dw_t_rows3::<8>),
                    _ => (24, V, conv_dw_t_tile::<24, 1>),
                };
                let mut s = 0;
                while s < nt {
                    // SAFETY: the caller's contract; tap_off[..nt] holds taps t0..t0+nt.
                    unsafe { tile(s, nt, &tap_off, x, g.x_row, rows.clone(), ow, dyt, out_c, o0, d) };
                    s += tb;
                }
                o0 += step;
            }
        }
        t0 += nt;
    }
}

/// The transpose of a 16x16 block held as 16 row vectors: `out[j][i] =
/// r[i][j]` (32-bit, then 64-bit interleaves within 128-bit lanes, then
/// 128-bit blocks across the four groups of four rows).
#[target_feature(enable = "avx512f,avx512vl")]
#[inline]
fn transpose_regs(r: [__m512; 16]) -> [__m512; 16] {
    // 32-bit, then 64-bit interleaves within 128-bit lanes ...
    let mut u = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        u[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        u[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    let mut v = [_mm512_setzero_ps(); 16];
    for i in 0..4 {
        let (a0, a1, b0, b1) = (u[4 * i], u[4 * i + 1], u[4 * i + 2], u[4 * i + 3]);
        v[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a0), _mm512_castps_pd(b0)));
        v[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a0), _mm512_castps_pd(b0)));
        v[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a1), _mm512_castps_pd(b1)));
        v[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a1), _mm512_castps_pd(b1)));
    }
    // ... then 128-bit blocks across the four groups of four rows.
    let mut w = [_mm512_setzero_ps(); 16];
    for i in 0..4 {
        let (a, b) = (v[i], v[4 + i]);
        let (c, d) = (v[8 + i], v[12 + i]);
        let ab_lo = _mm512_shuffle_f32x4::<0x44>(a, b); // a0 a1 b0 b1
        let ab_hi = _mm512_shuffle_f32x4::<0xEE>(a, b); // a2 a3 b2 b3
        let cd_lo = _mm512_shuffle_f32x4::<0x44>(c, d);
        let cd_hi = _mm512_shuffle_f32x4::<0xEE>(c, d);
        w[i] = _mm512_shuffle_f32x4::<0x88>(ab_lo, cd_lo); // a0 b0 c0 d0
        w[4 + i] = _mm512_shuffle_f32x4::<0xDD>(ab_lo, cd_lo); // a1 b1 c1 d1
        w[8 + i] = _mm512_shuffle_f32x4::<0x88>(ab_hi, cd_hi); // a2 b2 c2 d2
        w[12 + i] = _mm512_shuffle_f32x4::<0xDD>(ab_hi, cd_hi); // a3 b3 c3 d3
    }
    w
}

/// `dst[p·dst_p + k] = src[k·src_k + p]` for `k < 16`, `p < n`: 16 planes
/// transposed to channels-last, 16x16 blocks in registers.
///
/// # Safety
/// AVX-512F; `src` readable at `k·src_k + p`, `dst` writable at `p·dst_p + k`.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn transpose16(src: *const f32, src_k: usize, n: usize, dst: *mut f32, dst_p: usize) {
    // SAFETY: the caller's contract; loads and stores are masked to p < n.
    unsafe {
        let mut p0 = 0;
        while p0 < n {
            let m = lanes(n - p0);
            let r: [__m512; 16] = core::array::from_fn(|k| _mm512_maskz_loadu_ps(m, src.add(k * src_k + p0)));
            let w = transpose_regs(r);
            for (q, wq) in w.iter().enumerate().take((n - p0).min(16)) {
                _mm512_storeu_ps(dst.add((p0 + q) * dst_p), *wq);
            }
            p0 += 16;
        }
    }
}

/// The lane sums of up to four planes `len` floats apart: `out[p][l] =
/// Σ_k x[p·len + 16k + l]` over the first `full` floats of plane `p < np`
/// (a multiple of 16), one vector accumulator per plane, the four
/// independent (what `math::sum` does for one plane, in the same order).
///
/// # Safety
/// AVX-512F; `np <= 4`; planes `0..np` readable for `full` floats.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn lane_sums4(x: *const f32, len: usize, np: usize, full: usize) -> [[f32; V]; 4] {
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut out = [[0.0; V]; 4];
    // SAFETY: the caller's contract; only planes below `np` are read.
    unsafe {
        let mut k = 0;
        while k < full {
            for (p, a) in acc.iter_mut().enumerate().take(np) {
                *a = _mm512_add_ps(*a, _mm512_loadu_ps(x.add(p * len + k)));
            }
            k += V;
        }
        for (a, o) in acc.iter().zip(out.iter_mut()) {
            _mm512_storeu_ps(o.as_mut_ptr(), *a);
        }
    }
    out
}

/// One SGD update of `n` parameters, the same operations in the same order
/// as the portable loops of `optim::Sgd` (so the same bits): without
/// momentum state `p = p + (-lr)·g`; with it (`v`) `v = mu·v + g`,
/// `p = p - lr·v`. The vectors are [`aligned_vectors`]' (aligned stores,
/// whole vectors unmasked).
///
/// # Safety
/// AVX-512F; `p` (and `v`) readable and writable, `g` readable, for `n` floats.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn sgd_update(p: *mut f32, g: *const f32, v: Option<*mut f32>, n: usize, lr: f32, mu: f32) {
    let (neg_lr, lr, mu) = (_mm512_set1_ps(-lr), _mm512_set1_ps(lr), _mm512_set1_ps(mu));
    aligned_vectors(p, n, |i, l| {
        // SAFETY: the caller's contract; every access is masked to the n floats.
        unsafe {
            let (gv, pv) = (_mm512_maskz_loadu_ps(l, g.add(i)), _mm512_maskz_loadu_ps(l, p.add(i)));
            let pv = match v {
                None => _mm512_add_ps(pv, _mm512_mul_ps(neg_lr, gv)),
                Some(v) => {
                    let vv = _mm512_add_ps(_mm512_mul_ps(mu, _mm512_maskz_loadu_ps(l, v.add(i))), gv);
                    _mm512_mask_storeu_ps(v.add(i), l, vv);
                    _mm512_sub_ps(pv, _mm512_mul_ps(lr, vv))
                }
            };
            _mm512_mask_storeu_ps(p.add(i), l, pv);
        }
    });
}

/// One Adam update of `n` parameters, the same operations in the same order
/// as the portable loop of `optim::Adam` (so the same bits):
/// `m = b1·m + (1-b1)·g`, `v = b2·v + ((1-b2)·g)·g`,
/// `p -= lr·(m/c1) / (sqrt(v/c2) + eps)`, over [`aligned_vectors`]'.
///
/// # Safety
/// AVX-512F; `p`, `m`, `v` readable and writable, `g` readable, for `n` floats.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) unsafe fn adam_update(
    p: *mut f32,
    g: *const f32,
    m: *mut f32,
    v: *mut f32,
    n: usize,
    k: crate::optim::AdamConsts,
) {
    let set = _mm512_set1_ps;
    let (b1, b2, nb1, nb2) = (set(k.b1), set(k.b2), set(1.0 - k.b1), set(1.0 - k.b2));
    let (lr, eps, c1, c2) = (set(k.lr), set(k.eps), set(k.c1), set(k.c2));
    aligned_vectors(p, n, |i, l| {
        // SAFETY: the caller's contract; every access is masked to the n floats.
        unsafe {
            let gv = _mm512_maskz_loadu_ps(l, g.add(i));
            let mv = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_maskz_loadu_ps(l, m.add(i))), _mm512_mul_ps(nb1, gv));
            let vv = _mm512_add_ps(
                _mm512_mul_ps(b2, _mm512_maskz_loadu_ps(l, v.add(i))),
                _mm512_mul_ps(_mm512_mul_ps(nb2, gv), gv),
            );
            let step = _mm512_div_ps(
                _mm512_mul_ps(lr, _mm512_div_ps(mv, c1)),
                _mm512_add_ps(_mm512_sqrt_ps(_mm512_div_ps(vv, c2)), eps),
            );
            _mm512_mask_storeu_ps(m.add(i), l, mv);
            _mm512_mask_storeu_ps(v.add(i), l, vv);
            _mm512_mask_storeu_ps(p.add(i), l, _mm512_sub_ps(_mm512_maskz_loadu_ps(l, p.add(i)), step));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// `None` (and a note) without AVX-512; otherwise a generator of values
    /// in [-0.5, 0.5) from `seed` (a linear congruential one).
    fn avx512_and_values(seed: u32) -> Option<impl FnMut() -> f32> {
        if crate::math::simd() != crate::math::SimdPath::Avx512 {
            std::eprintln!("no AVX-512 on this CPU: the fast path is not tested here");
            return None;
        }
        let mut seed = seed;
        Some(move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
        })
    }

    /// [`conv_dw_t_rows3`] adds the same bits as the 24 x 16 tile it
    /// replaces for 3x3 kernels, on every tile of taps (full and partial),
    /// odd and even widths (a position left over after the pairs, or only
    /// it), one row or several, into a gradient that is not zero.
    #[test]
    fn the_3x3_row_tile_adds_the_bits_of_the_24_tap_tile() {
        let Some(mut next) = avx512_and_values(12345) else { return };
        for (in_c, oh, ow) in [(1, 1, 1), (1, 3, 2), (3, 2, 3), (9, 5, 7), (10, 3, 8), (8, 14, 14)] {
            let (x_row, x_plane) = (ow + 2, (oh + 2) * (ow + 2));
            let x: Vec<f32> = (0..in_c * x_plane + 32).map(|_| next()).collect();
            let dyt: Vec<f32> = (0..oh * ow * V).map(|_| next()).collect();
            let taps = in_c * 9;
            let tap_off: Vec<usize> = (0..taps).map(|t| t / 9 * x_plane + t % 9 / 3 * x_row + t % 3).collect();
            let start: Vec<f32> = (0..taps * V).map(|_| next()).collect();
            let (mut rows3, mut tile) = (start.clone(), start);
            for t0 in (0..taps).step_by(24) {
                // SAFETY: AVX-512F checked; x holds every tap's row plus slack,
                // dyt oh*ow*16 floats, the gradients taps*16.
                unsafe {
                    let (xp, dp) = (x.as_ptr(), dyt.as_ptr());
                    conv_dw_t_rows3::<8>(t0, taps, &tap_off, xp, x_row, 0..oh, ow, dp, V, 0, rows3.as_mut_ptr());
                    conv_dw_t_tile::<24, 1>(t0, taps, &tap_off, xp, x_row, 0..oh, ow, dp, V, 0, tile.as_mut_ptr());
                }
            }
            let differ = rows3.iter().zip(&tile).position(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(differ, None, "in_c {in_c}, {oh} x {ow}: {rows3:?} vs {tile:?}");
        }
    }

    /// [`conv_cl_batch`] stores the bits [`conv_batch`] stores, for every
    /// tile width (16, 14, 12), a row's last tile cut short, both kernel
    /// sides, one and two groups of 16 channels, zero and bias starts, and
    /// a flipped kernel with swapped channel axes (an input gradient's
    /// weight strides); and it writes nothing outside the outputs.
    #[test]
    fn channels_last_tiles_store_the_bits_of_the_row_segment_tiles() {
        let Some(mut next) = avx512_and_values(777) else { return };
        // (in_c, out_c, k, oh, ow, samples, bias, flipped)
        let shapes = [
            (8, 16, 3, 14, 14, 2, true, false), // fashion10's conv2: tiles of 14
            (8, 16, 3, 3, 16, 1, false, false), // tiles of 16
            (8, 16, 5, 2, 16, 1, true, false),  // tiles of 16, 5x5
            (4, 16, 5, 1, 30, 2, false, false), // 16 + 14: the second tile cut short, 5x5
            (3, 32, 5, 2, 24, 2, true, false),  // tiles of 12, two groups, 75 taps
            (8, 16, 3, 2, 26, 1, true, true),   // 14 + 12: the second tile cut short; flipped
            (8, 16, 5, 1, 13, 3, false, true),  // one tile of 13 in 14
            (32, 64, 5, 2, 14, 1, true, false), // tfconv's conv2
        ];
        for (in_c, out_c, k, oh, ow, n, bias, flipped) in shapes {
            let (x_row, x_plane) = (ow + k - 1, (oh + k - 1) * (ow + k - 1));
            let x_sample = in_c * x_plane;
            let x: Vec<f32> = (0..n * x_sample + crate::layers::conv2d::SLACK).map(|_| next()).collect();
            let w: Vec<f32> = (0..out_c * in_c * k * k).map(|_| next()).collect();
            let b: Vec<f32> = (0..out_c).map(|_| next()).collect();
            let (kk, k2) = ((k * k) as isize, k as isize);
            let g = ConvGeom {
                in_c,
                k,
                x_plane,
                x_row,
                // Flipped: tap (m, n) of the kernel is (k-1-m, k-1-n), and
                // the channel axes are swapped (weights `[in][out][m][n]`).
                w: if flipped { w[k * k - 1..].as_ptr() } else { w.as_ptr() },
                w_out: if flipped { kk } else { in_c as isize * kk },
                w_in: if flipped { out_c as isize * kk } else { kk },
                w_m: if flipped { -k2 } else { k2 },
                w_n: if flipped { -1 } else { 1 },
                y_plane: oh * ow,
            };
            let start = if bias { Start::Bias(b.as_ptr()) } else { Start::Zero };
            assert!(cl_applies(&g, out_c, ow, start), "{in_c} {out_c} {k} {ow}");
            let y_sample = out_c * oh * ow;
            let (mut cl, mut rows) = (std::vec![f32::NAN; n * y_sample + 64], std::vec![f32::NAN; n * y_sample + 64]);
            for (y, channels_last) in [(&mut cl, true), (&mut rows, false)] {
                let batch = ConvBatch { n, x: x.as_ptr(), x_sample, y: y.as_mut_ptr(), y_sample, oh, ow, relu: false };
                // SAFETY: AVX-512F checked; x holds n padded inputs and slack,
                // w every tap of every channel pair, y n outputs.
                unsafe {
                    if channels_last {
                        conv_cl_batch(&g, out_c, &batch, start);
                    } else {
                        conv_batch(&g, out_c, &batch, start);
                    }
                }
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&cl), bits(&rows), "in_c {in_c}, out_c {out_c}, k {k}, {oh} x {ow}, flipped {flipped}");
            assert!(cl[n * y_sample..].iter().all(|v| v.is_nan()), "wrote past the outputs");
        }
    }
}
