//! The embedded program's classifier (no_std): `model::net` with the
//! weights that `train` wrote compiled in. No file, no allocation; link it
//! into firmware and call [`classify`] with an image from a camera.
//!
//! `build.rs` picks the weights file: `EMBED_WEIGHTS` (an absolute path) or
//! `weights.safetensors` beside `Cargo.toml`.
#![no_std]

use constnet::io::{LoadError, StaticNetwork};
use constnet::{Flat, Network, Tensor};
use model::net;

/// The weights, compiled into the binary.
pub static WEIGHTS: &[u8] = include_bytes!(env!("EMBED_WEIGHTS_FILE"));

/// The network, loaded in place from [`WEIGHTS`] at first use (in `.bss`).
static NET: StaticNetwork<net::Params> = StaticNetwork::new();

/// A prediction: the class (an index into `model::CLASSES`) and both
/// classes' probabilities.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    /// The more probable class.
    pub class: usize,
    /// The softmax output.
    pub probs: [f32; 2],
}

/// Classifies a 28x28 grayscale image (a light object on a dark
/// background, as Fashion-MNIST), scaled as training scaled it. The first
/// call loads the weights. No allocation: the workspace is the caller's.
///
/// # Errors
/// The [`LoadError`] if the compiled-in weights do not fit `model::net`
/// (they were written for another network).
pub fn classify(pixels: &[[u8; 28]; 28], ws: &mut net::Workspace<1>) -> Result<Prediction, LoadError<'static>> {
    let net = NET.get_or_load(WEIGHTS)?;
    let mut x = Tensor::<1, 28, 28>::from_fn(|_, y, x| pixels[y][x] as f32);
    model::preprocess(&mut x);
    let probs = net.predict(&x, ws).as_flat();
    Ok(Prediction { class: constnet::class_of(probs), probs: [probs[0], probs[1]] })
}

/// The 64-bit FNV-1a hash of `bytes`: [`checksum`]`(WEIGHTS)` tells which
/// weights a binary holds.
pub const fn checksum(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut i = 0;
    while i < bytes.len() {
        hash = (hash ^ bytes[i] as u64).wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}
