//! Saving and loading safetensors files and byte buffers (std feature).

use super::embed::{LoadError, LoadOptions, load_view_with};
use super::format::SafeTensorsView;
use crate::Network;
use std::collections::BTreeMap;
use std::fmt;
use std::format;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;

/// The `__metadata__` of a file: string keys and values.
pub type Metadata = BTreeMap<String, String>;

/// An error saving or loading weights: what went wrong and with which file.
#[derive(Debug)]
pub struct Error {
    /// The file, or `None` for bytes in memory.
    pub path: Option<PathBuf>,
    /// What went wrong.
    pub kind: ErrorKind,
}

/// What went wrong saving or loading weights.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading or writing the file failed.
    Io(std::io::Error),
    /// The file is larger than any valid file for this network can be.
    TooLarge {
        /// The file's length.
        len: u64,
        /// The largest valid length: 8 + the header limit + the parameters' bytes.
        max: u64,
    },
    /// Not a valid safetensors file (the message says why).
    Format(String),
    /// The network has a parameter tensor the file lacks.
    Missing {
        /// The tensor, e.g. `conv1.weight`.
        tensor: String,
    },
    /// The file has a tensor the network does not.
    Extra {
        /// The tensor.
        tensor: String,
    },
    /// A tensor's dtype is not `F32`.
    Dtype {
        /// The tensor.
        tensor: String,
        /// The dtype in the file.
        found: String,
    },
    /// A tensor's shape differs from the parameter's.
    Shape {
        /// The tensor.
        tensor: String,
        /// The network's (PyTorch) shape.
        expected: Vec<u64>,
        /// The file's.
        found: Vec<u64>,
    },
    /// A parameter value is NaN or infinite (refused unless
    /// [`LoadOptions::allow_non_finite`](super::LoadOptions::allow_non_finite)).
    NonFinite {
        /// The tensor.
        tensor: String,
        /// The first such value's index in the tensor (row-major).
        index: usize,
        /// The value.
        value: f32,
    },
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Io(e) => write!(f, "{e}"),
            ErrorKind::TooLarge { len, max } => {
                write!(f, "file is {len} bytes, more than the {max} any valid file for this network can have")
            }
            ErrorKind::Format(m) => write!(f, "not a valid safetensors file: {m}"),
            ErrorKind::Missing { tensor } => {
                write!(f, "tensor {tensor:?} is missing: the network has it, the file does not")
            }
            ErrorKind::Extra { tensor } => {
                write!(f, "tensor {tensor:?} is not a parameter of the network (the file has it, the network does not)")
            }
            ErrorKind::Dtype { tensor, found } => {
                write!(f, "tensor {tensor:?}: expected dtype F32 (or I64 of integers within ±2^24), found {found}")
            }
            ErrorKind::Shape { tensor, expected, found } => {
                write!(f, "tensor {tensor:?}: expected shape {expected:?}, found {found:?}")
            }
            ErrorKind::NonFinite { tensor, index, value } => write!(
                f,
                "tensor {tensor:?}: value {index} is {value}; NaN and infinite weights are refused (LoadOptions::allow_non_finite accepts them)"
            ),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{}: {}", p.display(), self.kind),
            None => write!(f, "safetensors bytes: {}", self.kind),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<LoadError<'_>> for ErrorKind {
    fn from(e: LoadError<'_>) -> Self {
        match e {
            LoadError::Format(e) => ErrorKind::Format(e.to_string()),
            LoadError::Missing { layer, param } => ErrorKind::Missing { tensor: std::format!("{layer}.{param}") },
            LoadError::Extra { name } => ErrorKind::Extra { tensor: name.to_string() },
            LoadError::Dtype { layer, param, found } => {
                ErrorKind::Dtype { tensor: std::format!("{layer}.{param}"), found: found.to_string() }
            }
            LoadError::Shape { layer, param, expected, found } => ErrorKind::Shape {
                tensor: std::format!("{layer}.{param}"),
                expected: expected.kept().to_vec(),
                found: found.kept().to_vec(),
            },
            LoadError::NonFinite { layer, param, index, value } => {
                ErrorKind::NonFinite { tensor: std::format!("{layer}.{param}"), index, value }
            }
        }
    }
}

fn from_st(e: safetensors::SafeTensorError) -> ErrorKind {
    ErrorKind::Format(e.to_string())
}

/// A tensor to write: its name, dtype, shape and little-endian bytes.
pub(crate) type Owned = (String, safetensors::Dtype, Vec<usize>, Vec<u8>);

/// The parameters of `net` as `F32` tensors named `layer.param`.
fn tensors<P: Network>(net: &P) -> Vec<Owned> {
    let mut out = Vec::new();
    net.visit(&mut |layer, t| {
        let bytes = t.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        out.push((std::format!("{layer}.{}", t.name), safetensors::Dtype::F32, t.shape.to_vec(), bytes));
    });
    out
}

fn views(t: &[Owned]) -> Result<Vec<(&str, safetensors::tensor::TensorView<'_>)>, ErrorKind> {
    t.iter()
        .map(|(name, dtype, shape, bytes)| {
            let v = safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes).map_err(from_st)?;
            Ok((name.as_str(), v))
        })
        .collect()
}

/// The parameters of `net` as a safetensors file in memory: one `F32`
/// tensor per parameter, named and shaped as PyTorch's `state_dict`
/// (`conv1.weight` `[OUT_C, IN_C, K, K]`, `dense.weight` `[N_OUT, N_IN]`,
/// `….bias` `[N]`), with `metadata` as `__metadata__` (none if empty), its
/// keys in order: the same network and metadata give the same bytes.
/// `safetensors.torch.load_file` reads it.
///
/// ```
/// use constnet::{io, zoo::seed1, Flat, Init, Network};
/// use rand::SeedableRng;
/// let mut net = seed1::Params::zeroed();
/// net.init(Init::He, &mut rand::rngs::SmallRng::seed_from_u64(0));
/// let bytes = io::to_bytes(&net, &io::Metadata::new()).unwrap();
/// let mut copy = seed1::Params::zeroed();
/// io::load_bytes(&mut copy, &bytes).unwrap();
/// assert_eq!(copy, net);
/// ```
///
/// # Errors
/// [`ErrorKind::Format`] if the header would exceed the format's limit.
pub fn to_bytes<P: Network>(net: &P, metadata: &Metadata) -> Result<Vec<u8>, Error> {
    to_bytes_with(net, Vec::new(), metadata).map_err(|kind| Error { path: None, kind })
}

/// [`to_bytes`] with the tensors `extra` beside the parameters (a
/// checkpoint's state).
pub(crate) fn to_bytes_with<P: Network>(net: &P, extra: Vec<Owned>, metadata: &Metadata) -> Result<Vec<u8>, ErrorKind> {
    let mut t = tensors(net);
    t.extend(extra);
    views(&t)
        .and_then(|v| safetensors::serialize(v, None).map_err(from_st))
        .and_then(|bytes| with_metadata(bytes, metadata))
}

/// `bytes`, a safetensors file without `__metadata__`, with `metadata`
/// (if any) as its header's first entry, keys in their order. The
/// `safetensors` crate takes the metadata as a `HashMap` and writes it in
/// that map's random order, so the same network and metadata gave
/// different bytes on almost every save (a file compiled into a program
/// then changed its build); here they give the same bytes every time.
fn with_metadata(mut bytes: Vec<u8>, metadata: &Metadata) -> Result<Vec<u8>, ErrorKind> {
    if metadata.is_empty() {
        return Ok(bytes);
    }
    // The length prefix, the header and its JSON as the strict reader
    // checks them in every file it loads.
    let st = SafeTensorsView::parse(&bytes).map_err(|e| ErrorKind::Format(e.to_string()))?;
    let n = bytes.len() - 8 - st.data().len();
    let tensors = (st.header().trim_end().strip_prefix('{'))
        .filter(|t| t.ends_with('}'))
        .ok_or_else(|| ErrorKind::Format("the serialized header is not a JSON object".to_string()))?;
    let meta = serde_json::to_string(metadata).map_err(|e| ErrorKind::Format(e.to_string()))?;
    let comma = if tensors == "}" { "" } else { "," };
    // The length, then the header padded with spaces to a multiple of 8
    // bytes, as the crate pads it.
    let mut prefix = std::format!("________{{\"__metadata__\":{meta}{comma}{tensors}").into_bytes();
    prefix.resize(8 + (prefix.len() - 8).next_multiple_of(8), b' ');
    let len = prefix.len() - 8;
    if len > super::MAX_HEADER_LEN {
        return Err(from_st(safetensors::SafeTensorError::HeaderTooLarge));
    }
    prefix[..8].copy_from_slice(&(len as u64).to_le_bytes());
    // In place: the data section is moved, not copied into a second buffer.
    bytes.splice(..8 + n, prefix);
    Ok(bytes)
}

/// Writes the parameters of `net` to a safetensors file at `path`, as
/// [`to_bytes`] lays them out; the file is written to a temporary file
/// beside `path`, synced to disk and renamed into place, so `path` holds
/// the old file or the new one whole, even after a crash. (On Unix the
/// directory is synced after the rename too, so that the new name itself
/// survives a crash; that sync is best effort: a file system that cannot
/// sync a directory does not fail the save. Elsewhere it is not synced.)
///
/// An existing file keeps its permissions (and, where allowed, its owner);
/// a new one gets a new file's usual mode. If `path` is a symbolic link,
/// the file it points to is replaced and the link stays. A temporary left
/// by a crashed save never blocks a later one, and is removed by a later
/// save of the same file once it is stale: unlocked and unmodified for 10
/// minutes (the [module](super#saving-after-a-crash) gives the rule).
///
/// # Errors
/// [`ErrorKind::Io`] if the file cannot be written or synced to disk, or
/// `path` names a directory or no file; the error names `path`.
pub fn save_file<P: Network>(net: &P, path: impl AsRef<Path>) -> Result<(), Error> {
    save_file_with_metadata(net, &Metadata::new(), path)
}

/// [`save_file`] with `metadata` written as the file's `__metadata__` (for
/// instance the preprocessing a network expects).
///
/// ```
/// use constnet::{io, zoo::seed1, Flat};
/// let path = std::env::temp_dir().join(format!("constnet-doc-{}.safetensors", std::process::id()));
/// let meta = io::Metadata::from([("input_mean".to_string(), "0.286".to_string())]);
/// io::save_file_with_metadata(&seed1::Params::zeroed(), &meta, &path).unwrap();
/// let mut net = seed1::Params::zeroed();
/// assert_eq!(io::load_file(&mut net, &path).unwrap(), meta);
/// std::fs::remove_file(&path).unwrap();
/// ```
///
/// # Errors
/// As [`save_file`].
pub fn save_file_with_metadata<P: Network>(net: &P, metadata: &Metadata, path: impl AsRef<Path>) -> Result<(), Error> {
    let path = path.as_ref();
    to_bytes(net, metadata)
        .map_err(|e| e.kind)
        .and_then(|bytes| {
            super::atomic::write_atomically(path, |file| std::io::Write::write_all(file, &bytes)).map_err(ErrorKind::Io)
        })
        .map_err(|kind| Error { path: Some(path.to_path_buf()), kind })
}

/// The most `__metadata__` keys [`load_bytes`] reads: a file with more is
/// refused before its header is checked, so that the check's scratch and
/// the returned map stay small (a 100 MB header holds 16 million short
/// keys). constnet writes a handful; PyTorch writes one.
pub const MAX_METADATA_KEYS: usize = 4096;

/// Loads the parameters of `net` from safetensors bytes and returns the
/// file's `__metadata__`.
///
/// The bytes must pass the strict reader of [`SafeTensorsView`] (with
/// [`SafeTensorsView::validate_all`], so errors name the tensor at fault;
/// the fuzz target holds it to the reference implementation, the
/// `safetensors` crate: what it accepts, the reference accepts and reads
/// alike, metadata included); then
/// every parameter must be present as an `F32` tensor of its PyTorch name
/// and shape, and no other tensor may be. Nothing is written unless all of
/// this holds: on error `net` is unchanged.
///
/// Memory: besides `bytes`, 16 bytes per tensor in the header (the
/// check's scratch) and, on success, the metadata's decoded strings (at
/// most [`MAX_METADATA_KEYS`] pairs, no more bytes than the header). A
/// 100 MB header, the format's limit, is refused holding about 27 MB; the
/// reference crate's parse of it had held 1.4 GB.
///
/// A NaN or infinite value is refused ([`ErrorKind::NonFinite`]);
/// [`load_bytes_with`] can accept them.
///
/// # Errors
/// [`ErrorKind::Format`] (also for more than [`MAX_METADATA_KEYS`]
/// metadata keys), [`ErrorKind::Missing`], [`ErrorKind::Extra`],
/// [`ErrorKind::Dtype`], [`ErrorKind::Shape`] or [`ErrorKind::NonFinite`].
pub fn load_bytes<P: Network>(net: &mut P, bytes: &[u8]) -> Result<Metadata, Error> {
    load_bytes_with(net, bytes, LoadOptions::default())
}

/// [`load_bytes`] with the [`LoadOptions`] given (e.g. to accept NaN or
/// infinite weights: read a file into bytes, then call this).
///
/// # Errors
/// As [`load_bytes`].
pub fn load_bytes_with<P: Network>(net: &mut P, bytes: &[u8], options: LoadOptions) -> Result<Metadata, Error> {
    load_impl(net, bytes, options).map_err(|kind| Error { path: None, kind })
}

/// `bytes` parsed by the strict reader and checked all through
/// ([`SafeTensorsView::validate_all`]), with at most [`MAX_METADATA_KEYS`]
/// metadata keys; the error is what [`ErrorKind::Format`] holds. Every
/// loader of whole files (weights, checkpoints) starts here.
pub(crate) fn checked_view(bytes: &[u8]) -> Result<SafeTensorsView<'_>, String> {
    // The strict reader first, all of it: its errors name the tensor at
    // fault. (Of two tensors with one name the reference keeps the last,
    // then finds a gap in the data and blames another tensor's offsets.)
    let st = SafeTensorsView::parse(bytes).map_err(|e| e.to_string())?;
    if st.metadata_len() > MAX_METADATA_KEYS {
        let keys = st.metadata_len();
        return Err(format!("__metadata__ holds {keys} keys, more than the {MAX_METADATA_KEYS} this loader reads"));
    }
    st.validate_all().map_err(|e| e.to_string())?;
    Ok(st)
}

/// The bytes of the regular file at `path` ([`open_regular_file`]), read up
/// to `max` bytes: a longer file is [`ErrorKind::TooLarge`], refused
/// having held no more than `max + 1` bytes.
pub(crate) fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, ErrorKind> {
    let mut file = open_regular_file(path).map_err(ErrorKind::Io)?;
    let mut bytes = Vec::new();
    (&mut file).take(max + 1).read_to_end(&mut bytes).map_err(ErrorKind::Io)?;
    if bytes.len() as u64 > max {
        // At least what was read (a file system may report a length of 0).
        let len = file.metadata().map_or(0, |m| m.len()).max(bytes.len() as u64);
        return Err(ErrorKind::TooLarge { len, max });
    }
    Ok(bytes)
}

fn load_impl<P: Network>(net: &mut P, bytes: &[u8], options: LoadOptions) -> Result<Metadata, ErrorKind> {
    let st = checked_view(bytes).map_err(ErrorKind::Format)?;
    if let Err(e) = load_view_with(net, &st, options) {
        let mut kind = ErrorKind::from(e);
        if let (ErrorKind::Shape { expected, found, .. }, LoadError::Shape { layer, param, .. }) = (&mut kind, e) {
            // Full shapes, not only the dimensions the no_std error keeps.
            if let Ok(Some(t)) = st.tensor_parts(&[layer, ".", param]) {
                *found = t.shape().collect();
            }
            net.visit(&mut |l, t| {
                if l == layer && t.name == param {
                    *expected = t.shape.iter().map(|&d| d as u64).collect();
                }
            });
        }
        return Err(kind);
    }
    // The metadata from the strict reader too: the reference crate's parse
    // of a 100 MB header (the format's limit) held 1.4 GB.
    Ok(st.metadata_pairs().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

/// Opens `path` for reading if it is a regular file (or a link to one),
/// and refuses anything else with [`std::io::ErrorKind::InvalidInput`]
/// before opening it: reading a FIFO blocks until a writer comes, and a
/// device such as `/dev/zero` never ends. Every loader of the crate opens
/// its files through it.
///
/// ```
/// let dir = std::env::temp_dir();
/// let err = constnet::io::open_regular_file(&dir).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
/// assert!(err.to_string().contains("not a regular file"), "{err}");
/// ```
///
/// # Errors
/// The error of reading the file's metadata or of opening it, or
/// `InvalidInput` for a directory, FIFO, socket or device.
pub fn open_regular_file(path: &Path) -> std::io::Result<std::fs::File> {
    let kind = std::fs::metadata(path)?.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() { "a directory" } else { "a FIFO, socket or device" };
        let message = format!("not a regular file but {what}: refused, as reading it could block or never end");
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, message));
    }
    std::fs::File::open(path)
}

/// Loads the parameters of `net` from the safetensors file at `path` (as
/// [`load_bytes`]) and returns its `__metadata__`. A file longer than any
/// valid file for `P` is refused before it is read.
///
/// # Errors
/// As [`load_bytes`], plus [`ErrorKind::Io`] and [`ErrorKind::TooLarge`];
/// the error names the file.
pub fn load_file<P: Network>(net: &mut P, path: impl AsRef<Path>) -> Result<Metadata, Error> {
    let path = path.as_ref();
    let err = |kind| Error { path: Some(path.to_path_buf()), kind };
    let max = 8 + super::MAX_HEADER_LEN as u64 + 4 * P::LEN as u64;
    let bytes = read_bounded(path, max).map_err(err)?;
    load_impl(net, &bytes, LoadOptions::default()).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    #[test]
    fn metadata_goes_into_a_header_without_tensors_and_bad_bytes_are_errors() {
        let none: Vec<(&str, safetensors::tensor::TensorView<'_>)> = Vec::new();
        let meta = Metadata::from([("a".to_string(), "b".to_string())]);
        let out = with_metadata(safetensors::serialize(none, None).unwrap(), &meta).unwrap();
        let mut want = br#"{"__metadata__":{"a":"b"}}"#.to_vec();
        want.resize(32, b' ');
        assert_eq!(out[..8], 32u64.to_le_bytes());
        assert_eq!(out[8..], want[..]);
        let (_, read) = safetensors::SafeTensors::read_metadata(&out).unwrap();
        assert_eq!(read.metadata().as_ref().and_then(|m| m.get("a")).map(String::as_str), Some("b"));
        for bad in [
            vec![1, 2, 3],
            [&[9u8, 0, 0, 0, 0, 0, 0, 0][..], b"{}"].concat(),
            [&2u64.to_le_bytes()[..], b"[]"].concat(),
        ] {
            assert!(matches!(with_metadata(bad, &meta), Err(ErrorKind::Format(_))));
        }
    }
}
