//! The classifier of example 08, with its weights compiled in: no file, no
//! allocation (only `core` and constnet's `no_std` API are used here).
//!
//! The weights are `fashion10.safetensors` beside this file, written by
//! `cargo run --release --example train_fashion10_weights`. Its
//! `__metadata__` holds the preprocessing training used, applied here to
//! every pixel `p` in `0.0..=1.0` (a pixel value divided by its maximum):
//! `x = (p * 255 * input_scale - input_mean) / input_std`.

use constnet::io::{LoadError, SafeTensorsView, StaticNetwork};
use constnet::zoo::fashion10;
use constnet::{Flat, Network, Tensor};
use core::fmt;

/// The weights, compiled into the binary.
pub static WEIGHTS: &[u8] = include_bytes!("fashion10.safetensors");

/// The network, loaded in place from [`WEIGHTS`] at first use.
static NET: StaticNetwork<fashion10::Params> = StaticNetwork::new();

/// Fashion-MNIST's classes, in label order.
pub const CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// Why the compiled-in weights cannot be used.
#[derive(Debug)]
pub enum SetupError {
    /// The weights do not fit the fashion10 network.
    Load(LoadError<'static>),
    /// A preprocessing value is missing from `__metadata__` or is not a number.
    Metadata {
        /// The key.
        key: &'static str,
    },
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Load(e) => write!(f, "compiled-in weights: {e}"),
            SetupError::Metadata { key } => {
                write!(f, "compiled-in weights: __metadata__ has no number {key:?} (a plain decimal string)")
            }
        }
    }
}

impl core::error::Error for SetupError {}

/// The fashion10 network and its input preprocessing.
pub struct Classifier {
    net: &'static fashion10::Params,
    scale: f32,
    mean: f32,
    std: f32,
}

/// A prediction: the class and every class's probability.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    /// The most probable class (index into [`CLASSES`]).
    pub class: usize,
    /// The softmax output.
    pub probs: [f32; 10],
}

impl Classifier {
    /// Loads the compiled-in network (first call only) and reads its
    /// preprocessing metadata. No allocation.
    ///
    /// # Errors
    /// A [`SetupError`] if the weights or metadata do not fit.
    pub fn new() -> Result<Self, SetupError> {
        let net = NET.get_or_load(WEIGHTS).map_err(SetupError::Load)?;
        let st = SafeTensorsView::parse(WEIGHTS).map_err(|e| SetupError::Load(e.into()))?;
        let number = |key: &'static str| -> Result<f32, SetupError> {
            let v = st.metadata(key).map_err(|e| SetupError::Load(e.into()))?;
            v.and_then(|v| v.as_str()).and_then(|s| s.parse().ok()).ok_or(SetupError::Metadata { key })
        };
        Ok(Classifier { net, scale: number("input_scale")?, mean: number("input_mean")?, std: number("input_std")? })
    }

    /// Classifies a 28x28 grayscale image, pixels in `0.0..=1.0` (light
    /// object on a dark background, as Fashion-MNIST). No allocation: the
    /// workspace is the caller's.
    pub fn classify(&self, pixels: &[[f32; 28]; 28], ws: &mut fashion10::Workspace<1>) -> Prediction {
        let x = Tensor::<1, 28, 28>::from_fn(|_, y, x| (pixels[y][x] * 255.0 * self.scale - self.mean) / self.std);
        let out = self.net.predict(&x, ws);
        let mut probs = [0.0; 10];
        probs.copy_from_slice(out.as_flat());
        Prediction { class: constnet::class_of(&probs), probs }
    }
}

/// The network's parameter count, for the banner.
pub fn num_params() -> usize {
    NET.get_or_load(WEIGHTS).map_or(0, |n| n.num_params())
}
