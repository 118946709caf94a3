//! One AF_XDP socket bound to one receive queue, with its own UMEM: a preallocated,
//! page-aligned area of fixed-size frames that the kernel fills and we hand back. Built on
//! `xdpilone` (pure Rust, no libxdp); the unsafe parts are the UMEM registration, which hands
//! the kernel a raw pointer into our mapping, and borrowing the socket's descriptor for the
//! XSKMAP.

use std::ffi::CString;
use std::io;
use std::num::NonZeroU32;
use std::os::fd::BorrowedFd;
use std::ptr::NonNull;

use xdpilone::{DeviceQueue, IfInfo, RingRx, Socket, SocketConfig, Umem, UmemConfig, User};

/// Bytes per UMEM frame (one packet each; the largest frame a 4 KiB chunk holds).
pub const FRAME_SIZE: u32 = 4096;

/// How the socket was bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindMode {
    /// The driver writes packets straight into our frames.
    ZeroCopy,
    /// The kernel copies packets into our frames (drivers without zero-copy support, veth).
    Copy,
}

impl BindMode {
    /// The name shown to users.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ZeroCopy => "zero-copy",
            Self::Copy => "copy",
        }
    }
}

/// Kernel-side drop counters of a socket (`XDP_STATISTICS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketStats {
    /// Dropped for reasons other than a full ring (for example an invalid descriptor).
    pub rx_dropped: u64,
    /// Dropped because the receive ring was full: we did not read fast enough.
    pub rx_ring_full: u64,
    /// Times the fill ring was empty when the kernel needed a frame.
    pub fill_ring_empty: u64,
    /// Invalid receive descriptors.
    pub rx_invalid: u64,
}

/// A receive-only AF_XDP socket on one queue of one interface.
pub struct XskQueue {
    // Field order is drop order: the rings and socket go before the UMEM registration, and the
    // UMEM before the memory it points into.
    rx: RingRx,
    device: DeviceQueue,
    user: User,
    _umem: Umem,
    area: memmap2::MmapMut,
    mode: BindMode,
    /// Frames in the UMEM.
    frames: u32,
    /// Frames read in the current batch, to hand back (kept to avoid allocating per batch).
    returned: Vec<u64>,
}

// SAFETY: everything in an `XskQueue` is owned by it alone: the UMEM's pointer refers to `area`,
// a mapping whose address does not change when the struct moves, and the rings are mappings of
// the socket's own descriptor. Moving the whole to another thread (a worker) moves sole access
// with it; nothing is shared, so `Sync` is not claimed.
unsafe impl Send for XskQueue {}

impl std::fmt::Debug for XskQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XskQueue")
            .field("mode", &self.mode)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

fn errno(what: &str, e: xdpilone::Errno) -> io::Error {
    let os = io::Error::from_raw_os_error(e.get_raw());
    io::Error::new(os.kind(), format!("{what}: {os}"))
}

impl XskQueue {
    /// Opens a socket on `queue` of `iface` with `frames` UMEM frames (ring sizes follow), trying
    /// zero-copy first unless `copy_only`, and copy mode when the driver refuses it.
    pub fn open(iface: &str, queue: u32, frames: u32, copy_only: bool) -> io::Result<Self> {
        if !copy_only {
            match Self::open_mode(iface, queue, frames, BindMode::ZeroCopy) {
                Ok(q) => return Ok(q),
                // EOPNOTSUPP (veth and most virtual NICs), EINVAL (old drivers): fall back.
                Err(e) if matches!(e.raw_os_error(), Some(95 | 22)) => {}
                Err(e) => return Err(e),
            }
        }
        Self::open_mode(iface, queue, frames, BindMode::Copy)
    }

    fn open_mode(iface: &str, queue: u32, frames: u32, mode: BindMode) -> io::Result<Self> {
        let frames = frames.next_power_of_two();
        let len = frames as usize * FRAME_SIZE as usize;
        // Anonymous mappings are page-aligned, as the UMEM requires.
        let mut area = memmap2::MmapMut::map_anon(len)?;
        let region = NonNull::from(&mut area[..]);
        let config = UmemConfig {
            fill_size: frames,
            complete_size: frames,
            frame_size: FRAME_SIZE,
            headroom: 0,
            flags: 0,
        };
        // SAFETY: `region` is the whole of `area`, a page-aligned anonymous mapping of
        // `frames * FRAME_SIZE` bytes that lives in the returned struct and is dropped after the
        // UMEM (field order), so the kernel never writes into freed memory.
        let umem =
            unsafe { Umem::new(config, region) }.map_err(|e| errno("UMEM registration", e))?;
        let name = CString::new(iface).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "interface name holds a NUL byte",
            )
        })?;
        let mut info = IfInfo::invalid();
        info.from_name(&name)
            .map_err(|e| errno(&format!("interface {iface}"), e))?;
        info.set_queue(queue);
        let socket = Socket::with_shared(&info, &umem).map_err(|e| errno("AF_XDP socket", e))?;
        let device = umem
            .fq_cq(&socket)
            .map_err(|e| errno("fill and completion rings", e))?;
        let bind_flags = match mode {
            BindMode::ZeroCopy => SocketConfig::XDP_BIND_ZEROCOPY,
            BindMode::Copy => SocketConfig::XDP_BIND_COPY,
        } | SocketConfig::XDP_BIND_NEED_WAKEUP;
        let user = umem
            .rx_tx(
                &socket,
                &SocketConfig {
                    rx_size: NonZeroU32::new(frames),
                    tx_size: None,
                    bind_flags,
                },
            )
            .map_err(|e| errno("receive ring", e))?;
        let rx = user
            .map_rx()
            .map_err(|e| errno("receive ring mapping", e))?;
        umem.bind(&user).map_err(|e| {
            let os = io::Error::from_raw_os_error(e.get_raw());
            io::Error::from_raw_os_error(os.raw_os_error().unwrap_or(0))
        })?;
        let mut q = Self {
            rx,
            device,
            user,
            _umem: umem,
            area,
            mode,
            frames,
            returned: Vec::with_capacity(frames as usize),
        };
        q.give_back((0..frames).map(|i| u64::from(i) * u64::from(FRAME_SIZE)));
        Ok(q)
    }

    /// How the socket is bound.
    #[must_use]
    pub fn mode(&self) -> BindMode {
        self.mode
    }

    /// The socket's descriptor, for the XSKMAP.
    #[must_use]
    pub fn fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the descriptor belongs to `self.user`, which outlives the returned borrow.
        unsafe { BorrowedFd::borrow_raw(self.user.as_raw_fd()) }
    }

    /// Queues frames (by UMEM offset) on the fill ring for the kernel to receive into. The ring
    /// has room for every frame, but a reservation may return fewer slots than asked: loop.
    fn give_back(&mut self, addrs: impl Iterator<Item = u64>) {
        let mut addrs = addrs.peekable();
        while addrs.peek().is_some() {
            let mut fill = self.device.fill(self.frames);
            let n = fill.insert(&mut addrs);
            fill.commit();
            if n == 0 {
                break;
            }
        }
        if self.device.needs_wakeup() {
            self.device.wake();
        }
    }

    /// Waits up to `timeout_ms` for packets, then hands each received frame's bytes to `each`,
    /// at most `batch` of them, and returns them to the fill ring. Returns how many were read.
    pub fn receive(&mut self, batch: u32, timeout_ms: i32, each: &mut impl FnMut(&[u8])) -> u32 {
        if self.rx.available() == 0 {
            let mut poll = libc_pollfd(self.user.as_raw_fd());
            // SAFETY: one valid pollfd on our own descriptor, for the given timeout.
            unsafe { libc::poll(&mut poll, 1, timeout_ms) };
        }
        let mut read = self.rx.receive(batch);
        let mut done = std::mem::take(&mut self.returned);
        done.clear();
        let mut n = 0;
        while let Some(desc) = read.read() {
            let start = usize::try_from(desc.addr).unwrap_or(usize::MAX);
            let end = start.saturating_add(desc.len as usize);
            if let Some(bytes) = self.area.get(start..end) {
                each(bytes);
            }
            done.push(desc.addr & !u64::from(FRAME_SIZE - 1));
            n += 1;
        }
        read.release();
        drop(read);
        if !done.is_empty() {
            self.give_back(done.drain(..));
        } else if self.device.needs_wakeup() {
            self.device.wake();
        }
        self.returned = done;
        n
    }

    /// The kernel's drop counters for this socket.
    pub fn stats(&self) -> io::Result<SocketStats> {
        let s = self
            .user
            .statistics_v2()
            .map_err(|e| errno("XDP_STATISTICS", e))?;
        Ok(SocketStats {
            rx_dropped: s.rx_dropped,
            rx_ring_full: s.rx_ring_full,
            fill_ring_empty: s.rx_fill_ring_empty_descs,
            rx_invalid: s.rx_invalid_descs,
        })
    }
}

fn libc_pollfd(fd: i32) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}
