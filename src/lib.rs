//! # constnet
//!
//! A compile-time-shaped, allocation-free convolutional neural network
//! engine. Every size — image side, channels, kernel, dense widths, batch —
//! is a const generic, so a network whose shapes don't fit does not
//! compile, and the forward pass, backward pass and weight update run in
//! fixed arrays with no heap allocation.
//!
//! ```
//! use constnet::{network, optim::Sgd, train::{train_step, BceWithLogits, TrainState},
//!                Conv2d, Dense, Flat, Init, Network, Relu, Sigmoid, Tensor};
//! use rand::SeedableRng;
//!
//! network! {
//!     /// The seed-1 network: one 3x3 filter ('same'), ReLU, dense to one output, sigmoid.
//!     pub mod seed1 {
//!         input: Tensor<1, 28, 28>,
//!         conv: Conv2d<1, 1, 3, 1, 1, false>,
//!         relu: Relu,
//!         dense: Dense<784, 1, false>,
//!         sigmoid: Sigmoid,
//!     }
//! }
//!
//! # fn main() {
//! let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
//! let mut net = seed1::Params::zeroed();
//! net.init(Init::He, &mut rng);
//! let mut st = TrainState::<seed1::Params, 1>::zeroed();
//! let mut opt = Sgd::new(0.01);
//! let image = Tensor::<1, 28, 28>::from_fn(|_, y, x| if x > y { 1.0 } else { -1.0 });
//! let step = train_step(&mut net, &[image], &[1.0], BceWithLogits, &mut opt, &mut st, &mut rng).unwrap();
//! assert!(step.loss.is_finite());
//! let mut ws = seed1::Workspace::<1>::zeroed();
//! assert!(net.classify(&image, &mut ws) <= 1);
//! # }
//! ```
//!
//! The core is `#![no_std]` without `alloc`; the default `std` feature adds
//! heap construction of big networks ([`Flat::boxed_zeroed`]) and the
//! finite-difference checker ([`gradcheck`]).
#![no_std]
#![warn(missing_docs)]
// Numeric loops index several arrays by the same position, as the formulas do.
#![allow(clippy::needless_range_loop)]

#[cfg(any(feature = "std", test))]
extern crate std;

pub use rand;

pub mod convolve;
#[cfg(feature = "std")]
pub mod data;
#[cfg(feature = "std")]
pub mod fit;
mod flat;
#[cfg(feature = "std")]
pub mod gradcheck;
#[cfg(feature = "std")]
pub mod image;
pub mod io;
mod kernels;
mod layer;
pub mod layers;
pub mod loss;
pub mod math;
mod network;
pub mod optim;
#[cfg(feature = "std")]
pub mod parallel;
pub mod resume;
mod shape;
mod summary;
mod tensor;
pub mod train;
pub mod zoo;

pub use flat::{Flat, check_flat};
pub use kernels::{Isa, IsaError, isa, set_isa};
#[doc(hidden)]
pub use layer::out_shape_is;
pub use layer::{Grad, Init, Layer, Mode, ParamTensor, ParamVisitorMut, Parameters};
pub use layers::{
    AvgPool1d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, Conv2dRect, ConvRelu, ConvReluPool, Dense,
    DepthwiseConv2d, Dropout, GlobalAvgPool2d, GroupConv2d, Hardswish, LeakyRelu, MaxPool1d, MaxPool2d, Relu, Relu6,
    Sigmoid, Silu, Softmax, Tanh,
};
pub use network::{BackFrom, DataParallel, LayerInfo, Network, NetworkVisitorMut, Parts, class_of};
#[doc(hidden)]
pub use network::{FoldedByName, folded_by_name, share_of};
pub use shape::{Shape, conv_out, pool_out};
pub use summary::Summary;
pub use tensor::{Batch, Tensor};
