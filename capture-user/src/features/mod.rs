//! Flow features: one extractor per group, each with bounded per-flow state.
//!
//! Every extractor sees each packet of its flow once, in capture order, with the packet's
//! direction ([`Dir`]), and at the end writes its columns, in registry order, into a [`Row`].

mod dns;
mod entropy;
mod fingerprint;
mod flow_meta;
mod http2;
mod icmp;
mod ip_extended;
mod ipv6_options;
mod mac;
mod padding;
mod quic;
pub mod registry;
mod size;
mod ssh;
pub mod stats;
mod tcp;
mod tcp_fingerprint;
mod tcp_mptcp;
mod tcp_options;
mod tcp_rtt;
mod tcp_sequence;
mod tcp_window;
mod timing;
mod tls;

use std::borrow::Cow;
use std::net::IpAddr;

use capture_common::FlowEndReason;

use crate::decode::Packet;
pub use registry::{FeatureDef, Group, Kind, Tier, FEATURES};

/// Direction of a packet within its flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Initiator to responder.
    Fwd = 0,
    /// Responder to initiator.
    Bwd = 1,
}

/// One feature value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// String.
    Str(Cow<'static, str>),
}

impl Value {
    /// The column type this value belongs to.
    #[must_use]
    pub fn kind(&self) -> Kind {
        match self {
            Self::Int(_) => Kind::Int,
            Self::Float(_) => Kind::Float,
            Self::Bool(_) => Kind::Bool,
            Self::Str(_) => Kind::Str,
        }
    }
}

/// One flow record: a value per registry feature, in registry order. Columns of groups the run
/// does not compute hold unspecified values (a reused buffer keeps whatever an earlier record
/// left there); outputs read only the computed groups' columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// The values.
    pub values: Vec<Value>,
    /// Where the next value goes: records are written over a reused buffer in place.
    next: usize,
}

impl Row {
    fn put(&mut self, value: Value) {
        match self.values.get_mut(self.next) {
            Some(slot) => *slot = value,
            None => self.values.push(value),
        }
        self.next += 1;
    }

    /// Leaves the columns up to `end` as they are: their group is not computed.
    fn skip_to(&mut self, end: usize) {
        if self.values.len() < end {
            self.values.resize(end, Value::Int(0));
        }
        self.next = end;
    }

    fn int(&mut self, v: impl TryInto<i64>) {
        self.put(Value::Int(v.try_into().unwrap_or(i64::MAX)));
    }

    fn float(&mut self, v: f64) {
        self.put(Value::Float(v));
    }

    fn bool(&mut self, v: bool) {
        self.put(Value::Bool(v));
    }

    fn str(&mut self, v: impl Into<Cow<'static, str>>) {
        self.put(Value::Str(v.into()));
    }

    /// The value of the feature called `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Value> {
        registry::index_of(name).and_then(|i| self.values.get(i))
    }
}

/// Who the flow is between, and how it ended: what extractors need besides their own state.
#[derive(Clone, Copy, Debug)]
pub struct FlowIdentity {
    /// Initiator address and port.
    pub initiator: (IpAddr, u16),
    /// Responder address and port.
    pub responder: (IpAddr, u16),
    /// Transport protocol.
    pub protocol: u8,
    /// Why the flow ended.
    pub end_reason: FlowEndReason,
}

/// A feature group's per-flow state.
pub trait Extractor: Default {
    /// The group whose columns this extractor writes.
    const GROUP: Group;

    /// Sees one packet of the flow.
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir);

    /// Writes this group's columns, in registry order. The flow has ended: the state may be
    /// rearranged (sorted in place) while reading it out.
    fn finish(&mut self, flow: &FlowIdentity, out: &mut Row);

    /// Heap bytes this state holds (for memory accounting).
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// The groups whose state lives in [`HigherTiers`].
const HIGHER_TIER_GROUPS: GroupSet = GroupSet(
    !((1 << Group::FlowMeta as u32)
        | (1 << Group::Timing as u32)
        | (1 << Group::Size as u32)
        | (1 << Group::Tcp as u32)
        | (1 << Group::Tls as u32)
        | (1 << Group::Capture as u32)),
);

/// Which groups a run computes; columns of other groups are not written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupSet(u32);

impl GroupSet {
    /// Every group.
    pub const ALL: Self = Self(u32::MAX);

    /// Whether any group of `other` is in the set.
    #[must_use]
    pub fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// These groups and the groups they need.
    #[must_use]
    pub fn of(groups: &[Group]) -> Self {
        Self(
            groups
                .iter()
                .flat_map(|g| std::iter::once(g).chain(g.needs()))
                .fold(0, |m, g| m | 1 << *g as u32),
        )
    }

    /// Whether `group` is in the set.
    #[must_use]
    pub fn contains(self, group: Group) -> bool {
        self.0 & (1 << group as u32) != 0
    }
}

/// The state of every feature group for one flow.
#[derive(Debug, Default)]
pub struct FlowFeatures {
    meta: flow_meta::FlowMeta,
    timing: timing::Timing,
    size: size::Size,
    tcp: tcp::TcpFlags,
    tls: tls::Tls,
    /// The groups above JJ-CORE, allocated on the first packet of a run that computes any of
    /// them, so that a core-only flow slot stays small.
    higher: Option<Box<HigherTiers>>,
}

/// Per-flow state of the groups above JJ-CORE.
#[derive(Debug, Default)]
struct HigherTiers {
    ip_extended: ip_extended::IpExtended,
    tcp_window: tcp_window::TcpWindow,
    tcp_options: tcp_options::TcpOptionsGroup,
    mac: mac::Mac,
    icmp: icmp::Icmp,
    dns: dns::Dns,
    tcp_mptcp: tcp_mptcp::TcpMptcp,
    tcp_sequence: tcp_sequence::TcpSequence,
    ssh: ssh::Ssh,
    tcp_rtt: tcp_rtt::TcpRtt,
    entropy: entropy::Entropy,
    ipv6_options: ipv6_options::Ipv6Options,
    tcp_fingerprint: tcp_fingerprint::TcpFingerprint,
    padding: padding::Padding,
    fingerprint: fingerprint::Fingerprint,
    quic: quic::Quic,
    http2: http2::Http2,
}

impl FlowFeatures {
    /// Feeds one packet to every enabled group. `flow_meta` always runs: it holds the flow's identity.
    #[inline]
    pub fn update(&mut self, groups: GroupSet, pkt: &Packet<'_>, dir: Dir) {
        self.meta.update(pkt, dir);
        if groups.contains(Group::Timing) {
            self.timing.update(pkt, dir);
        }
        if groups.contains(Group::Size) {
            self.size.update(pkt, dir);
        }
        if groups.contains(Group::Tcp) {
            self.tcp.update(pkt, dir);
        }
        if groups.contains(Group::Tls) {
            self.tls.update(pkt, dir);
        }
        if groups.intersects(HIGHER_TIER_GROUPS) {
            let higher = self.higher.get_or_insert_with(Box::default);
            if groups.contains(Group::IpExtended) {
                higher.ip_extended.update(pkt, dir);
            }
            if groups.contains(Group::Ipv6Options) {
                higher.ipv6_options.update(pkt, dir);
            }
            if groups.contains(Group::TcpSequence) {
                higher.tcp_sequence.update(pkt, dir);
            }
            if groups.contains(Group::TcpWindow) {
                higher.tcp_window.update(pkt, dir);
            }
            if groups.contains(Group::TcpOptions) {
                higher.tcp_options.update(pkt, dir);
            }
            if groups.contains(Group::Quic) {
                higher.quic.update(pkt, dir);
            }
            if groups.contains(Group::Ssh) {
                higher.ssh.update(pkt, dir);
            }
            if groups.contains(Group::Http2) {
                higher.http2.update(pkt, dir);
            }
            if groups.contains(Group::Dns) {
                higher.dns.update(pkt, dir);
            }
            if groups.contains(Group::TcpMptcp) {
                higher.tcp_mptcp.update(pkt, dir);
            }
            if groups.contains(Group::TcpRtt) {
                higher.tcp_rtt.update(pkt, dir);
            }
            if groups.contains(Group::Padding) {
                higher.padding.update(pkt, dir);
            }
            if groups.contains(Group::Fingerprint) {
                higher.fingerprint.update(pkt, dir);
            }
            if groups.contains(Group::Entropy) {
                higher.entropy.update(pkt, dir);
            }
            if groups.contains(Group::TcpFingerprint) {
                higher.tcp_fingerprint.update(pkt, dir);
            }
            if groups.contains(Group::Mac) {
                higher.mac.update(pkt, dir);
            }
            if groups.contains(Group::Icmp) {
                higher.icmp.update(pkt, dir);
            }
        }
    }

    /// Packets seen so far.
    #[must_use]
    pub fn packets(&self) -> u64 {
        self.meta.packets()
    }

    /// Writes the whole record (every registry column, in order), every group computed.
    #[must_use]
    pub fn finish(&mut self, flow: &FlowIdentity) -> Row {
        let mut row = Row::default();
        self.finish_into(GroupSet::ALL, flow, &mut row);
        row
    }

    /// Writes the whole record into `row`, replacing what it held (its buffer is reused).
    /// Groups outside `groups` were never fed and are never emitted, so their columns are
    /// filled with placeholders instead of being computed.
    pub fn finish_into(&mut self, groups: GroupSet, flow: &FlowIdentity, row: &mut Row) {
        row.next = 0;
        macro_rules! group {
            ($field:ident, $group:expr) => {
                if groups.contains($group) {
                    self.$field.finish(flow, row);
                } else {
                    row.skip_to(group_end($group));
                }
                written_through(row, $group);
            };
        }
        // Groups outside the core: state exists once a packet was fed with any of them on.
        let mut spare = None;
        let higher: &mut HigherTiers = match self.higher.as_deref_mut() {
            Some(h) => h,
            None => spare.get_or_insert_with(HigherTiers::default),
        };
        macro_rules! higher_group {
            ($field:ident, $group:expr) => {
                if groups.contains($group) {
                    higher.$field.finish(flow, row);
                } else {
                    row.skip_to(group_end($group));
                }
                written_through(row, $group);
            };
        }
        self.meta.finish(flow, row);
        written_through(row, Group::FlowMeta);
        group!(timing, Group::Timing);
        group!(size, Group::Size);
        group!(tcp, Group::Tcp);
        group!(tls, Group::Tls);
        higher_group!(quic, Group::Quic);
        higher_group!(ssh, Group::Ssh);
        if groups.contains(Group::Http2) {
            let (tls_server_alpn, tls_client_alpn, tls13) = self.tls.alpn_signals();
            higher.http2.signals = http2::Signals {
                tls_server_alpn,
                tls_client_alpn,
                tls13,
                quic_alpn: higher.quic.alpn(),
            };
        }
        higher_group!(http2, Group::Http2);
        higher_group!(dns, Group::Dns);
        higher_group!(padding, Group::Padding);
        if groups.contains(Group::Fingerprint) {
            higher.fingerprint.signals = fingerprint::Signals {
                sni: self.tls.client_hello_sni(),
                ssh: higher.ssh.seen(),
                dns: higher.dns.seen(),
                sample: higher.entropy.sample(),
            };
        }
        higher_group!(fingerprint, Group::Fingerprint);
        higher_group!(entropy, Group::Entropy);
        higher_group!(mac, Group::Mac);
        higher_group!(ip_extended, Group::IpExtended);
        higher_group!(ipv6_options, Group::Ipv6Options);
        higher_group!(tcp_sequence, Group::TcpSequence);
        higher_group!(tcp_window, Group::TcpWindow);
        higher_group!(tcp_options, Group::TcpOptions);
        higher_group!(tcp_mptcp, Group::TcpMptcp);
        higher_group!(tcp_rtt, Group::TcpRtt);
        higher_group!(tcp_fingerprint, Group::TcpFingerprint);
        higher_group!(icmp, Group::Icmp);
        self.meta.finish_capture(flow, row);
        let ja4 = if groups.contains(Group::Tls) {
            self.tls.client_hello_ja4()
        } else {
            None
        };
        let ja4 = ja4.or_else(|| {
            groups
                .contains(Group::Quic)
                .then(|| higher.quic.client_hello().map(|h| h.ja4(true)))
                .flatten()
        });
        row.str(ja4.unwrap_or_default());
        debug_assert_eq!(row.next, FEATURES.len());
        row.values.truncate(row.next);
    }

    /// Heap bytes held by this flow's feature state.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.meta.heap_bytes()
            + self.timing.heap_bytes()
            + self.size.heap_bytes()
            + self.tcp.heap_bytes()
            + self.tls.heap_bytes()
            + self.higher.as_deref().map_or(0, HigherTiers::heap_bytes)
    }
}

impl HigherTiers {
    fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.mac.heap_bytes()
            + self.icmp.heap_bytes()
            + self.dns.heap_bytes()
            + self.tcp_sequence.heap_bytes()
            + self.ssh.heap_bytes()
            + self.tcp_rtt.heap_bytes()
            + self.entropy.heap_bytes()
            + self.ipv6_options.heap_bytes()
            + self.padding.heap_bytes()
            + self.quic.heap_bytes()
            + self.http2.heap_bytes()
    }
}

/// Checks, in debug builds, that the row now ends exactly where `group`'s block of the registry
/// ends: each group writes its own columns, in registry order.
#[inline]
fn written_through(row: &Row, group: Group) {
    debug_assert_eq!(
        Some(row.next),
        FEATURES
            .iter()
            .rposition(|f| f.group == group)
            .map(|i| i + 1),
        "{} wrote a different number of columns than the registry lists",
        group.name()
    );
}

/// One past the registry index of `group`'s last column.
fn group_end(group: Group) -> usize {
    static ENDS: std::sync::OnceLock<Vec<(Group, usize)>> = std::sync::OnceLock::new();
    let ends = ENDS.get_or_init(|| {
        Group::ALL
            .into_iter()
            .map(|g| {
                (
                    g,
                    FEATURES
                        .iter()
                        .rposition(|f| f.group == g)
                        .map_or(0, |i| i + 1),
                )
            })
            .collect()
    });
    ends.iter()
        .find(|(g, _)| *g == group)
        .map_or(0, |(_, end)| *end)
}

/// `part / whole`, or 0 when `whole` is 0: the shares and means the groups report.
#[inline]
fn share(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part / whole
    } else {
        0.0
    }
}

/// Seconds as a float from nanoseconds.
#[inline]
fn secs(ns: i64) -> f64 {
    ns as f64 / 1e9
}

#[cfg(test)]
mod tests;
