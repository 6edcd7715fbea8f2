//! Example 08's classifier, linked as a bare-metal Cortex-M4F program with
//! no std and no global allocator: if anything it uses needed either, this
//! would not link. `classify` is what firmware would call with a 28x28
//! image from a camera; `train_once` shows a training step on-device.
#![no_std]
#![no_main]

#[path = "../../classifier.rs"]
#[allow(dead_code)]
mod classifier;

use constnet::Tensor;
use constnet::optim::Sgd;
use constnet::rand::{self as rand, SeedableRng};
use constnet::train::{SoftmaxCrossEntropy, TrainState, train_step};
use constnet::zoo::fashion10;
use core::ptr::addr_of_mut;

/// The workspace in `.bss` (~100 KB), not on a small stack.
static mut WS: core::mem::MaybeUninit<fashion10::Workspace<1>> = core::mem::MaybeUninit::zeroed();

/// Classifies 28x28 pixels in 0..=1; returns the class, or 255 if the
/// compiled-in weights do not fit.
///
/// # Safety
/// `pixels` points to 784 `f32`s; not called reentrantly (one static workspace).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn classify(pixels: *const [[f32; 28]; 28]) -> u8 {
    let Ok(clf) = classifier::Classifier::new() else { return 255 };
    // SAFETY: the caller's contract; zeroed bytes are a valid workspace (Flat).
    let (px, ws) = unsafe { (&*pixels, (*addr_of_mut!(WS)).assume_init_mut()) };
    clf.classify(px, ws).class as u8
}

/// One SGD step on the network in the given state (a `static` in real
/// firmware); returns the loss.
///
/// # Safety
/// `net` and `st` point to valid, unaliased values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn train_once(
    net: *mut fashion10::Params,
    st: *mut TrainState<fashion10::Params, 1>,
    pixels: *const Tensor<1, 28, 28>,
    label: u8,
) -> f32 {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(0);
    let mut opt = Sgd::new(0.01);
    // SAFETY: the caller's contract.
    let (net, st, x) = unsafe { (&mut *net, &mut *st, &*pixels) };
    let r =
        train_step(net, core::array::from_ref(x), &[label as usize % 10], SoftmaxCrossEntropy, &mut opt, st, &mut rng);
    // A step that diverged reports NaN (the network is unchanged unless a
    // parameter overflowed in the update).
    r.map_or(f32::NAN, |r| r.loss)
}

/// The reset entry point: classify a blank image and spin.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    let blank = [[0.0f32; 28]; 28];
    // SAFETY: a valid image; single-threaded start-up.
    let c = unsafe { classify(&blank) };
    core::hint::black_box(c);
    // Keep the training entry point in the image.
    core::hint::black_box(train_once as unsafe extern "C" fn(_, _, _, _) -> f32);
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
