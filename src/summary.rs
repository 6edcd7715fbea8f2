//! A network's summary: its layers, their output shapes and parameter
//! counts, and the memory training and inference take (what an embedded
//! program budgets its RAM with).

use crate::Network;
use crate::train::TrainState;
use core::fmt;
use core::marker::PhantomData;
use core::mem::size_of;

/// The summary of network `P` for batches of `B` samples; printed, a
/// table like Keras's `model.summary()`, then the bytes of every buffer.
/// Parameter counts are the floats each layer holds: a `BIAS = false`
/// layer's zero bias slot included (see [`params`](Self::params)).
/// `no_std`, without allocation: the figures come from the network's
/// types ([`Network::LAYERS`], `size_of`).
///
/// ```
/// use constnet::{zoo::seed1, Flat, Summary};
/// let s = Summary::<seed1::Params, 32>::new();
/// assert_eq!((s.params(), s.param_bytes()), (seed1::Params::LEN, 4 * seed1::Params::LEN));
/// let text = format!("{s}");
/// assert!(text.contains("dense") && text.contains("1 x 1 x 1") && text.contains("785"), "{text}");
/// ```
pub struct Summary<P, const B: usize>(PhantomData<fn() -> P>);

impl<P: Network, const B: usize> Default for Summary<P, B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Network, const B: usize> Summary<P, B> {
    /// The summary.
    pub const fn new() -> Self {
        Summary(PhantomData)
    }

    /// Number of parameters: every float of the parameter struct, so a
    /// layer built with `BIAS = false` counts its bias slot (kept at zero,
    /// never trained or saved), which PyTorch's count leaves out, and
    /// batch norm its running statistics ([`Network::BUFFERS`], which
    /// PyTorch counts as buffers, not parameters).
    pub const fn params(&self) -> usize {
        P::LEN
    }

    /// Bytes of the parameters; the gradients take as many, and so does
    /// each per-parameter state of an optimizer (SGD's velocity, each of
    /// Adam's two moments).
    pub const fn param_bytes(&self) -> usize {
        size_of::<P>()
    }

    /// Bytes of the forward workspace of a batch: every layer's output and
    /// cache.
    pub const fn workspace_bytes(&self) -> usize {
        size_of::<P::Workspace<B>>()
    }

    /// Bytes of a training step's own buffers, [`TrainState<P, B>`]: the
    /// workspace, the gradients of the activations and of the parameters.
    pub const fn train_state_bytes(&self) -> usize {
        size_of::<TrainState<P, B>>()
    }

    /// Bytes of the workspace of one sample's inference
    /// ([`Network::infer`] with `B = 1`).
    pub const fn infer_bytes(&self) -> usize {
        size_of::<P::Workspace<1>>()
    }
}

/// A declaration as `stringify!` gives it, without the spaces it puts
/// around `<` and before `>` (`Conv2d < 1, 8, 3 >` → `Conv2d<1, 8, 3>`).
struct Compact(&'static str);

impl Compact {
    fn chars(&self) -> impl Iterator<Item = char> + '_ {
        let b = self.0.as_bytes();
        (self.0.char_indices())
            .filter(move |&(i, c)| {
                let next = b.get(i + 1).copied();
                let prev = i.checked_sub(1).map(|j| b[j]);
                !(c == ' ' && (matches!(next, Some(b'<' | b'>')) || prev == Some(b'<')))
            })
            .map(|(_, c)| c)
    }

    fn len(&self) -> usize {
        self.chars().count()
    }
}

impl fmt::Display for Compact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.chars() {
            fmt::Write::write_char(f, c)?;
        }
        // Pad to the width asked for (the table's column).
        for _ in self.len()..f.width().unwrap_or(0) {
            fmt::Write::write_char(f, ' ')?;
        }
        Ok(())
    }
}

/// `n` with thousands separated by commas.
struct Grouped(usize);

impl fmt::Display for Grouped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 32];
        let (mut n, mut i, mut digits) = (self.0, buf.len(), 0);
        loop {
            if digits > 0 && digits % 3 == 0 {
                i -= 1;
                buf[i] = b',';
            }
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            digits += 1;
            if n == 0 {
                break;
            }
        }
        f.pad(core::str::from_utf8(&buf[i..]).unwrap_or("?"))
    }
}

/// Bytes as `12,345,678 B (11.8 MiB)`.
struct Bytes(usize);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        write!(f, "{} B", Grouped(self.0))?;
        if b >= 1024.0 * 1024.0 {
            write!(f, " ({:.1} MiB)", b / (1024.0 * 1024.0))
        } else if b >= 1024.0 {
            write!(f, " ({:.1} KiB)", b / 1024.0)
        } else {
            Ok(())
        }
    }
}

impl<P: Network, const B: usize> fmt::Display for Summary<P, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name_w = P::LAYERS.iter().map(|l| l.name.len()).max().unwrap_or(0).max("layer".len());
        let kind_w = P::LAYERS.iter().map(|l| Compact(l.kind).len()).max().unwrap_or(0).max("type".len());
        writeln!(f, "{:name_w$}  {:kind_w$}  {:>15}  {:>12}", "layer", "type", "output", "parameters")?;
        for l in P::LAYERS {
            let [c, h, w] = l.out;
            let mut shape = [0u8; 64];
            let shape = fmt_shape(&mut shape, c, h, w);
            writeln!(f, "{:name_w$}  {:kind_w$}  {shape:>15}  {:>12}", l.name, Compact(l.kind), Grouped(l.len))?;
        }
        write!(f, "total: {} parameters", Grouped(self.params()))?;
        if P::BUFFERS > 0 {
            write!(f, " ({} of them buffers: running statistics, saved but not learned)", Grouped(P::BUFFERS))?;
        }
        writeln!(f)?;
        writeln!(f, "memory for batches of {B}:")?;
        let p = self.param_bytes();
        writeln!(f, "  parameters: {}", Bytes(p))?;
        writeln!(
            f,
            "  optimizer state: {} with Adam, {} with SGD and momentum, none with SGD",
            Bytes(2 * p),
            Bytes(p)
        )?;
        writeln!(
            f,
            "  training step (TrainState: workspace {}, activation and parameter gradients): {}",
            Bytes(self.workspace_bytes()),
            Bytes(self.train_state_bytes())
        )?;
        write!(f, "  inference of one sample (workspace): {}", Bytes(self.infer_bytes()))
    }
}

/// `C x H x W` written into `buf`.
fn fmt_shape(buf: &mut [u8; 64], c: usize, h: usize, w: usize) -> &str {
    struct Cursor<'a>(&'a mut [u8], usize);
    impl fmt::Write for Cursor<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let end = self.1 + s.len();
            self.0.get_mut(self.1..end).ok_or(fmt::Error)?.copy_from_slice(s.as_bytes());
            self.1 = end;
            Ok(())
        }
    }
    let mut cur = Cursor(buf, 0);
    let _ = fmt::write(&mut cur, format_args!("{c} x {h} x {w}"));
    let n = cur.1;
    core::str::from_utf8(&buf[..n]).unwrap_or("?")
}
