//! State that training keeps beside the weights, named so that a checkpoint
//! can save it and a resumed run restore it: an optimizer's moments and
//! step counts, a parallel trainer's dropout generators.
//!
//! [`fit::Checkpoint`](crate::fit::Checkpoint) writes every piece a
//! [`Resumable`] visits into the checkpoint file and, on resume, checks
//! that the file holds each piece with its length before writing any back.
//! Nothing here allocates; a `no_std` program can save the same pieces
//! wherever it keeps state (flash, a serial link).

/// One piece of state, borrowed for reading (to save it) or writing (to
/// restore it).
#[derive(Debug)]
pub enum StateMut<'a> {
    /// Floats, e.g. Adam's first moment, one per parameter.
    F32(&'a mut [f32]),
    /// Bytes, e.g. a generator's serialized state.
    Bytes(&'a mut [u8]),
}

impl StateMut<'_> {
    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            StateMut::F32(s) => s.len(),
            StateMut::Bytes(s) => s.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Training state to be saved and restored, as named pieces.
///
/// `visit` calls `f` once per piece, with a name unique within the value
/// (e.g. `exp_avg`) and the piece itself, in the same order and with the
/// same lengths every time. A save reads the pieces; a restore writes them,
/// then calls [`restored`](Self::restored) so the value can rebuild what
/// it derives from them. Two values are combined with a tuple, whose
/// pieces are prefixed `0.` and `1.`.
///
/// ```
/// use constnet::resume::{Resumable, StateMut};
/// use constnet::{network, optim::Adam, Dense, Flat, Sigmoid, Tensor};
/// network! { mod tiny { input: Tensor<2, 1, 1>, dense: Dense<2, 1>, out: Sigmoid } }
/// # fn main() {
/// let (mut m, mut v) = (tiny::Params::zeroed(), tiny::Params::zeroed());
/// let mut adam = Adam::new(0.1, &mut m, &mut v);
/// let mut names = Vec::new();
/// adam.visit(&mut |name, piece| names.push((name.to_string(), piece.len())));
/// // Three parameters: two moments of three floats, and beta1^t, beta2^t.
/// assert_eq!(names, [("exp_avg".to_string(), 3), ("exp_avg_sq".to_string(), 3), ("beta_pow".to_string(), 2)]);
/// # }
/// ```
pub trait Resumable {
    /// Calls `f` with every piece of state, by name.
    fn visit(&mut self, f: &mut dyn FnMut(&str, StateMut<'_>));

    /// Called after every piece was written by a restore.
    fn restored(&mut self) {}
}

/// No state.
impl Resumable for () {
    fn visit(&mut self, _: &mut dyn FnMut(&str, StateMut<'_>)) {}
}

impl<T: Resumable + ?Sized> Resumable for &mut T {
    fn visit(&mut self, f: &mut dyn FnMut(&str, StateMut<'_>)) {
        (**self).visit(f)
    }

    fn restored(&mut self) {
        (**self).restored()
    }
}

/// The value's pieces if there is one (e.g. a trainer used on some runs only).
impl<T: Resumable> Resumable for Option<T> {
    fn visit(&mut self, f: &mut dyn FnMut(&str, StateMut<'_>)) {
        if let Some(v) = self {
            v.visit(f)
        }
    }

    fn restored(&mut self) {
        if let Some(v) = self {
            v.restored()
        }
    }
}

/// Both values' pieces, named `0.<name>` and `1.<name>`.
impl<A: Resumable, B: Resumable> Resumable for (A, B) {
    fn visit(&mut self, f: &mut dyn FnMut(&str, StateMut<'_>)) {
        prefixed(&mut self.0, "0.", f);
        prefixed(&mut self.1, "1.", f);
    }

    fn restored(&mut self) {
        self.0.restored();
        self.1.restored();
    }
}

/// The pieces of `value`, their names prefixed by `prefix` (truncated to 64
/// bytes in all: names are short identifiers).
pub(crate) fn prefixed(value: &mut impl Resumable, prefix: &str, f: &mut dyn FnMut(&str, StateMut<'_>)) {
    value.visit(&mut |name, piece| {
        let mut buf = [0u8; 64];
        let mut n = 0;
        for b in prefix.bytes().chain(name.bytes()).take(buf.len()) {
            buf[n] = b;
            n += 1;
        }
        // Whole characters only: cut back to the last boundary.
        let joined = match core::str::from_utf8(&buf[..n]) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(&buf[..e.valid_up_to()]).unwrap_or(""),
        };
        f(joined, piece)
    });
}

/// Storage of an optimizer's per-parameter state (`()` for none, `&mut P`,
/// `Box<P>`), seen as floats for [`Resumable`].
pub trait Floats {
    /// The state's floats, if it has any.
    fn floats(&mut self) -> Option<&mut [f32]>;
}

impl Floats for () {
    fn floats(&mut self) -> Option<&mut [f32]> {
        None
    }
}

impl<P: crate::Flat> Floats for &mut P {
    fn floats(&mut self) -> Option<&mut [f32]> {
        Some(self.as_flat_mut())
    }
}

#[cfg(feature = "std")]
impl<P: crate::Flat> Floats for std::boxed::Box<P> {
    fn floats(&mut self) -> Option<&mut [f32]> {
        Some(self.as_flat_mut())
    }
}
