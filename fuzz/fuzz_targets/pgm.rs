//! Fuzzes the PGM reader: nothing panics, an accepted header's pixel count
//! is bounded by the input's length, and reading the samples either fills
//! the buffer with values in 0..=1 or fails with an error.
#![no_main]

use constnet::io::pgm::{Encoding, Pgm};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(img) = Pgm::parse(data) else { return };
    // P5: one or two bytes per pixel are present; P2: a digit per pixel at least.
    match img.encoding {
        Encoding::Binary => assert!(img.pixels() <= data.len()),
        Encoding::Plain if img.pixels() > data.len() => {
            let mut small = vec![0.0; data.len()];
            assert!(img.read_into(&mut small).is_err());
            return;
        }
        Encoding::Plain => {}
    }
    let mut px = vec![f32::NAN; img.pixels()];
    if img.read_into(&mut px).is_ok() {
        assert!(px.iter().all(|v| (0.0..=1.0).contains(v)), "a sample outside 0..=1");
    }
    let mut wrong = vec![0.0; img.pixels() + 1];
    assert!(img.read_into(&mut wrong).is_err());
});
