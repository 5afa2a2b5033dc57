//! The heap, counted after start-up.
//!
//! PID 1 must not allocate once the app runs: with `panic=immediate-abort`
//! a failed allocation aborts hookinit, and with it the container, with no
//! PreStop and no stop signal for the app. Everything the loop needs is made
//! at start-up; this wrapper around the system allocator counts what is
//! allocated after [`start_counting`], and the debug `Exiting` event reports
//! it, so that the tests can hold the loop to zero. The cost is one relaxed
//! load per allocation, and there are none once counting starts.
//!
//! Start-up's few allocations (argv, the configuration, the loop's buffers)
//! come from a fixed arena in `.bss`, handed out in order and never reused
//! (only the latest block can be freed or grown in place). musl's allocator
//! would set up its metadata and a group per size class for them: about
//! a fifth of hookinit's whole start-up in instructions, and pages of
//! resident memory kept for the container's life. What does not fit (a
//! large JSON configuration; most of the work of a handler's forked child,
//! which gets what is left of its copy of the arena first) goes to the
//! system allocator as before.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

pub struct Counting;

const ARENA_SIZE: usize = 32 * 1024;

#[repr(C, align(64))]
struct Arena(UnsafeCell<[u8; ARENA_SIZE]>);

// SAFETY: blocks are handed out by atomic updates of `ARENA_USED`; no two
// live blocks overlap, and the arena itself is only reached through them.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(UnsafeCell::new([0; ARENA_SIZE]));
/// Bytes of the arena handed out (its free part begins here).
static ARENA_USED: AtomicUsize = AtomicUsize::new(0);

fn arena_base() -> usize {
    ARENA.0.get() as usize
}

fn in_arena(ptr: *mut u8) -> bool {
    (arena_base()..arena_base() + ARENA_SIZE).contains(&(ptr as usize))
}

/// A block of the arena for `layout`, if it still fits.
fn arena_alloc(layout: Layout) -> Option<*mut u8> {
    let base = arena_base();
    // Acquire/AcqRel: a block freed by one thread and handed to another is
    // ordered after the first thread's last use of it (no thread runs in
    // PID 1, but handler children and the unit tests may have several).
    let mut used = ARENA_USED.load(Ordering::Acquire);
    loop {
        let start = (base + used).checked_next_multiple_of(layout.align())? - base;
        let end = start.checked_add(layout.size())?;
        if end > ARENA_SIZE {
            return None;
        }
        match ARENA_USED.compare_exchange_weak(used, end, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Some((base + start) as *mut u8),
            Err(now) => used = now,
        }
    }
}

/// Moves the arena's end from that of the block at `ptr` (of `size` bytes)
/// to `new_end` bytes past `ptr`: true if the block was the latest one and
/// the new end fits.
fn arena_resize_last(ptr: *mut u8, size: usize, new_size: usize) -> bool {
    let start = ptr as usize - arena_base();
    let Some(new_end) = start.checked_add(new_size).filter(|&e| e <= ARENA_SIZE) else {
        return false;
    };
    ARENA_USED
        .compare_exchange(start + size, new_end, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

static COUNTING: AtomicBool = AtomicBool::new(false);
static COUNT: AtomicUsize = AtomicUsize::new(0);

fn count() {
    if COUNTING.load(Ordering::Relaxed) {
        COUNT.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: arena blocks are distinct, aligned and of the size asked for;
// everything else is passed on unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        match arena_alloc(layout) {
            Some(ptr) => ptr,
            // SAFETY: the caller's layout, passed on unchanged.
            None => unsafe { System.alloc(layout) },
        }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        match arena_alloc(layout) {
            Some(ptr) => {
                // A freed latest block may be handed out again: not zero.
                // SAFETY: the arena block is ours and `layout.size()` long.
                unsafe { std::ptr::write_bytes(ptr, 0, layout.size()) };
                ptr
            }
            // SAFETY: the caller's layout, passed on unchanged.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if in_arena(ptr) {
            // Only the latest block goes back; the others stay handed out.
            arena_resize_last(ptr, layout.size(), 0);
        } else {
            // SAFETY: not an arena block, so the system allocator's, with its layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        if !in_arena(ptr) {
            // SAFETY: not an arena block, so the system allocator's, with its layout.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // The latest block grows or shrinks in place; another one shrinks
        // in place (its tail stays unused).
        if arena_resize_last(ptr, layout.size(), new_size) || new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: `realloc`'s contract says `new_size`,
        // rounded up to `layout.align()`, does not overflow.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = match arena_alloc(new_layout) {
            Some(new) => new,
            // SAFETY: a valid layout (above).
            None => unsafe { System.alloc(new_layout) },
        };
        if !new.is_null() {
            // SAFETY: `new` is a fresh block at least `layout.size()` long, apart
            // from `ptr`; then `ptr` goes back with the layout it was given.
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size());
                self.dealloc(ptr, layout);
            }
        }
        new
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks of every alignment, grown and shrunk, in and past the arena
    /// (this test binary's allocator is this one): aligned, disjoint, and
    /// their bytes kept.
    #[test]
    fn blocks_are_aligned_disjoint_and_keep_their_bytes() {
        let mut blocks: Vec<(*mut u8, Layout, u8)> = Vec::new();
        for i in 0..400usize {
            let align = 1 << (i % 7);
            let size = 1 + (i * 37) % 700;
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: a non-zero size; the block is written within its size.
            let ptr = unsafe { Counting.alloc(layout) };
            assert!(!ptr.is_null());
            assert_eq!(ptr as usize % align, 0, "{layout:?}");
            let fill = i as u8;
            // SAFETY: the block just allocated holds `size` bytes.
            unsafe { std::ptr::write_bytes(ptr, fill, size) };
            blocks.push((ptr, layout, fill));
            if i % 3 == 0 {
                // Grow the latest block (in place when nothing came after).
                let (ptr, layout, fill) = blocks.pop().unwrap();
                let new_size = layout.size() * 3;
                // SAFETY: `ptr` came from `alloc` with `layout`, and is not used again.
                let new = unsafe { Counting.realloc(ptr, layout, new_size) };
                assert!(!new.is_null());
                for k in 0..layout.size() {
                    // SAFETY: the first `layout.size()` bytes were copied from the old block.
                    assert_eq!(unsafe { *new.add(k) }, fill);
                }
                // SAFETY: the grown block holds `new_size` bytes.
                unsafe { std::ptr::write_bytes(new, fill, new_size) };
                let layout = Layout::from_size_align(new_size, layout.align()).unwrap();
                blocks.push((new, layout, fill));
            }
            if i % 5 == 0 {
                // Free one (the latest, or one in the middle).
                let (ptr, layout, _) = blocks.remove(blocks.len() / 2);
                // SAFETY: allocated with this layout, freed once.
                unsafe { Counting.dealloc(ptr, layout) };
            }
        }
        let mut spans: Vec<(usize, usize)> = blocks
            .iter()
            .map(|&(p, l, _)| (p as usize, p as usize + l.size()))
            .collect();
        spans.sort();
        assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "blocks overlap");
        for (ptr, layout, fill) in blocks {
            for k in 0..layout.size() {
                // SAFETY: within the block's size.
                assert_eq!(unsafe { *ptr.add(k) }, fill, "a block's bytes changed");
            }
            // SAFETY: allocated with this layout, freed once.
            unsafe { Counting.dealloc(ptr, layout) };
        }
    }

    #[test]
    fn zeroed_blocks_are_zero_after_reuse() {
        let layout = Layout::from_size_align(256, 8).unwrap();
        for _ in 0..50 {
            // SAFETY: a non-zero size.
            let ptr = unsafe { Counting.alloc(layout) };
            // SAFETY: the block holds 256 bytes.
            unsafe { std::ptr::write_bytes(ptr, 0xa5, 256) };
            // SAFETY: allocated with this layout, freed once.
            unsafe { Counting.dealloc(ptr, layout) };
            // SAFETY: a non-zero size.
            let zeroed = unsafe { Counting.alloc_zeroed(layout) };
            // SAFETY: the block holds 256 bytes.
            assert!((0..256).all(|k| unsafe { *zeroed.add(k) } == 0));
            // SAFETY: allocated with this layout, freed once.
            unsafe { Counting.dealloc(zeroed, layout) };
        }
    }
}
