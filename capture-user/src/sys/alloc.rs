//! The process's allocator: mimalloc, called through its plain entry points wherever the
//! layout allows.
//!
//! The `mimalloc` crate's allocator passes every request to `mi_malloc_aligned`, and for blocks
//! over 1 KiB whose size is not a power of two (a flow slot, the higher tiers' state, most
//! growing buffers) that function takes its over-allocating path: a larger block, a search for
//! the aligned address inside it, and a costlier free. Every mimalloc block is aligned to 8
//! bytes, and to 16 when the requested size is a multiple of 16 (its size classes are whole
//! words, and such a size always falls in a class of an even number of words), which covers
//! every layout our types ask for: those requests take the plain `mi_malloc`, `mi_zalloc` and
//! `mi_realloc`; anything else still goes to the aligned calls.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// Whether a block from the plain entry points is aligned enough for `align` at `size`.
#[inline]
fn plain_fits(align: usize, size: usize) -> bool {
    align <= 8 || (align == 16 && size.is_multiple_of(16))
}

/// mimalloc behind Rust's allocator interface.
#[derive(Debug, Default, Clone, Copy)]
pub struct Allocator;

/// A plain allocation call of mimalloc and its aligned counterpart.
type Plain = unsafe extern "C" fn(usize) -> *mut c_void;
type Aligned = unsafe extern "C" fn(usize, usize) -> *mut c_void;

/// Allocates `layout` through `plain` where its blocks are aligned enough, `aligned` otherwise.
///
/// # Safety
/// `layout` has a nonzero size, and the two calls are a mimalloc allocation function and its
/// aligned form.
#[inline]
unsafe fn allocate(layout: Layout, plain: Plain, aligned: Aligned) -> *mut u8 {
    // SAFETY: the caller passes mimalloc's calls and a nonzero size; the plain call only where
    // `plain_fits` says its blocks carry the alignment.
    unsafe {
        if plain_fits(layout.align(), layout.size()) {
            plain(layout.size()).cast()
        } else {
            aligned(layout.size(), layout.align()).cast()
        }
    }
}

// SAFETY: every method forwards to mimalloc, which is thread-safe and returns blocks of at least
// the requested size. The plain calls are used only where `plain_fits` holds, which mimalloc's
// size classes guarantee (see the module comment); any other alignment goes to the aligned
// calls. `dealloc` and `realloc` receive only pointers this allocator returned, and `mi_free`
// and `mi_realloc` accept blocks from either kind of call.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: a nonzero size (GlobalAlloc's contract) and mimalloc's pair of calls.
        unsafe { allocate(layout, mi::mi_malloc, mi::mi_malloc_aligned) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        unsafe { allocate(layout, mi::mi_zalloc, mi::mi_zalloc_aligned) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (GlobalAlloc's contract).
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`; the new block keeps the old
        // alignment, by the plain rule for the new size or by the aligned call.
        unsafe {
            if plain_fits(layout.align(), new_size) {
                mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks of every small size and alignment come back aligned, and keep their bytes when
    /// they grow and shrink across the plain and aligned calls.
    #[test]
    fn blocks_are_aligned_and_keep_their_bytes() {
        let a = Allocator;
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1, 3, 8, 15, 16, 17, 24, 48, 100, 1024, 1232, 2416, 70_000] {
                let layout = Layout::from_size_align(size, align).expect("a valid layout");
                // SAFETY: a nonzero size; the block is written within its size and freed once.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    for i in 0..size {
                        p.add(i).write(i as u8);
                    }
                    let grown = a.realloc(p, layout, size * 3);
                    assert_eq!(grown as usize % align, 0);
                    for i in 0..size {
                        assert_eq!(grown.add(i).read(), i as u8);
                    }
                    let shrunk = a.realloc(
                        grown,
                        Layout::from_size_align(size * 3, align).expect("valid"),
                        size.div_ceil(2),
                    );
                    assert_eq!(shrunk as usize % align, 0);
                    for i in 0..size.div_ceil(2) {
                        assert_eq!(shrunk.add(i).read(), i as u8);
                    }
                    a.dealloc(
                        shrunk,
                        Layout::from_size_align(size.div_ceil(2), align).expect("valid"),
                    );
                    let z = a.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0);
                    assert!((0..size).all(|i| z.add(i).read() == 0));
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
