//! Small numeric kernels written so the compiler vectorises them: sums use
//! one accumulator per lane (a single scalar accumulator does not vectorise,
//! see DESIGN.md), and stable forms of the sigmoid and log-sum-exp.

pub mod approx;

/// Lanes of the independent accumulators used by [`dot`] and [`sum`].
const LANES: usize = 16;

/// Dot product `sum_i a[i] * b[i]` over `min(a.len(), b.len())` elements.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = 0.0;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        s += x * y;
    }
    s + reduce(&acc)
}

/// Sum of the elements, with lane accumulators.
#[inline]
pub fn sum(a: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let mut c = a.chunks_exact(LANES);
    for x in &mut c {
        for l in 0..LANES {
            acc[l] += x[l];
        }
    }
    sum_finish(&acc, c.remainder())
}

/// The end of [`sum`]: the tail's sum plus the lanes' (shared with
/// [`plane_sums`], so that both give the same bits).
#[inline]
fn sum_finish(acc: &[f32; LANES], tail: &[f32]) -> f32 {
    tail.iter().sum::<f32>() + reduce(acc)
}

/// `out[p] = sum(&x[p*len..(p+1)*len])` for every `p < out.len()`: the
/// bits of [`sum`], plane by plane (a convolution's bias gradient). With
/// fast kernels four planes run at a time, one vector accumulator each,
/// which adds the same numbers in the same order as `sum`'s lanes.
///
/// ```
/// let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
/// let mut out = [0.0; 2];
/// constnet::math::plane_sums(&x, 3, &mut out);
/// assert_eq!(out, [6.0, 15.0]);
/// ```
///
/// # Panics
/// If `x` holds fewer than `out.len() * len` floats (or that product
/// overflows).
pub fn plane_sums(x: &[f32], len: usize, out: &mut [f32]) {
    let n = out.len().checked_mul(len).expect("plane_sums: out.len() * len overflows usize");
    let x = &x[..n];
    if len == 0 {
        out.fill(0.0);
        return;
    }
    if len >= LANES && plane_sums_fast(x, len, out) {
        return;
    }
    for (o, plane) in out.iter_mut().zip(x.chunks_exact(len)) {
        *o = sum(plane);
    }
}

/// [`plane_sums`] through the kernels' lane sums, four planes at a time;
/// `false`, having done nothing, where the backend has none.
fn plane_sums_fast(x: &[f32], len: usize, out: &mut [f32]) -> bool {
    let k = crate::kernels::active();
    let full = len / LANES * LANES;
    for (p0, outs) in (0..out.len()).step_by(4).zip(out.chunks_mut(4)) {
        let Some(lanes) = k.lane_sums4(&x[p0 * len..], len, outs.len(), full) else { return false };
        for (q, o) in outs.iter_mut().enumerate() {
            let p = p0 + q;
            *o = sum_finish(&lanes[q], &x[p * len + full..(p + 1) * len]);
        }
    }
    true
}

#[inline]
fn reduce(acc: &[f32; LANES]) -> f32 {
    let mut h = *acc;
    let mut w = LANES / 2;
    while w > 0 {
        for l in 0..w {
            h[l] += h[l + w];
        }
        w /= 2;
    }
    h[0]
}

/// The index of the largest value, the first on ties (0 for an empty slice).
pub(crate) fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// `y[i] += alpha * x[i]`.
#[inline]
pub fn axpy(y: &mut [f32], alpha: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

/// `y[i] += x[i]` over `min(y.len(), x.len())` elements.
///
/// ```
/// let mut y = [1.0, 2.0];
/// constnet::math::add_assign(&mut y, &[0.5, 0.25]);
/// assert_eq!(y, [1.5, 2.25]);
/// ```
#[inline]
pub fn add_assign(y: &mut [f32], x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += x;
    }
}

/// Whether every element of `a` is a number of magnitude at most
/// `limit`: `|a[i]| <= limit` for all `i`, false for NaN (and for ±∞
/// unless `limit` is ∞). With `limit = f32::MAX`, whether `a` is all
/// finite. The training step's divergence checks ([`train`](crate::train)):
/// one comparison per element into lane flags, no branch, so the compiler
/// vectorises it on any x86-64 (an integer `max` of the bits did not: SSE2
/// has no unsigned 32-bit max, and the loop ran scalar).
///
/// ```
/// use constnet::math::all_within;
/// assert!(all_within(&[1.0, -3.0, 2.0], 3.0) && !all_within(&[1.0, -3.5], 3.0));
/// assert!(!all_within(&[1.0, f32::NAN], f32::MAX) && !all_within(&[f32::NEG_INFINITY], f32::MAX));
/// assert!(all_within(&[], 0.0));
/// ```
/// A negative or NaN `limit` holds for no element (an empty slice still
/// passes).
#[inline]
pub fn all_within(a: &[f32], limit: f32) -> bool {
    if let Some(within) = crate::kernels::active().all_within(a, limit) {
        return within;
    }
    // One flag, no early exit: the compiler vectorises the OR reduction.
    !a.iter().fold(false, |out, &x| out | !within(x, limit))
}

/// `|x| <= limit`: false for NaN (the rule of [`all_within`]).
#[inline(always)]
pub(crate) fn within(x: f32, limit: f32) -> bool {
    x.abs() <= limit
}

/// The logistic sigmoid `1 / (1 + e^-z)`, computed so that neither branch
/// overflows: for `z < 0` it uses `e^z / (1 + e^z)`.
#[inline]
pub fn sigmoid(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + libm_exp(-z))
    } else {
        let e = libm_exp(z);
        e / (1.0 + e)
    }
}

/// `ln(1 + e^x)` without overflow (softplus).
#[inline]
pub fn softplus(x: f32) -> f32 {
    if x > 0.0 { x + libm_log1p(libm_exp(-x)) } else { libm_log1p(libm_exp(x)) }
}

/// While alive, flushes subnormal `f32` results and inputs to zero on the
/// current thread (x86-64: the FTZ and DAZ bits of MXCSR; elsewhere it
/// does nothing); dropping it restores the previous mode.
///
/// Adam's moments decay geometrically and the squares of tiny gradients are
/// subnormal; on x86 arithmetic on subnormals takes a slow microcode path.
/// Measured on this machine, one Adam step over the 3.3 M parameters of
/// `zoo::tfconv` with gradients of 1e-20: 123 ms, and 28 ms with this guard.
/// A subnormal moment is 0 for every purpose of the update (`eps` = 1e-8
/// dominates its square root).
pub struct FlushSubnormals {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
}

impl FlushSubnormals {
    /// Sets FTZ and DAZ, remembering the previous MXCSR.
    #[inline]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let mut saved: u32 = 0;
            // SAFETY: stmxcsr/ldmxcsr read and write the SSE control register of
            // this thread (SSE is part of x86-64); only the FTZ (bit 15) and DAZ
            // (bit 6) flags change, and `drop` restores the saved value.
            unsafe {
                core::arch::asm!("stmxcsr [{}]", in(reg) &mut saved, options(nostack, preserves_flags));
                let ftz = saved | 0x8040;
                core::arch::asm!("ldmxcsr [{}]", in(reg) &ftz, options(nostack, preserves_flags));
            }
            FlushSubnormals { saved }
        }
        #[cfg(not(target_arch = "x86_64"))]
        FlushSubnormals {}
    }
}

impl Drop for FlushSubnormals {
    #[inline]
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: restores the MXCSR value read in `new`.
        unsafe {
            core::arch::asm!("ldmxcsr [{}]", in(reg) &self.saved, options(nostack, preserves_flags));
        }
    }
}

/// `e^x`, from `libm` so `std` and `no_std` builds give identical bits.
#[inline]
pub fn libm_exp(x: f32) -> f32 {
    libm::expf(x)
}

/// `ln(1 + x)` in `no_std`.
#[inline]
pub fn libm_log1p(x: f32) -> f32 {
    libm::log1pf(x)
}

/// `ln(x)` in `no_std`.
#[inline]
pub fn libm_ln(x: f32) -> f32 {
    libm::logf(x)
}

/// `tanh(x)` in `no_std`.
#[inline]
pub fn libm_tanh(x: f32) -> f32 {
    libm::tanhf(x)
}

/// `sqrt(x)` in `no_std`.
#[inline]
pub fn libm_sqrt(x: f32) -> f32 {
    libm::sqrtf(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_sum_match_plain_loops() {
        let a: [f32; 37] = core::array::from_fn(|i| i as f32 * 0.5 - 3.0);
        let b: [f32; 37] = core::array::from_fn(|i| 1.0 - i as f32 * 0.25);
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-3, "{} vs {}", dot(&a, &b), plain);
        assert!((sum(&a) - a.iter().sum::<f32>()).abs() < 1e-4);
    }

    #[test]
    fn plane_sums_give_the_bits_of_sum() {
        let x: std::vec::Vec<f32> = (0..9 * 37).map(|i| ((i * 7919) % 113) as f32 * 0.013 - 0.7).collect();
        // Empty planes, planes shorter than a vector, whole vectors, vectors and a tail; 1 to 9 planes.
        for len in [0, 5, 16, 37] {
            for planes in 1..=9 {
                let mut out = std::vec![f32::NAN; planes];
                plane_sums(&x, len, &mut out);
                for (p, o) in out.iter().enumerate() {
                    let want = sum(&x[p * len..(p + 1) * len]);
                    assert_eq!(o.to_bits(), want.to_bits(), "len {len}, {planes} planes, plane {p}");
                }
            }
        }
    }

    #[test]
    fn flush_subnormals_is_scoped_to_the_guard() {
        let (a, b) = (core::hint::black_box(1e-20f32), core::hint::black_box(1e-19f32));
        assert!(a * b > 0.0 && a * b < f32::MIN_POSITIVE, "1e-39 is subnormal");
        {
            let _ftz = FlushSubnormals::new();
            let flushed = core::hint::black_box(a) * core::hint::black_box(b);
            #[cfg(target_arch = "x86_64")]
            assert_eq!(flushed, 0.0);
            #[cfg(not(target_arch = "x86_64"))]
            assert!(flushed >= 0.0);
        }
        assert!(core::hint::black_box(a) * core::hint::black_box(b) > 0.0, "the mode is restored");
    }

    #[test]
    fn sigmoid_is_stable_at_extremes() {
        assert_eq!(sigmoid(1e4), 1.0);
        assert_eq!(sigmoid(-1e4), 0.0);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-7);
        assert!((softplus(1e4) - 1e4).abs() < 1.0);
        assert_eq!(softplus(-1e4), 0.0);
    }
}
