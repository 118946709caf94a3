//! The XDP program: counts every frame per CPU, decides whether it is captured (the offloaded
//! filter, then flow sampling), and hands captured frames to the AF_XDP socket bound to the
//! receive queue they arrived on. Frames not captured, and frames whose queue has no socket,
//! take the configured non-matching action: drop on a mirror port, pass on a host that also
//! uses the interface.
//!
//! The filter sees the innermost packet: VLAN and QinQ tags are skipped (the outer VLAN id is
//! kept for `vlan N`), and VXLAN, GENEVE, GRE and ERSPAN II/III are opened once.
#![no_std]
#![no_main]

use aya_ebpf::bindings::xdp_action;
use aya_ebpf::helpers::generated::bpf_xdp_load_bytes;
use aya_ebpf::macros::{map, xdp};
use aya_ebpf::maps::lpm_trie::Key;
use aya_ebpf::maps::{Array, LpmTrie, PerCpuArray, XskMap};
use aya_ebpf::programs::XdpContext;
use capture_common::{
    Ipv4Bytes, Ipv6Bytes, XdpConfig, XdpCounter, XdpCounters, FILTER_PREFIXES,
    FILTER_TRUTH_WORDS, MAX_QUEUES,
};

/// One `XdpCounters` per CPU; user space sums them.
#[map]
static COUNTERS: PerCpuArray<XdpCounters> = PerCpuArray::with_max_entries(1, 0);

/// The AF_XDP socket of each receive queue.
#[map]
static SOCKETS: XskMap = XskMap::with_max_entries(MAX_QUEUES, 0);

/// Settings written by user space before the program is attached.
#[map]
static CONFIG: Array<XdpConfig> = Array::with_max_entries(1, 0);

/// Filter: the atoms an IPv4 address satisfies, by longest prefix.
#[map]
static FILTER_V4: LpmTrie<Ipv4Bytes, u16> = LpmTrie::with_max_entries(FILTER_PREFIXES, 0);

/// Filter: the atoms an IPv6 address satisfies, by longest prefix.
#[map]
static FILTER_V6: LpmTrie<Ipv6Bytes, u16> = LpmTrie::with_max_entries(FILTER_PREFIXES, 0);

/// Filter: the atoms each TCP/UDP port satisfies.
#[map]
static FILTER_PORTS: Array<u16> = Array::with_max_entries(65536, 0);

/// Filter: the atoms each IP protocol number satisfies.
#[map]
static FILTER_PROTOCOLS: Array<u16> = Array::with_max_entries(256, 0);

/// Filter: the atoms each outer VLAN id satisfies.
#[map]
static FILTER_VLANS: Array<u16> = Array::with_max_entries(4096, 0);

/// Filter: one bit per set of true atoms, the verdict.
#[map]
static FILTER_TRUTH: Array<u64> = Array::with_max_entries(FILTER_TRUTH_WORDS, 0);

const ETH_HLEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_TEB: u16 = 0x6558;
const ETHERTYPE_ERSPAN2: u16 = 0x88be;
const ETHERTYPE_ERSPAN3: u16 = 0x22eb;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_GRE: u8 = 47;
const VXLAN_PORT: u16 = 4789;
const GENEVE_PORT: u16 = 6081;
/// Frames are never parsed past this offset: it keeps every offset provably bounded.
const MAX_OFFSET: usize = 512;

#[inline(always)]
fn count(counter: XdpCounter) {
    if let Some(counters) = COUNTERS.get_ptr_mut(0) {
        // SAFETY: the pointer comes from the per-CPU map lookup for index 0, which exists
        // (max_entries 1); per-CPU storage means no other program instance writes it concurrently.
        let counters = unsafe { &mut *counters };
        counters.values[counter as usize] += 1;
    }
}

/// Reads a `T` at `offset` of the frame, if the frame is that long. Offsets here depend on the
/// headers (IPv4 options, IPv6 extension headers, tunnels), so the bytes are copied with
/// `bpf_xdp_load_bytes`, which checks the range itself, instead of through packet pointers
/// whose variable offsets the verifier cannot always bound.
#[inline(always)]
fn read<T: Copy>(ctx: &XdpContext, offset: usize) -> Option<T> {
    if offset > MAX_OFFSET {
        return None;
    }
    let mut value = core::mem::MaybeUninit::<T>::uninit();
    // SAFETY: the helper writes exactly size_of::<T>() bytes into `value` or fails; `T` is plain
    // data (integers and byte arrays), valid for any bytes.
    let copied = unsafe {
        bpf_xdp_load_bytes(
            ctx.ctx,
            offset as u32,
            value.as_mut_ptr().cast(),
            core::mem::size_of::<T>() as u32,
        )
    };
    if copied != 0 {
        return None;
    }
    // SAFETY: the helper succeeded, so every byte of `value` was written.
    Some(unsafe { value.assume_init() })
}

#[inline(always)]
fn be16(ctx: &XdpContext, offset: usize) -> Option<u16> {
    read::<[u8; 2]>(ctx, offset).map(u16::from_be_bytes)
}

/// What the filter and the sampler look at. Kept in a per-CPU map rather than on the 512-byte
/// BPF stack, and made of plain integers: the verifier rejects storing the undefined payload
/// of an `Option`'s `None`.
#[repr(C)]
#[derive(Clone, Copy)]
struct Fields {
    ipv6: u8,
    protocol: u8,
    has_ports: u8,
    has_vlan: u8,
    sport: u16,
    dport: u16,
    /// Outer VLAN id, when `has_vlan`.
    vlan: u16,
    padding: u16,
    src: [u8; 16],
    dst: [u8; 16],
}

const EMPTY: Fields = Fields {
    ipv6: 0,
    protocol: 0,
    has_ports: 0,
    has_vlan: 0,
    sport: 0,
    dport: 0,
    vlan: 0,
    padding: 0,
    src: [0; 16],
    dst: [0; 16],
};

const NO_VLAN: u32 = u32::MAX;

/// Two `Fields` per CPU: the outer packet and the encapsulated one.
#[map]
static SCRATCH: PerCpuArray<Fields> = PerCpuArray::with_max_entries(2, 0);

/// Where the network header starts and what it is, after Ethernet and up to two VLAN tags.
#[inline(always)]
fn skip_ethernet(ctx: &XdpContext, offset: usize, vlan: &mut u32) -> Option<(usize, u16)> {
    let mut offset = offset + ETH_HLEN;
    let mut ethertype = be16(ctx, offset - 2)?;
    for _ in 0..2 {
        if ethertype != ETHERTYPE_VLAN && ethertype != ETHERTYPE_QINQ {
            break;
        }
        let tci = be16(ctx, offset)?;
        if *vlan == NO_VLAN {
            *vlan = u32::from(tci & 0x0fff);
        }
        ethertype = be16(ctx, offset + 2)?;
        offset += 4;
    }
    Some((offset, ethertype))
}

/// Parses the IP header at `offset`; returns the transport offset (None for a later fragment).
#[inline(always)]
fn parse_ip(ctx: &XdpContext, offset: usize, ethertype: u16, f: &mut Fields) -> Option<Option<usize>> {
    match ethertype {
        ETHERTYPE_IPV4 => {
            let first: u8 = read(ctx, offset)?;
            let header = usize::from(first & 0x0f) * 4;
            if first >> 4 != 4 || header < 20 {
                return None;
            }
            f.ipv6 = 0;
            f.protocol = read(ctx, offset + 9)?;
            let src: [u8; 4] = read(ctx, offset + 12)?;
            let dst: [u8; 4] = read(ctx, offset + 16)?;
            f.src = [0; 16];
            f.dst = [0; 16];
            f.src[..4].copy_from_slice(&src);
            f.dst[..4].copy_from_slice(&dst);
            let fragment = be16(ctx, offset + 6)? & 0x1fff;
            Some((fragment == 0).then_some(offset + header))
        }
        ETHERTYPE_IPV6 => {
            f.ipv6 = 1;
            f.src = read(ctx, offset + 8)?;
            f.dst = read(ctx, offset + 24)?;
            let mut next: u8 = read(ctx, offset + 6)?;
            let mut at = offset + 40;
            for _ in 0..4 {
                match next {
                    0 | 43 | 60 => {
                        let len: u8 = read(ctx, at + 1)?;
                        next = read(ctx, at)?;
                        at += (usize::from(len) + 1) * 8;
                    }
                    44 => {
                        let fragment = be16(ctx, at + 2)? & 0xfff8;
                        next = read(ctx, at)?;
                        at += 8;
                        if fragment != 0 {
                            f.protocol = next;
                            return Some(None);
                        }
                    }
                    51 => {
                        let len: u8 = read(ctx, at + 1)?;
                        next = read(ctx, at)?;
                        at += (usize::from(len) + 2) * 4;
                    }
                    _ => break,
                }
            }
            f.protocol = next;
            Some(Some(at))
        }
        _ => None,
    }
}

/// Where an encapsulated packet starts, if the transport header at `l4` opens a mirror tunnel:
/// (offset, true for an Ethernet frame, false for a bare IP packet, and its ethertype).
#[inline(always)]
fn tunnel(ctx: &XdpContext, l4: usize, f: &Fields) -> Option<(usize, bool, u16)> {
    let dport = if f.has_ports != 0 { f.dport } else { 0 };
    match (f.protocol, dport) {
        (PROTO_UDP, VXLAN_PORT) => Some((l4 + 8 + 8, true, 0)),
        (PROTO_UDP, GENEVE_PORT) => {
            let options: u8 = read(ctx, l4 + 8)?;
            let kind = be16(ctx, l4 + 8 + 2)?;
            let start = l4 + 8 + 8 + usize::from(options & 0x3f) * 4;
            match kind {
                ETHERTYPE_TEB => Some((start, true, 0)),
                ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => Some((start, false, kind)),
                _ => None,
            }
        }
        (PROTO_GRE, _) => {
            let flags = be16(ctx, l4)?;
            let kind = be16(ctx, l4 + 2)?;
            let mut start = l4 + 4;
            if flags & 0x8000 != 0 {
                start += 4;
            }
            if flags & 0x2000 != 0 {
                start += 4;
            }
            if flags & 0x1000 != 0 {
                start += 4;
            }
            match kind {
                ETHERTYPE_TEB => Some((start, true, 0)),
                ETHERTYPE_ERSPAN2 => Some((start + 8, true, 0)),
                ETHERTYPE_ERSPAN3 => {
                    // ERSPAN III: 12 bytes, plus an 8-byte platform subheader when O is set.
                    let o: u8 = read(ctx, start + 11)?;
                    Some((start + 12 + if o & 0x01 != 0 { 8 } else { 0 }, true, 0))
                }
                ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => Some((start, false, kind)),
                _ => None,
            }
        }
        _ => None,
    }
}

#[inline(always)]
fn transport(ctx: &XdpContext, l4: Option<usize>, f: &mut Fields) {
    f.has_ports = 0;
    if let (Some(at), PROTO_TCP | PROTO_UDP) = (l4, f.protocol) {
        if let (Some(s), Some(d)) = (be16(ctx, at), be16(ctx, at + 2)) {
            f.sport = s;
            f.dport = d;
            f.has_ports = 1;
        }
    }
}

/// Parses the frame into `outer` and, when it opens a mirror tunnel, `inner`. Returns None for
/// a frame that carries no IP packet, Some(true) when `inner` holds the packet to judge.
#[inline(always)]
fn parse(ctx: &XdpContext, outer: &mut Fields, inner: &mut Fields) -> Option<bool> {
    *outer = EMPTY;
    let mut vlan = NO_VLAN;
    let (l3, ethertype) = skip_ethernet(ctx, 0, &mut vlan)?;
    if vlan != NO_VLAN {
        outer.has_vlan = 1;
        outer.vlan = vlan as u16;
    }
    let l4 = parse_ip(ctx, l3, ethertype, outer)?;
    transport(ctx, l4, outer);
    let Some(at) = l4 else { return Some(false) };
    let Some((start, ethernet, kind)) = tunnel(ctx, at, outer) else {
        return Some(false);
    };
    let mut inner_vlan = NO_VLAN;
    let inner_l3 = if ethernet {
        skip_ethernet(ctx, start, &mut inner_vlan)
    } else {
        Some((start, kind))
    };
    // An encapsulation cut short, or carrying something else, leaves the outer packet.
    let Some((inner_l3, inner_type)) = inner_l3 else {
        return Some(false);
    };
    *inner = EMPTY;
    inner.has_vlan = outer.has_vlan;
    inner.vlan = outer.vlan;
    match parse_ip(ctx, inner_l3, inner_type, inner) {
        Some(inner_l4) => {
            transport(ctx, inner_l4, inner);
            Some(true)
        }
        None => Some(false),
    }
}

/// The filter's verdict on `f`.
#[inline(always)]
fn selected(config: &XdpConfig, f: &Fields) -> bool {
    let mut atoms: u16 = 0;
    let (src_atoms, dst_atoms) = if f.ipv6 != 0 {
        atoms |= config.ipv6_atoms;
        (
            FILTER_V6.get(Key::new(128, Ipv6Bytes(f.src))).copied(),
            FILTER_V6.get(Key::new(128, Ipv6Bytes(f.dst))).copied(),
        )
    } else {
        atoms |= config.ipv4_atoms;
        let mut src = [0u8; 4];
        let mut dst = [0u8; 4];
        src.copy_from_slice(&f.src[..4]);
        dst.copy_from_slice(&f.dst[..4]);
        (
            FILTER_V4.get(Key::new(32, Ipv4Bytes(src))).copied(),
            FILTER_V4.get(Key::new(32, Ipv4Bytes(dst))).copied(),
        )
    };
    atoms |= src_atoms.unwrap_or(0) & config.src_addr_atoms;
    atoms |= dst_atoms.unwrap_or(0) & config.dst_addr_atoms;
    atoms |= FILTER_PROTOCOLS.get(u32::from(f.protocol)).copied().unwrap_or(0);
    if f.has_ports != 0 {
        atoms |= FILTER_PORTS.get(u32::from(f.sport)).copied().unwrap_or(0) & config.src_port_atoms;
        atoms |= FILTER_PORTS.get(u32::from(f.dport)).copied().unwrap_or(0) & config.dst_port_atoms;
    }
    if f.has_vlan != 0 {
        atoms |= config.vlan_atoms;
        atoms |= FILTER_VLANS.get(u32::from(f.vlan)).copied().unwrap_or(0);
    }
    let word = FILTER_TRUTH.get(u32::from(atoms >> 6)).copied().unwrap_or(0);
    word >> (atoms & 63) & 1 != 0
}

/// A hash of the flow that is the same in both directions.
#[inline(always)]
fn flow_hash(f: &Fields) -> u32 {
    let fold = |a: &[u8; 16]| {
        let mut h: u32 = 0;
        let mut i = 0;
        while i < 16 {
            h = h.rotate_left(5) ^ u32::from_ne_bytes([a[i], a[i + 1], a[i + 2], a[i + 3]]);
            i += 4;
        }
        h
    };
    let (sport, dport) = if f.has_ports != 0 { (f.sport, f.dport) } else { (0, 0) };
    let a = fold(&f.src).wrapping_add(u32::from(sport));
    let b = fold(&f.dst).wrapping_add(u32::from(dport));
    // Order-independent: the same pair gives the same value whichever side sent the packet.
    let mixed = (a ^ b).wrapping_mul(0x9e37_79b1) ^ (a.wrapping_add(b)).rotate_left(13);
    mixed ^ u32::from(f.protocol).wrapping_mul(0x85eb_ca6b)
}

#[xdp]
pub fn capture(ctx: XdpContext) -> u32 {
    count(XdpCounter::Seen);
    let config = CONFIG.get(0).copied().unwrap_or_default();
    let otherwise = if config.pass_unmatched != 0 {
        xdp_action::XDP_PASS
    } else {
        xdp_action::XDP_DROP
    };
    let leave = |counter: XdpCounter| {
        count(counter);
        count(if otherwise == xdp_action::XDP_PASS {
            XdpCounter::Passed
        } else {
            XdpCounter::Dropped
        });
        otherwise
    };
    if config.filter_enabled != 0 || config.sample_every > 1 {
        let (Some(outer), Some(inner)) = (SCRATCH.get_ptr_mut(0), SCRATCH.get_ptr_mut(1)) else {
            return leave(XdpCounter::Filtered);
        };
        // SAFETY: two distinct entries of this CPU's scratch array (max_entries 2); nothing
        // else runs on this CPU while the program does, so the references are exclusive.
        let (outer, inner) = unsafe { (&mut *outer, &mut *inner) };
        let fields: Option<&Fields> = match parse(&ctx, outer, inner) {
            Some(true) => Some(inner),
            Some(false) => Some(outer),
            None => None,
        };
        if config.filter_enabled != 0 {
            // A frame without an IP packet satisfies no atom: the truth table's entry 0 decides.
            let keep = match fields {
                Some(f) => selected(&config, f),
                None => FILTER_TRUTH.get(0).copied().unwrap_or(0) & 1 != 0,
            };
            if !keep {
                return leave(XdpCounter::Filtered);
            }
        }
        if config.sample_every > 1 {
            let hash = fields.map_or(0, flow_hash);
            if hash % config.sample_every != 0 {
                return leave(XdpCounter::SampledOut);
            }
        }
    }
    // SAFETY: `ctx.ctx` is the xdp_md the kernel handed this program; reading a field of it is
    // what the verifier allows.
    let queue = unsafe { (*ctx.ctx).rx_queue_index };
    match SOCKETS.redirect(queue, u64::from(otherwise)) {
        Ok(action) if action == xdp_action::XDP_REDIRECT => {
            count(XdpCounter::Redirected);
            action
        }
        Ok(_) | Err(_) => leave(XdpCounter::NoSocket),
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
