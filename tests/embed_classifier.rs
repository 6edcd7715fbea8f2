//! Example 08's classifier: the compiled-in weights load, the sample images
//! are classified correctly, and loading plus classification allocate
//! nothing (a counting global allocator, counting per thread, proves it).

#[path = "../examples/08_embed_classifier/classifier.rs"]
#[allow(dead_code)]
mod classifier;

use classifier::{CLASSES, Classifier};
use constnet::Flat;
use constnet::io::pgm::Pgm;
use constnet::zoo::fashion10;

mod counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting(counting::Scope::Thread);

/// A 28x28 PGM sample as pixels in 0..=1, parsed without allocation.
fn sample(bytes: &[u8]) -> [[f32; 28]; 28] {
    let img = Pgm::parse(bytes).unwrap();
    let mut px = [[0.0f32; 28]; 28];
    img.read_into(px.as_flat_mut()).unwrap();
    px
}

#[test]
fn loading_and_classifying_allocate_nothing() {
    // The counter works: a Box is one allocation.
    let n = GLOBAL.allocations(|| drop(std::hint::black_box(Box::new(1u8))));
    assert_eq!(n, 1, "the counting allocator does not count");

    let boot = include_bytes!("../examples/08_embed_classifier/samples/ankle_boot.pgm");
    let pullover = include_bytes!("../examples/08_embed_classifier/samples/pullover.pgm");
    let mut out = None;
    let during = GLOBAL.allocations(|| {
        let clf = Classifier::new().expect("the compiled-in weights fit fashion10");
        let mut ws = fashion10::Workspace::<1>::zeroed();
        out = Some((clf.classify(&sample(boot), &mut ws), clf.classify(&sample(pullover), &mut ws)));
    });
    let (a, b) = out.expect("classified");
    assert_eq!(during, 0, "loading and classifying allocated {during} times");

    assert_eq!(CLASSES[a.class], "Ankle boot", "{a:?}");
    assert_eq!(CLASSES[b.class], "Pullover", "{b:?}");
    for p in [a, b] {
        let sum: f32 = p.probs.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "probabilities sum to {sum}");
    }
}
