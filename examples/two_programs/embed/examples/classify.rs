//! Runs the embedded classifier on the host (std): reads 28x28 PGM images
//! and prints each one's class, after a line naming the compiled-in weights.
//!
//! ```text
//! cargo run --release -p embed --example classify -- IMAGE.pgm...
//! ```

use constnet::Flat;
use constnet::io::pgm::Pgm;
use model::net;
use std::process::ExitCode;

fn main() -> ExitCode {
    let w = embed::WEIGHTS;
    println!("weights: {} bytes, FNV-1a {:016x}", w.len(), embed::checksum(w));
    let mut ws = net::Workspace::<1>::zeroed();
    for path in std::env::args().skip(1) {
        let classified = read(&path).and_then(|px| embed::classify(&px, &mut ws).map_err(|e| e.to_string()));
        match classified {
            Ok(p) => println!("{path}: {} {:.4}", model::CLASSES[p.class], p.probs[p.class]),
            Err(e) => {
                eprintln!("{path}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// A 28x28 PGM file's pixels as bytes, 0 black to 255 white.
fn read(path: &str) -> Result<[[u8; 28]; 28], String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let img = Pgm::parse(&bytes).map_err(|e| e.to_string())?;
    if (img.width, img.height) != (28, 28) {
        return Err(format!("the image is {}x{}; the network takes 28x28", img.width, img.height));
    }
    let mut px = [[0.0f32; 28]; 28];
    img.read_into(px.as_flat_mut()).map_err(|e| e.to_string())?;
    Ok(px.map(|row| row.map(|p| (p * 255.0).round() as u8)))
}
