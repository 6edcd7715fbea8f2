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
//!   over black) or PGM (`P5` binary or `P2` plain, [`constnet::io::pgm`]).
//!   Fashion-MNIST images are light objects on black, 28x28; another size is
//!   resized to 28x28 by nearest neighbour (the program says so). Only the
//!   image decoding allocates.

mod classifier;
#[path = "../common/mod.rs"]
mod common;

use classifier::{CLASSES, Classifier};
use constnet::Flat;
use constnet::io::pgm::Pgm;
use constnet::zoo::fashion10;
use std::path::Path;

/// The largest image file read (16 MiB): the file is read whole, so a
/// larger one, or a device that never ends, is refused instead.
const MAX_IMAGE_BYTES: u64 = 16 << 20;

/// A decoded grayscale image, pixels in `0.0..=1.0`.
struct Gray {
    width: usize,
    height: usize,
    pixels: Vec<f32>,
}

fn decode(path: &Path) -> Result<Gray, String> {
    let mut bytes = Vec::new();
    constnet::io::open_regular_file(path)
        .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_IMAGE_BYTES + 1), &mut bytes))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_IMAGE_BYTES {
        return Err(format!(
            "{}: larger than {MAX_IMAGE_BYTES} bytes, more than an image this classifier reads",
            path.display()
        ));
    }
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    if bytes.starts_with(b"P5") || bytes.starts_with(b"P2") {
        let img = Pgm::parse(&bytes).map_err(|e| err(&e))?;
        // At most one pixel per byte of the file: bounded by the file's size.
        let mut pixels = vec![0.0; img.pixels()];
        img.read_into(&mut pixels).map_err(|e| err(&e))?;
        return Ok(Gray { width: img.width, height: img.height, pixels });
    }
    if !bytes.starts_with(b"\x89PNG") {
        return Err(err(&"not a PNG or PGM (P5/P2) image"));
    }
    let mut dec = png::Decoder::new_with_limits(std::io::Cursor::new(&bytes), png::Limits { bytes: 64 << 20 });
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec.read_info().map_err(|e| err(&e))?;
    let size = reader.output_buffer_size().ok_or_else(|| err(&"image too large"))?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(|e| err(&e))?;
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err(err(&"palette PNG was not expanded")),
    };
    let mut pixels = Vec::with_capacity(w * h);
    for row in buf.chunks(info.line_size).take(h) {
        for px in row.chunks_exact(channels).take(w) {
            let f = |i: usize| px[i] as f32 / 255.0;
            pixels.push(match channels {
                1 => f(0),
                2 => f(0) * f(1),
                3 => 0.299 * f(0) + 0.587 * f(1) + 0.114 * f(2),
                _ => (0.299 * f(0) + 0.587 * f(1) + 0.114 * f(2)) * f(3),
            });
        }
    }
    Ok(Gray { width: w, height: h, pixels })
}

/// The image as 28x28, resized by nearest neighbour if it is another size.
fn to_28x28(img: &Gray) -> [[f32; 28]; 28] {
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
        let img = match decode(Path::new(path)) {
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
