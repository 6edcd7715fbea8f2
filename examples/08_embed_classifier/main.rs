//! Example 08: a Fashion-MNIST classifier whose weights are compiled into
//! the binary. Give it a PNG or PGM image:
//!
//! ```text
//! cargo run --release --example 08_embed_classifier -- examples/08_embed_classifier/samples/ankle_boot.pgm
//! ```
//!
//! It prints the class (T-shirt/top, Trouser, Pullover, Dress, Coat,
//! Sandal, Shirt, Sneaker, Bag, Ankle boot) and every class's probability;
//! with `--json`, one JSON object at the end (`class_I`, `probs_I` for the
//! I-th image).
//!
//! - The weights (`fashion10.safetensors`, 37 KB, from a real training run:
//!   `cargo run --release --example train_fashion10_weights -- --epochs 5`) are
//!   `include_bytes!`-ed and loaded in place into a `static` at first use
//!   ([`constnet::io::StaticNetwork`]): no weights file at run time.
//! - Classification ([`classifier::Classifier::classify`]) allocates
//!   nothing; `tests/embed_classifier.rs` proves it with a counting allocator.
//! - Images: PNG (8 or 16 bit, gray, gray+alpha, RGB, RGBA or palette; colour
//!   is turned into gray as `0.299 R + 0.587 G + 0.114 B`, alpha composited
//!   over black) or PGM (`P5` binary or `P2` plain, [`constnet::io::pgm`]),
//!   read by [`constnet::image::read_gray`]: a file of at most 16 MiB, whose
//!   declared size is checked against a 256 MiB decoding bound before
//!   anything is allocated for it.
//!   Fashion-MNIST images are light objects on black, 28x28; another size is
//!   resized to 28x28 by nearest neighbour (the program says so). Only the
//!   image decoding allocates.

mod classifier;
#[path = "../common/mod.rs"]
mod common;

use classifier::{CLASSES, Classifier};
use constnet::Flat;
use constnet::image::{DEFAULT_DECODE_BYTES, GrayImage, read_gray};
use constnet::zoo::fashion10;
use std::path::Path;

/// The image as 28x28, resized by nearest neighbour if it is another size.
fn to_28x28(img: &GrayImage) -> [[f32; 28]; 28] {
    let mut out = [[0.0; 28]; 28];
    for (y, row) in out.iter_mut().enumerate() {
        for (x, v) in row.iter_mut().enumerate() {
            let sy = (y * img.height) / 28;
            let sx = (x * img.width) / 28;
            *v = img.pixels[sy * img.width + sx];
        }
    }
    out
}

fn main() {
    let args = common::Args::parse();
    let paths = &args.rest;
    if paths.is_empty() {
        common::fail("usage: 08_embed_classifier IMAGE.png|IMAGE.pgm ... [--json]");
    }
    let clf = Classifier::new().unwrap_or_else(|e| common::fail(&e.to_string()));
    println!("fashion10 classifier, {} parameters compiled in", classifier::num_params());
    let mut ws = fashion10::Workspace::<1>::zeroed();
    let mut json = common::Json::default().num("images", paths.len() as f64);
    let mut failed = false;
    for (i, path) in paths.iter().enumerate() {
        // At most 16 MiB of file and 256 MiB of decoding, checked from the header.
        let img = match read_gray(Path::new(path), DEFAULT_DECODE_BYTES) {
            Ok(img) => img,
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
                continue;
            }
        };
        if (img.width, img.height) != (28, 28) {
            println!("{path}: {}x{} resized to 28x28 (nearest neighbour)", img.width, img.height);
        }
        let p = clf.classify(&to_28x28(&img), &mut ws);
        println!("{path}: {} ({:.1}%)", CLASSES[p.class], 100.0 * p.probs[p.class]);
        let mut order: Vec<usize> = (0..10).collect();
        order.sort_by(|&a, &b| p.probs[b].total_cmp(&p.probs[a]));
        for &c in &order {
            println!("  {:<12} {:6.2}%", CLASSES[c], 100.0 * p.probs[c]);
        }
        json = json.str(&format!("class_{i}"), CLASSES[p.class]).list(&format!("probs_{i}"), &p.probs);
    }
    if args.json {
        println!("{}", json.num("seconds", args.seconds()).render());
    }
    if failed {
        std::process::exit(1);
    }
}
