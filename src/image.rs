//! Images as files (std feature, `png` crate): writing feature maps and
//! plots as PNG files, and reading a grayscale PNG or PGM image within a
//! memory bound ([`read_gray`], [`decode_gray`]).

mod read;

pub use read::{
    DEFAULT_DECODE_BYTES, DecodeError, GrayImage, MAX_IMAGE_FILE_BYTES, ReadImageError, decode_gray, read_gray,
};

use crate::Tensor;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;

/// An image that could not be written.
#[derive(Debug)]
pub struct ImageError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

impl core::fmt::Display for ImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "cannot write image {}: {}", self.path.display(), self.message)
    }
}

impl std::error::Error for ImageError {}

fn write(path: &Path, width: u32, height: u32, color: png::ColorType, data: &[u8]) -> Result<(), ImageError> {
    let err = |m: &dyn core::fmt::Display| ImageError { path: path.to_path_buf(), message: m.to_string() };
    let channels = if color == png::ColorType::Rgb { 3 } else { 1 };
    if data.len() != (width * height) as usize * channels {
        return Err(err(&format_args!("{} bytes for a {width}x{height} image with {channels} channel(s)", data.len())));
    }
    let file = std::fs::File::create(path).map_err(|e| err(&e))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    enc.set_color(color);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| err(&e))?;
    w.write_image_data(data).map_err(|e| err(&e))?;
    w.finish().map_err(|e| err(&e))
}

/// Writes an 8-bit RGB image (`width * height * 3` bytes, row-major).
///
/// # Errors
/// [`ImageError`] naming the file, if the size is wrong or writing fails.
pub fn write_rgb(path: &Path, width: u32, height: u32, rgb: &[u8]) -> Result<(), ImageError> {
    write(path, width, height, png::ColorType::Rgb, rgb)
}

/// Writes an 8-bit grayscale image (`width * height` bytes, row-major).
///
/// # Errors
/// [`ImageError`] naming the file, if the size is wrong or writing fails.
pub fn write_gray(path: &Path, width: u32, height: u32, gray: &[u8]) -> Result<(), ImageError> {
    write(path, width, height, png::ColorType::Grayscale, gray)
}

/// Maps values linearly so their minimum is 0 and maximum 255 (a constant
/// map becomes mid-gray), as matplotlib's `imshow` does by default.
pub fn to_gray(values: &[f32]) -> Vec<u8> {
    let lo = values.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    values.iter().map(|&v| if hi > lo { ((v - lo) / (hi - lo) * 255.0).round() as u8 } else { 128 }).collect()
}

/// Writes the feature maps of a tensor side by side (channel after
/// channel, each min-max scaled on its own), each pixel enlarged `scale`
/// times, with a 2-pixel white gap between maps.
///
/// ```
/// use constnet::{image::write_tensor, Tensor};
/// let t = Tensor::<2, 3, 3>::from_fn(|c, y, x| (c + y * x) as f32);
/// let path = std::env::temp_dir().join("constnet-doc-write-tensor.png");
/// write_tensor(&t, 4, &path).unwrap();
/// assert!(std::fs::metadata(&path).unwrap().len() > 0);
/// ```
///
/// # Errors
/// [`ImageError`] naming the file.
pub fn write_tensor<const C: usize, const H: usize, const W: usize>(
    t: &Tensor<C, H, W>,
    scale: usize,
    path: &Path,
) -> Result<(), ImageError> {
    let gap = 2;
    let (w, h) = (C * W * scale + (C - 1) * gap, H * scale);
    let mut img = std::vec![255u8; w * h];
    for (c, plane) in t.0.iter().enumerate() {
        let gray = to_gray(plane.as_flattened());
        for y in 0..h {
            for x in 0..W * scale {
                img[y * w + c * (W * scale + gap) + x] = gray[(y / scale) * W + x / scale];
            }
        }
    }
    write_gray(path, w as u32, h as u32, &img)
}
