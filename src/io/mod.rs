//! Saving and loading trained networks as safetensors, PyTorch-compatible,
//! and weights compiled into the binary.
//!
//! # The file
//!
//! A network's weights are stored as a [safetensors] file: one `F32`
//! tensor per parameter tensor, named and shaped as PyTorch's `state_dict`
//! for the same architecture, since the memory layouts are the same
//! (`conv1.weight` `[OUT_C, IN_C, K, K]`, `conv1.bias` `[OUT_C]`,
//! `dense.weight` `[N_OUT, N_IN]`, `dense.bias` `[N_OUT]`; a layer declared
//! with `BIAS = false` has no bias tensor). The names are the field names of
//! the [`network!`](crate::network) declaration, so a PyTorch module whose
//! attributes have the same names reads and writes the same file:
//!
//! ```text
//! # PyTorch side (torch is not needed by constnet; this is the counterpart)
//! from safetensors.torch import save_file, load_file
//! save_file(model.state_dict(), "fashion10.safetensors")   # -> constnet loads it
//! model.load_state_dict(load_file("fashion10.safetensors")) # <- constnet saved it
//! ```
//!
//! The byte layout ([`SafeTensorsView`] lists every check):
//!
//! ```text
//! u64 LE N | N bytes of JSON header | data buffer
//! header: {"__metadata__": {"k": "v", ...},            (optional)
//!          "conv1.weight": {"dtype": "F32", "shape": [8, 1, 3, 3], "data_offsets": [BEGIN, END]},
//!          ...}
//! tensor bytes: data[BEGIN..END], row-major, little endian
//! ```
//!
//! # Three ways in
//!
//! - **A file, with std**: [`save_file`], [`save_file_with_metadata`],
//!   [`load_file`], [`to_bytes`], [`load_bytes`]. Errors are [`Error`]s that
//!   name the file and the tensor, with what was expected and found.
//! - **Bytes, without std or allocation**: [`load_from_bytes`] parses the
//!   bytes with this module's own `no_std` reader ([`SafeTensorsView`]) and
//!   loads them into a network the caller owns (`&mut P`), after checking
//!   every name, dtype and shape. Bytes from `include_bytes!` are not
//!   4-byte aligned; the reader copies each `f32` with `from_le_bytes`.
//! - **A `static`, loaded at first use**: [`StaticNetwork`] holds the
//!   network in a `static` (zeroed, in `.bss`) and loads it in place from
//!   compiled-in bytes the first time [`StaticNetwork::get_or_load`] is called.
//!
//! In every case a bad or mismatched file is a typed error, never a panic,
//! and nothing is half-loaded: all tensors are checked before the first
//! value is written.
//!
//! # Saving after a crash
//!
//! [`save_file`] (and the IDX writers of [`data`](crate::data)) write a
//! temporary file beside the target, `.NAME.PID.STAMP.tmp`, lock it, sync
//! it and rename it over the target, so the target holds the old contents
//! or the new ones whole. The temporary gets the target's permissions; a
//! symbolic link is followed, and the file it points to replaced. A
//! temporary never reuses the name of an existing file, so one left by a
//! killed process does not block a later save, whatever its PID.
//!
//! Each save removes the stale temporaries of its own target: files
//! beside it named `.NAME.DIGITS.DIGITS.tmp` that no process has locked and
//! that nobody has modified for 10 minutes. A writer holds its lock until
//! the rename, and the operating system drops it when the writer dies, so
//! the temporary of a live save is never taken for stale; the age keeps
//! safe one whose writer could not lock it (a file system without locks,
//! or an older constnet). Where locks are refused, nothing is removed.
//!
//! # Weights compiled into the binary
//!
//! ```
//! use constnet::{io, zoo::fashion10, Flat, Network, Tensor};
//!
//! // In a program: static WEIGHTS: &[u8] = include_bytes!("fashion10.safetensors");
//! static WEIGHTS: &[u8] = include_bytes!("../../examples/08_embed_classifier/fashion10.safetensors");
//! static NET: io::StaticNetwork<fashion10::Params> = io::StaticNetwork::new();
//!
//! # fn main() {
//! let net: &fashion10::Params = NET.get_or_load(WEIGHTS).expect("weights fit the network");
//! let mut ws = fashion10::Workspace::<1>::zeroed(); // ~100 KB: fine on a desktop stack
//! let probs = net.predict(&Tensor::zeroed(), &mut ws);
//! let sum: f32 = probs.as_flat().iter().sum();
//! assert!((sum - 1.0).abs() < 1e-5);
//!
//! // Or into a value the caller owns: on the stack (small networks) ...
//! let mut mine = fashion10::Params::zeroed();
//! io::load_from_bytes(&mut mine, WEIGHTS).unwrap();
//! assert_eq!(&mine, net);
//! # }
//! ```
//!
//! # How big a network can live on the stack
//!
//! A network value is its parameters, `4 * P::LEN` bytes, and the forward
//! pass needs a `Workspace<B>` (every layer's output). The main thread's
//! stack is usually 8 MiB on Linux (`ulimit -s`), a spawned thread's 2 MiB
//! (`std::thread::Builder::stack_size` changes it), and a microcontroller's
//! a few KiB to a few hundred KiB. Measured with `size_of` (layer caches
//! change as the kernels evolve; `tests/io.rs` checks these bounds):
//!
//! | network   | parameters    | `Workspace<1>` | `TrainState<P, 1>` | `TrainState<P, 32>` |
//! |-----------|--------------:|---------------:|-------------------:|--------------------:|
//! | fashion10 | 36 392 B      | ~100 KB        | ~150 KB            | ~3.5 MB             |
//! | tfconv    | 13 098 536 B  | ~420 KB        |                    |                     |
//!
//! So fashion10 inference fits a desktop stack (and a microcontroller's
//! RAM, in `static`s); its batch-32 training state does not belong on a
//! spawned thread's stack, and tfconv's parameters must never be built on
//! the stack. Keep big values off it with
//!
//! - [`StaticNetwork`] (no allocation, `no_std`): the zeroed `static` is
//!   loaded in place;
//! - [`Flat::boxed_zeroed`](crate::Flat::boxed_zeroed) (std): zeroed directly
//!   on the heap, then `load_from_bytes(&mut *boxed, bytes)`;
//! - a `static` of your own, e.g. `static mut NET: P = unsafe { core::mem::zeroed() }`
//!   accessed through `&raw mut NET` (a const-evaluated zero value lands in
//!   `.bss`).
//!
//! Never write `Box::new(P::zeroed())`: it builds the value on the stack first.
//!
//! # Preprocessing metadata
//!
//! The trained weights shipped with the examples carry the input
//! preprocessing in `__metadata__`: `input_scale` (pixels are multiplied by
//! it, `1/255`), `input_mean` and `input_std` (then standardised:
//! `x = (pixel * input_scale - input_mean) / input_std`). Read them with
//! [`SafeTensorsView::metadata`] (`no_std`) or from the map [`load_file`]
//! returns.
//!
//! [safetensors]: https://huggingface.co/docs/safetensors

#[cfg(feature = "std")]
pub(crate) mod atomic;
mod embed;
#[cfg(feature = "std")]
pub(crate) mod file;
mod format;
mod json;
pub mod pgm;

#[cfg(target_has_atomic = "8")]
pub use embed::StaticNetwork;
pub use embed::{LoadError, LoadOptions, load_from_bytes, load_view, load_view_with};
#[cfg(feature = "std")]
pub use file::{
    Error, ErrorKind, MAX_METADATA_KEYS, Metadata, load_bytes, load_bytes_with, load_file, open_regular_file,
    save_file, save_file_with_metadata, to_bytes,
};
pub use format::{Dims, Dtype, FormatError, MAX_HEADER_LEN, SafeTensorsView, ShapeIter, TensorView};
pub use json::{JsonChars, JsonStr};
