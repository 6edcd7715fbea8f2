//! [`Flat`]: types that are nothing but `f32`s, viewed as one flat slice.
//!
//! Parameters, gradients, optimizer state and activations are all plain
//! `f32` arrays in `#[repr(C)]` structs. Seeing such a value as one
//! `&[f32]` lets an optimizer update a whole layer in one loop, lets a
//! gradient be zeroed with one `fill`, and lets a megabyte-sized network be
//! zeroed directly on the heap (all-zero bytes are a valid `f32`), never
//! built on the stack first.

/// A type made only of `f32` values, with no padding: it can be seen as
/// one flat `&[f32]` and created zeroed.
///
/// # Safety
///
/// Implement only for types that are `#[repr(C)]` or `#[repr(transparent)]`
/// and consist solely of `f32`s, arrays of `Flat` types, or fields whose
/// types are `Flat`, with alignment at most 4 and no padding. Zero-sized types
/// qualify. The [`network!`](crate::network) macro implements it for the
/// structs it writes; [`check_flat`] asserts the size rule at compile time.
pub unsafe trait Flat: Sized {
    /// Number of `f32` values in `Self`.
    const LEN: usize = core::mem::size_of::<Self>() / 4;

    /// The value as one flat slice of its `LEN` floats.
    ///
    /// ```
    /// use constnet::{Flat, Tensor};
    /// let t = Tensor::<2, 1, 2>::from_array([[[1.0, 2.0]], [[3.0, 4.0]]]);
    /// assert_eq!(t.as_flat(), &[1.0, 2.0, 3.0, 4.0]);
    /// ```
    #[inline]
    fn as_flat(&self) -> &[f32] {
        if Self::LEN == 0 {
            return &[]; // a zero-sized value may sit at an address not aligned for f32
        }
        // SAFETY: the trait contract: `Self` is LEN contiguous f32s.
        unsafe { core::slice::from_raw_parts(self as *const Self as *const f32, Self::LEN) }
    }

    /// The value as one flat mutable slice of its `LEN` floats.
    #[inline]
    fn as_flat_mut(&mut self) -> &mut [f32] {
        if Self::LEN == 0 {
            return &mut [];
        }
        // SAFETY: as in `as_flat`; the borrow is unique.
        unsafe { core::slice::from_raw_parts_mut(self as *mut Self as *mut f32, Self::LEN) }
    }

    /// A zeroed value, built in place (use [`Flat::boxed_zeroed`] for big ones).
    #[inline]
    fn zeroed() -> Self {
        // SAFETY: all-zero bytes are 0.0 for every f32 in Self.
        unsafe { core::mem::zeroed() }
    }

    /// Sets every value to zero (e.g. gradients before a mini-batch).
    #[inline]
    fn zero(&mut self) {
        self.as_flat_mut().fill(0.0);
    }

    /// Multiplies every value by `s` (e.g. to average accumulated gradients).
    #[inline]
    fn scale(&mut self, s: f32) {
        self.as_flat_mut().iter_mut().for_each(|v| *v *= s);
    }

    /// A zeroed value allocated directly on the heap: a network whose
    /// weights are megabytes never passes through the stack.
    ///
    /// ```
    /// use constnet::{Flat, Tensor};
    /// let big = Tensor::<64, 512, 512>::boxed_zeroed(); // 64 MiB, never on the stack
    /// assert!(big.as_flat().iter().all(|&v| v == 0.0));
    /// ```
    #[cfg(feature = "std")]
    fn boxed_zeroed() -> std::boxed::Box<Self> {
        let layout = std::alloc::Layout::new::<Self>();
        if layout.size() == 0 {
            // SAFETY: a Box of a zero-sized type holds a dangling, aligned pointer.
            // (Not `Box::new(Self::zeroed())`: that would reserve a stack slot of
            // Self's size in this frame even for a megabyte-sized Self.)
            return unsafe { std::boxed::Box::from_raw(core::ptr::NonNull::<Self>::dangling().as_ptr()) };
        }
        // SAFETY: the layout is non-zero-sized; `alloc_zeroed` returns zeroed
        // memory of that layout (or null, handled), and all-zero bytes are a
        // valid value of Self (trait contract), so the Box owns a valid Self.
        unsafe {
            let p = std::alloc::alloc_zeroed(layout) as *mut Self;
            if p.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            std::boxed::Box::from_raw(p)
        }
    }
}

/// `t` seen as a `U` of the same size: for types that the callers' const
/// assertions prove the same (a `Tensor<C, H, W>` as a `Tensor<IN_C, H, W>`
/// once `C == IN_C` holds, a batch of caches as another of the same size).
/// Both are plain `f32`s, so any equal-sized view is sound.
#[inline(always)]
pub(crate) fn same_layout<T: Flat, U: Flat>(t: &T) -> &U {
    const { assert_same_layout::<T, U>() };
    // SAFETY: both are Flat (only f32s, no padding) of the same size, and
    // `U` needs no more alignment than `T` (asserted at compile time).
    unsafe { &*(t as *const T as *const U) }
}

/// Mutable form of [`same_layout`].
#[inline(always)]
pub(crate) fn same_layout_mut<T: Flat, U: Flat>(t: &mut T) -> &mut U {
    const { assert_same_layout::<T, U>() };
    // SAFETY: as in `same_layout`; the borrow stays unique.
    unsafe { &mut *(t as *mut T as *mut U) }
}

/// The condition of [`same_layout`]: the same size, `U` no more aligned.
const fn assert_same_layout<T, U>() {
    assert!(
        size_of::<T>() == size_of::<U>() && align_of::<U>() <= align_of::<T>(),
        "same_layout: the two types differ in size"
    );
}

/// Compile-time check of the size rule of [`Flat`] for `T`: alignment at
/// most 4 and a size that is a whole number of `f32`s.
pub const fn check_flat<T>() {
    assert!(
        core::mem::align_of::<T>() <= 4 && core::mem::size_of::<T>().is_multiple_of(4),
        "Flat types must be made only of f32 values"
    );
}

// SAFETY: f32 is f32.
unsafe impl Flat for f32 {}
// SAFETY: zero-sized.
unsafe impl Flat for () {}
// SAFETY: an array of Flat values is contiguous Flat values with no padding.
unsafe impl<T: Flat, const N: usize> Flat for [T; N] {}
