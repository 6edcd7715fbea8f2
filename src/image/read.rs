//! Reading a grayscale image, PNG or PGM, with a bound on the memory the
//! decoding takes: what example 08 classifies.

use crate::io::pgm::{Pgm, PgmError};
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

/// The largest image file [`read_gray`] reads: 16 MiB. The file is read
/// whole, so a larger one, or a device that never ends, is refused.
pub const MAX_IMAGE_FILE_BYTES: u64 = 16 << 20;

/// The default bound on the memory decoding one image takes: 256 MiB, a
/// 5000 x 5000 RGBA PNG (100 MB decoded, 100 MB as `f32` pixels).
pub const DEFAULT_DECODE_BYTES: u64 = 256 << 20;

/// A grayscale image: `width * height` pixels in `0.0..=1.0` (0 black,
/// 1 white), row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct GrayImage {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width * height` pixels, row after row.
    pub pixels: Vec<f32>,
}

/// Why bytes could not be decoded into a [`GrayImage`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Neither PNG's signature (`89 50 4E 47`) nor PGM's (`P5`, `P2`).
    UnknownFormat,
    /// A malformed PGM image.
    Pgm(PgmError),
    /// A malformed PNG image: the `png` decoder's message.
    Png(String),
    /// The image would take more memory than allowed; found from its
    /// header, before anything was allocated for it.
    TooLarge {
        /// Columns declared.
        width: u64,
        /// Rows declared.
        height: u64,
        /// Bytes decoding would allocate: the decoded buffer (PNG) and
        /// the `f32` pixels.
        needed: u64,
        /// The bound.
        limit: u64,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::UnknownFormat => {
                write!(f, "not a PNG or PGM image: a PNG starts with 89 50 4E 47, a PGM with \"P5\" or \"P2\"")
            }
            DecodeError::Pgm(e) => write!(f, "{e}"),
            DecodeError::Png(e) => write!(f, "PNG: {e}"),
            DecodeError::TooLarge { width, height, needed, limit } => write!(
                f,
                "a {width}x{height} image needs {needed} bytes to decode, more than the limit of {limit} bytes"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why an image file could not be read; every variant names the file.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadImageError {
    /// The file could not be opened or read, or is not a regular file.
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file is larger than [`MAX_IMAGE_FILE_BYTES`].
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        max: u64,
    },
    /// The file's bytes are not an image [`decode_gray`] accepts.
    Decode {
        /// The file.
        path: PathBuf,
        /// Why.
        source: DecodeError,
    },
}

impl fmt::Display for ReadImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadImageError::Io { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            ReadImageError::FileTooLarge { path, max } => {
                write!(f, "{} is larger than {max} bytes, the largest image file read", path.display())
            }
            ReadImageError::Decode { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for ReadImageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadImageError::Io { source, .. } => Some(source),
            ReadImageError::Decode { source, .. } => Some(source),
            ReadImageError::FileTooLarge { .. } => None,
        }
    }
}

/// Decodes a PNG (8 or 16 bit; gray, gray+alpha, RGB, RGBA or palette) or
/// PGM (`P5` or `P2`, [`crate::io::pgm`]) image into gray pixels in
/// `0.0..=1.0`: colour as `0.299 R + 0.587 G + 0.114 B`, alpha composited
/// over black.
///
/// The size the header declares is checked before any allocation:
/// decoding takes at most `max_bytes` for the decoded PNG buffer and the
/// `f32` pixels (`4 * width * height` bytes), and the PNG decoder's own
/// buffers are held to `max_bytes` too (`png::Limits`).
///
/// # Errors
/// [`DecodeError::UnknownFormat`], [`DecodeError::Pgm`],
/// [`DecodeError::Png`] for malformed input; [`DecodeError::TooLarge`] if
/// the image would take more than `max_bytes`.
///
/// ```
/// use constnet::image::{decode_gray, DecodeError, DEFAULT_DECODE_BYTES};
/// let img = decode_gray(b"P2 2 1 255\n0 255\n", DEFAULT_DECODE_BYTES)?;
/// assert_eq!((img.width, img.height, img.pixels), (2, 1, vec![0.0, 1.0]));
/// let mut p5 = b"P5 1024 1024 255\n".to_vec();
/// p5.resize(p5.len() + 1024 * 1024, 0); // 1 MiB of samples, 4 MiB as f32
/// let err = decode_gray(&p5, 1 << 20).unwrap_err();
/// assert!(matches!(err, DecodeError::TooLarge { needed: 4194304, limit: 1048576, .. }), "{err}");
/// # Ok::<(), DecodeError>(())
/// ```
pub fn decode_gray(bytes: &[u8], max_bytes: u64) -> Result<GrayImage, DecodeError> {
    if bytes.starts_with(b"P5") || bytes.starts_with(b"P2") {
        decode_pgm(bytes, max_bytes)
    } else if bytes.starts_with(b"\x89PNG") {
        decode_png(bytes, max_bytes)
    } else {
        Err(DecodeError::UnknownFormat)
    }
}

/// Reads an image file, at most [`MAX_IMAGE_FILE_BYTES`], and decodes it
/// with [`decode_gray`].
///
/// # Errors
/// [`ReadImageError::Io`] if the file cannot be read or is not a regular
/// file (a FIFO, a device, a directory), [`ReadImageError::FileTooLarge`],
/// or [`ReadImageError::Decode`] with [`decode_gray`]'s error.
///
/// ```
/// use constnet::image::{read_gray, DEFAULT_DECODE_BYTES};
/// let img = read_gray("examples/08_embed_classifier/samples/ankle_boot.pgm".as_ref(), DEFAULT_DECODE_BYTES)?;
/// assert_eq!((img.width, img.height), (28, 28));
/// let err = read_gray("/dev/zero".as_ref(), DEFAULT_DECODE_BYTES).unwrap_err();
/// assert!(err.to_string().contains("not a regular file"), "{err}");
/// # Ok::<(), constnet::image::ReadImageError>(())
/// ```
pub fn read_gray(path: &Path, max_bytes: u64) -> Result<GrayImage, ReadImageError> {
    let io_err = |source| ReadImageError::Io { path: path.to_path_buf(), source };
    let file = crate::io::open_regular_file(path).map_err(io_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_IMAGE_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(io_err)?;
    if bytes.len() as u64 > MAX_IMAGE_FILE_BYTES {
        return Err(ReadImageError::FileTooLarge { path: path.to_path_buf(), max: MAX_IMAGE_FILE_BYTES });
    }
    decode_gray(&bytes, max_bytes).map_err(|source| ReadImageError::Decode { path: path.to_path_buf(), source })
}

/// [`DecodeError::TooLarge`] unless `needed <= limit`.
fn check(width: u64, height: u64, needed: u64, limit: u64) -> Result<(), DecodeError> {
    if needed > limit {
        return Err(DecodeError::TooLarge { width, height, needed, limit });
    }
    Ok(())
}

/// `4 * width * height`, saturating: the bytes of the `f32` pixels.
fn f32_bytes(width: u64, height: u64) -> u64 {
    width.saturating_mul(height).saturating_mul(size_of::<f32>() as u64)
}

fn decode_pgm(bytes: &[u8], max_bytes: u64) -> Result<GrayImage, DecodeError> {
    let img = Pgm::parse(bytes).map_err(DecodeError::Pgm)?;
    let (w, h) = (img.width as u64, img.height as u64);
    check(w, h, f32_bytes(w, h), max_bytes)?;
    let mut pixels = vec![0.0; img.pixels()];
    img.read_into(&mut pixels).map_err(DecodeError::Pgm)?;
    Ok(GrayImage { width: img.width, height: img.height, pixels })
}

fn decode_png(bytes: &[u8], max_bytes: u64) -> Result<GrayImage, DecodeError> {
    let png_err = |e: png::DecodingError| DecodeError::Png(e.to_string());
    let limits = png::Limits { bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX) };
    let mut dec = png::Decoder::new_with_limits(io::Cursor::new(bytes), limits);
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    // The header alone: the f32 pixels must fit before the rest is read.
    let (w, h) = dec.read_header_info().map(|info| (info.width as u64, info.height as u64)).map_err(png_err)?;
    check(w, h, f32_bytes(w, h), max_bytes)?;
    let mut reader = dec.read_info().map_err(png_err)?;
    // Now the decoded buffer's size is known (after palette and
    // transparency expansion): it and the f32 pixels must fit.
    let too_large = DecodeError::TooLarge { width: w, height: h, needed: u64::MAX, limit: max_bytes };
    let size = reader.output_buffer_size().ok_or(too_large)?;
    check(w, h, (size as u64).saturating_add(f32_bytes(w, h)), max_bytes)?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(png_err)?;
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err(DecodeError::Png("palette PNG was not expanded".to_string())),
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
    Ok(GrayImage { width: w, height: h, pixels })
}
