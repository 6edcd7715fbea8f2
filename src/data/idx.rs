//! The IDX format of MNIST and Fashion-MNIST: reader and writer, raw or
//! gzip.
//!
//! # Format
//! ```text
//! offset  size    content
//! 0       2       0x00 0x00                     (magic)
//! 2       1       element type: 0x08 = unsigned byte (the only one accepted here)
//! 3       1       number of dimensions D        (3 for images, 1 for labels)
//! 4       4*D     each dimension, big-endian u32 (count[, rows, columns])
//! 4+4*D   prod    the elements, row-major       (count*rows*columns bytes)
//! ```
//! A file may be gzip-compressed as a whole (the distributed `*.gz`
//! files); the reader recognises gzip by its magic bytes `1f 8b`, not by
//! the file name.

use super::dataset::Dataset;
use super::error::DataError;
use crate::io::atomic::NewFile;
use flate2::read::MultiGzDecoder;
use std::boxed::Box;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::vec::Vec;
use std::{format, vec};

/// The largest amount of data (in bytes, after decompression) a reader
/// accepts from a single file: 1 GiB. A header declaring more is rejected
/// before anything is allocated. The full Fashion-MNIST training images are
/// 47 MB, CIFAR-10's five training batches 150 MB.
pub const MAX_DATA_BYTES: u64 = 1 << 30;

/// IDX element type code of an unsigned byte, the only one supported.
const UBYTE: u8 = 0x08;
/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The images of an IDX image file (`*-images-idx3-ubyte[.gz]`), as bytes.
///
/// `pixels` holds `count * rows * cols` bytes, image after image, each
/// row-major. Convert to tensors with [`load_idx`] (which also reads the
/// labels) or keep the bytes (e.g. to write a subset with
/// [`write_idx_images`]).
#[derive(Clone, Debug, PartialEq)]
pub struct IdxImages {
    /// The file the images were read from.
    pub path: PathBuf,
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// `count * rows * cols` pixel bytes.
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// The bytes of image `i` (`rows * cols` of them, row-major).
    ///
    /// # Panics
    /// If `i >= count`.
    pub fn image(&self, i: usize) -> &[u8] {
        assert!(i < self.count, "IdxImages::image: index {i} out of range for {} images", self.count);
        let n = self.rows * self.cols;
        &self.pixels[i * n..(i + 1) * n]
    }
}

/// How [`write_idx_images`] and [`write_idx_labels`] store a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdxCompression {
    /// The bare IDX bytes.
    Raw,
    /// One gzip member at the best compression level, with modification
    /// time 0, no file name and operating system 255 (unknown) in its
    /// header, so the same input always gives the same bytes (with the same
    /// flate2 backend; constnet uses its default, miniz_oxide).
    Gzip,
}

/// Reads an IDX image file (3 dimensions: count, rows, columns; unsigned
/// bytes), raw or gzip.
///
/// # Errors
/// Every error names the file: [`DataError::Io`] if it cannot be read,
/// [`DataError::Gzip`] for a corrupt gzip stream, [`DataError::ShortHeader`],
/// [`DataError::BadMagic`], [`DataError::BadElementType`] (not 0x08),
/// [`DataError::BadDimensions`] (not 3), [`DataError::TooLarge`] (more than
/// [`MAX_DATA_BYTES`]), [`DataError::Truncated`] or
/// [`DataError::TrailingData`] when the data does not match the declared
/// dimensions. The declared size is checked before anything is allocated.
///
/// ```
/// use constnet::data::{read_idx_images, write_idx_images, IdxCompression};
/// let path = std::env::temp_dir().join(format!("constnet-doc-read-images-{}", std::process::id()));
/// write_idx_images(&path, 2, 3, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], IdxCompression::Gzip)?;
/// let images = read_idx_images(&path)?;
/// assert_eq!((images.count, images.rows, images.cols), (2, 2, 3));
/// assert_eq!(images.image(1), &[6, 7, 8, 9, 10, 11]);
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), constnet::data::DataError>(())
/// ```
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<IdxImages, DataError> {
    let path = path.as_ref();
    let (dims, pixels) = read_idx(path, 3)?;
    Ok(IdxImages { path: path.to_path_buf(), count: dims[0], rows: dims[1], cols: dims[2], pixels })
}

/// Reads an IDX label file (1 dimension: count; unsigned bytes), raw or
/// gzip, and checks every label against `num_classes` when given
/// (`Some(10)` for (Fashion-)MNIST).
///
/// # Errors
/// As [`read_idx_images`] (with 1 dimension expected instead of 3), and
/// [`DataError::LabelOutOfRange`] for the first label `>= num_classes`.
///
/// ```
/// use constnet::data::{read_idx_labels, write_idx_labels, DataError, IdxCompression};
/// let path = std::env::temp_dir().join(format!("constnet-doc-read-labels-{}", std::process::id()));
/// write_idx_labels(&path, &[3, 1, 12], IdxCompression::Raw)?;
/// assert_eq!(read_idx_labels(&path, None)?, [3, 1, 12]);
/// let err = read_idx_labels(&path, Some(10)).unwrap_err();
/// assert!(matches!(err, DataError::LabelOutOfRange { index: 2, label: 12, num_classes: 10, .. }));
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), DataError>(())
/// ```
pub fn read_idx_labels(path: impl AsRef<Path>, num_classes: Option<u8>) -> Result<Vec<u8>, DataError> {
    let path = path.as_ref();
    let (_, labels) = read_idx(path, 1)?;
    if let Some(num_classes) = num_classes {
        check_labels(path, &labels, num_classes)?;
    }
    Ok(labels)
}

/// Reads a pair of IDX files (images and their labels) into a
/// [`Dataset<1, H, W>`], pixels as `f32` values 0.0..=255.0.
///
/// # Errors
/// As [`read_idx_labels`] and [`read_idx_images`]; then
/// [`DataError::CountMismatch`] if the files hold different numbers of
/// samples and [`DataError::ImageSize`] if the images are not `H x W`.
///
/// ```
/// use constnet::data::{load_idx, write_idx_images, write_idx_labels, DataError, IdxCompression};
/// let dir = std::env::temp_dir();
/// let (img, lab) = (dir.join(format!("constnet-doc-load-i-{}", std::process::id())),
///                   dir.join(format!("constnet-doc-load-l-{}", std::process::id())));
/// write_idx_images(&img, 2, 2, &[0, 255, 10, 20, 1, 2, 3, 4], IdxCompression::Raw)?;
/// write_idx_labels(&lab, &[7, 9], IdxCompression::Gzip)?;
/// let ds = load_idx::<2, 2>(&img, &lab, Some(10))?;
/// assert_eq!(ds.labels(), &[7, 9]);
/// assert_eq!(ds.images()[0].0, [[[0.0, 255.0], [10.0, 20.0]]]);
/// assert!(matches!(load_idx::<28, 28>(&img, &lab, Some(10)), Err(DataError::ImageSize { .. })));
/// # std::fs::remove_file(&img).unwrap(); std::fs::remove_file(&lab).unwrap();
/// # Ok::<(), DataError>(())
/// ```
pub fn load_idx<const H: usize, const W: usize>(
    images: impl AsRef<Path>,
    labels: impl AsRef<Path>,
    num_classes: Option<u8>,
) -> Result<Dataset<1, H, W>, DataError> {
    let (images, labels_path) = (images.as_ref(), labels.as_ref());
    let labels = read_idx_labels(labels_path, num_classes)?;
    let idx = read_idx_images(images)?;
    if idx.count != labels.len() {
        return Err(DataError::CountMismatch {
            images: images.to_path_buf(),
            n_images: idx.count,
            labels: labels_path.to_path_buf(),
            n_labels: labels.len(),
        });
    }
    if (idx.rows, idx.cols) != (H, W) {
        return Err(DataError::ImageSize {
            path: images.to_path_buf(),
            expected: (1, H, W),
            found: (1, idx.rows, idx.cols),
        });
    }
    Ok(Dataset::from_bytes(&idx.pixels, labels))
}

/// Writes images as an IDX image file: `pixels` holds whole `rows x cols`
/// images one after another. The file is replaced whole, as
/// [`io::save_file`](crate::io::save_file) replaces one: a kill or a
/// failure part-way leaves the old file as it was.
///
/// # Errors
/// [`DataError::InvalidWrite`] if `rows * cols` is 0, `pixels` is not a
/// whole number of images, or a dimension exceeds `u32::MAX`;
/// [`DataError::Io`] if the file cannot be written.
///
/// ```
/// use constnet::data::{read_idx_images, write_idx_images, IdxCompression};
/// let path = std::env::temp_dir().join(format!("constnet-doc-write-images-{}", std::process::id()));
/// write_idx_images(&path, 1, 2, &[5, 6, 7, 8], IdxCompression::Raw)?;
/// assert_eq!(std::fs::read(&path).unwrap(), [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 5, 6, 7, 8]);
/// assert!(write_idx_images(&path, 1, 3, &[5, 6, 7, 8], IdxCompression::Raw).is_err());
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), constnet::data::DataError>(())
/// ```
pub fn write_idx_images(
    path: impl AsRef<Path>,
    rows: usize,
    cols: usize,
    pixels: &[u8],
    compression: IdxCompression,
) -> Result<(), DataError> {
    let path = path.as_ref();
    commit_idx(path, stage_idx_images(path, rows, cols, pixels, compression)?)
}

/// [`write_idx_images`] up to the rename: the file written beside `path`,
/// not yet in place.
pub(crate) fn stage_idx_images(
    path: &Path,
    rows: usize,
    cols: usize,
    pixels: &[u8],
    compression: IdxCompression,
) -> Result<NewFile, DataError> {
    let per_image = rows.checked_mul(cols).unwrap_or(0);
    if per_image == 0 || !pixels.len().is_multiple_of(per_image) {
        return Err(DataError::InvalidWrite {
            path: path.to_path_buf(),
            problem: format!("{} pixel bytes are not a whole number of {rows}x{cols} images", pixels.len()),
        });
    }
    stage_idx(path, &[pixels.len() / per_image, rows, cols], pixels, compression)
}

/// Writes labels as an IDX label file, replaced whole as
/// [`write_idx_images`] replaces one.
///
/// # Errors
/// [`DataError::InvalidWrite`] if there are more than `u32::MAX` labels,
/// [`DataError::Io`] if the file cannot be written.
///
/// ```
/// use constnet::data::{write_idx_labels, IdxCompression};
/// let path = std::env::temp_dir().join(format!("constnet-doc-write-labels-{}", std::process::id()));
/// write_idx_labels(&path, &[1, 3], IdxCompression::Raw)?;
/// assert_eq!(std::fs::read(&path).unwrap(), [0, 0, 8, 1, 0, 0, 0, 2, 1, 3]);
/// write_idx_labels(&path, &[1, 3], IdxCompression::Gzip)?;
/// assert_eq!(&std::fs::read(&path).unwrap()[..4], &[0x1f, 0x8b, 8, 0]); // gzip, no file name
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), constnet::data::DataError>(())
/// ```
pub fn write_idx_labels(path: impl AsRef<Path>, labels: &[u8], compression: IdxCompression) -> Result<(), DataError> {
    let path = path.as_ref();
    commit_idx(path, stage_idx_labels(path, labels, compression)?)
}

/// [`write_idx_labels`] up to the rename.
pub(crate) fn stage_idx_labels(path: &Path, labels: &[u8], compression: IdxCompression) -> Result<NewFile, DataError> {
    stage_idx(path, &[labels.len()], labels, compression)
}

/// Puts a file written by [`stage_idx_images`] or [`stage_idx_labels`]
/// in place at `path`.
pub(crate) fn commit_idx(path: &Path, staged: NewFile) -> Result<(), DataError> {
    staged.commit().map_err(|source| DataError::Io { path: path.to_path_buf(), source })
}

/// Checks every label is below `num_classes`.
pub(crate) fn check_labels(path: &Path, labels: &[u8], num_classes: u8) -> Result<(), DataError> {
    match labels.iter().position(|&l| l >= num_classes) {
        Some(index) => {
            Err(DataError::LabelOutOfRange { path: path.to_path_buf(), index, label: labels[index], num_classes })
        }
        None => Ok(()),
    }
}

/// Writes the header and data of an IDX file to a temporary beside `path`.
fn stage_idx(path: &Path, dims: &[usize], data: &[u8], compression: IdxCompression) -> Result<NewFile, DataError> {
    let mut header = vec![0, 0, UBYTE, dims.len() as u8];
    for &d in dims {
        let d = u32::try_from(d).map_err(|_| DataError::InvalidWrite {
            path: path.to_path_buf(),
            problem: format!("dimension {d} does not fit the IDX format's 32 bits"),
        })?;
        header.extend_from_slice(&d.to_be_bytes());
    }
    let io_err = |source| DataError::Io { path: path.to_path_buf(), source };
    let mut staged = NewFile::create(path).map_err(io_err)?;
    let file = BufWriter::new(staged.file());
    let result = match compression {
        IdxCompression::Raw => write_all_flush(file, &header, data),
        IdxCompression::Gzip => {
            let mut gz =
                flate2::GzBuilder::new().mtime(0).operating_system(255).write(file, flate2::Compression::best());
            gz.write_all(&header).and_then(|_| gz.write_all(data)).and_then(|_| gz.finish()).and_then(|mut f| f.flush())
        }
    };
    result.map(|()| staged).map_err(io_err)
}

fn write_all_flush(mut w: impl Write, header: &[u8], data: &[u8]) -> io::Result<()> {
    w.write_all(header)?;
    w.write_all(data)?;
    w.flush()
}

/// An open data file: raw, or decompressed on the fly if it starts with
/// gzip's magic bytes. Read errors are mapped to [`DataError::Io`] or
/// [`DataError::Gzip`] accordingly.
pub(crate) struct DataFile {
    path: PathBuf,
    reader: Box<dyn Read>,
    /// `Some(file length)` for a raw file, `None` for gzip.
    raw_len: Option<u64>,
}

impl DataFile {
    /// Opens `path` and detects gzip by its first two bytes.
    pub(crate) fn open(path: &Path) -> Result<Self, DataError> {
        let io_err = |source| DataError::Io { path: path.to_path_buf(), source };
        let mut file = crate::io::open_regular_file(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        let mut magic = [0u8; 2];
        let n = read_up_to(&mut file, &mut magic).map_err(io_err)?;
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let (reader, raw_len): (Box<dyn Read>, _) = if n == 2 && magic == GZIP_MAGIC {
            (Box::new(MultiGzDecoder::new(BufReader::new(file))), None)
        } else {
            (Box::new(BufReader::new(file)), Some(len))
        };
        Ok(Self { path: path.to_path_buf(), reader, raw_len })
    }

    /// The file length for a raw file, `None` for gzip.
    pub(crate) fn raw_len(&self) -> Option<u64> {
        self.raw_len
    }

    /// Reads the rest of the data, at most `limit` bytes.
    pub(crate) fn read_rest_limited(mut self, limit: u64) -> Result<Vec<u8>, DataError> {
        let mut data = Vec::new();
        let result = (&mut self.reader).take(limit).read_to_end(&mut data);
        result.map_err(|e| self.err(e))?;
        Ok(data)
    }

    fn err(&self, source: io::Error) -> DataError {
        let path = self.path.clone();
        if self.raw_len.is_some() { DataError::Io { path, source } } else { DataError::Gzip { path, source } }
    }

    /// Fills `buf` as far as the data goes; returns the bytes read.
    pub(crate) fn read_up_to(&mut self, buf: &mut [u8]) -> Result<usize, DataError> {
        read_up_to(&mut self.reader, buf).map_err(|e| self.err(e))
    }

    /// Reads exactly `expected` more bytes (which the caller has checked
    /// against [`MAX_DATA_BYTES`]), `consumed` bytes having been read
    /// already; fails with [`DataError::Truncated`] or
    /// [`DataError::TrailingData`] if the file holds fewer or more. For a
    /// raw file the length is checked before allocating; for gzip at most
    /// `expected + 1` bytes are decompressed.
    pub(crate) fn read_rest_exact(mut self, consumed: u64, expected: u64) -> Result<Vec<u8>, DataError> {
        let path = self.path.clone();
        let mut data = Vec::new();
        if let Some(len) = self.raw_len {
            let available = len.saturating_sub(consumed);
            if available < expected {
                return Err(DataError::Truncated { path, expected, found: available });
            }
            if available > expected {
                return Err(DataError::TrailingData { path, expected, found: available });
            }
            data.reserve_exact(expected as usize);
        }
        let result = (&mut self.reader).take(expected + 1).read_to_end(&mut data);
        result.map_err(|e| self.err(e))?;
        let found = data.len() as u64;
        if found < expected {
            return Err(DataError::Truncated { path, expected, found });
        }
        if found > expected {
            return Err(DataError::TrailingData { path, expected, found });
        }
        Ok(data)
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads and checks an IDX header with `ndim` dimensions; returns the open
/// file positioned at the data, the dimensions, the header length and the
/// number of data bytes declared.
fn read_idx_header(path: &Path, ndim: u8) -> Result<(DataFile, Vec<usize>, u64, u64), DataError> {
    let mut file = DataFile::open(path)?;
    let mut magic = [0u8; 4];
    let n = file.read_up_to(&mut magic)?;
    if n < 4 {
        return Err(DataError::ShortHeader { path: path.to_path_buf(), needed: 4, found: n });
    }
    if magic[0] != 0 || magic[1] != 0 {
        return Err(DataError::BadMagic { path: path.to_path_buf(), found: magic });
    }
    if magic[2] != UBYTE {
        return Err(DataError::BadElementType { path: path.to_path_buf(), found: magic[2] });
    }
    if magic[3] != ndim {
        return Err(DataError::BadDimensions { path: path.to_path_buf(), expected: ndim, found: magic[3] });
    }
    let header_len = 4 + 4 * ndim as usize;
    let mut raw_dims = vec![0u8; 4 * ndim as usize];
    let n = file.read_up_to(&mut raw_dims)?;
    if n < raw_dims.len() {
        return Err(DataError::ShortHeader { path: path.to_path_buf(), needed: header_len, found: 4 + n });
    }
    let dims: Vec<usize> =
        raw_dims.chunks_exact(4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize).collect();
    let declared = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64)).unwrap_or(u64::MAX);
    if declared > MAX_DATA_BYTES {
        return Err(DataError::TooLarge { path: path.to_path_buf(), declared, max: MAX_DATA_BYTES });
    }
    Ok((file, dims, header_len as u64, declared))
}

/// Reads a whole IDX file with `ndim` dimensions: its dimensions and data.
fn read_idx(path: &Path, ndim: u8) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let (file, dims, header_len, declared) = read_idx_header(path, ndim)?;
    let data = file.read_rest_exact(header_len, declared)?;
    Ok((dims, data))
}

/// The first dimension (the sample count) of an IDX file, reading only its
/// header.
pub(crate) fn peek_idx_count(path: &Path, ndim: u8) -> Result<usize, DataError> {
    read_idx_header(path, ndim).map(|(_, dims, _, _)| dims[0])
}
