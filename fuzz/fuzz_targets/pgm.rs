//! Fuzzes the PGM reader: nothing panics, an accepted header's pixel count
//! is bounded by the input's length (so a buffer of that many pixels is
//! too), and reading the samples either fills the buffer with values in
//! 0..=1 or fails with an error.
#![no_main]

use constnet::io::pgm::{Encoding, Pgm};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(img) = Pgm::parse(data) else { return };
    // P5: one or two bytes a pixel are present; P2: a digit and a separator
    // a pixel, but the last one's separator.
    match img.encoding {
        Encoding::Binary => assert!(img.pixels() <= data.len()),
        Encoding::Plain => {
            assert!(2 * img.pixels() - 1 <= data.len(), "{} pixels in {} bytes", img.pixels(), data.len())
        }
    }
    let mut px = vec![f32::NAN; img.pixels()];
    if img.read_into(&mut px).is_ok() {
        assert!(px.iter().all(|v| (0.0..=1.0).contains(v)), "a sample outside 0..=1");
    }
    let mut wrong = vec![0.0; img.pixels() + 1];
    assert!(img.read_into(&mut wrong).is_err());
});
