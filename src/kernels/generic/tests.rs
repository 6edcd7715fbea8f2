//! The generic kernels on the portable `Lanes<4>` (NEON's width) and
//! `Lanes<8>`, against plain loops: the kernels take any width, not only
//! the backends' that run them today (AVX2's 8 lanes, held to the
//! reference loops by the conformance tests).

use super::*;
use crate::kernels::compute::Compute;
use crate::kernels::simd::Lanes;
use std::vec;
use std::vec::Vec;

/// A small deterministic generator in [-1, 1).
fn vals(n: usize, seed: u32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

fn close(what: &str, got: &[f32], want: &[f64]) {
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!((g as f64 - w).abs() <= 1e-4 * (1.0 + w.abs()), "{what}[{i}] = {g}, want {w}");
    }
}

fn dense_and_gemm<S: Compute>(s: S) {
    for (n, n_in, n_out) in [(1, 3, 1), (5, 17, 10), (3, 9, 7)] {
        let (x, w, b) = (vals(n * n_in, 1), vals(n_out * n_in, 2), vals(n_out, 3));
        let mut y = vec![0.0; n * n_out];
        // SAFETY: the buffers hold the sizes the kernel reads and writes.
        unsafe {
            dense::dense_forward::<S, 2>(s, (n, n_in, n_out), x.as_ptr(), w.as_ptr(), Some(b.as_ptr()), y.as_mut_ptr())
        };
        let want: Vec<f64> = (0..n * n_out)
            .map(|i| {
                let (s0, o) = (i / n_out, i % n_out);
                b[o] as f64 + (0..n_in).map(|k| x[s0 * n_in + k] as f64 * w[o * n_in + k] as f64).sum::<f64>()
            })
            .collect();
        close("dense_forward", &y, &want);
        // The same product as c = a · b with a = x (rows = samples, k = inputs), b = wᵀ.
        let wt: Vec<f32> = (0..n_in * n_out).map(|i| w[(i % n_out) * n_in + i / n_out]).collect();
        let mut c = vec![0.0; n * n_out];
        let parts = [(x.as_ptr(), wt.as_ptr())];
        // SAFETY: as above.
        unsafe {
            dense::bcast_gemm::<S, 3, 2, 2, 3>(
                s,
                (n, n_out, n_in),
                &parts,
                (n_in, 1, n_out),
                (c.as_mut_ptr(), n_out),
                false,
                n > 2,
            )
        };
        let want: Vec<f64> = want.iter().enumerate().map(|(i, v)| v - b[i % n_out] as f64).collect();
        close("bcast_gemm", &c, &want);
    }
}

fn conv<S: Compute>(s: S) {
    // 2 samples, 3 -> 4 channels, 3x3, 5 x 11 outputs over 7 x 13 padded inputs.
    let (n, in_c, out_c, k, oh, ow) = (2, 3, 4, 3, 5, 11);
    let (xr, xp) = (ow + k - 1, (oh + k - 1) * (ow + k - 1));
    let x = vals(n * in_c * xp + crate::kernels::SLACK, 4);
    let w = vals(out_c * in_c * k * k, 5);
    let g = RawGeom {
        in_c,
        k,
        x_plane: xp,
        x_row: xr,
        w: w.as_ptr(),
        w_out: (in_c * k * k) as isize,
        w_in: (k * k) as isize,
        w_m: k as isize,
        w_n: 1,
        y_plane: oh * ow,
    };
    let mut y = vec![0.0; n * out_c * oh * ow];
    let batch = RawBatch {
        n,
        x: x.as_ptr(),
        x_sample: in_c * xp,
        y: y.as_mut_ptr(),
        y_sample: out_c * oh * ow,
        oh,
        ow,
        relu: false,
    };
    // SAFETY: the buffers hold the geometry's extents, the slack after the last input.
    unsafe { conv::conv_batch::<S, 3, 2, 2, 3, 0>(s, &g, out_c, &batch, RawStart::Zero) };
    let at = |s0: usize, o: usize, i: usize, j: usize| {
        let mut a = 0.0f64;
        for c in 0..in_c {
            for m in 0..k {
                for q in 0..k {
                    a += w[((o * in_c + c) * k + m) * k + q] as f64
                        * x[s0 * in_c * xp + c * xp + (i + m) * xr + j + q] as f64;
                }
            }
        }
        a
    };
    let want: Vec<f64> =
        (0..y.len()).map(|t| at(t / (out_c * oh * ow), t / (oh * ow) % out_c, t / ow % oh, t % ow)).collect();
    close("conv_batch", &y, &want);
    // The weight gradient with y as the output gradient.
    let mut dw = vec![0.0; out_c * in_c * k * k];
    // SAFETY: as above.
    unsafe { conv_grad::conv_dw_batch::<S, 2, 3, 5>(s, &g, out_c, &batch, dw.as_mut_ptr()) };
    let want: Vec<f64> = (0..dw.len())
        .map(|t| {
            let (o, c, m, q) = (t / (in_c * k * k), t / (k * k) % in_c, t / k % k, t % k);
            let mut a = 0.0f64;
            for s0 in 0..n {
                for i in 0..oh {
                    for j in 0..ow {
                        a += y[((s0 * out_c + o) * oh + i) * ow + j] as f64
                            * x[s0 * in_c * xp + c * xp + (i + m) * xr + j + q] as f64;
                    }
                }
            }
            a
        })
        .collect();
    close("conv_dw_batch", &dw, &want);
}

#[test]
fn the_generic_kernels_on_4_and_8_portable_lanes() {
    dense_and_gemm(Lanes::<4>);
    dense_and_gemm(Lanes::<8>);
    conv(Lanes::<4>);
    conv(Lanes::<8>);
}

/// A convolution of `n` samples, `in_c -> out_c` channels, `k x k`, `oh x
/// ow` outputs, from `start` (0: zero, 1: bias, 2: load), with `relu`, and
/// with the kernel read flipped (negative strides, as an input gradient
/// reads it) if `flip`: the outputs of `conv_batch` with channels-last
/// tiles of `P` outputs, and without (`CL = 0`).
#[inline(always)]
fn cl_and_rows<S: Compute, const P: usize>(
    s: S,
    (n, in_c, out_c, k, oh, ow): (usize, usize, usize, usize, usize, usize),
    (start, relu, flip): (usize, bool, bool),
) -> (Vec<f32>, Vec<f32>) {
    let (xr, xp) = (ow + k - 1, (oh + k - 1) * (ow + k - 1));
    let x = vals(n * in_c * xp + crate::kernels::SLACK, 6);
    let (w, b) = (vals(out_c * in_c * k * k, 7), vals(out_c, 8));
    let (w0, w_m, w_n) = if flip { ((k * k - 1) as isize, -(k as isize), -1) } else { (0, k as isize, 1) };
    let g = RawGeom {
        in_c,
        k,
        x_plane: xp,
        x_row: xr,
        w: w.as_ptr().wrapping_offset(w0),
        w_out: (in_c * k * k) as isize,
        w_in: (k * k) as isize,
        w_m,
        w_n,
        y_plane: oh * ow,
    };
    let y0 = vals(n * out_c * oh * ow, 9);
    let (mut y_cl, mut y_rows) = (y0.clone(), y0);
    let st = [RawStart::Zero, RawStart::Bias(b.as_ptr()), RawStart::Load][start];
    for (y, cl) in [(&mut y_cl, true), (&mut y_rows, false)] {
        let batch = RawBatch {
            n,
            x: x.as_ptr(),
            x_sample: in_c * xp,
            y: y.as_mut_ptr(),
            y_sample: out_c * oh * ow,
            oh,
            ow,
            relu,
        };
        // SAFETY: the buffers hold the geometry's extents, the slack after the last input.
        unsafe {
            if cl {
                conv::conv_batch::<S, 4, 2, 4, 6, P>(s, &g, out_c, &batch, st)
            } else {
                conv::conv_batch::<S, 4, 2, 4, 6, 0>(s, &g, out_c, &batch, st)
            }
        }
    }
    (y_cl, y_rows)
}

/// The shapes of [`channels_last_tiles_have_the_bits_of_the_row_tiles`]:
/// (samples, in_c, out_c, k, oh, ow); tiles that end one row and start
/// the next, in the same sample and the next, the batch's last tile cut
/// short; 256 to 800 taps.
const CL_SHAPES: [(usize, usize, usize, usize, usize, usize); 5] =
    [(2, 32, 16, 5, 3, 14), (3, 11, 8, 5, 2, 9), (1, 29, 16, 3, 3, 13), (2, 11, 24, 5, 2, 10), (1, 16, 8, 5, 14, 14)];

/// Runs every shape, start, ReLU and kernel direction through `f` (both
/// paths) and checks that the channels-last tiles took them and gave the
/// row tiles' bits.
fn check_cl(lanes: usize, p: usize, f: impl Fn(usize, usize, bool, bool) -> (Vec<f32>, Vec<f32>)) {
    for (i, &(_, in_c, out_c, k, _, ow)) in CL_SHAPES.iter().enumerate() {
        let g = RawGeom {
            in_c,
            k,
            x_plane: 0,
            x_row: 0,
            w: core::ptr::null(),
            w_out: 0,
            w_in: 0,
            w_m: 0,
            w_n: 0,
            y_plane: 0,
        };
        assert!(conv_cl::cl_pays(lanes, p, &g, out_c, ow), "{lanes} lanes, shape {i}: the tiles decline");
        for start in 0..3 {
            for (relu, flip) in [(false, false), (true, false), (false, true)] {
                let (cl, rows) = f(i, start, relu, flip);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&cl), bits(&rows), "{lanes} lanes, shape {i}, start {start}, relu {relu}, flip {flip}");
            }
        }
    }
}

/// The channels-last tiles ([`conv_cl::conv_cl_batch`]) compute the row
/// tiles' sums in their order: the same bits, on the portable lanes (4
/// and 8) and, where the CPU has it, on AVX2 with FMA (whose instance
/// takes tiles of 9 outputs).
#[test]
fn channels_last_tiles_have_the_bits_of_the_row_tiles() {
    check_cl(4, 9, |i, st, relu, flip| cl_and_rows::<_, 9>(Lanes::<4>, CL_SHAPES[i], (st, relu, flip)));
    check_cl(8, 8, |i, st, relu, flip| cl_and_rows::<_, 8>(Lanes::<8>, CL_SHAPES[i], (st, relu, flip)));
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        use crate::kernels::avx2::simd::Avx2;
        /// Both paths on AVX2.
        #[target_feature(enable = "avx2,fma")]
        fn on_avx2(i: usize, st: usize, relu: bool, flip: bool) -> (Vec<f32>, Vec<f32>) {
            // SAFETY: the caller checked AVX2 and FMA.
            let s = unsafe { Avx2::new() };
            cl_and_rows::<_, 9>(s, CL_SHAPES[i], (st, relu, flip))
        }
        // SAFETY: AVX2 and FMA detected above.
        check_cl(8, 9, |i, st, relu, flip| unsafe { on_avx2(i, st, relu, flip) });
    }
}
