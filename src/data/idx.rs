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
//!
//! # Memory
//! A reader checks the declared size against [`MAX_DATA_BYTES`] and charges
//! it to the load's [`Budget`] (with the `f32` images it will build) before
//! it allocates; the `*_with` variants take the budget, the others use
//! [`Budget::default`] for each call.

use super::budget::Budget;
use super::dataset::Dataset;
use super::error::{DataError, Measured};
use super::file::{DataFile, check_exact, gzip_declared_size};
use crate::Tensor;
use crate::io::atomic::NewFile;
use std::io::{self, BufWriter, Write};
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
/// [`MAX_DATA_BYTES`]), [`DataError::OverBudget`] (more than
/// [`Budget::DEFAULT_LIMIT`]), [`DataError::Truncated`] or
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
    read_idx_images_with(path, &mut Budget::default())
}

/// [`read_idx_images`] charging the pixel bytes to `budget`.
///
/// # Errors
/// As [`read_idx_images`]; [`DataError::OverBudget`] if the declared
/// pixel bytes exceed what `budget` has left (checked from the header,
/// before anything is decompressed or allocated).
///
/// ```
/// use constnet::data::{read_idx_images_with, write_idx_images, Budget, DataError, IdxCompression};
/// let path = std::env::temp_dir().join(format!("constnet-doc-images-with-{}", std::process::id()));
/// write_idx_images(&path, 2, 2, &[0; 8], IdxCompression::Gzip)?;
/// let mut budget = Budget::new(1000);
/// assert_eq!(read_idx_images_with(&path, &mut budget)?.count, 2);
/// assert_eq!(budget.used(), 8);
/// let err = read_idx_images_with(&path, &mut Budget::new(7)).unwrap_err();
/// assert!(matches!(err, DataError::OverBudget { needed: 8, limit: 7, .. }));
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), DataError>(())
/// ```
pub fn read_idx_images_with(path: impl AsRef<Path>, budget: &mut Budget) -> Result<IdxImages, DataError> {
    let path = path.as_ref();
    let header = IdxHeader::read(path, 3)?;
    budget.charge(path, "pixel bytes", header.data_bytes)?;
    let (count, rows, cols) = (header.dims[0], header.dims[1], header.dims[2]);
    let pixels = header.read_data()?;
    Ok(IdxImages { path: path.to_path_buf(), count, rows, cols, pixels })
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
    read_idx_labels_with(path, num_classes, &mut Budget::default())
}

/// [`read_idx_labels`] charging the labels (a byte each) to `budget`.
///
/// # Errors
/// As [`read_idx_labels`]; [`DataError::OverBudget`] if the declared
/// labels exceed what `budget` has left.
///
/// ```
/// use constnet::data::{read_idx_labels_with, write_idx_labels, Budget, IdxCompression};
/// let path = std::env::temp_dir().join(format!("constnet-doc-labels-with-{}", std::process::id()));
/// write_idx_labels(&path, &[1, 2, 3], IdxCompression::Raw)?;
/// let mut budget = Budget::new(3);
/// assert_eq!(read_idx_labels_with(&path, Some(10), &mut budget)?, [1, 2, 3]);
/// assert!(read_idx_labels_with(&path, Some(10), &mut budget).is_err()); // the 3 bytes are spent
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), constnet::data::DataError>(())
/// ```
pub fn read_idx_labels_with(
    path: impl AsRef<Path>,
    num_classes: Option<u8>,
    budget: &mut Budget,
) -> Result<Vec<u8>, DataError> {
    let path = path.as_ref();
    let header = IdxHeader::read(path, 1)?;
    budget.charge(path, "labels", header.data_bytes)?;
    let labels = header.read_data()?;
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
/// samples and [`DataError::ImageSize`] if the images are not `H x W`, both
/// found from the image file's header; [`DataError::OverBudget`] if the
/// labels, pixel bytes and `f32` images exceed [`Budget::DEFAULT_LIMIT`].
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
    load_idx_with(images, labels, num_classes, &mut Budget::default())
}

/// [`load_idx`] charging `budget` for the labels, the pixel bytes and the
/// `f32` images (`4 * H * W` bytes each) before reading them.
///
/// # Errors
/// As [`load_idx`]; [`DataError::OverBudget`] if they exceed what
/// `budget` has left. See [`Budget`] for an example.
pub fn load_idx_with<const H: usize, const W: usize>(
    images: impl AsRef<Path>,
    labels: impl AsRef<Path>,
    num_classes: Option<u8>,
    budget: &mut Budget,
) -> Result<Dataset<1, H, W>, DataError> {
    let (images, labels_path) = (images.as_ref(), labels.as_ref());
    let labels = read_idx_labels_with(labels_path, num_classes, budget)?;
    let header = IdxHeader::read(images, 3)?;
    let (count, rows, cols) = (header.dims[0], header.dims[1], header.dims[2]);
    if count != labels.len() {
        return Err(DataError::CountMismatch {
            images: images.to_path_buf(),
            n_images: count,
            labels: labels_path.to_path_buf(),
            n_labels: labels.len(),
        });
    }
    if (rows, cols) != (H, W) {
        return Err(DataError::ImageSize { path: images.to_path_buf(), expected: (1, H, W), found: (1, rows, cols) });
    }
    let tensors = (count as u64).saturating_mul(size_of::<Tensor<1, H, W>>() as u64);
    budget.charge(images, "pixel bytes and their f32 images", header.data_bytes.saturating_add(tensors))?;
    let pixels = header.read_data()?;
    Ok(Dataset::from_bytes(&pixels, labels))
}

/// Writes images as an IDX image file: `pixels` holds whole `rows x cols`
/// images one after another. The file is replaced whole, as
/// [`io::save_file`](crate::io::save_file) replaces one: a kill or a
/// failure part-way leaves the old file as it was.
///
/// # Errors
/// [`DataError::InvalidWrite`] if `rows * cols` is 0, `pixels` is not a
/// whole number of images, or a dimension exceeds `u32::MAX`;
/// [`DataError::WriteIo`] if the file cannot be written.
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
/// [`DataError::WriteIo`] if the file cannot be written.
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
    staged.commit().map_err(|source| DataError::WriteIo { path: path.to_path_buf(), source })
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
    let io_err = |source| DataError::WriteIo { path: path.to_path_buf(), source };
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

/// A checked IDX header, the file open at its data.
struct IdxHeader {
    file: DataFile,
    /// The dimensions: `[count]` or `[count, rows, columns]`.
    dims: Vec<usize>,
    /// Header bytes: `4 + 4 * dims.len()`.
    header_len: u64,
    /// Data bytes declared: the product of the dimensions, at most
    /// [`MAX_DATA_BYTES`].
    data_bytes: u64,
}

impl IdxHeader {
    /// Reads and checks the header of an IDX file with `ndim` dimensions, and
    /// a raw file's data length.
    fn read(path: &Path, ndim: u8) -> Result<Self, DataError> {
        let mut file = DataFile::open(path)?;
        let measured = file.measured();
        let short = |needed, found| DataError::ShortHeader { path: path.to_path_buf(), needed, found, measured };
        let mut magic = [0u8; 4];
        let n = file.read_up_to(&mut magic)?;
        if n < 4 {
            return Err(short(4, n));
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
            return Err(short(header_len, 4 + n));
        }
        let dims: Vec<usize> =
            raw_dims.chunks_exact(4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize).collect();
        let declared = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64)).unwrap_or(u64::MAX);
        if declared > MAX_DATA_BYTES {
            return Err(DataError::TooLarge {
                path: path.to_path_buf(),
                declared,
                measured: Measured::Header,
                max: MAX_DATA_BYTES,
            });
        }
        // A raw file's data length is known: a wrong one is the error, not
        // the memory the header asks for.
        if let Some(len) = file.raw_len() {
            check_exact(path, declared, len.saturating_sub(header_len as u64))?;
        }
        Ok(Self { file, dims, header_len: header_len as u64, data_bytes: declared })
    }

    /// Reads the data, exactly as many bytes as declared.
    fn read_data(self) -> Result<Vec<u8>, DataError> {
        self.file.read_rest_exact(self.header_len, self.data_bytes)
    }
}

/// Checks an IDX file with `ndim` dimensions without keeping its data: the
/// header, then that the data has the declared length (a raw file's
/// length; a gzip file's declared size in its trailer, or, if that
/// differs, the decompressed stream counted to its end). Returns the
/// sample count.
pub(crate) fn check_idx_file(path: &Path, ndim: u8) -> Result<usize, DataError> {
    let header = IdxHeader::read(path, ndim)?; // checks a raw file's length
    let count = header.dims[0];
    let whole = header.header_len + header.data_bytes;
    // A file of one gzip member declares its length modulo 2^32; with
    // several members, or a damaged stream, decompress and count.
    if header.file.raw_len().is_none() && gzip_declared_size(path)? != Some(whole as u32) {
        header.file.skip_rest_exact(header.data_bytes)?;
    }
    Ok(count)
}
