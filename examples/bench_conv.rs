//! Times tfconv's two 5x5 convolutions (`Conv2d<1, 32, 5, 2, 1>` on 28x28
//! and `Conv2d<32, 64, 5, 2, 1>` on 14x14, a batch of 32), forward and
//! backward (weight and input gradients), in µs and GFLOP/s: a forward
//! output costs `2·IN_C·25` flops, backward twice that. The cases run
//! alternated, round after round; the best round of each is reported.
//! Time is the thread's time on a CPU (Linux's `CLOCK_THREAD_CPUTIME_ID`,
//! wall time elsewhere), so that other processes sharing the cores weigh
//! less.
//!
//! ```text
//! CONSTNET_ISA=avx2 cargo run --release --example bench_conv [-- rounds]
//! ```

mod common;

use common::layer_bench::{Case, run_cases, time_layer};
use constnet::Conv2d;

const B: usize = 32;

/// A 5x5 'same' case: `IC` to `OC` channels of `H x H`.
fn conv<const IC: usize, const OC: usize, const H: usize>() -> (f64, f64, f64) {
    let reps = 4;
    let (fwd, bwd) = time_layer::<Conv2d<IC, OC, 5, 2, 1>, B, IC, H, H, OC, H, H>(reps);
    (2.0 * (IC * OC * 25 * H * H * B) as f64, fwd, bwd)
}

fn main() {
    let cases: &[(&str, Case)] =
        &[("conv2 32->64 14x14 5x5", conv::<32, 64, 14>), ("conv1 1->32 28x28 5x5", conv::<1, 32, 28>)];
    run_cases(B, cases);
}
