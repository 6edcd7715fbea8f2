//! The backend's own checks: tiles that replace one another give the same bits.

use super::conv::*;
use super::conv_grad::*;
use super::dense::{bcast_gemm, bcast_tile};
use super::vec::*;
use super::*;
use std::vec::Vec;

/// `None` (and a note) without AVX-512; otherwise a generator of values
/// in [-0.5, 0.5) from `seed` (a linear congruential one).
fn avx512_and_values(seed: u32) -> Option<impl FnMut() -> f32> {
    if !crate::kernels::Isa::Avx512.is_supported() {
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
        let x: Vec<f32> = (0..n * x_sample + crate::kernels::SLACK).map(|_| next()).collect();
        let w: Vec<f32> = (0..out_c * in_c * k * k).map(|_| next()).collect();
        let b: Vec<f32> = (0..out_c).map(|_| next()).collect();
        let (kk, k2) = ((k * k) as isize, k as isize);
        let g = RawGeom {
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
        let start = if bias { RawStart::Bias(b.as_ptr()) } else { RawStart::Zero };
        let neutral = crate::kernels::ConvGeom {
            in_c,
            k,
            x_plane,
            x_row,
            w_out: g.w_out,
            w_in: g.w_in,
            w_m: g.w_m,
            w_n: g.w_n,
            y_plane: oh * ow,
        };
        let nstart = if bias { crate::kernels::Start::Bias(&b) } else { crate::kernels::Start::Zero };
        assert!(cl_applies(&neutral, out_c, ow, &nstart), "{in_c} {out_c} {k} {ow}");
        let y_sample = out_c * oh * ow;
        let (mut cl, mut rows) = (std::vec![f32::NAN; n * y_sample + 64], std::vec![f32::NAN; n * y_sample + 64]);
        for (y, channels_last) in [(&mut cl, true), (&mut rows, false)] {
            let batch = RawBatch { n, x: x.as_ptr(), x_sample, y: y.as_mut_ptr(), y_sample, oh, ow, relu: false };
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

/// The one-sample path of `bcast_gemm` (a one-long sum) gives the
/// tiles' bits, signed zeros included (0 · -x is +0 through an FMA into
/// +0, -0 as a bare product), overwriting and accumulating.
#[test]
fn one_sample_gradient_path_matches_the_tiles_bit_for_bit() {
    {
        if avx512_and_values(0).is_none() {
            return;
        }
        let (rows, cols) = (3, 37);
        let a = [0.0f32, -1.5, 2.0];
        let b: std::vec::Vec<f32> = (0..cols).map(|i| [0.0, -0.0, 1.25 * i as f32, -0.5 * i as f32][i % 4]).collect();
        let c0: std::vec::Vec<f32> = (0..rows * cols).map(|i| [-0.0, 0.75, 0.0][i % 3]).collect();
        for accumulate in [false, true] {
            let (mut fast, mut tiles) = (c0.clone(), c0.clone());
            // SAFETY: AVX-512F detected; a holds `rows`, b `cols`, c `rows * cols` floats.
            unsafe {
                bcast_gemm(
                    rows,
                    cols,
                    1,
                    a.as_ptr(),
                    1,
                    1,
                    b.as_ptr(),
                    cols,
                    fast.as_mut_ptr(),
                    cols,
                    accumulate,
                    true,
                );
                for r in 0..rows {
                    for v in 0..cols.div_ceil(V) {
                        let (bv, cv) = (b.as_ptr().add(v * V), tiles.as_mut_ptr().add(r * cols + v * V));
                        let m = lanes(cols - v * V);
                        bcast_tile::<1, 1>(1, &[(a.as_ptr().add(r), bv)], 1, 1, cols, cv, cols, m, accumulate);
                    }
                }
            }
            let bits = |x: &[f32]| x.iter().map(|f| f.to_bits()).collect::<std::vec::Vec<_>>();
            assert_eq!(bits(&fast), bits(&tiles), "accumulate {accumulate}");
        }
    }
}
