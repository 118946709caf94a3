//! The traffic generator behind `capture gen`: replays captures, or makes 64-byte or IMIX UDP
//! traffic, out of an interface through AF_PACKET at a set packet rate.
//!
//! A replayed capture can be multiplied into more flows: copy `k` of every frame has the second
//! and third bytes of both of its outer IP addresses XORed with `k`, and the client's TCP or UDP
//! port (the higher of the two, when it is 1024 or more) XORed with the low ten bits of `k`, so
//! each conversation becomes `copies` distinct conversations with the same packets and a spread
//! of client ports, and the two directions of a copy still match each other. Server ports stay:
//! services are still recognised by port. The IPv4 header checksum is recomputed and the TCP or
//! UDP checksum adjusted. Tunnelled traffic keeps its inner addresses and ports (only the outer
//! headers are rewritten).

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::decode::LinkType;
use crate::input::CaptureFile;
use crate::sys::afpacket::{PacketSender, SEND_BATCH};

/// What is sent.
#[derive(Clone, Debug)]
pub enum Mix {
    /// The Ethernet frames of these captures, in order, `copies` times each (see the module
    /// documentation).
    Replay {
        /// Capture files.
        captures: Vec<PathBuf>,
        /// Address-rewritten copies of every frame (1: the frames as they are).
        copies: u32,
    },
    /// 64-byte frames (60 bytes before the frame check sequence): one UDP datagram per flow
    /// per pass.
    Small {
        /// Distinct flows (source address and port).
        flows: u32,
    },
    /// The simple IMIX: IP packets of 40, 576 and 1,500 bytes in the ratio 7:4:1, over `flows`
    /// UDP flows.
    Imix {
        /// Distinct flows.
        flows: u32,
    },
}

/// A generator run.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// Interface to send on.
    pub iface: String,
    /// What to send.
    pub mix: Mix,
    /// Packets per second (none: as fast as the interface takes them).
    pub rate: Option<f64>,
    /// Passes over the mix.
    pub loops: u64,
    /// Stop after this many frames.
    pub count: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
}

/// What a run sent.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GenReport {
    /// Frames the kernel took.
    pub sent: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Wall time from the first frame to the last.
    pub elapsed: Duration,
    /// Frames of the captures that were not Ethernet and were left out.
    pub skipped: u64,
    /// Frames of the captures whose addresses could not be rewritten (not IP over Ethernet,
    /// VLAN, MPLS or PPPoE): with several copies, their copies repeat them.
    pub not_rewritable: u64,
}

impl GenReport {
    /// Packets per second achieved.
    #[must_use]
    pub fn pps(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The frames of one pass, produced one at a time into a reused buffer.
enum Source {
    Replay { frames: Vec<Vec<u8>>, copies: u32 },
    Small { flows: u32 },
    Imix { flows: u32 },
}

impl Source {
    /// Frames in one pass.
    fn pass_len(&self) -> u64 {
        match self {
            Self::Replay { frames, copies } => frames.len() as u64 * u64::from(*copies),
            Self::Small { flows } => u64::from(*flows),
            Self::Imix { flows } => u64::from(*flows) * 12,
        }
    }

    /// Writes frame `i` of a pass into `out`.
    fn frame(&self, i: u64, out: &mut Vec<u8>) {
        out.clear();
        match self {
            Self::Replay { frames, copies } => {
                let copies = u64::from(*copies);
                let (index, copy) = ((i / copies) as usize, (i % copies) as u16);
                out.extend_from_slice(&frames[index]);
                if copy > 0 {
                    // A frame that cannot be rewritten goes out as it is (counted at load).
                    let _ = rewrite_addresses(out, copy);
                }
            }
            Self::Small { flows } => udp_frame((i % u64::from(*flows)) as u32, 40, out),
            Self::Imix { flows } => {
                // 7 small, 4 medium, 1 large in every 12, interleaved.
                const SIZES: [u16; 12] = [40, 576, 40, 40, 576, 40, 1500, 40, 576, 40, 576, 40];
                let flow = ((i / 12) % u64::from(*flows)) as u32;
                udp_frame(flow, SIZES[(i % 12) as usize], out);
            }
        }
    }
}

fn ones_complement_sum(data: &[u8]) -> u32 {
    let mut sum = 0u32;
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// A UDP datagram of `ip_len` IP bytes from flow `flow` (source 10.x.y.z, port 20,000 + flow
/// modulo 40,000) to 198.18.0.1 port 9, in an Ethernet frame padded to 60 bytes. The ports stay
/// clear of the tunnel ports (VXLAN 4789, GENEVE 6081, ...), whose decoders would look inside.
fn udp_frame(flow: u32, ip_len: u16, out: &mut Vec<u8>) {
    let ip_len = ip_len.max(28);
    out.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let ip_start = out.len();
    let total = ip_len.to_be_bytes();
    out.extend_from_slice(&[0x45, 0, total[0], total[1], 0, 0, 0x40, 0, 64, 17, 0, 0]);
    out.extend_from_slice(&[10, (flow >> 16) as u8, (flow >> 8) as u8, flow as u8]);
    out.extend_from_slice(&[198, 18, 0, 1]);
    let checksum = !fold(ones_complement_sum(&out[ip_start..]));
    out[ip_start + 10..ip_start + 12].copy_from_slice(&checksum.to_be_bytes());
    let port = 20_000 + (flow % 40_000) as u16;
    out.extend_from_slice(&port.to_be_bytes());
    out.extend_from_slice(&9u16.to_be_bytes());
    out.extend_from_slice(&(ip_len - 20).to_be_bytes());
    // No UDP checksum (allowed over IPv4).
    out.extend_from_slice(&[0, 0]);
    out.resize(ip_start + usize::from(ip_len), 0x5a);
    if out.len() < 60 {
        out.resize(60, 0);
    }
}

/// Adjusts a ones'-complement checksum for one 16-bit word changing from `old` to `new`
/// (RFC 1624).
fn adjust(checksum: u16, old: u16, new: u16) -> u16 {
    !fold(u32::from(!checksum) + u32::from(!old) + u32::from(new))
}

/// Where the outer IP header of an Ethernet frame starts, through up to two VLAN tags, an MPLS
/// label stack or a PPPoE session header, and its ethertype (0x0800 or 0x86dd).
fn outer_ip(frame: &[u8]) -> Option<(usize, u16)> {
    let word = |at: usize| {
        frame
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let mut at = 12;
    let mut ethertype = word(at)?;
    for _ in 0..2 {
        if ethertype != 0x8100 && ethertype != 0x88a8 {
            break;
        }
        at += 4;
        ethertype = word(at)?;
    }
    let mut ip = at + 2;
    match ethertype {
        0x0800 | 0x86dd => {}
        // PPPoE session: 6 bytes of header, then the PPP protocol.
        0x8864 => {
            ethertype = match word(ip + 6)? {
                0x0021 => 0x0800,
                0x0057 => 0x86dd,
                _ => return None,
            };
            ip += 8;
        }
        // MPLS: labels up to the bottom of the stack, then IP by its version.
        0x8847 | 0x8848 => {
            for _ in 0..8 {
                let bottom = frame.get(ip + 2)? & 1 == 1;
                ip += 4;
                if bottom {
                    ethertype = match frame.get(ip)? >> 4 {
                        4 => 0x0800,
                        6 => 0x86dd,
                        _ => return None,
                    };
                    return Some((ip, ethertype));
                }
            }
            return None;
        }
        _ => return None,
    }
    Some((ip, ethertype))
}

/// XORs bytes 1 and 2 of both outer IPv4 addresses (bytes 2 and 3 of IPv6 ones) with `copy`, and
/// the client port (see the module documentation) with its low ten bits, fixing the checksums;
/// returns whether the frame could be rewritten (IP over Ethernet, through VLAN tags, MPLS or
/// PPPoE). Other frames are left as they are.
fn rewrite_addresses(frame: &mut [u8], copy: u16) -> bool {
    let Some((ip, ethertype)) = outer_ip(frame) else {
        return false;
    };
    let mask = copy.to_be_bytes();
    // (offsets of the changed words within the packet, where the transport header starts,
    // protocol) per family.
    let (words, transport, protocol): ([usize; 2], usize, u8) = match ethertype {
        0x0800 => {
            let Some(&first) = frame.get(ip) else {
                return false;
            };
            let ihl = usize::from(first & 0x0f) * 4;
            if ihl < 20 || frame.len() < ip + ihl {
                return false;
            }
            let fragment_offset = u16::from_be_bytes([frame[ip + 6], frame[ip + 7]]) & 0x1fff;
            let protocol = if fragment_offset == 0 {
                frame[ip + 9]
            } else {
                0
            };
            ([ip + 13, ip + 17], ip + ihl, protocol)
        }
        0x86dd => {
            if frame.len() < ip + 40 {
                return false;
            }
            ([ip + 8 + 2, ip + 24 + 2], ip + 40, frame[ip + 6])
        }
        _ => return false,
    };
    // Each changed word: the two bytes starting one byte into the address (IPv4) or two bytes
    // in (IPv6), which is 16-bit aligned in the IPv6 pseudo-header but not in IPv4's; adjust
    // over the aligned words that contain them.
    let mut changes: Vec<(usize, u16, u16)> = Vec::with_capacity(6);
    for start in words {
        let aligned = start & !1;
        let before: [u16; 2] = std::array::from_fn(|w| {
            u16::from_be_bytes([frame[aligned + 2 * w], frame[aligned + 2 * w + 1]])
        });
        frame[start] ^= mask[0];
        frame[start + 1] ^= mask[1];
        for (w, old) in before.into_iter().enumerate() {
            let offset = aligned + 2 * w;
            let new = u16::from_be_bytes([frame[offset], frame[offset + 1]]);
            if new != old {
                changes.push((offset, old, new));
            }
        }
    }
    if matches!(protocol, 6 | 17) {
        rewrite_client_port(frame, transport, copy, &mut changes);
    }
    if ethertype == 0x0800 {
        let ihl = usize::from(frame[ip] & 0x0f) * 4;
        frame[ip + 10] = 0;
        frame[ip + 11] = 0;
        let checksum = !fold(ones_complement_sum(&frame[ip..ip + ihl]));
        frame[ip + 10..ip + 12].copy_from_slice(&checksum.to_be_bytes());
    }
    let checksum_at = match protocol {
        6 => transport + 16,
        17 => transport + 6,
        58 => transport + 2,
        _ => return true,
    };
    if frame.len() < checksum_at + 2 || (ethertype == 0x0800 && protocol == 58) {
        return true;
    }
    let mut checksum = u16::from_be_bytes([frame[checksum_at], frame[checksum_at + 1]]);
    if protocol == 17 && checksum == 0 && ethertype == 0x0800 {
        return true; // no UDP checksum
    }
    for (_, old, new) in changes {
        checksum = adjust(checksum, old, new);
    }
    frame[checksum_at..checksum_at + 2].copy_from_slice(&checksum.to_be_bytes());
    true
}

/// XORs the client port of the TCP or UDP header at `transport` with the low ten bits of `copy`:
/// the higher of the two ports when it is 1024 or more (both, when they are equal), which is
/// the same port in both directions of a conversation. XORing below 1024 keeps it at 1024 or
/// more; a result that would be a tunnel port (which the capture opens as VXLAN or GENEVE)
/// leaves the port as it is. Adds the changed words to `changes`, for the checksum.
fn rewrite_client_port(
    frame: &mut [u8],
    transport: usize,
    copy: u16,
    changes: &mut Vec<(usize, u16, u16)>,
) {
    let Some(ports) = frame.get(transport..transport + 4) else {
        return;
    };
    let (sport, dport) = (
        u16::from_be_bytes([ports[0], ports[1]]),
        u16::from_be_bytes([ports[2], ports[3]]),
    );
    let client = sport.max(dport);
    let new = client ^ (copy & 0x03ff);
    if client < 1024
        || new == client
        || new == crate::decode::tunnel::VXLAN_PORT
        || new == crate::decode::tunnel::GENEVE_PORT
    {
        return;
    }
    for (at, port) in [(transport, sport), (transport + 2, dport)] {
        if port == client {
            frame[at..at + 2].copy_from_slice(&new.to_be_bytes());
            changes.push((at, port, new));
        }
    }
}

fn load(mix: &Mix) -> io::Result<(Source, u64, u64)> {
    Ok(match mix {
        Mix::Replay { captures, copies } => {
            let mut frames = Vec::new();
            let mut skipped = 0;
            for path in captures {
                let file = CaptureFile::open(path).map_err(|e| io::Error::other(e.to_string()))?;
                let reader = file.frames().map_err(|e| io::Error::other(e.to_string()))?;
                for frame in reader {
                    let frame = frame.map_err(|e| io::Error::other(e.to_string()))?;
                    if frame.link == LinkType::Ethernet && frame.data.len() >= 14 {
                        frames.push(frame.data.to_vec());
                    } else {
                        skipped += 1;
                    }
                }
            }
            if frames.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the captures hold no Ethernet frames to send",
                ));
            }
            let not_rewritable = frames.iter().filter(|f| outer_ip(f).is_none()).count() as u64;
            (
                Source::Replay {
                    frames,
                    copies: (*copies).clamp(1, u32::from(u16::MAX)),
                },
                skipped,
                if *copies > 1 { not_rewritable } else { 0 },
            )
        }
        Mix::Small { flows } => (
            Source::Small {
                flows: (*flows).max(1),
            },
            0,
            0,
        ),
        Mix::Imix { flows } => (
            Source::Imix {
                flows: (*flows).max(1),
            },
            0,
            0,
        ),
    })
}

/// Sends the mix until its loops, count or duration are done or `stop` is set.
pub fn run(config: &GenConfig, stop: &AtomicBool) -> io::Result<GenReport> {
    let (source, skipped, not_rewritable) = load(&config.mix)?;
    let mut sender = PacketSender::open(&config.iface)?;
    let pass = source.pass_len();
    let total = config
        .count
        .unwrap_or(u64::MAX)
        .min(pass.saturating_mul(config.loops.max(1)));
    let mut buffers: Vec<Vec<u8>> = (0..SEND_BATCH).map(|_| Vec::with_capacity(2048)).collect();
    let mut report = GenReport {
        skipped,
        not_rewritable,
        ..GenReport::default()
    };
    let started = Instant::now();
    let mut next = 0u64;
    while report.sent < total && !stop.load(Ordering::Relaxed) {
        if config.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        // At low rates smaller batches, so that a burst lasts about a millisecond at most.
        let batch_limit = config
            .rate
            .map_or(SEND_BATCH, |r| ((r / 1000.0) as usize).clamp(1, SEND_BATCH));
        let n = ((total - report.sent) as usize).min(batch_limit);
        for (k, buffer) in buffers.iter_mut().take(n).enumerate() {
            source.frame((next + k as u64) % pass, buffer);
        }
        if let Some(rate) = config.rate {
            // Pace by the batch: it goes out when the slot of its last frame ends, so that n
            // frames take n / rate seconds.
            let due = started + Duration::from_secs_f64((report.sent + n as u64) as f64 / rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let batch: Vec<&[u8]> = buffers[..n].iter().map(Vec::as_slice).collect();
        let mut done = 0;
        while done < n && !stop.load(Ordering::Relaxed) {
            let sent = sender.send(&batch[done..])?;
            if sent == 0 {
                // The device queue is full: let it drain.
                std::thread::sleep(Duration::from_micros(50));
            }
            report.bytes += batch[done..done + sent]
                .iter()
                .map(|f| f.len() as u64)
                .sum::<u64>();
            done += sent;
        }
        report.sent += done as u64;
        next += done as u64;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode_frame;

    fn checksum_ok_ipv4(frame: &[u8]) -> bool {
        fold(ones_complement_sum(&frame[14..34])) == 0xffff
    }

    /// TCP/UDP checksum over the IPv4 pseudo-header and segment.
    fn l4_checksum_ok(frame: &[u8]) -> bool {
        let ip = &frame[14..];
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let segment = &ip[ihl..total];
        let mut sum = ones_complement_sum(&ip[12..20]);
        sum += u32::from(ip[9]);
        sum += segment.len() as u32;
        sum += ones_complement_sum(segment);
        fold(sum) == 0xffff
    }

    fn tcp_frame() -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        let ip_start = f.len();
        f.extend_from_slice(&[0x45, 0, 0, 44, 0, 1, 0x40, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&[192, 168, 1, 7, 10, 200, 30, 40]);
        let c = !fold(ones_complement_sum(&f[ip_start..]));
        f[ip_start + 10..ip_start + 12].copy_from_slice(&c.to_be_bytes());
        let tcp_start = f.len();
        f.extend_from_slice(&[
            0x1f, 0x90, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
        ]);
        f.extend_from_slice(b"abcd");
        let mut sum = ones_complement_sum(&f[ip_start + 12..ip_start + 20]);
        sum += 6 + 24;
        sum += ones_complement_sum(&f[tcp_start..]);
        let c = !fold(sum);
        f[tcp_start + 16..tcp_start + 18].copy_from_slice(&c.to_be_bytes());
        f
    }

    #[test]
    fn copies_get_new_addresses_and_valid_checksums() {
        let base = tcp_frame();
        assert!(checksum_ok_ipv4(&base) && l4_checksum_ok(&base));
        let source = Source::Replay {
            frames: vec![base.clone()],
            copies: 300,
        };
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for i in 0..300 {
            source.frame(i, &mut out);
            assert!(checksum_ok_ipv4(&out), "copy {i}");
            assert!(l4_checksum_ok(&out), "copy {i}");
            assert!(
                seen.insert(out[26..34].to_vec()),
                "copy {i} repeats addresses"
            );
            let unchanged = |f: &[u8]| {
                let mut f = f.to_vec();
                f[24..34].fill(0); // IPv4 checksum and addresses
                f[34..36].fill(0); // the client port
                f[50..52].fill(0); // TCP checksum
                f
            };
            assert_eq!(unchanged(&out), unchanged(&base), "copy {i}");
            let client = u16::from_be_bytes([out[34], out[35]]);
            assert_eq!(client, 8080 ^ (i as u16 & 0x3ff), "copy {i}");
            assert_eq!(
                out[36..38],
                [0x01, 0xbb],
                "copy {i}: the server port stays 443"
            );
        }
        // Copy 0 is the frame as it was.
        source.frame(0, &mut out);
        assert_eq!(out, base);
    }

    #[test]
    fn both_directions_of_a_copy_still_match() {
        let forward = tcp_frame();
        let mut backward = forward.clone();
        let (a, b) = (backward[26..30].to_vec(), backward[30..34].to_vec());
        backward[26..30].copy_from_slice(&b);
        backward[30..34].copy_from_slice(&a);
        let (sport, dport) = (backward[34..36].to_vec(), backward[36..38].to_vec());
        backward[34..36].copy_from_slice(&dport);
        backward[36..38].copy_from_slice(&sport);
        let (mut f, mut r) = (forward.clone(), backward.clone());
        rewrite_addresses(&mut f, 77);
        rewrite_addresses(&mut r, 77);
        assert_eq!(f[26..30], r[30..34]);
        assert_eq!(f[30..34], r[26..30]);
        assert_eq!(
            f[34..36],
            r[36..38],
            "the client port, rewritten alike both ways"
        );
        assert_eq!(f[36..38], r[34..36]);
        assert_ne!(f[34..36], forward[34..36]);
    }

    #[test]
    fn well_known_ports_and_tunnel_ports_are_left_alone() {
        let with_ports = |sport: u16, dport: u16| {
            let mut f = tcp_frame();
            f[34..36].copy_from_slice(&sport.to_be_bytes());
            f[36..38].copy_from_slice(&dport.to_be_bytes());
            f
        };
        // Both ports below 1024: neither is a client port.
        let mut f = with_ports(53, 853);
        rewrite_addresses(&mut f, 5);
        assert_eq!(f[34..38], with_ports(53, 853)[34..38]);
        // A copy whose client port would become VXLAN's keeps the port.
        let copy = 4789 ^ 4790;
        let mut f = with_ports(4790, 443);
        rewrite_addresses(&mut f, copy);
        assert_eq!(u16::from_be_bytes([f[34], f[35]]), 4790);
        // Equal ports are both the client's, and stay equal.
        let mut f = with_ports(5353, 5353);
        rewrite_addresses(&mut f, 9);
        assert_eq!(f[34..36], f[36..38]);
        assert_eq!(u16::from_be_bytes([f[34], f[35]]), 5353 ^ 9);
    }

    #[test]
    fn synthetic_frames_decode_as_udp_flows_of_the_set_sizes() {
        let mut out = Vec::new();
        for (source, sizes) in [
            (Source::Small { flows: 5 }, vec![60usize]),
            (Source::Imix { flows: 5 }, vec![60, 590, 1514]),
        ] {
            let mut lengths = std::collections::BTreeSet::new();
            let mut ports = std::collections::BTreeSet::new();
            for i in 0..source.pass_len() {
                source.frame(i, &mut out);
                assert!(checksum_ok_ipv4(&out));
                lengths.insert(out.len());
                let mut packet = crate::decode::Packet::default();
                decode_frame(LinkType::Ethernet, &out, &mut packet).expect("decodes");
                ports.insert(packet.src_port);
            }
            assert_eq!(lengths.into_iter().collect::<Vec<_>>(), sizes);
            assert_eq!(ports.len(), 5);
        }
    }

    #[test]
    fn addresses_under_pppoe_in_qinq_and_mpls_are_rewritten() {
        let base = tcp_frame();
        // Two VLAN tags and a PPPoE session header in front of the IPv4 header.
        let mut pppoe = base[..12].to_vec();
        pppoe.extend_from_slice(&[0x81, 0, 0x01, 0xa5, 0x81, 0, 0x03, 0x11, 0x88, 0x64]);
        pppoe.extend_from_slice(&[0x11, 0, 0x55, 0x6a, 0, 0x2c, 0x00, 0x21]);
        pppoe.extend_from_slice(&base[14..]);
        // Two MPLS labels.
        let mut mpls = base[..12].to_vec();
        mpls.extend_from_slice(&[0x88, 0x47, 0, 0x01, 0x00, 0x40, 0, 0x02, 0x01, 0x40]);
        mpls.extend_from_slice(&base[14..]);
        for (frame, ip) in [(pppoe, 30), (mpls, 22)] {
            let mut copy = frame.clone();
            assert!(rewrite_addresses(&mut copy, 5));
            assert_ne!(copy[ip + 12..ip + 20], frame[ip + 12..ip + 20]);
            // The IP and TCP checksums still hold: compare with the plain frame rewritten.
            let mut plain = base.clone();
            assert!(rewrite_addresses(&mut plain, 5));
            assert_eq!(copy[ip..], plain[14..]);
        }
    }

    #[test]
    fn rewriting_never_panics_on_short_or_odd_frames() {
        for len in 0..80 {
            let mut f = tcp_frame();
            f.truncate(len);
            rewrite_addresses(&mut f, 3);
            let mut v6 = vec![0u8; len];
            if len >= 14 {
                v6[12] = 0x86;
                v6[13] = 0xdd;
            }
            rewrite_addresses(&mut v6, 3);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_rewrite_without_panic(frame in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), copy: u16) {
            let mut f = frame;
            let _ = rewrite_addresses(&mut f, copy);
        }

        #[test]
        fn checksums_hold_for_any_addresses_and_copy(src: [u8; 4], dst: [u8; 4], copy: u16) {
            let mut f = tcp_frame();
            f[26..30].copy_from_slice(&src);
            f[30..34].copy_from_slice(&dst);
            // Make the checksums right for these addresses first.
            f[24] = 0;
            f[25] = 0;
            let c = !fold(ones_complement_sum(&f[14..34]));
            f[24..26].copy_from_slice(&c.to_be_bytes());
            f[50] = 0;
            f[51] = 0;
            let mut sum = ones_complement_sum(&f[26..34]) + 6 + 24 + ones_complement_sum(&f[34..]);
            sum = u32::from(fold(sum));
            f[50..52].copy_from_slice(&(!(sum as u16)).to_be_bytes());
            proptest::prop_assert!(checksum_ok_ipv4(&f) && l4_checksum_ok(&f));
            proptest::prop_assert!(rewrite_addresses(&mut f, copy));
            proptest::prop_assert!(checksum_ok_ipv4(&f));
            proptest::prop_assert!(l4_checksum_ok(&f));
        }
    }
}
