//! Course step 2 — the classic kernels of tutorial 001 on a Fashion-MNIST image.
//!
//! Each kernel (identity, Prewitt, Sobel, Laplacian, sharpen, box and
//! Gaussian blur) is applied to one test image with 'same' zero padding —
//! the correlation a `Conv2d` computes — and written as a PNG, each map
//! scaled to its own min..max, plus one gallery image of them all.
//!
//! ```text
//! cargo run --release --example 02_kernel_gallery [-- --index 0] [--data DIR] [--out DIR] [--json]
//! ```

mod common;

use constnet::Tensor;
use constnet::convolve::correlate;
use constnet::convolve::kernels;
use constnet::data::{FashionMnist, locate_fashion_mnist};
use constnet::image::write_tensor;
use std::path::PathBuf;

fn main() {
    let args = common::Args::parse_options(&["--data", "--index", "--out"], &["--json"]);
    let index = args.number("--index", 0, 0..=usize::MAX);
    let out: PathBuf = args.path("--out").unwrap_or_else(|| "out".into());
    let found = locate_fashion_mnist(args.data.as_deref()).unwrap_or_else(|e| common::fail(&e.to_string()));
    let (_, test) = FashionMnist::load(&found).unwrap_or_else(|e| common::fail(&e.to_string()));
    let image = test.images().get(index).unwrap_or_else(|| {
        common::fail(&format!("--index {index}: must be below {}, the number of test images", test.len()))
    });
    let label = test.labels()[index];
    println!("test image {index} (class {label}) from {found}");
    common::create_out_dir("--out", &out);

    // Gallery: the image, then every kernel's output.
    let mut gallery = Tensor::<11, 28, 28>::splat(0.0);
    gallery.0[0] = image.0[0];
    let mut json = common::Json::default().num("index", index as f64).num("label", label as f64);
    for (k, (name, kernel)) in kernels::ALL.iter().enumerate() {
        let mut map = [[0.0f32; 28]; 28];
        correlate::<28, 28, 3, 1, 28, 28>(&image.0[0], kernel, &mut map);
        gallery.0[k + 1] = map;
        let path = out.join(format!("kernel_{name}.png"));
        write_tensor(&Tensor::<1, 28, 28>::from_array([map]), 8, &path)
            .unwrap_or_else(|e| common::fail(&e.to_string()));
        let flat = map.as_flattened();
        let (lo, hi) = flat.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
        println!("{name:>14}: output range {lo:8.1} .. {hi:8.1}  -> {}", path.display());
        json = json.num(&format!("{name}_min"), lo as f64).num(&format!("{name}_max"), hi as f64);
    }
    let path = out.join("kernel_gallery.png");
    write_tensor(&gallery, 4, &path).unwrap_or_else(|e| common::fail(&e.to_string()));
    println!("gallery (image, then each kernel in the order above): {}", path.display());
    if args.json {
        println!("{}", json.num("seconds", args.seconds()).render());
    }
}
