//! The `no_std` API alone: inference with weights compiled into the test
//! binary and a training step, using only `core` and what constnet offers
//! without its `std` feature. The crate is `#![no_std]`, so `Vec`, `Box`,
//! `String` and `format!` do not even resolve here.
//!
//! Run it against the library built without std as well:
//! `cargo test --no-default-features --test no_std_api`.
#![no_std]

use constnet::io::{self, SafeTensorsView, StaticNetwork};
use constnet::optim::Sgd;
use constnet::train::{SoftmaxCrossEntropy, TrainState, train_step};
use constnet::zoo::fashion10;
use constnet::{Flat, Network, Tensor};
use rand::SeedableRng;
use rand::rngs::SmallRng;

static WEIGHTS: &[u8] = include_bytes!("../examples/08_embed_classifier/fashion10.safetensors");
static NET: StaticNetwork<fashion10::Params> = StaticNetwork::new();
static BOOT: &[u8] = include_bytes!("../examples/08_embed_classifier/samples/ankle_boot.pgm");

/// The ankle boot sample, preprocessed as the file's metadata says.
fn boot() -> Tensor<1, 28, 28> {
    let st = SafeTensorsView::parse(WEIGHTS).unwrap();
    let num = |k| st.metadata(k).unwrap().unwrap().as_str().unwrap().parse::<f32>().unwrap();
    let (scale, mean, std) = (num("input_scale"), num("input_mean"), num("input_std"));
    let img = io::pgm::Pgm::parse(BOOT).unwrap();
    let mut x = Tensor::<1, 28, 28>::zeroed();
    img.read_into(x.as_flat_mut()).unwrap(); // 0..=1
    x.as_flat_mut().iter_mut().for_each(|p| *p = (*p * 255.0 * scale - mean) / std);
    x
}

#[test]
fn inference_with_compiled_in_weights() {
    let net = NET.get_or_load(WEIGHTS).unwrap();
    let mut ws = fashion10::Workspace::<1>::zeroed();
    assert_eq!(net.classify(&boot(), &mut ws), 9, "ankle boot");

    // The same weights loaded into a stack value give the same output.
    let mut mine = fashion10::Params::zeroed();
    io::load_from_bytes(&mut mine, WEIGHTS).unwrap();
    let mut ws2 = fashion10::Workspace::<1>::zeroed();
    assert_eq!(mine.predict(&boot(), &mut ws2).as_flat(), net.predict(&boot(), &mut ws).as_flat());

    // A mismatched blob is a typed error and leaves the network as it was.
    let mut wrong = constnet::zoo::seed1::Params::zeroed();
    let e = io::load_from_bytes(&mut wrong, WEIGHTS).unwrap_err();
    assert!(matches!(e, io::LoadError::Missing { layer: "conv", param: "weight" }), "{e:?}");
    assert_eq!(wrong, constnet::zoo::seed1::Params::zeroed());
}

#[test]
fn a_training_step_on_the_stack() {
    let mut net = fashion10::Params::zeroed();
    io::load_from_bytes(&mut net, WEIGHTS).unwrap();
    let mut st = TrainState::<fashion10::Params, 1>::zeroed();
    let mut opt = Sgd::new(0.05); // no state: `()`
    let mut rng = SmallRng::seed_from_u64(0);
    let x = [boot()];
    // Teach it that the boot is a bag (class 8): the loss must fall.
    let first = train_step(&mut net, &x, &[8], SoftmaxCrossEntropy, &mut opt, &mut st, &mut rng).unwrap();
    let mut last = first;
    for _ in 0..5 {
        last = train_step(&mut net, &x, &[8], SoftmaxCrossEntropy, &mut opt, &mut st, &mut rng).unwrap();
    }
    assert!(last.loss < first.loss, "loss {} -> {}", first.loss, last.loss);
    assert!(last.loss.is_finite());
}
