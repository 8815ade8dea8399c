//! The guest's allocator: a bump arena that never frees.
//!
//! Why: the host runs every call in a fresh instance and throws it away
//! afterwards, so freeing memory buys nothing. The default allocator
//! (dlmalloc) takes all its memory with `memory.grow`, even for the first
//! byte, and undoing a grow costs the host an `mprotect` (and a TLB
//! shootdown) per call: a third of a call's cost. The arena lives in the
//! module's zero-initialised memory, so a call that fits in it never grows
//! memory. A call that needs more grows memory as before, so the host's
//! memory cap still stops a memory-hungry plugin.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;

/// Bytes served without growing memory; a hook call of the default
/// plugins uses a few KiB.
const ARENA_BYTES: usize = 256 * 1024;
/// Wasm pages are 64 KiB.
const PAGE_BYTES: usize = 64 * 1024;

#[repr(C, align(16))]
struct Arena {
    bytes: UnsafeCell<[u8; ARENA_BYTES]>,
    /// Next free address and the end of the region being bumped through:
    /// first the arena, then pages taken with `memory.grow`.
    next: UnsafeCell<usize>,
    end: UnsafeCell<usize>,
}

// SAFETY: a wasm32 guest without threads runs on one thread.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena {
    bytes: UnsafeCell::new([0; ARENA_BYTES]),
    next: UnsafeCell::new(0),
    end: UnsafeCell::new(0),
};

/// The SDK's global allocator (see the module comment).
pub struct BumpArena;

unsafe impl GlobalAlloc for BumpArena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: one thread (see `Sync` above); no reference outlives this call.
        let (next, end) = unsafe { (&mut *ARENA.next.get(), &mut *ARENA.end.get()) };
        if *end == 0 {
            *next = ARENA.bytes.get() as usize;
            *end = *next + ARENA_BYTES;
        }
        let start = (*next + layout.align() - 1) & !(layout.align() - 1);
        match start.checked_add(layout.size()) {
            Some(stop) if stop <= *end => {
                *next = stop;
                start as *mut u8
            }
            _ => grow(layout, next, end),
        }
    }

    /// Nothing is freed: the instance is dropped after the call.
    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

/// Takes enough new pages for `layout` and bumps through them from then on.
fn grow(layout: Layout, next: &mut usize, end: &mut usize) -> *mut u8 {
    let needed = layout.size() + layout.align();
    let pages = needed.div_ceil(PAGE_BYTES).max(16);
    let first = core::arch::wasm32::memory_grow(0, pages);
    if first == usize::MAX {
        return core::ptr::null_mut();
    }
    let base = first * PAGE_BYTES;
    let start = (base + layout.align() - 1) & !(layout.align() - 1);
    *next = start + layout.size();
    *end = base + pages * PAGE_BYTES;
    start as *mut u8
}
