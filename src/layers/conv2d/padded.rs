//! A convolution's padded input: the zero padding written out once, so
//! every kernel load is a plain vector load with no edge cases.

use crate::kernels::{self, SLACK};
use crate::{Flat, Tensor};

/// One input row with `PAD` zeros on each side.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(super) struct PadRow<const W: usize, const PAD: usize> {
    left: [f32; PAD],
    pub(super) mid: [f32; W],
    right: [f32; PAD],
}

/// One input plane with `PAD` zero rows above and below.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(super) struct PadPlane<const H: usize, const W: usize, const PAD: usize> {
    top: [PadRow<W, PAD>; PAD],
    pub(super) rows: [PadRow<W, PAD>; H],
    bottom: [PadRow<W, PAD>; PAD],
}

/// One sample's entry of a [`Conv2d`](super::Conv2d)'s cache: its input with the zero padding written
/// out (`C` planes of `(H + 2*PAD) x (W + 2*PAD)`, then 32 zeros).
/// The forward pass fills it; the fast weight gradient reads it, so every
/// load is a plain unaligned vector load with no edge cases.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PaddedInput<const C: usize, const H: usize, const W: usize, const PAD: usize> {
    pub(super) planes: [PadPlane<H, W, PAD>; C],
    slack: [f32; SLACK],
}

// SAFETY: repr(C) structs made only of f32 arrays.
unsafe impl<const C: usize, const H: usize, const W: usize, const PAD: usize> Flat for PaddedInput<C, H, W, PAD> {}

impl<const C: usize, const H: usize, const W: usize, const PAD: usize> PaddedInput<C, H, W, PAD> {
    /// Every sample of `x` padded into `cache` ([`pad_planes`]).
    pub(super) fn fill_batch<const B: usize>(x: &[Tensor<C, H, W>; B], cache: &mut [Self; B]) {
        for (x, c) in x.iter().zip(cache.iter_mut()) {
            pad_planes(x.as_flat(), C, H, W, PAD, c.as_flat_mut());
        }
    }
}

/// Writes `c` planes of `h x w` values from `src` into `dst` with `p` zeros
/// on every side (rows of `w + 2p`), followed by [`SLACK`] zeros.
///
/// # Panics
/// If `src` or `dst` is too short.
pub(crate) fn pad_planes(src: &[f32], c: usize, h: usize, w: usize, p: usize, dst: &mut [f32]) {
    let (rw, rows) = (w + 2 * p, h + 2 * p);
    assert!(src.len() >= c * h * w && dst.len() >= c * rw * rows + SLACK, "pad_planes: buffers too short");
    if !kernels::active().pad_planes(src, c, h, w, p, dst) {
        pad_planes_reference(src, c, h, w, p, dst);
    }
}

/// Portable form of [`pad_planes`].
pub(super) fn pad_planes_reference(src: &[f32], c: usize, h: usize, w: usize, p: usize, dst: &mut [f32]) {
    let (rw, rows) = (w + 2 * p, h + 2 * p);
    let plane = rw * rows;
    for ch in 0..c {
        let d = &mut dst[ch * plane..(ch + 1) * plane];
        d[..p * rw].fill(0.0);
        d[(p + h) * rw..].fill(0.0);
        for (i, row) in src[ch * h * w..(ch + 1) * h * w].chunks_exact(w).enumerate() {
            let r = &mut d[(p + i) * rw..(p + i + 1) * rw];
            r[..p].fill(0.0);
            r[p..p + w].copy_from_slice(row);
            r[p + w..].fill(0.0);
        }
    }
    dst[c * plane..c * plane + SLACK].fill(0.0);
}
