//! Times `DepthwiseConv2d` 3x3 (padding 1, stride 1 and 2) forward and
//! backward on 16-64 channels of 28x28 and 14x14, in GFLOP/s (2·9 flops per
//! output and tap set, forward; twice that for backward: weight and input
//! gradients). The cases run alternated, round after round; the best round
//! of each is reported.
//!
//! ```text
//! cargo run --release --example bench_depthwise [-- rounds]
//! ```

use constnet::{DepthwiseConv2d, Flat, Grad, Layer, Mode, Parameters, Tensor};
use std::time::Instant;

const B: usize = 16;

/// A case: flops, then seconds of a forward and of a backward pass.
type Case = fn() -> (f64, f64, f64);

/// One case: seconds of one forward and one backward pass over a batch.
fn case<const C: usize, const H: usize, const S: usize, const OH: usize>() -> (f64, f64, f64) {
    type L<const C: usize, const S: usize> = DepthwiseConv2d<C, 3, 1, S>;
    let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(1);
    let mut conv = L::<C, S>::boxed_zeroed();
    conv.init(constnet::Init::He, &mut rng);
    let x = <[Tensor<C, H, H>; B]>::boxed_zeroed();
    let mut y = <[Tensor<C, OH, OH>; B]>::boxed_zeroed();
    let mut cache = <L<C, S> as Layer<C, H, H>>::Cache::<B>::boxed_zeroed();
    let mut dx = <[Tensor<C, H, H>; B]>::boxed_zeroed();
    let mut g = L::<C, S>::boxed_zeroed();
    let reps = (2_000_000 / (C * OH * OH * B)).max(1);
    let t = Instant::now();
    for _ in 0..reps {
        conv.forward(&x, &mut y, &mut cache, &mut Mode::Infer);
    }
    let fwd = t.elapsed().as_secs_f64() / reps as f64;
    let t = Instant::now();
    for _ in 0..reps {
        conv.backward(&x, &y, &mut cache, &y, Some(&mut dx), &mut g, Grad::Overwrite);
    }
    let bwd = t.elapsed().as_secs_f64() / reps as f64;
    let flops = 2.0 * 9.0 * (C * OH * OH * B) as f64;
    (flops, fwd, bwd)
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    println!("backend {:?}, batch {B}, best of {rounds} alternated rounds", constnet::isa());
    let cases: [(&str, Case); 8] = [
        ("16 x 28x28, stride 1", case::<16, 28, 1, 28>),
        ("32 x 28x28, stride 1", case::<32, 28, 1, 28>),
        ("32 x 28x28, stride 2", case::<32, 28, 2, 14>),
        ("64 x 14x14, stride 1", case::<64, 14, 1, 14>),
        ("64 x 14x14, stride 2", case::<64, 14, 2, 7>),
        ("16 x 14x14, stride 1", case::<16, 14, 1, 14>),
        ("64 x 28x28, stride 1", case::<64, 28, 1, 28>),
        ("64 x 28x28, stride 2", case::<64, 28, 2, 14>),
    ];
    let mut best = [(0.0, f64::MAX, f64::MAX); 8];
    for _ in 0..rounds {
        for (b, (_, f)) in best.iter_mut().zip(&cases) {
            let (flops, fwd, bwd) = f();
            *b = (flops, b.1.min(fwd), b.2.min(bwd));
        }
    }
    println!("{:<22} {:>10} {:>10} {:>10} {:>10}", "case", "fwd us", "fwd GF/s", "bwd us", "bwd GF/s");
    for ((name, _), (flops, fwd, bwd)) in cases.iter().zip(best) {
        println!(
            "{name:<22} {:>10.1} {:>10.2} {:>10.1} {:>10.2}",
            fwd * 1e6,
            flops / fwd * 1e-9,
            bwd * 1e6,
            2.0 * flops / bwd * 1e-9
        );
    }
}
