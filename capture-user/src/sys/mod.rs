//! The only module that talks to the OS or the processor through `unsafe`: memory-mapping
//! capture files (here), the allocator (`alloc`), AF_XDP sockets (`xsk`), TPACKET rings
//! (`afpacket`), io_uring file writes (`uring`), and the Parquet encoder's non-temporal stores
//! (`stream`) and byte transposes (`simd`).
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
/// Asks for the cache lines of `bytes` ahead of their use.
#[inline]
pub fn prefetch_range(bytes: &[u8]) {
    for line in bytes.iter().step_by(64) {
        // SAFETY: SSE is part of the x86_64 baseline, and a prefetch only hints the cache: it
        // reads nothing and cannot fault, whatever the address.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                std::ptr::from_ref(line).cast(),
            );
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

pub mod afpacket;
pub mod alloc;
#[cfg(target_arch = "x86_64")]
pub mod simd;
pub mod stream;
pub mod uring;
pub mod xsk;
