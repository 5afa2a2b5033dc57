//! The heap, counted after start-up.
//!
//! PID 1 must not allocate once the app runs: with `panic=immediate-abort`
//! a failed allocation aborts hookinit, and with it the container, with no
//! PreStop and no stop signal for the app. Everything the loop needs is made
//! at start-up; this wrapper around the system allocator counts what is
//! allocated after [`start_counting`], and the debug `Exiting` event reports
//! it, so that the tests can hold the loop to zero. The cost is one relaxed
//! load per allocation, and there are none once counting starts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

pub struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static COUNT: AtomicUsize = AtomicUsize::new(0);

fn count() {
    if COUNTING.load(Ordering::Relaxed) {
        COUNT.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed on unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        System.realloc(ptr, layout, new_size)
    }
}

/// Start-up is over: from now on every allocation is counted.
pub fn start_counting() {
    COUNTING.store(true, Ordering::Relaxed);
}

/// Allocations since [`start_counting`].
pub fn since_start() -> usize {
    COUNT.load(Ordering::Relaxed)
}
