//! Which backend the kernels run: chosen once per process, then fixed.
//!
//! The first kernel call (or [`set_isa`]) fixes the choice: the ISA named
//! by `CONSTNET_ISA` (read once, with the `std` feature), else the best one
//! this CPU has. A pass therefore never mixes backends: a backward pass
//! reads only what a forward pass of the same backend wrote.

use core::sync::atomic::{AtomicU8, Ordering};

/// An instruction set the kernels can run with.
///
/// ```
/// let isa = constnet::isa();
/// assert!(isa.is_supported());
/// assert_eq!(constnet::Isa::from_name(isa.name()), Some(isa));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Isa {
    /// No kernels: every layer runs its reference loops, the textbook
    /// form of its formula (plain Rust, which the compiler vectorises where
    /// it can), and `Tanh`, `Sigmoid` and `AvgPool2d<2>` the kernels
    /// written over the SIMD trait on `[f32; 8]`. Any target; never chosen
    /// unless asked for (`CONSTNET_ISA=reference`): it is what the other
    /// backends are tested against.
    Reference,
    /// No ISA-specific code: every kernel AVX2 has, written once over the
    /// vector width, on `[f32; 4]` operated lane by lane (which the
    /// compiler vectorises: SSE2 on any x86-64), and its own transpose.
    /// Any target: the default where no other backend runs.
    Portable,
    /// x86-64-v3 (AVX2 and FMA): every kernel AVX-512 has, written once
    /// over the vector width, on 8 AVX lanes.
    Avx2,
    /// Hand-written AVX-512 kernels (x86-64 with AVX-512F and AVX-512VL).
    Avx512,
    /// aarch64's NEON (Advanced SIMD, on every aarch64 CPU): every kernel
    /// AVX2 has, written once over the vector width, on 4 lanes. Tested
    /// under qemu; its speed has not been measured on ARM hardware.
    Neon,
}

/// Every [`Isa`], from the reference loops to the fastest (on its
/// architecture: NEON and the x86 ISAs never run on one CPU).
pub const ALL: [Isa; 5] = [Isa::Reference, Isa::Portable, Isa::Neon, Isa::Avx2, Isa::Avx512];

impl Isa {
    /// The name `CONSTNET_ISA` and reports use: `"reference"`,
    /// `"portable"`, `"avx2"`, `"avx512"`, `"neon"`.
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Reference => "reference",
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    /// The ISA called `name` ([`name`](Self::name)'s spelling), if any.
    pub fn from_name(name: &str) -> Option<Isa> {
        ALL.into_iter().find(|isa| isa.name() == name)
    }

    /// Whether this CPU can run this ISA's kernels: detected at run time
    /// with the `std` feature; without it, what the build's target
    /// features enable (`-C target-feature=+avx512f,+avx512vl`, or
    /// `+avx2,+fma`; NEON is enabled by default on aarch64 targets).
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Reference | Isa::Portable => true,
            Isa::Avx2 => avx2_supported(),
            Isa::Avx512 => avx512_supported(),
            Isa::Neon => neon_supported(),
        }
    }

    const fn code(self) -> u8 {
        match self {
            Isa::Portable => 1,
            Isa::Avx512 => 2,
            Isa::Avx2 => 3,
            Isa::Neon => 4,
            Isa::Reference => 5,
        }
    }

    const fn from_code(code: u8) -> Option<Isa> {
        match code {
            1 => Some(Isa::Portable),
            2 => Some(Isa::Avx512),
            3 => Some(Isa::Avx2),
            4 => Some(Isa::Neon),
            5 => Some(Isa::Reference),
            _ => None,
        }
    }
}

impl core::fmt::Display for Isa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "avx512f", target_feature = "avx512vl"))]
fn avx512_supported() -> bool {
    true
}

#[cfg(all(target_arch = "x86_64", not(all(target_feature = "avx512f", target_feature = "avx512vl")), feature = "std"))]
fn avx512_supported() -> bool {
    std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vl")
}

#[cfg(not(any(
    all(target_arch = "x86_64", target_feature = "avx512f", target_feature = "avx512vl"),
    all(target_arch = "x86_64", feature = "std")
)))]
fn avx512_supported() -> bool {
    false
}

#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
fn avx2_supported() -> bool {
    true
}

#[cfg(all(target_arch = "x86_64", not(all(target_feature = "avx2", target_feature = "fma")), feature = "std"))]
fn avx2_supported() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

#[cfg(not(any(
    all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"),
    all(target_arch = "x86_64", feature = "std")
)))]
fn avx2_supported() -> bool {
    false
}

#[cfg(all(target_arch = "aarch64", target_feature = "neon"))]
fn neon_supported() -> bool {
    true
}

#[cfg(all(target_arch = "aarch64", not(target_feature = "neon"), feature = "std"))]
fn neon_supported() -> bool {
    std::arch::is_aarch64_feature_detected!("neon")
}

#[cfg(not(any(all(target_arch = "aarch64", target_feature = "neon"), all(target_arch = "aarch64", feature = "std"))))]
fn neon_supported() -> bool {
    false
}

/// The chosen ISA's code; 0 until the choice is made.
static CHOSEN: AtomicU8 = AtomicU8::new(0);

/// The ISA the kernels run with in this process, chosen at the first call
/// (of this or of any kernel) and fixed from then on: the one
/// `CONSTNET_ISA` names (`reference`, `portable`, `avx2`, `avx512` or
/// `neon`; read once, `std` only), else the fastest this CPU supports
/// (AVX-512, else AVX2 on x86-64; NEON on aarch64; else the portable
/// kernels).
///
/// The first call, with the `std` feature, reads `CONSTNET_ISA`, and
/// `std::env` allocates its value when it is set: a program that must
/// not allocate from its first training step calls `isa()` at start-up.
/// Every later call is one atomic load.
///
/// # Panics
/// At the first call, if `CONSTNET_ISA` names no ISA or one this CPU
/// cannot run: a benchmark or test that asked for a backend must not
/// silently measure another.
#[inline]
pub fn isa() -> Isa {
    match Isa::from_code(CHOSEN.load(Ordering::Relaxed)) {
        Some(isa) => isa,
        None => choose(),
    }
}

#[cold]
fn choose() -> Isa {
    let isa = requested().unwrap_or_else(|| {
        // The fastest first.
        ALL.into_iter().rev().find(|isa| isa.is_supported()).unwrap_or(Isa::Portable)
    });
    // Another thread may have chosen first: its choice stands.
    match CHOSEN.compare_exchange(0, isa.code(), Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => isa,
        Err(code) => Isa::from_code(code).unwrap_or(isa),
    }
}

/// The ISA `CONSTNET_ISA` asks for, if set.
#[cfg(feature = "std")]
fn requested() -> Option<Isa> {
    let name = std::env::var("CONSTNET_ISA").ok()?;
    let isa = Isa::from_name(name.trim()).unwrap_or_else(|| {
        panic!("CONSTNET_ISA={name:?}: not an ISA constnet knows (reference, portable, avx2, avx512, neon)")
    });
    assert!(isa.is_supported(), "CONSTNET_ISA={name}: this CPU cannot run the {isa} kernels");
    Some(isa)
}

#[cfg(not(feature = "std"))]
fn requested() -> Option<Isa> {
    None
}

/// Why [`set_isa`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsaError {
    /// This CPU cannot run the ISA asked for.
    Unsupported(Isa),
    /// The kernels already run with another ISA (the choice is made once).
    AlreadyChosen(Isa),
}

impl core::fmt::Display for IsaError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IsaError::Unsupported(isa) => write!(f, "this CPU cannot run the {isa} kernels"),
            IsaError::AlreadyChosen(isa) => {
                write!(f, "the kernels already run with {isa}: set the ISA before first use")
            }
        }
    }
}

impl core::error::Error for IsaError {}

/// Fixes the ISA the kernels run with, before their first use (for tests
/// and benchmarks; `CONSTNET_ISA` does the same from outside, and a call
/// made before first use takes precedence over it). Setting the ISA
/// already chosen is not an error.
///
/// ```
/// use constnet::{isa, set_isa, Isa, IsaError};
/// // The portable kernels run on every CPU.
/// match set_isa(Isa::Portable) {
///     Ok(()) => assert_eq!(isa(), Isa::Portable),
///     Err(e) => assert_eq!(e, IsaError::AlreadyChosen(isa())),
/// }
/// // Once chosen, the choice stays.
/// let other = if isa() == Isa::Portable { Isa::Reference } else { Isa::Portable };
/// assert!(set_isa(other).is_err());
/// ```
///
/// # Errors
/// [`IsaError::Unsupported`] if this CPU cannot run `want`;
/// [`IsaError::AlreadyChosen`] if the kernels already run with another ISA.
pub fn set_isa(want: Isa) -> Result<(), IsaError> {
    if !want.is_supported() {
        return Err(IsaError::Unsupported(want));
    }
    match CHOSEN.compare_exchange(0, want.code(), Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => Ok(()),
        Err(code) if code == want.code() => Ok(()),
        Err(code) => Err(IsaError::AlreadyChosen(Isa::from_code(code).unwrap_or(want))),
    }
}
