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
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

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
    let before = allocations();
    drop(std::hint::black_box(Box::new(1u8)));
    assert_eq!(allocations() - before, 1, "the counting allocator does not count");

    let boot = include_bytes!("../examples/08_embed_classifier/samples/ankle_boot.pgm");
    let pullover = include_bytes!("../examples/08_embed_classifier/samples/pullover.pgm");
    let before = allocations();
    let clf = Classifier::new().expect("the compiled-in weights fit fashion10");
    let mut ws = fashion10::Workspace::<1>::zeroed();
    let a = clf.classify(&sample(boot), &mut ws);
    let b = clf.classify(&sample(pullover), &mut ws);
    let during = allocations() - before;
    assert_eq!(during, 0, "loading and classifying allocated {during} times");

    assert_eq!(CLASSES[a.class], "Ankle boot", "{a:?}");
    assert_eq!(CLASSES[b.class], "Pullover", "{b:?}");
    for p in [a, b] {
        let sum: f32 = p.probs.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "probabilities sum to {sum}");
    }
}
