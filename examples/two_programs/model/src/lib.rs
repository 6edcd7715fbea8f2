//! The network that both programs use, declared once: `train` (std) trains
//! it and writes its weights, `embed` (no_std) compiles them in and
//! classifies. This crate needs neither std nor an allocator, so both can
//! depend on it.
//!
//! The preprocessing lives here too: an image must be scaled the same way
//! when it is trained on and when it is classified.
#![no_std]

use constnet::{Conv2d, Dense, Flat, MaxPool2d, Relu, Softmax, Tensor, network};

network! {
    /// Trouser or dress: 4 filters 3x3 ('same'), ReLU, 2x2 max-pool, dense to 2 classes.
    pub mod net {
        input: Tensor<1, 28, 28>,
        conv: Conv2d<1, 4, 3, 1, 1>,   // IN_C, OUT_C, K, PAD, STRIDE
        relu: Relu,
        pool: MaxPool2d<2>,            // 4 x 28 x 28 -> 4 x 14 x 14
        dense: Dense<784, 2>,          // N_IN = 4 * 14 * 14, N_OUT
        softmax: Softmax,
    }
}

/// The classes, in the order of the network's outputs.
pub const CLASSES: [&str; 2] = ["Trouser", "Dress"];

/// The classes' labels in Fashion-MNIST: trouser is 1, dress is 3.
pub const FASHION_MNIST_LABELS: [u8; 2] = [1, 3];

/// Fashion-MNIST's pixel mean and standard deviation on the 0..=1 scale
/// (PyTorch: `transforms.Normalize((0.2860,), (0.3530,))`).
pub const MEAN: f32 = 0.2860;
/// See [`MEAN`].
pub const STD: f32 = 0.3530;

/// Scales an image of pixel values `0.0..=255.0` in place to what the
/// network takes: `x = (p / 255 - MEAN) / STD`.
pub fn preprocess(image: &mut Tensor<1, 28, 28>) {
    for p in image.as_flat_mut() {
        *p = (*p / 255.0 - MEAN) / STD;
    }
}
