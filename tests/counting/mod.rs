//! The counting global allocator of the zero-allocation tests
//! (`tests/alloc.rs`, `tests/alloc_parallel.rs`, `tests/embed_classifier.rs`).
//! A test binary installs one and picks what it counts:
//!
//! ```ignore
//! mod counting;
//! #[global_allocator]
//! static GLOBAL: counting::Counting = counting::Counting(counting::Scope::Thread);
//! let n = GLOBAL.allocations(|| { /* … */ });
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Whose allocations a [`Counting`] allocator counts.
#[allow(dead_code)]
pub enum Scope {
    /// The current thread's only: tests running beside each other in
    /// other threads don't disturb the count.
    Thread,
    /// Every thread's (worker threads included): the binary must then run
    /// nothing beside the measured test.
    Process,
}

/// Forwards to the system allocator and counts allocations and
/// reallocations (frees are not counted).
pub struct Counting(pub Scope);

thread_local! {
    static THREAD: Cell<usize> = const { Cell::new(0) };
}
static PROCESS: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    fn count(&self) -> usize {
        match self.0 {
            Scope::Thread => THREAD.with(Cell::get),
            Scope::Process => PROCESS.load(Ordering::SeqCst),
        }
    }

    fn bump(&self) {
        match self.0 {
            Scope::Thread => THREAD.with(|c| c.set(c.get() + 1)),
            Scope::Process => {
                PROCESS.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// Allocations counted while `f` runs.
    pub fn allocations(&self, f: impl FnOnce()) -> usize {
        // The kernels' backend is chosen at their first use, which reads
        // `CONSTNET_ISA` (std allocates the value once, when it is set):
        // chosen before counting, as a program's start-up does.
        constnet::isa();
        let before = self.count();
        f();
        self.count() - before
    }
}

// SAFETY: forwards every call to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.bump();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.bump();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.bump();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}
