//! A ResNet-8 trained in PyTorch runs in constnet: its `state_dict`
//! (batch norm's running statistics and PyTorch's `I64`
//! `num_batches_tracked` included) loads into [`zoo::resnet8`] (and the
//! twice as wide [`zoo::resnet8_wide`] of examples/10) through
//! safetensors, and the first 1000 Fashion-MNIST test images get PyTorch's
//! logits and classes.
//!
//! `tests/data/resnet8_torch.safetensors` was written by
//! `python3 scripts/interop/resnet8.py train tests/data/resnet8_torch.safetensors`
//! and `tests/data/resnet8_wide_torch.safetensors` by
//! `python3 scripts/interop/resnet8.py --wide train tests/data/resnet8_wide_torch.safetensors`
//! (torch 2.15.0): one epoch of training in PyTorch, then the state_dict
//! and, as `expected.logits`, PyTorch's logits for those images in eval
//! mode. The other direction (constnet's saved ResNet-8 loaded by PyTorch
//! with `load_state_dict(strict=True)`) is the script's `check` command;
//! it needs PyTorch, so it is not part of this suite.

use constnet::data::{FashionMnist, locate_fashion_mnist_full};
use constnet::io::{self, LoadOptions, SafeTensorsView};
use constnet::zoo::{resnet8, resnet8_wide};
use constnet::{Flat, Network, Tensor, class_of};

const RESNET8: &[u8] = include_bytes!("data/resnet8_torch.safetensors");
const RESNET8_WIDE: &[u8] = include_bytes!("data/resnet8_wide_torch.safetensors");
const N: usize = 1000;
const B: usize = 50;

#[test]
fn a_resnet8_trained_in_pytorch_gives_its_logits() {
    let mut net = resnet8::Params::boxed_zeroed();
    load(&mut *net, RESNET8);
    assert!(net.layer2_0.bn1.num_batches_tracked > 100.0, "num_batches_tracked loaded from its I64");
    assert!(net.layer3_0.downsample_1.running_var.iter().all(|&v| v > 0.0 && v != 1.0), "running statistics loaded");
    gives_its_logits(&*net, RESNET8);
}

#[test]
fn the_wide_resnet8_trained_in_pytorch_gives_its_logits() {
    let mut net = resnet8_wide::Params::boxed_zeroed();
    load(&mut *net, RESNET8_WIDE);
    assert!(net.layer2_0.bn1.num_batches_tracked > 100.0, "num_batches_tracked loaded from its I64");
    assert!(net.layer3_0.downsample_1.running_var.iter().all(|&v| v > 0.0 && v != 1.0), "running statistics loaded");
    gives_its_logits(&*net, RESNET8_WIDE);
}

/// Loads PyTorch's state_dict, leaving out the expected logits.
fn load<P: Network>(net: &mut P, weights: &[u8]) {
    io::load_bytes_with(net, weights, LoadOptions { skip_prefix: Some("expected."), ..Default::default() }).unwrap();
}

/// `net` gives the `expected.logits` in `weights` for the first `N` test
/// images (pixels / 255), within 1e-3, and the same classes.
fn gives_its_logits<P: Network<Input = Tensor<1, 28, 28>, Output = Tensor<10, 1, 1>>>(net: &P, weights: &[u8]) {
    let st = SafeTensorsView::parse(weights).unwrap();
    let want: Vec<f32> = st.tensor("expected.logits").unwrap().unwrap().f32s().unwrap().collect();
    assert_eq!(want.len(), N * 10);

    let Ok(found) = locate_fashion_mnist_full(None) else {
        eprintln!("note: the full Fashion-MNIST is not installed; the PyTorch ResNet-8 was loaded but not run");
        return;
    };
    let (_, test) = FashionMnist::load(&found).unwrap();
    let mut ws = P::Workspace::<B>::boxed_zeroed();
    let (mut worst, mut same) = (0.0f32, 0);
    for (k, chunk) in test.images()[..N].chunks_exact(B).enumerate() {
        let x: [Tensor<1, 28, 28>; B] = core::array::from_fn(|i| {
            let mut t = chunk[i];
            t.as_flat_mut().iter_mut().for_each(|v| *v /= 255.0);
            t
        });
        net.infer(&x, &mut ws);
        for (i, logits) in P::logits(&ws).iter().enumerate() {
            let w = &want[(k * B + i) * 10..][..10];
            for (g, w) in logits.as_flat().iter().zip(w) {
                worst = worst.max((g - w).abs());
            }
            same += (class_of(logits.as_flat()) == class_of(w)) as usize;
        }
    }
    assert!(worst < 1e-3, "largest |logit difference| from PyTorch's: {worst}");
    assert_eq!(same, N, "classes that agree with PyTorch's");
}
