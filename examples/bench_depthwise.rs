//! Times MobileNet's two convolutions, forward and backward, in µs and
//! GFLOP/s: `DepthwiseConv2d` 3x3 (padding 1, stride 1 and 2) on 16-64
//! channels of 28x28 and 14x14, and the pointwise 1x1 `Conv2d`s of
//! example 11. A depthwise output costs 2·9 flops forward, a pointwise
//! one 2·IN_C; backward costs twice that (weight and input gradients).
//! The cases run alternated, round after round; the best round of each
//! is reported. Time is the thread's time on a CPU (Linux's
//! `CLOCK_THREAD_CPUTIME_ID`, wall time elsewhere), so that other
//! processes sharing the cores weigh less.
//!
//! ```text
//! cargo run --release --example bench_depthwise [-- rounds]
//! ```

mod common;

use common::layer_bench::{Case, run_cases, time_layer};
use constnet::{Conv2d, DepthwiseConv2d};

const B: usize = 16;

/// A depthwise 3x3 case: `C` planes of `H x H`, stride `S`.
fn depthwise<const C: usize, const H: usize, const S: usize, const OH: usize>() -> (f64, f64, f64) {
    let reps = (2_000_000 / (C * OH * OH * B)).max(1);
    let (fwd, bwd) = time_layer::<DepthwiseConv2d<C, 3, 1, S>, B, C, H, H, C, OH, OH>(reps);
    (2.0 * 9.0 * (C * OH * OH * B) as f64, fwd, bwd)
}

/// A pointwise 1x1 case: `IC` to `OC` channels of `H x H`.
fn pointwise<const IC: usize, const OC: usize, const H: usize>() -> (f64, f64, f64) {
    let reps = (8_000_000 / (IC * OC * H * H * B / 16)).max(1);
    let (fwd, bwd) = time_layer::<Conv2d<IC, OC, 1, 0, 1, false>, B, IC, H, H, OC, H, H>(reps);
    (2.0 * (IC * OC * H * H * B) as f64, fwd, bwd)
}

fn main() {
    let cases: &[(&str, Case)] = &[
        ("16 x 28x28, stride 1", depthwise::<16, 28, 1, 28>),
        ("32 x 28x28, stride 1", depthwise::<32, 28, 1, 28>),
        ("32 x 28x28, stride 2", depthwise::<32, 28, 2, 14>),
        ("64 x 14x14, stride 1", depthwise::<64, 14, 1, 14>),
        ("64 x 14x14, stride 2", depthwise::<64, 14, 2, 7>),
        ("16 x 14x14, stride 1", depthwise::<16, 14, 1, 14>),
        ("64 x 28x28, stride 1", depthwise::<64, 28, 1, 28>),
        ("64 x 28x28, stride 2", depthwise::<64, 28, 2, 14>),
        ("128 x 7x7, stride 1", depthwise::<128, 7, 1, 7>),
        ("1x1 16->32 28x28", pointwise::<16, 32, 28>),
        ("1x1 32->64 14x14", pointwise::<32, 64, 14>),
        ("1x1 64->64 14x14", pointwise::<64, 64, 14>),
        ("1x1 16->32 14x14", pointwise::<16, 32, 14>),
        ("1x1 64->128 7x7", pointwise::<64, 128, 7>),
        ("1x1 128->128 7x7", pointwise::<128, 128, 7>),
    ];
    run_cases(B, cases);
}
