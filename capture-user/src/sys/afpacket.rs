//! An AF_PACKET socket with a TPACKET_V3 receive ring: the kernel fills blocks of a shared
//! mapping with frames and hands each whole block to us, which we return once read. For hosts
//! where XDP cannot attach. Several sockets join one fanout group by a flow hash that is the same
//! in both directions (and reassembles fragments first), so each worker sees whole flows.
//!
//! [`PacketSender`] is the other direction: whole frames out through `sendmmsg`, for the traffic
//! generator.
//!
//! Written against the kernel ABI with `libc` because no maintained crate offers TPACKET_V3
//! rings with fanout; the structure offsets below are those of `<linux/if_packet.h>`.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};

const SOL_PACKET: libc::c_int = 263;
const PACKET_RX_RING: libc::c_int = 5;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_VERSION: libc::c_int = 10;
const PACKET_FANOUT: libc::c_int = 18;
const PACKET_QDISC_BYPASS: libc::c_int = 20;
const TPACKET_V3: libc::c_int = 2;
const PACKET_FANOUT_HASH: u32 = 0;
const PACKET_FANOUT_FLAG_DEFRAG: u32 = 0x8000;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const ETH_P_ALL: u16 = 0x0003;

/// Bytes per block; frames never cross a block.
const BLOCK_SIZE: u32 = 1 << 20;
/// A block is handed over after this many milliseconds even when not full.
const BLOCK_TIMEOUT_MS: u32 = 10;

#[repr(C)]
struct TpacketReq3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}

#[repr(C)]
#[derive(Default)]
struct TpacketStatsV3 {
    packets: u32,
    drops: u32,
    freeze_q_cnt: u32,
}

/// What the kernel reports for a packet socket (reading resets its counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketStats {
    /// Frames delivered to the ring.
    pub packets: u64,
    /// Frames dropped because the ring was full.
    pub drops: u64,
}

/// A receive ring on one interface.
pub struct PacketRing {
    // Dropped before the socket: unmapping first, then closing.
    ring: memmap2::MmapRaw,
    fd: OwnedFd,
    blocks: u32,
    next: u32,
    /// A frame whose VLAN tag the kernel moved into the ring header, with the tag put back.
    tagged: Vec<u8>,
    totals: PacketStats,
}

impl std::fmt::Debug for PacketRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketRing")
            .field("blocks", &self.blocks)
            .finish_non_exhaustive()
    }
}

fn last_error(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn set_option<T>(fd: &OwnedFd, option: libc::c_int, value: &T, what: &str) -> io::Result<()> {
    // SAFETY: `value` is a live `T` and its size is passed with it; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            SOL_PACKET,
            option,
            std::ptr::from_ref(value).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(last_error(what))
    }
}

/// The index of interface `iface`.
fn interface_index(iface: &str) -> io::Result<u32> {
    let name = CString::new(iface).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name holds a NUL byte",
        )
    })?;
    // SAFETY: a plain C string pointer, valid for the call.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("interface '{iface}' does not exist"),
        ));
    }
    Ok(ifindex)
}

/// A raw AF_PACKET socket for `protocol` (an ethertype; 0 receives nothing).
fn packet_socket(protocol: u16) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) with constant arguments; the result is checked before use.
    let raw = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW,
            libc::c_int::from(protocol.to_be()),
        )
    };
    if raw < 0 {
        return Err(last_error("AF_PACKET socket"));
    }
    // SAFETY: `raw` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Binds a packet socket to interface `ifindex` for `protocol`.
fn bind_to(fd: &OwnedFd, ifindex: u32, protocol: u16, iface: &str) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid starting value.
    let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    address.sll_family = libc::AF_PACKET as u16;
    address.sll_protocol = protocol.to_be();
    address.sll_ifindex = ifindex as i32;
    // SAFETY: a valid sockaddr_ll and its size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            std::ptr::from_ref(&address).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(last_error(&format!("binding to {iface}")));
    }
    Ok(())
}

impl PacketRing {
    /// Opens a ring of `megabytes` MiB on `iface`, joined to fanout group `group` when given.
    pub fn open(iface: &str, megabytes: u32, group: Option<u16>) -> io::Result<Self> {
        let ifindex = interface_index(iface)?;
        let fd = packet_socket(ETH_P_ALL)?;
        set_option(&fd, PACKET_VERSION, &TPACKET_V3, "TPACKET_V3")?;
        let blocks = megabytes.max(2);
        let request = TpacketReq3 {
            block_size: BLOCK_SIZE,
            block_nr: blocks,
            frame_size: 2048,
            frame_nr: BLOCK_SIZE / 2048 * blocks,
            retire_blk_tov: BLOCK_TIMEOUT_MS,
            sizeof_priv: 0,
            feature_req_word: 0,
        };
        set_option(&fd, PACKET_RX_RING, &request, "TPACKET_V3 receive ring")?;
        // The mapping covers exactly the ring the kernel just allocated for this socket, shared
        // with it by design; it is unmapped before the socket closes (field order).
        let ring = memmap2::MmapOptions::new()
            .len((BLOCK_SIZE * blocks) as usize)
            .map_raw(fd.as_raw_fd())?;
        bind_to(&fd, ifindex, ETH_P_ALL, iface)?;
        if let Some(group) = group {
            let fanout = u32::from(group) | (PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16;
            set_option(&fd, PACKET_FANOUT, &fanout, "PACKET_FANOUT")?;
        }
        Ok(Self {
            ring,
            fd,
            blocks,
            next: 0,
            tagged: Vec::with_capacity(65536 + 4),
            totals: PacketStats::default(),
        })
    }

    fn block_status(&self, block: u32) -> &AtomicU32 {
        let offset = (block * BLOCK_SIZE) as usize + 8;
        // SAFETY: the block header's status word lies inside the mapping (offset 8 of a block
        // of BLOCK_SIZE bytes, block < self.blocks), is 4-byte aligned (the mapping is
        // page-aligned), and is written by the kernel concurrently, hence atomic access.
        unsafe { &*self.ring.as_ptr().add(offset).cast::<AtomicU32>() }
    }

    fn read_u32(&self, offset: usize) -> u32 {
        // SAFETY: callers pass offsets inside a block we own (status TP_STATUS_USER), which the
        // kernel does not write until we hand it back.
        unsafe {
            self.ring
                .as_ptr()
                .add(offset)
                .cast::<u32>()
                .read_unaligned()
        }
    }

    /// Waits up to `timeout_ms` for a block, then hands every frame of the ready blocks to
    /// `each` (kernel receive time in ns, bytes, length on the wire) and returns the blocks.
    /// Returns how many frames were read.
    pub fn receive(&mut self, timeout_ms: i32, each: &mut impl FnMut(i64, &[u8], u32)) -> u32 {
        if self.block_status(self.next).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
            let mut poll = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN | libc::POLLERR,
                revents: 0,
            };
            // SAFETY: one valid pollfd on our own descriptor.
            unsafe { libc::poll(&mut poll, 1, timeout_ms) };
        }
        let mut n = 0;
        for _ in 0..self.blocks {
            let block = self.next;
            if self.block_status(block).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                break;
            }
            let base = (block * BLOCK_SIZE) as usize;
            let packets = self.read_u32(base + 12);
            let mut at = base + self.read_u32(base + 16) as usize;
            for _ in 0..packets {
                let next = self.read_u32(at) as usize;
                let ts = i64::from(self.read_u32(at + 4)) * 1_000_000_000
                    + i64::from(self.read_u32(at + 8));
                let snap = self.read_u32(at + 12) as usize;
                let wire = self.read_u32(at + 16);
                let status = self.read_u32(at + 20);
                // SAFETY: as `read_u32`: tp_mac is a u16 at offset 24 of the frame header.
                let mac = usize::from(unsafe {
                    self.ring
                        .as_ptr()
                        .add(at + 24)
                        .cast::<u16>()
                        .read_unaligned()
                });
                let start = at + mac;
                let end = (start + snap).min(base + BLOCK_SIZE as usize);
                // SAFETY: [start, end) lies inside this block, which we own until released.
                let data = unsafe {
                    std::slice::from_raw_parts(self.ring.as_ptr().add(start), end - start)
                };
                if status & TP_STATUS_VLAN_VALID != 0 && data.len() >= 12 {
                    // The kernel took the VLAN tag out of the frame: put it back, so that the
                    // decoder sees the frame as it was on the wire.
                    let tci = self.read_u32(at + 32) as u16;
                    // SAFETY: as above: tp_vlan_tpid is a u16 at offset 36.
                    let tpid = unsafe {
                        self.ring
                            .as_ptr()
                            .add(at + 36)
                            .cast::<u16>()
                            .read_unaligned()
                    };
                    let tpid = if tpid == 0 { 0x8100 } else { tpid };
                    self.tagged.clear();
                    self.tagged.extend_from_slice(&data[..12]);
                    self.tagged.extend_from_slice(&tpid.to_be_bytes());
                    self.tagged.extend_from_slice(&tci.to_be_bytes());
                    self.tagged.extend_from_slice(&data[12..]);
                    each(ts, &self.tagged, wire + 4);
                } else {
                    each(ts, data, wire);
                }
                n += 1;
                if next == 0 {
                    break;
                }
                at += next;
            }
            self.block_status(block)
                .store(TP_STATUS_KERNEL, Ordering::Release);
            self.next = (block + 1) % self.blocks;
        }
        n
    }

    /// Frames delivered and dropped since the socket opened.
    pub fn stats(&mut self) -> io::Result<PacketStats> {
        let mut s = TpacketStatsV3::default();
        let mut len = std::mem::size_of::<TpacketStatsV3>() as libc::socklen_t;
        // SAFETY: `s` and `len` are live and describe a buffer of the size the kernel writes.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                SOL_PACKET,
                PACKET_STATISTICS,
                std::ptr::from_mut(&mut s).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(last_error("PACKET_STATISTICS"));
        }
        self.totals.packets += u64::from(s.packets);
        self.totals.drops += u64::from(s.drops);
        Ok(self.totals)
    }
}

/// Frames handed to `sendmmsg` per call.
pub const SEND_BATCH: usize = 64;

/// An AF_PACKET socket that sends whole Ethernet frames on one interface (the traffic
/// generator's). It binds with protocol 0, so it receives nothing.
pub struct PacketSender {
    fd: OwnedFd,
}

impl std::fmt::Debug for PacketSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketSender").finish_non_exhaustive()
    }
}

impl PacketSender {
    /// Opens the socket on `iface`; frames skip the interface's queueing discipline.
    pub fn open(iface: &str) -> io::Result<Self> {
        let ifindex = interface_index(iface)?;
        // Protocol 0: the socket receives nothing.
        let fd = packet_socket(0)?;
        bind_to(&fd, ifindex, 0, iface)?;
        // Best effort: without it frames go through the qdisc, which is slower but correct.
        let _ = set_option(&fd, PACKET_QDISC_BYPASS, &1i32, "PACKET_QDISC_BYPASS");
        Ok(Self { fd })
    }

    /// Sends up to [`SEND_BATCH`] frames with one system call; returns how many the kernel
    /// took (it may take fewer when the device queue is full).
    pub fn send(&mut self, frames: &[&[u8]]) -> io::Result<usize> {
        let n = frames.len().min(SEND_BATCH);
        if n == 0 {
            return Ok(0);
        }
        // SAFETY: iovec and mmsghdr are plain data; all-zero is valid.
        let mut iovecs: [libc::iovec; SEND_BATCH] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut messages: [libc::mmsghdr; SEND_BATCH] = unsafe { std::mem::zeroed() };
        for (i, frame) in frames[..n].iter().enumerate() {
            iovecs[i].iov_base = frame.as_ptr().cast_mut().cast();
            iovecs[i].iov_len = frame.len();
            messages[i].msg_hdr.msg_iov = &raw mut iovecs[i];
            messages[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: `messages[..n]` each point at one iovec that points into a frame borrowed for
        // the call; the kernel only reads them.
        let sent =
            unsafe { libc::sendmmsg(self.fd.as_raw_fd(), messages.as_mut_ptr(), n as u32, 0) };
        if sent < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                // The device queue is full: nothing was taken this time.
                Some(libc::ENOBUFS | libc::EAGAIN) => Ok(0),
                _ => Err(e),
            };
        }
        Ok(sent as usize)
    }
}
