//! Loading a network's weights from safetensors bytes with no allocation
//! and no file: the `no_std` path, for weights compiled into the binary
//! with `include_bytes!`.

use super::format::{Dims, Dtype, FormatError, SafeTensorsView};
use super::json::JsonStr;
use crate::Network;
use core::fmt;

/// Why safetensors bytes could not be loaded into a network. Names borrow
/// from the bytes (`'static` for `include_bytes!` data).
#[derive(Clone, Copy, Debug)]
pub enum LoadError<'a> {
    /// The bytes are not a valid safetensors file.
    Format(FormatError<'a>),
    /// The network has a parameter tensor the file lacks.
    Missing {
        /// The layer, e.g. `conv1`.
        layer: &'static str,
        /// The parameter, `weight` or `bias`.
        param: &'static str,
    },
    /// The file has a tensor the network does not.
    Extra {
        /// The tensor's name in the file.
        name: JsonStr<'a>,
    },
    /// A tensor's dtype is not `F32`, nor `I64` of integers within ±2^24
    /// (what PyTorch saves batch norm's `num_batches_tracked` as).
    Dtype {
        /// The layer.
        layer: &'static str,
        /// The parameter.
        param: &'static str,
        /// The dtype in the file.
        found: Dtype,
    },
    /// A tensor's shape differs from the parameter's.
    Shape {
        /// The layer.
        layer: &'static str,
        /// The parameter.
        param: &'static str,
        /// The network's (PyTorch) shape.
        expected: Dims,
        /// The file's.
        found: Dims,
    },
    /// A parameter value is NaN or infinite (refused unless
    /// [`LoadOptions::allow_non_finite`]).
    NonFinite {
        /// The layer.
        layer: &'static str,
        /// The parameter.
        param: &'static str,
        /// The first such value's index in the tensor (row-major).
        index: usize,
        /// The value.
        value: f32,
    },
}

/// What a load accepts beyond a valid file whose tensors fit the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Accept NaN and infinite parameter values. Refused by default: such
    /// weights give finite, wrong predictions (ReLU and max-pool map NaN to
    /// 0), so nothing downstream would notice them.
    pub allow_non_finite: bool,
    /// Tensors whose names start with this are not parameters and are
    /// skipped rather than refused as [`LoadError::Extra`]: a checkpoint
    /// keeps its optimizer and loop state under `checkpoint.`
    /// ([`fit::Checkpoint`](crate::fit::Checkpoint)), so
    /// `Some("checkpoint.")` loads its weights alone.
    pub skip_prefix: Option<&'static str>,
}

impl fmt::Display for LoadError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Format(e) => e.fmt(f),
            LoadError::Missing { layer, param } => {
                write!(f, "tensor \"{layer}.{param}\" is missing: the network has it, the file does not")
            }
            LoadError::Extra { name } => {
                write!(f, "tensor {name:?} is not a parameter of the network (the file has it, the network does not)")
            }
            LoadError::Dtype { layer, param, found } => {
                write!(
                    f,
                    "tensor \"{layer}.{param}\": expected dtype F32 (or I64 of integers within ±2^24), found {found}"
                )
            }
            LoadError::Shape { layer, param, expected, found } => {
                write!(f, "tensor \"{layer}.{param}\": expected shape {expected}, found {found}")
            }
            LoadError::NonFinite { layer, param, index, value } => write!(
                f,
                "tensor \"{layer}.{param}\": value {index} is {value}; NaN and infinite weights are refused (LoadOptions::allow_non_finite accepts them)"
            ),
        }
    }
}

impl core::error::Error for LoadError<'_> {}

impl<'a> From<FormatError<'a>> for LoadError<'a> {
    fn from(e: FormatError<'a>) -> Self {
        LoadError::Format(e)
    }
}

/// Loads every parameter of `net` from a parsed file, after checking all of
/// them: one `F32` tensor named `layer.param` (PyTorch `state_dict` names)
/// with the parameter's PyTorch shape for each, and no other tensor.
///
/// Nothing is written unless everything checks out: on error `net` is
/// unchanged. A NaN or infinite value is refused ([`LoadError::NonFinite`],
/// naming the tensor and the index; [`load_view_with`] can accept them);
/// values are copied bit for bit.
/// No allocation; time is proportional to (number of parameter tensors) x
/// (header length).
///
/// # Errors
/// [`LoadError::Missing`], [`LoadError::Extra`], [`LoadError::Dtype`],
/// [`LoadError::Shape`], or [`LoadError::Format`] for a duplicate name or
/// overlapping byte ranges.
pub fn load_view<'a, P: Network>(net: &mut P, st: &SafeTensorsView<'a>) -> Result<(), LoadError<'a>> {
    load_view_with(net, st, LoadOptions::default())
}

/// [`load_view`] with the [`LoadOptions`] given.
///
/// # Errors
/// As [`load_view`] (no [`LoadError::NonFinite`] with
/// [`LoadOptions::allow_non_finite`]).
pub fn load_view_with<'a, P: Network>(
    net: &mut P,
    st: &SafeTensorsView<'a>,
    options: LoadOptions,
) -> Result<(), LoadError<'a>> {
    // Pass 1: check every parameter the network has.
    let mut err: Option<LoadError<'a>> = None;
    let mut expected = 0usize;
    net.visit(&mut |layer, t| {
        expected += 1;
        if err.is_some() {
            return;
        }
        err = check(st, layer, t.name, t.shape, options).err();
    });
    if let Some(e) = err {
        return Err(e);
    }
    // Each expected name was found exactly once; any further tensor is extra.
    if st.len() != expected {
        for t in st.tensors() {
            let skipped = options.skip_prefix.is_some_and(|p| t.name.as_str().is_some_and(|n| n.starts_with(p)));
            let mut known = skipped;
            net.visit(&mut |layer, p| known |= t.name.eq_parts(&[layer, ".", p.name]));
            if !known {
                return Err(LoadError::Extra { name: t.name });
            }
        }
    }
    // Pass 2: everything checked; copy.
    net.visit_mut(&mut |layer, name, _, dst| {
        if let Ok(Some(t)) = st.tensor_parts(&[layer, ".", name]) {
            for (d, v) in dst.iter_mut().zip(t.numbers()) {
                *d = v;
            }
        }
    });
    Ok(())
}

fn check<'a>(
    st: &SafeTensorsView<'a>,
    layer: &'static str,
    param: &'static str,
    shape: &[usize],
    options: LoadOptions,
) -> Result<(), LoadError<'a>> {
    let t = st.tensor_parts(&[layer, ".", param])?.ok_or(LoadError::Missing { layer, param })?;
    if !t.is_f32_exact() {
        return Err(LoadError::Dtype { layer, param, found: t.dtype });
    }
    if !t.shape_is(shape) {
        return Err(LoadError::Shape { layer, param, expected: Dims::from_usizes(shape), found: t.dims() });
    }
    if !options.allow_non_finite {
        let values = t.numbers();
        if let Some((index, value)) = values.enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(LoadError::NonFinite { layer, param, index, value });
        }
    }
    Ok(())
}

/// Parses safetensors `bytes` and loads them into `net`: the whole `no_std`
/// path, e.g. for weights compiled in with `include_bytes!`. See
/// [`load_view`] for what is checked; on error `net` is unchanged.
///
/// ```
/// use constnet::{io, network, Dense, Flat, Network, Sigmoid, Tensor};
/// network! { mod tiny { input: Tensor<2, 1, 1>, dense: Dense<2, 1>, out: Sigmoid } }
///
/// # fn main() {
/// // A file as PyTorch's `save_file({"dense.weight": ..., "dense.bias": ...})` writes it.
/// let header = br#"{"dense.bias":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"dense.weight":{"dtype":"F32","shape":[1,2],"data_offsets":[4,12]}}"#;
/// let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
/// bytes.extend_from_slice(header);
/// for v in [0.5f32, 1.0, -1.0] {
///     bytes.extend_from_slice(&v.to_le_bytes());
/// }
/// let mut net = tiny::Params::zeroed();
/// io::load_from_bytes(&mut net, &bytes).unwrap();
/// assert_eq!((net.dense.weight, net.dense.bias), ([[1.0, -1.0]], [0.5]));
///
/// // The same file for a network with three inputs: a typed error, net unchanged.
/// network! { mod wide { input: Tensor<3, 1, 1>, dense: Dense<3, 1>, out: Sigmoid } }
/// let mut other = wide::Params::zeroed();
/// let err = io::load_from_bytes(&mut other, &bytes).unwrap_err();
/// assert_eq!(err.to_string(), "tensor \"dense.weight\": expected shape [1, 3], found [1, 2]");
/// assert_eq!(other, wide::Params::zeroed());
/// # }
/// ```
///
/// # Errors
/// [`LoadError::Format`] if the bytes are not a valid safetensors file,
/// otherwise as [`load_view`].
pub fn load_from_bytes<'a, P: Network>(net: &mut P, bytes: &'a [u8]) -> Result<(), LoadError<'a>> {
    load_view(net, &SafeTensorsView::parse(bytes)?)
}

#[cfg(target_has_atomic = "8")]
pub use static_network::StaticNetwork;

#[cfg(target_has_atomic = "8")]
mod static_network {
    use super::{LoadError, load_from_bytes};
    use crate::Network;
    use core::cell::UnsafeCell;
    use core::sync::atomic::{AtomicU8, Ordering};

    const EMPTY: u8 = 0;
    const LOADING: u8 = 1;
    const READY: u8 = 2;

    /// A network in a `static`, loaded in place from compiled-in
    /// safetensors bytes at first use: no allocation, no stack copy (the
    /// parameters never pass through the stack, however big), no file.
    ///
    /// A `StaticNetwork` is all zero bytes until it is loaded, so the
    /// linker places it in `.bss`: it does not grow the binary (the
    /// weights are in the binary once, as the `include_bytes!` data).
    /// [`StaticNetwork::get_or_load`] loads on the first successful call
    /// (concurrent callers wait for it) and then hands out `&P`.
    ///
    /// ```
    /// use constnet::{io::StaticNetwork, network, Dense, Flat, Network, Sigmoid, Tensor};
    /// network! { mod tiny { input: Tensor<2, 1, 1>, dense: Dense<2, 1, false>, out: Sigmoid } }
    ///
    /// // In a real program: `static WEIGHTS: &[u8] = include_bytes!("tiny.safetensors");`
    /// static WEIGHTS: &[u8] = b"\x43\0\0\0\0\0\0\0{\"dense.weight\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[0,8]}}\0\0\x80\x3f\0\0\x80\xbf";
    /// static NET: StaticNetwork<tiny::Params> = StaticNetwork::new();
    ///
    /// # fn main() {
    /// let net = NET.get_or_load(WEIGHTS).unwrap();
    /// assert_eq!(net.dense.weight, [[1.0, -1.0]]);
    /// let mut ws = tiny::Workspace::<1>::zeroed();
    /// let x = Tensor::from_array([[[2.0]], [[1.0]]]);
    /// assert!(net.predict(&x, &mut ws).0[0][0][0] > 0.7); // sigmoid(2 - 1)
    /// # }
    /// ```
    pub struct StaticNetwork<P> {
        state: AtomicU8,
        net: UnsafeCell<P>,
    }

    // SAFETY: `net` is written only by the one caller that moved `state`
    // from EMPTY to LOADING, and read only after `state` is READY (with
    // Release/Acquire ordering between the two); after READY it is never
    // written again. P is made of f32s, which are Send + Sync.
    unsafe impl<P: Network + Sync> Sync for StaticNetwork<P> {}

    impl<P: Network> Default for StaticNetwork<P> {
        fn default() -> Self {
            Self::new()
        }
    }

    impl<P: Network> StaticNetwork<P> {
        /// A network with zeroed parameters (all zero bytes), to be loaded
        /// at first use.
        pub const fn new() -> Self {
            // SAFETY: all-zero bytes are a valid `P` (the `Flat` contract).
            let net = unsafe { core::mem::zeroed::<P>() };
            StaticNetwork { state: AtomicU8::new(EMPTY), net: UnsafeCell::new(net) }
        }

        /// The network, loaded from `bytes` by the first successful call;
        /// later calls return it without looking at `bytes` (pass the same
        /// bytes every time).
        ///
        /// # Errors
        /// The [`LoadError`] of [`load_from_bytes`] if the bytes do not fit
        /// the network; the network then stays zeroed and unloaded, and the
        /// next call tries again.
        pub fn get_or_load<'a>(&self, bytes: &'a [u8]) -> Result<&P, LoadError<'a>> {
            loop {
                match self.state.compare_exchange(EMPTY, LOADING, Ordering::Acquire, Ordering::Acquire) {
                    Ok(_) => {
                        // Resets the state if loading panicked, so no caller waits forever.
                        struct Reset<'s>(&'s AtomicU8, u8);
                        impl Drop for Reset<'_> {
                            fn drop(&mut self) {
                                self.0.store(self.1, Ordering::Release);
                            }
                        }
                        let mut reset = Reset(&self.state, EMPTY);
                        // SAFETY: this caller alone moved EMPTY -> LOADING; no one
                        // else reads or writes `net` until the state leaves LOADING.
                        let net = unsafe { &mut *self.net.get() };
                        load_from_bytes(net, bytes)?;
                        reset.1 = READY;
                        drop(reset);
                        // SAFETY: READY: never written again.
                        return Ok(unsafe { &*self.net.get() });
                    }
                    // SAFETY: READY: loaded, never written again.
                    Err(READY) => return Ok(unsafe { &*self.net.get() }),
                    Err(_) => core::hint::spin_loop(),
                }
            }
        }
    }
}
