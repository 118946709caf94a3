//! The only module that talks to the OS or the processor through `unsafe`: memory-mapping
//! capture files and asking for huge pages under large buffers (here), the allocator (`alloc`),
//! AF_XDP sockets (`xsk`), TPACKET rings (`afpacket`), io_uring file writes (`uring`), and the
//! Parquet encoder's non-temporal stores (`stream`) and byte transposes (`simd`).
#![allow(
    unsafe_code,
    reason = "this module is where the crate's unsafe code is confined"
)]

use std::fs::File;
use std::io;

/// A read-only view of a whole file: memory-mapped when possible, read into memory otherwise
/// (pipes, special files, filesystems that refuse mmap).
#[derive(Debug)]
pub enum FileBytes {
    /// A private read-only mapping.
    Mapped(memmap2::Mmap),
    /// The file's bytes read into memory.
    Owned(Vec<u8>),
}

impl FileBytes {
    /// Maps `file`, falling back to reading it.
    pub fn open(mut file: File) -> io::Result<Self> {
        let is_regular = file.metadata().map(|m| m.is_file()).unwrap_or(false);
        if is_regular {
            // SAFETY: the mapping is read-only and private. The one hazard memmap2 names is another
            // process truncating or rewriting the file while it is mapped; capture files are
            // written once (or only appended to), and a truncation at worst raises SIGBUS in this
            // process rather than corrupting memory we hand out, since every read is bounds-checked
            // against the length taken at map time.
            if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
                #[cfg(unix)]
                let _ = map.advise(memmap2::Advice::Sequential);
                // Pages read in on fault then arrive in 2 MiB folios, mapped with one fault
                // each, and unmapped as whole blocks at exit: a capture read from disk this way
                // costs a fraction of the page faults and unmapping of 4 KiB pages (see
                // docs/benchmarks.md). Pages already cached stay as they are.
                #[cfg(target_os = "linux")]
                let _ = map.advise(memmap2::Advice::HugePage);
                return Ok(Self::Mapped(map));
            }
        }
        let mut buf = Vec::new();
        io::Read::read_to_end(&mut file, &mut buf)?;
        Ok(Self::Owned(buf))
    }

    /// The file's bytes.
    #[must_use]
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Self::Mapped(m) => m,
            Self::Owned(v) => v,
        }
    }
}
/// The size of a transparent huge page on x86-64 and most arm64 kernels.
const HUGE_PAGE: usize = 2 << 20;

/// Asks the kernel to back the whole 2 MiB pages inside `buf` with transparent huge pages.
///
/// For buffers of many megabytes that are written through once they are allocated (a row
/// group's columns): first touching one in 4 KiB pages takes a page fault per page, thousands
/// per buffer, each costly in a virtual machine. A no-op where the kernel refuses, and for
/// buffers too small to hold a whole huge page.
pub fn advise_huge_pages<T: Copy>(buf: &mut [T]) {
    #[cfg(target_os = "linux")]
    {
        allow_advised_huge_pages();
        let start = buf.as_mut_ptr() as usize;
        let end = start + std::mem::size_of_val(buf);
        let first = start.next_multiple_of(HUGE_PAGE);
        let last = end & !(HUGE_PAGE - 1);
        if last > first {
            // SAFETY: the range lies inside `buf`, memory this process owns and may write;
            // MADV_HUGEPAGE changes only how the kernel backs it, never its contents (pages
            // already present keep their bytes, and a huge page is handed out zeroed only
            // where no page was present, exactly as a 4 KiB one would be).
            unsafe {
                libc::madvise(
                    first as *mut libc::c_void,
                    last - first,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buf;
}

/// Lets the regions this process advises (`MADV_HUGEPAGE`) have transparent huge pages while
/// every other region still has none.
///
/// The allocator turns transparent huge pages off for the whole process (its arenas would
/// otherwise be zeroed 2 MiB at a time for a few kilobytes of use, see `Cargo.toml`), and that
/// switch also overrides `MADV_HUGEPAGE`. Linux 6.18 can exempt advised regions; older kernels
/// refuse the flag, and advised regions then stay in 4 KiB pages, as before.
#[cfg(target_os = "linux")]
fn allow_advised_huge_pages() {
    /// `PR_THP_DISABLE_EXCEPT_ADVISED` of `linux/prctl.h` (6.18), not yet in the libc crate.
    const EXCEPT_ADVISED: libc::c_ulong = 1 << 1;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and changes nothing but how
        // the kernel backs this process's future anonymous memory; a kernel that does not know
        // the flag returns EINVAL and changes nothing.
        unsafe {
            libc::prctl(
                libc::PR_SET_THP_DISABLE,
                1 as libc::c_ulong,
                EXCEPT_ADVISED,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            );
        }
    });
}

/// Asks for the cache lines of `bytes` that start at the offsets in `lines` (multiples of 64
/// from the start of `bytes`) into the second-level cache, ahead of a first-level request for
/// some of them. Offsets past the end are skipped.
#[inline]
pub fn prefetch_lines_to_l2(bytes: &[u8], lines: std::ops::Range<usize>) {
    let end = lines.end.min(bytes.len());
    if let Some(span) = bytes.get(lines.start..end) {
        prefetch_to_l2(span);
    }
}

/// Asks for every cache line of `values` into the second-level cache, ahead of a pass over
/// them.
#[inline]
pub fn prefetch_to_l2<T>(values: &[T]) {
    prefetch_lines::<true, T>(values);
}

/// Asks for the cache lines of `bytes` ahead of their use, into the first-level cache.
#[inline]
pub fn prefetch_range(bytes: &[u8]) {
    prefetch_lines::<false, u8>(bytes);
}

/// Asks for every cache line of `values`, into the second-level cache or down to the first.
#[inline]
fn prefetch_lines<const TO_L2: bool, T>(values: &[T]) {
    let start = values.as_ptr().cast::<u8>();
    for offset in (0..std::mem::size_of_val(values)).step_by(64) {
        let line = start.wrapping_add(offset).cast();
        // SAFETY: SSE is part of the x86_64 baseline, and a prefetch only hints the cache: it
        // reads nothing and cannot fault, whatever the address (this one is inside `values`).
        #[cfg(target_arch = "x86_64")]
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0, _MM_HINT_T1};
            if TO_L2 {
                _mm_prefetch::<_MM_HINT_T1>(line);
            } else {
                _mm_prefetch::<_MM_HINT_T0>(line);
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = line;
    }
}

/// Bytes an unprivileged writer may still use on the filesystem holding `path`.
pub fn free_bytes(path: &std::path::Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c_path` is a NUL-terminated string and `stat` is writable memory of the struct's
    // size; statvfs writes nothing else.
    if unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let stat = unsafe { stat.assume_init() };
    // Both fields are 64-bit on the targets we build for.
    Ok(stat.f_bavail * stat.f_frsize)
}

/// Vector instruction sets a closure can be compiled for, narrowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Vectors {
    /// What every processor of the target has (SSE2 on x86_64).
    Baseline,
    /// AVX2: 256-bit registers, 64-bit compares.
    Avx2,
    /// AVX-512 (F, VL, BW, DQ): 512-bit registers, 64-bit minimum and maximum.
    Avx512,
}

impl Vectors {
    /// The widest set this processor has. Each check is a load of a flag cached at the first.
    #[inline(always)]
    #[must_use]
    pub fn widest() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512dq")
            {
                return Self::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Self::Avx2;
            }
        }
        Self::Baseline
    }
}

/// Runs `f` compiled for `vectors`, or for the widest set the processor has where that is
/// narrower.
///
/// For loops that the compiler vectorises well only with the wider sets (64-bit compares need
/// AVX2, 64-bit minimum and maximum AVX-512): what `f` inlines is compiled for each set, and
/// the processor picks.
#[inline(always)]
pub fn with_vectors<R>(vectors: Vectors, f: impl FnOnce() -> R) -> R {
    match vectors.min(Vectors::widest()) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the processor has these features: `widest` checked them.
        Vectors::Avx512 => unsafe { run_with_avx512(f) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Vectors::Avx2 => unsafe { run_with_avx2(f) },
        _ => f(),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn run_with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512vl,avx512bw,avx512dq")]
fn run_with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

pub mod afpacket;
pub mod alloc;
#[cfg(target_arch = "x86_64")]
pub mod simd;
pub mod stream;
pub mod uring;
pub mod xsk;

#[cfg(test)]
mod tests {
    /// Advice on a buffer keeps every value already written and lets the rest be written, on
    /// buffers smaller than a huge page, spanning several, and starting at any offset.
    #[test]
    fn huge_page_advice_keeps_the_buffer_as_it_was() {
        for (len, written) in [(0, 0), (1000, 1000), (3 << 20, 1 << 10), (5 << 20, 5 << 20)] {
            let mut buf: Vec<u64> = vec![0; len];
            for (i, v) in buf.iter_mut().take(written).enumerate() {
                *v = i as u64 * 7 + 1;
            }
            let offset = len.min(3);
            super::advise_huge_pages(&mut buf[offset..]);
            for (i, v) in buf.iter_mut().enumerate() {
                let expected = if i < written { i as u64 * 7 + 1 } else { 0 };
                assert_eq!(*v, expected, "value {i} of {len}");
                *v = !expected;
            }
            assert!(buf
                .iter()
                .enumerate()
                .all(|(i, &v)| v == !(if i < written { i as u64 * 7 + 1 } else { 0 })));
        }
    }
}
