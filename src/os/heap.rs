//! The C heap: `malloc` and its family for what the arena ([`super::alloc`])
//! passes on, and for musl's own few allocations, in place of musl's
//! mallocng (9 KB of the binary, for a heap that start-up's arena leaves
//! nearly unused: a large JSON configuration, the work of a handler's
//! forked process).
//!
//! Blocks of 32 bytes to 64 KiB (a 16-byte header included), by powers of
//! two, are cut from 64 KiB mappings and kept on one free list per size
//! once freed; larger or over-aligned ones are mappings of their own,
//! unmapped when freed. One lock: PID 1 has no threads, the unit tests do;
//! musl's `fork` takes and drops it (`__malloc_atfork`) so that a child
//! never starts with it held.
//!
//! Defining these symbols keeps musl's allocator out of the link (musl
//! supports replacing it); only on musl, where that is what this is for.
#![cfg(target_env = "musl")]

use std::cell::UnsafeCell;
use std::ffi::{c_int, c_void};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, Ordering};

const HEADER: usize = 16;
const CLASSES: usize = 12;
const CHUNK: usize = 32 << (CLASSES - 1);

struct Lists(UnsafeCell<[*mut usize; CLASSES]>);

// SAFETY: the lists are only reached with `LOCK` held.
unsafe impl Sync for Lists {}

static FREE: Lists = Lists(UnsafeCell::new([null_mut(); CLASSES]));
static LOCK: AtomicBool = AtomicBool::new(false);

fn lock() {
    // Contended only between the unit tests' threads, briefly.
    while LOCK.swap(true, Ordering::Acquire) {
        std::hint::spin_loop();
    }
}

fn unlock() {
    LOCK.store(false, Ordering::Release);
}

/// A fresh mapping of `len` bytes, or null.
fn map(len: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping touches no existing memory.
    let p = unsafe {
        libc::mmap(
            null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        null_mut()
    } else {
        p.cast()
    }
}

/// A block of `size` bytes aligned to `align` (a power of two), or null.
/// The header's first word is the size class, or for a mapping of its own
/// the mapping's length; its second word that mapping's start.
fn allocate(size: usize, align: usize) -> *mut u8 {
    let Some(need) = size.checked_add(HEADER) else {
        return null_mut();
    };
    if align <= HEADER && need <= CHUNK {
        let class = need.max(32).next_power_of_two().trailing_zeros() as usize - 5;
        lock();
        // SAFETY: the lists are ours while the lock is held; a listed
        // block is free and its first word links the next one.
        let block = unsafe {
            let head = &mut (*FREE.0.get())[class];
            if head.is_null() {
                let chunk = map(CHUNK);
                let step = 32 << class;
                let mut at = CHUNK;
                while !chunk.is_null() && at > 0 {
                    at -= step;
                    let b = chunk.add(at).cast::<usize>();
                    *b = *head as usize;
                    *head = b;
                }
            }
            let b = *head;
            if !b.is_null() {
                *head = *b as *mut usize;
                *b = class;
            }
            b
        };
        unlock();
        return if block.is_null() {
            null_mut()
        } else {
            // SAFETY: inside the block, after its header.
            unsafe { block.cast::<u8>().add(HEADER) }
        };
    }
    let Some(len) = need.checked_add(align) else {
        return null_mut();
    };
    let base = map(len);
    if base.is_null() {
        return null_mut();
    }
    let p = (base as usize + HEADER).next_multiple_of(align.max(HEADER)) as *mut usize;
    // SAFETY: `p` is at least HEADER past `base` and `size` bytes before its end.
    unsafe {
        *p.sub(2) = len;
        *p.sub(1) = base as usize;
    }
    p.cast()
}

/// The bytes the block at `p` holds.
///
/// # Safety
/// `p` is a live block of [`allocate`].
unsafe fn usable(p: *mut u8) -> usize {
    // SAFETY: the caller's block has its header before it.
    let (tag, base) = unsafe { (*p.cast::<usize>().sub(2), *p.cast::<usize>().sub(1)) };
    if tag < CLASSES {
        (32 << tag) - HEADER
    } else {
        tag - (p as usize - base)
    }
}

/// # Safety
/// `p` is null or a live block of [`allocate`], not used again.
unsafe fn release(p: *mut u8) {
    if p.is_null() {
        return;
    }
    let header = p.cast::<usize>();
    // SAFETY: the caller's block has its header before it.
    let (tag, base) = unsafe { (*header.sub(2), *header.sub(1)) };
    if tag < CLASSES {
        lock();
        // SAFETY: the block is free from now on; the lists are ours with the lock.
        unsafe {
            let head = &mut (*FREE.0.get())[tag];
            let b = header.sub(2);
            *b = *head as usize;
            *head = b;
        }
        unlock();
    } else {
        // SAFETY: the block's own mapping, `tag` bytes from `base`.
        unsafe { libc::munmap(base as *mut c_void, tag) };
    }
}

#[no_mangle]
extern "C" fn malloc(size: usize) -> *mut c_void {
    allocate(size, HEADER).cast()
}

#[no_mangle]
extern "C" fn __libc_malloc(size: usize) -> *mut c_void {
    malloc(size)
}

#[no_mangle]
extern "C" fn __libc_malloc_impl(size: usize) -> *mut c_void {
    malloc(size)
}

#[no_mangle]
extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    let Some(total) = count.checked_mul(size) else {
        return null_mut();
    };
    let p = allocate(total, HEADER);
    if !p.is_null() {
        // SAFETY: the block holds `total` bytes (a reused one is not zero).
        unsafe { p.write_bytes(0, total) };
    }
    p.cast()
}

#[no_mangle]
extern "C" fn __libc_calloc(count: usize, size: usize) -> *mut c_void {
    calloc(count, size)
}

/// # Safety
/// C's `free`: `p` is null or a live block of this heap.
#[no_mangle]
unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: the caller's promise.
    unsafe { release(p.cast()) }
}

/// # Safety
/// As [`free`].
#[no_mangle]
unsafe extern "C" fn __libc_free(p: *mut c_void) {
    // SAFETY: the caller's promise.
    unsafe { release(p.cast()) }
}

/// # Safety
/// C's `realloc`: `p` is null or a live block of this heap.
#[no_mangle]
unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return malloc(size);
    }
    // SAFETY: the caller's live block.
    let have = unsafe { usable(p.cast()) };
    if size <= have {
        return p;
    }
    let new = malloc(size);
    if !new.is_null() {
        // SAFETY: `new` is fresh and larger than the `have` bytes of `p`,
        // which is not used again.
        unsafe {
            std::ptr::copy_nonoverlapping(p.cast::<u8>(), new.cast::<u8>(), have);
            release(p.cast());
        }
    }
    new
}

/// # Safety
/// As [`realloc`].
#[no_mangle]
unsafe extern "C" fn __libc_realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: the caller's promise.
    unsafe { realloc(p, size) }
}

#[no_mangle]
extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        return null_mut();
    }
    allocate(size, align).cast()
}

#[no_mangle]
extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    aligned_alloc(align, size)
}

/// # Safety
/// C's `posix_memalign`: `out` is writable.
#[no_mangle]
unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    if !align.is_power_of_two() || align < size_of::<usize>() {
        return libc::EINVAL;
    }
    let p = aligned_alloc(align, size);
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: the caller's promise.
    unsafe { *out = p };
    0
}

/// # Safety
/// `p` is null or a live block of this heap.
#[no_mangle]
unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    if p.is_null() {
        0
    } else {
        // SAFETY: the caller's promise.
        unsafe { usable(p.cast()) }
    }
}

/// musl's `fork` calls this with -1 before it forks (the lock is taken),
/// then with 0 in the parent and 1 in the child (it is dropped).
#[no_mangle]
extern "C" fn __malloc_atfork(who: c_int) {
    if who < 0 {
        lock()
    } else {
        unlock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size class and beyond, over-aligned blocks, reuse after free,
    /// `calloc` zeroing a reused block, `realloc` keeping the bytes, from
    /// four threads at once.
    #[test]
    fn blocks_are_aligned_disjoint_zeroed_and_keep_their_bytes() {
        let work = |seed: usize| {
            for round in 0..3 {
                let mut blocks = Vec::new();
                for i in 0..200usize {
                    let size = (i * 997 + seed) % (1 << (i % 18)) + 1;
                    let align = 1 << (i % 13);
                    let p = aligned_alloc(align.max(8), size).cast::<u8>();
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align.max(8), 0);
                    // SAFETY: the block holds at least `size` bytes.
                    assert!(unsafe { usable(p) } >= size);
                    // SAFETY: as above.
                    unsafe { p.write_bytes((i + round) as u8, size) };
                    blocks.push((p, size, (i + round) as u8));
                }
                for (p, size, fill) in &mut blocks {
                    // SAFETY: a live block of `size` bytes, not used again
                    // but through the new pointer.
                    let q = unsafe { realloc(p.cast(), *size * 2 + 1) }.cast::<u8>();
                    // SAFETY: the first `size` bytes were kept.
                    assert!((0..*size).all(|k| unsafe { *q.add(k) } == *fill));
                    *p = q;
                }
                for (p, _, _) in blocks {
                    // SAFETY: live, not used again.
                    unsafe { free(p.cast()) };
                }
                let z = calloc(100, 7).cast::<u8>();
                // SAFETY: 700 bytes.
                assert!((0..700).all(|k| unsafe { *z.add(k) } == 0));
                // SAFETY: live, not used again.
                unsafe { free(z.cast()) };
            }
        };
        let threads: Vec<_> = (0..4)
            .map(|t| std::thread::spawn(move || work(t)))
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}
