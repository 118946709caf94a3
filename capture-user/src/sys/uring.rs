//! Sequential file writes through io_uring from a few large, page-aligned buffers, with `O_DIRECT`
//! where the filesystem takes it and buffered writes where it does not.
//!
//! One [`UringWriter`] lives as long as the spill writer and writes one file at a time: the
//! ring and the buffers are allocated once, not per segment. Bytes are copied into the current
//! buffer; a full buffer is submitted at its file offset and the next free one is taken, so the
//! disk works while the encoder fills the next buffer. [`UringWriter::sync`] makes everything
//! written so far durable; [`UringWriter::finish_file`] also cuts the file to its exact length
//! (direct writes are padded to the block size).

use std::alloc::{self, Layout};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use io_uring::{opcode, types, IoUring};

/// Offset and length alignment of direct writes: a multiple of every logical block size in use
/// (512 and 4096 bytes), so it suits any NVMe namespace without asking the device.
pub const DIRECT_ALIGN: usize = 4096;

/// Size of one write buffer.
pub const BUFFER_BYTES: usize = 4 << 20;

/// Buffers per writer: one being filled while the others are in flight.
const BUFFERS: usize = 4;

const SYNC_TAG: u64 = u64::MAX;

/// A zeroed, page-aligned heap buffer, as `O_DIRECT` requires.
struct AlignedBuf {
    ptr: std::ptr::NonNull<u8>,
    layout: Layout,
}

// SAFETY: the buffer is plain memory owned by this value; it is only reached through `&self` /
// `&mut self` or by the kernel while a write on it is in flight, which the writer tracks.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    fn new(len: usize) -> io::Result<Self> {
        let layout = Layout::from_size_align(len, DIRECT_ALIGN)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: `layout` has a non-zero size (BUFFER_BYTES).
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = std::ptr::NonNull::new(raw)
            .ok_or_else(|| io::Error::new(io::ErrorKind::OutOfMemory, "write buffer"))?;
        Ok(Self { ptr, layout })
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` points to `layout.size()` initialised (zeroed, then written) bytes that
        // this value owns; `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this very layout.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

/// The ring's own system call failed (as opposed to one of its writes).
#[derive(Debug)]
struct RingError(io::Error);

impl std::fmt::Display for RingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "io_uring wait failed: {}", self.0)
    }
}

impl std::error::Error for RingError {}

impl From<RingError> for io::Error {
    fn from(e: RingError) -> Self {
        io::Error::new(e.0.kind(), e)
    }
}

/// A write that was submitted and not yet completed.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    offset: u64,
    start: usize,
    len: usize,
}

/// How a file is being written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoMode {
    /// `O_DIRECT`: around the page cache, block-aligned.
    Direct,
    /// Through the page cache (the filesystem refused `O_DIRECT`, as tmpfs does).
    Buffered,
}

impl IoMode {
    /// Lower-case name for reports.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Direct => "O_DIRECT",
            Self::Buffered => "buffered",
        }
    }
}

/// The io_uring file writer (see the module documentation).
pub struct UringWriter {
    ring: IoUring,
    buffers: Vec<AlignedBuf>,
    in_flight: Vec<Option<InFlight>>,
    /// Buffers neither being filled nor in flight.
    free: Vec<usize>,
    current: usize,
    /// Bytes of the current buffer holding data.
    filled: usize,
    /// File offset of the current buffer's first byte.
    current_offset: u64,
    file: Option<File>,
    mode: IoMode,
    try_direct: bool,
    /// Injected before every submission, to test what a slow disk does to the writer.
    delay: Duration,
}

impl std::fmt::Debug for UringWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringWriter")
            .field("mode", &self.mode)
            .field("offset", &self.position())
            .finish_non_exhaustive()
    }
}

impl UringWriter {
    /// A writer with its ring and buffers; `try_direct` false never asks for `O_DIRECT`.
    pub fn new(try_direct: bool, delay: Duration) -> io::Result<Self> {
        let ring = IoUring::new(8)?;
        let buffers = (0..BUFFERS)
            .map(|_| AlignedBuf::new(BUFFER_BYTES))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Self {
            ring,
            buffers,
            in_flight: vec![None; BUFFERS],
            free: (1..BUFFERS).collect(),
            current: 0,
            filled: 0,
            current_offset: 0,
            file: None,
            mode: IoMode::Buffered,
            try_direct,
            delay,
        })
    }

    /// Creates `path` (truncating it) and makes it the file being written; `O_DIRECT` is used
    /// when the filesystem accepts it.
    pub fn create(&mut self, path: &Path) -> io::Result<IoMode> {
        if self.file.is_some() {
            return Err(io::Error::other("a file is already open"));
        }
        let open = |flags: i32| {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .custom_flags(flags)
                .open(path)
        };
        let (file, mode) = if self.try_direct {
            match open(libc::O_DIRECT) {
                Ok(f) => (f, IoMode::Direct),
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => (open(0)?, IoMode::Buffered),
                Err(e) => return Err(e),
            }
        } else {
            (open(0)?, IoMode::Buffered)
        };
        self.file = Some(file);
        self.mode = mode;
        self.filled = 0;
        self.current_offset = 0;
        Ok(mode)
    }

    /// Bytes written to the open file so far (its logical length).
    #[must_use]
    pub fn position(&self) -> u64 {
        self.current_offset + self.filled as u64
    }

    fn fd(&self) -> io::Result<types::Fd> {
        self.file
            .as_ref()
            .map(|f| types::Fd(f.as_raw_fd()))
            .ok_or_else(|| io::Error::other("no file is open"))
    }

    fn submit_write(
        &mut self,
        buffer: usize,
        start: usize,
        len: usize,
        offset: u64,
    ) -> io::Result<()> {
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        let fd = self.fd()?;
        let data = &mut self.buffers[buffer].as_mut_slice()[start..start + len];
        let len32 = u32::try_from(len).map_err(|_| io::Error::other("write too large"))?;
        let entry = opcode::Write::new(fd, data.as_mut_ptr(), len32)
            .offset(offset)
            .build()
            .user_data(buffer as u64);
        // SAFETY: the entry points into `self.buffers[buffer]`, which stays allocated and is not
        // written by us until its completion is reaped (`in_flight[buffer]` is set and the buffer
        // is in neither `free` nor `current`); the file descriptor lives in `self.file` until
        // every completion is reaped (`close` and `Drop` wait for them).
        while unsafe { self.ring.submission().push(&entry) }.is_err() {
            self.ring.submit()?;
        }
        self.ring.submit()?;
        self.in_flight[buffer] = Some(InFlight { offset, start, len });
        Ok(())
    }

    /// Waits for at least `min` completions and handles every completion there is.
    fn reap(&mut self, min: usize) -> io::Result<()> {
        if min > 0 {
            loop {
                match self.ring.submit_and_wait(min) {
                    Ok(_) => break,
                    // A signal (SIGINT asks the capture to stop) interrupts the wait, not the I/O.
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(RingError(e).into()),
                }
            }
        }
        let done: Vec<(u64, i32)> = self
            .ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect();
        let mut first_error = None;
        for (tag, result) in done {
            if tag == SYNC_TAG {
                if result < 0 {
                    first_error.get_or_insert(io::Error::from_raw_os_error(-result));
                }
                continue;
            }
            let buffer = tag as usize;
            let Some(write) = self.in_flight[buffer].take() else {
                continue;
            };
            let outcome = match usize::try_from(result) {
                Ok(n) if n == write.len => Ok(()),
                // A direct write the filesystem turned down after open: go on buffered.
                Err(_) if -result == libc::EINVAL && self.mode == IoMode::Direct => self
                    .fall_back_to_buffered()
                    .and_then(|()| self.submit_write(buffer, write.start, write.len, write.offset)),
                Ok(n) if n > 0 && n < write.len => {
                    if self.mode == IoMode::Direct && n % DIRECT_ALIGN != 0 {
                        let _ = self.fall_back_to_buffered();
                    }
                    self.submit_write(
                        buffer,
                        write.start + n,
                        write.len - n,
                        write.offset + n as u64,
                    )
                }
                Ok(_) => Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the disk took no bytes",
                )),
                Err(_) => Err(io::Error::from_raw_os_error(-result)),
            };
            if self.in_flight[buffer].is_none() && buffer != self.current {
                self.free.push(buffer);
            }
            if let Err(e) = outcome {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn fall_back_to_buffered(&mut self) -> io::Result<()> {
        let fd = self.fd()?.0;
        // SAFETY: F_GETFL/F_SETFL on a descriptor we own; no memory is passed.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        // SAFETY: as above.
        if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_DIRECT) } < 0 {
            return Err(io::Error::last_os_error());
        }
        self.mode = IoMode::Buffered;
        Ok(())
    }

    fn busy(&self) -> usize {
        self.in_flight.iter().filter(|w| w.is_some()).count()
    }

    /// Waits for every write in flight; returns the first error.
    fn drain(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        while self.busy() > 0 {
            if let Err(e) = self.reap(1) {
                let ring_failed = e
                    .get_ref()
                    .is_some_and(<dyn std::error::Error + Send + Sync>::is::<RingError>);
                if result.is_ok() {
                    result = Err(e);
                }
                if ring_failed {
                    // The ring itself cannot be waited on: no completion will come.
                    break;
                }
            }
        }
        result
    }

    /// Submits the full current buffer and takes a free one.
    fn rotate_buffer(&mut self) -> io::Result<()> {
        let (buffer, len, offset) = (self.current, self.filled, self.current_offset);
        self.submit_write(buffer, 0, len, offset)?;
        // No buffer is current while waiting, so the one just submitted returns to `free` too.
        self.current = usize::MAX;
        while self.free.is_empty() {
            self.reap(1)?;
        }
        self.current = self.free.pop().unwrap_or_default();
        self.current_offset += len as u64;
        self.filled = 0;
        Ok(())
    }

    /// Writes out the partly filled current buffer (zero-padded to the block size when direct)
    /// and waits for every write.
    fn write_tail(&mut self) -> io::Result<()> {
        if self.filled > 0 {
            let len = match self.mode {
                IoMode::Direct => self.filled.next_multiple_of(DIRECT_ALIGN),
                IoMode::Buffered => self.filled,
            };
            let filled = self.filled;
            self.buffers[self.current].as_mut_slice()[filled..len].fill(0);
            let (buffer, offset) = (self.current, self.current_offset);
            self.submit_write(buffer, 0, len, offset)?;
        }
        self.drain()?;
        if self.mode == IoMode::Buffered && self.filled > 0 {
            // Written exactly: the buffer starts over at the next byte.
            self.current_offset += self.filled as u64;
            self.filled = 0;
        }
        // A direct tail is kept and written again, whole, once more bytes follow it.
        Ok(())
    }

    /// Makes every byte written so far durable (`fdatasync` through the ring).
    pub fn sync(&mut self) -> io::Result<()> {
        self.write_tail()?;
        let fd = self.fd()?;
        let entry = opcode::Fsync::new(fd)
            .flags(types::FsyncFlags::DATASYNC)
            .build()
            .user_data(SYNC_TAG);
        // SAFETY: an fsync entry carries no memory; the descriptor stays open until it completes
        // (we wait for it right here).
        while unsafe { self.ring.submission().push(&entry) }.is_err() {
            self.ring.submit()?;
        }
        self.reap(1)?;
        // `reap(1)` returns after at least one completion; the only one outstanding is the sync.
        Ok(())
    }

    /// Writes out the open file, cuts it to its exact length, syncs and closes it; returns its
    /// length.
    pub fn finish_file(&mut self) -> io::Result<u64> {
        self.sync()?;
        let len = self.position();
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("no file is open"))?;
        // Direct writes pad the last block, also those made before a fall back to buffered.
        if file.metadata()?.len() != len {
            file.set_len(len)?;
            file.sync_data()?;
        }
        self.reset();
        Ok(len)
    }

    /// Gives up the open file after a failure: waits for whatever is in flight and closes it as
    /// it is (what reached the disk stays; the caller decides what of it is valid).
    pub fn abandon_file(&mut self) {
        let _ = self.drain();
        self.file = None;
        self.reset();
    }

    /// Nothing is in flight any more (every caller drained): every buffer is free again.
    fn reset(&mut self) {
        self.current = 0;
        self.free = (1..BUFFERS).collect();
        self.filled = 0;
        self.current_offset = 0;
    }
}

impl Write for UringWriter {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let total = data.len();
        while !data.is_empty() {
            let room = BUFFER_BYTES - self.filled;
            let n = room.min(data.len());
            let filled = self.filled;
            self.buffers[self.current].as_mut_slice()[filled..filled + n]
                .copy_from_slice(&data[..n]);
            self.filled += n;
            data = &data[n..];
            if self.filled == BUFFER_BYTES {
                self.rotate_buffer()?;
            }
        }
        Ok(total)
    }

    /// Does nothing: bytes reach the disk when a buffer fills, at [`UringWriter::sync`] and at
    /// [`UringWriter::finish_file`]. (The Parquet encoder flushes after every column chunk;
    /// writing then would mean small, unaligned writes.)
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for UringWriter {
    fn drop(&mut self) {
        // The kernel may still be reading buffers we are about to free.
        let _ = self.drain();
        if self.busy() > 0 {
            // The ring failed with writes outstanding: leaking the buffers is the only safe end.
            std::mem::forget(std::mem::take(&mut self.buffers));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join("capture-uring-tests");
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn writes_files_of_any_length_exactly() {
        let mut w = UringWriter::new(true, Duration::ZERO).unwrap();
        for (i, len) in [
            0,
            1,
            4095,
            4096,
            4097,
            BUFFER_BYTES,
            3 * BUFFER_BYTES + 12345,
        ]
        .into_iter()
        .enumerate()
        {
            let path = scratch(&format!("exact-{i}"));
            w.create(&path).unwrap();
            let data = pattern(len);
            // Odd-sized pieces cross buffer boundaries.
            for piece in data.chunks(7919) {
                w.write_all(piece).unwrap();
            }
            assert_eq!(w.finish_file().unwrap(), len as u64);
            assert_eq!(std::fs::read(&path).unwrap(), data, "length {len}");
        }
    }

    #[test]
    fn syncing_mid_file_keeps_the_bytes_in_place() {
        let mut w = UringWriter::new(true, Duration::ZERO).unwrap();
        let path = scratch("sync-mid");
        w.create(&path).unwrap();
        let data = pattern(BUFFER_BYTES + 10_000);
        w.write_all(&data[..5000]).unwrap();
        w.sync().unwrap();
        // After a sync the durable prefix is on disk, with padding at most.
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(&on_disk[..5000], &data[..5000]);
        w.write_all(&data[5000..]).unwrap();
        w.sync().unwrap();
        w.write_all(b"end").unwrap();
        w.finish_file().unwrap();
        let mut expected = data.clone();
        expected.extend_from_slice(b"end");
        assert_eq!(std::fs::read(&path).unwrap(), expected);
    }
}
