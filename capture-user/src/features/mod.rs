//! Flow features: one extractor per group, each with bounded per-flow state.
//!
//! Every extractor sees each packet of its flow once, in capture order, with the packet's
//! direction ([`Dir`]), and at the end writes its columns, in registry order, into a [`Row`].

mod connection;
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

use std::net::IpAddr;

use capture_common::FlowEndReason;

use crate::decode::Packet;
pub use connection::{ConnectionWindow, DEFAULT_WINDOW_SECS as DEFAULT_CONNECTION_WINDOW_SECS};
pub use registry::{FeatureDef, Group, Kind, Tier, FEATURES};

/// Appends `v4` as a dotted quad.
fn push_ipv4(text: &mut String, v4: std::net::Ipv4Addr) {
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
}

/// Appends `v6` in RFC 5952 form: lowercase hex groups without leading zeros, the longest run
/// of two or more zero groups (the first of equally long ones) as `::`, and an IPv4-mapped
/// address as `::ffff:` and a dotted quad.
fn push_ipv6(text: &mut String, v6: std::net::Ipv6Addr) {
    if let Some(v4) = v6.to_ipv4_mapped() {
        text.push_str("::ffff:");
        push_ipv4(text, v4);
        return;
    }
    let groups = v6.segments();
    let (mut run_at, mut run_len) = (0, 0);
    let mut i = 0;
    while i < 8 {
        let len = groups[i..].iter().take_while(|&&g| g == 0).count();
        if len > run_len {
            (run_at, run_len) = (i, len);
        }
        i += len.max(1);
    }
    let push_groups = |text: &mut String, groups: &[u16]| {
        for (k, &g) in groups.iter().enumerate() {
            if k > 0 {
                text.push(':');
            }
            let digits = (16 - g.leading_zeros()).div_ceil(4).max(1);
            for d in (0..digits).rev() {
                let nibble = (g >> (4 * d)) & 0xf;
                text.push(char::from(b"0123456789abcdef"[usize::from(nibble)]));
            }
        }
    };
    if run_len < 2 {
        push_groups(text, &groups);
        return;
    }
    push_groups(text, &groups[..run_at]);
    text.push_str("::");
    push_groups(text, &groups[run_at + run_len..]);
}

/// Direction of a packet within its flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Initiator to responder.
    Fwd = 0,
    /// Responder to initiator.
    Bwd = 1,
}

/// One feature value, borrowed from its [`Row`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// String.
    Str(&'a str),
}

impl Value<'_> {
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
///
/// Each value is one 64-bit word (the registry says of which type), and the record's strings
/// lie back to back in one buffer: writing a record allocates nothing once the buffers have
/// grown, and an output reads a few kilobytes of contiguous memory per record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// Per feature: an integer, a double's bits, a boolean as 0 or 1, or where a string lies
    /// in `text` (its start in the high 32 bits, its length in the low 32).
    words: Vec<u64>,
    text: String,
    /// Where the next value goes: records are written over a reused buffer in place.
    next: usize,
}

impl Row {
    /// An empty record with room for `columns` values.
    #[must_use]
    pub fn with_capacity(columns: usize) -> Self {
        Self {
            words: Vec::with_capacity(columns),
            text: String::new(),
            next: 0,
        }
    }

    /// A record holding `values`, in registry order (tests and tools; extractors write values
    /// one by one).
    #[must_use]
    pub fn from_values<'v>(values: impl IntoIterator<Item = Value<'v>>) -> Self {
        let mut row = Self::default();
        for (i, v) in values.into_iter().enumerate() {
            row.set(i, v);
        }
        row.next = row.words.len();
        row
    }

    /// Starts a new record over this one's buffers.
    fn restart(&mut self) {
        self.next = 0;
        self.text.clear();
    }

    #[inline]
    fn put(&mut self, word: u64) {
        debug_assert!(self.next < FEATURES.len(), "more values than features");
        match self.words.get_mut(self.next) {
            Some(slot) => *slot = word,
            None => self.words.push(word),
        }
        self.next += 1;
    }

    /// Checks, in debug builds, that the next column is of `kind`.
    #[inline]
    fn expect(&self, kind: Kind) {
        debug_assert!(
            FEATURES.get(self.next).is_none_or(|f| f.kind == kind),
            "{} is {:?}, not {kind:?}",
            FEATURES[self.next].name,
            FEATURES[self.next].kind
        );
    }

    /// Leaves the columns up to `end` as they are: their group is not computed.
    fn skip_to(&mut self, end: usize) {
        if self.words.len() < end {
            self.words.resize(end, 0);
        }
        self.next = end;
    }

    #[inline]
    fn int(&mut self, v: impl TryInto<i64>) {
        self.expect(Kind::Int);
        self.put(v.try_into().unwrap_or(i64::MAX) as u64);
    }

    #[inline]
    fn float(&mut self, v: f64) {
        self.expect(Kind::Float);
        self.put(v.to_bits());
    }

    #[inline]
    fn bool(&mut self, v: bool) {
        self.expect(Kind::Bool);
        self.put(u64::from(v));
    }

    #[inline]
    fn str(&mut self, v: impl AsRef<str>) {
        self.str_with(|text| text.push_str(v.as_ref()));
    }

    /// A string written by `write` straight into the record's text.
    #[inline]
    fn str_with(&mut self, write: impl FnOnce(&mut String)) {
        self.expect(Kind::Str);
        let start = self.text.len();
        write(&mut self.text);
        let len = self.text.len() - start;
        // Records are far smaller than 4 GiB; a longer text would only garble that record.
        self.put((start as u64) << 32 | (len as u64 & 0xffff_ffff));
    }

    /// An address in its usual text form (dotted quad, or RFC 5952 for IPv6, exactly as the
    /// standard library's `Display` writes them), written straight into the record's text. Two
    /// per record: both are spelled out by hand, since the formatting machinery costs several
    /// times as much.
    #[inline]
    fn str_ip(&mut self, ip: IpAddr) {
        self.str_with(|text| match ip {
            IpAddr::V4(v4) => push_ipv4(text, v4),
            IpAddr::V6(v6) => push_ipv6(text, v6),
        });
    }

    /// Replaces the value of feature `index` (the connection window fills its columns in after
    /// the record was written). A replaced string's old bytes stay in the text until the
    /// buffer is reused. Inlined: at a call with a known kind of value only its word's store
    /// remains (the connection window makes 23 calls per record).
    #[inline]
    pub fn set(&mut self, index: usize, v: Value<'_>) {
        if index >= self.words.len() {
            self.words.resize(index + 1, 0);
        }
        self.words[index] = match v {
            Value::Int(n) => n as u64,
            Value::Float(f) => f.to_bits(),
            Value::Bool(b) => u64::from(b),
            Value::Str(s) => {
                let start = self.text.len();
                self.text.push_str(s);
                (start as u64) << 32 | (s.len() as u64 & 0xffff_ffff)
            }
        };
    }

    /// Number of values.
    #[must_use]
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether the record holds no value.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The raw words, one per feature (a string's is where it lies in the text).
    #[inline]
    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    /// The raw word of feature `index`.
    #[inline]
    fn word(&self, index: usize) -> u64 {
        self.words.get(index).copied().unwrap_or(0)
    }

    /// The string of feature `index`; empty for a column this record did not write.
    #[inline]
    pub(crate) fn text_of(&self, index: usize) -> &str {
        let word = self.word(index);
        let start = (word >> 32) as usize;
        let len = (word & 0xffff_ffff) as usize;
        self.text.get(start..start + len).unwrap_or("")
    }

    /// The value of feature `index` (registry order).
    #[must_use]
    pub fn value(&self, index: usize) -> Value<'_> {
        let word = self.word(index);
        match FEATURES.get(index).map(|f| f.kind) {
            Some(Kind::Float) => Value::Float(f64::from_bits(word)),
            Some(Kind::Bool) => Value::Bool(word != 0),
            Some(Kind::Str) => Value::Str(self.text_of(index)),
            Some(Kind::Int) | None => Value::Int(word as i64),
        }
    }

    /// Every value, in registry order.
    pub fn values(&self) -> impl Iterator<Item = Value<'_>> + '_ {
        (0..self.words.len()).map(|i| self.value(i))
    }

    /// The value of the feature called `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<Value<'_>> {
        registry::index_of(name)
            .filter(|&i| i < self.words.len())
            .map(|i| self.value(i))
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

    /// What the group reads, besides its own state, when the flow ends: the flow's identity
    /// for most groups; for a group that derives columns from what other groups keep anyway,
    /// their state, instead of copies of it kept per packet.
    type Reads<'a>;

    /// Sees one packet of the flow.
    fn update(&mut self, pkt: &Packet<'_>, dir: Dir);

    /// Writes this group's columns, in registry order. The flow has ended: the state may be
    /// rearranged (sorted in place) while reading it out.
    fn finish(&mut self, reads: Self::Reads<'_>, out: &mut Row);

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
        | (1 << Group::Connection as u32)
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

/// The JJ-CORE groups' state that higher-tier groups read when the flow ends.
#[derive(Clone, Copy)]
struct CoreState<'a> {
    meta: &'a flow_meta::FlowMeta,
    tls: &'a tls::Tls,
    size: &'a size::Size,
    timing: &'a timing::Timing,
}

/// A finished flow's record to build.
#[derive(Debug)]
pub struct RecordJob<'a> {
    /// The flow's state.
    pub features: &'a mut FlowFeatures,
    /// Who the flow was between, and how it ended.
    pub flow: FlowIdentity,
    /// The groups computed for it.
    pub groups: GroupSet,
    /// Where its record goes (the buffer is reused).
    pub row: &'a mut Row,
}

/// Runs `finish` for each job whose flow holds higher-tier state, with the core groups' state it
/// may read. One call per group, so that the loop holds only that group's code.
#[inline]
fn each_higher(
    jobs: &mut [RecordJob<'_>],
    mut finish: impl FnMut(&mut HigherTiers, CoreState<'_>, &FlowIdentity, GroupSet, &mut Row),
) {
    for j in jobs {
        let FlowFeatures {
            meta,
            timing,
            size,
            tls,
            higher,
            ..
        } = &mut *j.features;
        if let Some(higher) = higher.as_deref_mut() {
            let core = CoreState {
                meta,
                tls,
                size,
                timing,
            };
            finish(higher, core, &j.flow, j.groups, j.row);
        }
    }
}

/// The ClientHello of a flow's QUIC Initials, once the quic group has read it out.
fn quic_hello(quic: &quic::Quic, groups: GroupSet) -> Option<&crate::stream::tls::ClientHello> {
    groups
        .contains(Group::Quic)
        .then(|| quic.finished_client_hello())
        .flatten()
}

/// Higher-tier states a thread keeps for its next flows, at most.
const MAX_SPARE_HIGHER: usize = 64;

thread_local! {
    /// Higher-tier states of flows whose records were written on this thread, reset. A flow's
    /// state is 2.4 KB: a fresh block for every flow is memory out of cache, written whole at
    /// the flow's first packet, where the state of a flow that just ended is still in cache.
    #[expect(clippy::vec_box, reason = "the boxes' blocks are what is reused, handed out as boxes")]
    static SPARE_HIGHER: std::cell::RefCell<Vec<Box<HigherTiers>>> =
        const { std::cell::RefCell::new(Vec::new()) };
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
        update_group(&mut self.timing, groups, pkt, dir);
        update_group(&mut self.size, groups, pkt, dir);
        update_group(&mut self.tcp, groups, pkt, dir);
        update_group(&mut self.tls, groups, pkt, dir);
        if groups.intersects(HIGHER_TIER_GROUPS) {
            self.higher
                .get_or_insert_with(HigherTiers::take)
                .update(groups, pkt, dir);
        }
    }

    /// Gives this flow's higher-tier state, its record written, to the next flow started on
    /// this thread (see [`HigherTiers::take`]).
    pub(crate) fn recycle(&mut self) {
        if let Some(mut higher) = self.higher.take() {
            SPARE_HIGHER.with_borrow_mut(|spare| {
                if spare.len() < MAX_SPARE_HIGHER {
                    // Reset here, while the state is in cache from writing the record.
                    higher.reset();
                    spare.push(higher);
                }
            });
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
    /// Groups outside `groups` were never fed and are never emitted: their columns are skipped.
    pub fn finish_into(&mut self, groups: GroupSet, flow: &FlowIdentity, row: &mut Row) {
        Self::finish_all(&mut [RecordJob {
            features: self,
            flow: *flow,
            groups,
            row,
        }]);
    }

    /// Writes the records of several finished flows, each the one [`Self::finish_into`] writes,
    /// group by group: each group's code runs for every flow in turn. The code of every group
    /// together is larger than the first-level instruction cache, and building one record after
    /// another would fetch all of it again for each.
    pub fn finish_all(jobs: &mut [RecordJob<'_>]) {
        for j in jobs.iter_mut() {
            j.row.restart();
            j.features.meta.finish(&j.flow, j.row);
            written_through(j.row, Group::FlowMeta);
        }
        for j in jobs.iter_mut() {
            finish_group(&mut j.features.timing, j.groups, || &j.flow, j.row);
        }
        for j in jobs.iter_mut() {
            finish_group(&mut j.features.size, j.groups, || &j.flow, j.row);
        }
        for j in jobs.iter_mut() {
            finish_group(&mut j.features.tcp, j.groups, || &j.flow, j.row);
        }
        for j in jobs.iter_mut() {
            finish_group(&mut j.features.tls, j.groups, || &j.flow, j.row);
            // The higher tiers' columns follow the core's as one block of the registry.
            if j.features.higher.is_none() {
                j.row.skip_to(group_end(Group::Icmp));
            }
        }
        HigherTiers::finish_all(jobs);
        for j in jobs.iter_mut() {
            let RecordJob {
                features,
                flow,
                groups,
                row,
            } = j;
            // Connection columns describe the flows around this one: a `ConnectionWindow` fills
            // them in once the flows of its window have ended.
            row.skip_to(group_end(Group::Connection));
            features.meta.finish_capture(flow, row);
            let quic_hello = features
                .higher
                .as_deref()
                .and_then(|h| quic_hello(&h.quic, *groups));
            let (ja4, ech) = match groups
                .contains(Group::Tls)
                .then(|| features.tls.client_hello())
                .flatten()
            {
                Some(hello) => (hello.ja4(false), hello.offers_ech()),
                None => quic_hello
                    .map(|h| (h.ja4(true), h.offers_ech()))
                    .unwrap_or_default(),
            };
            row.str(ja4);
            row.int(i64::from(ech));
            debug_assert_eq!(row.next, FEATURES.len());
            row.words.truncate(row.next);
        }
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
    /// As new, group by group in place. Assigning a whole new state builds its 2 KB on the
    /// stack and copies them over; each group's own state is small enough to be written where
    /// it lies. The pattern names every group, so a group added to the struct and not here
    /// does not compile.
    fn reset(&mut self) {
        let Self {
            ip_extended,
            tcp_window,
            tcp_options,
            mac,
            icmp,
            dns,
            tcp_mptcp,
            tcp_sequence,
            ssh,
            tcp_rtt,
            entropy,
            ipv6_options,
            tcp_fingerprint,
            padding,
            fingerprint,
            quic,
            http2,
        } = self;
        *ip_extended = Default::default();
        *tcp_window = Default::default();
        *tcp_options = Default::default();
        *mac = Default::default();
        *icmp = Default::default();
        *dns = Default::default();
        *tcp_mptcp = Default::default();
        *tcp_sequence = Default::default();
        *ssh = Default::default();
        *tcp_rtt = Default::default();
        *entropy = Default::default();
        *ipv6_options = Default::default();
        *tcp_fingerprint = Default::default();
        *padding = Default::default();
        *fingerprint = Default::default();
        *quic = Default::default();
        *http2 = Default::default();
    }

    /// A new flow's state: the last one recycled on this thread, or a new one.
    fn take() -> Box<Self> {
        SPARE_HIGHER.with_borrow_mut(Vec::pop).unwrap_or_default()
    }

    #[inline]
    fn update(&mut self, groups: GroupSet, pkt: &Packet<'_>, dir: Dir) {
        update_group(&mut self.ip_extended, groups, pkt, dir);
        update_group(&mut self.ipv6_options, groups, pkt, dir);
        update_group(&mut self.tcp_sequence, groups, pkt, dir);
        update_group(&mut self.tcp_window, groups, pkt, dir);
        update_group(&mut self.tcp_options, groups, pkt, dir);
        update_group(&mut self.quic, groups, pkt, dir);
        update_group(&mut self.ssh, groups, pkt, dir);
        update_group(&mut self.http2, groups, pkt, dir);
        update_group(&mut self.dns, groups, pkt, dir);
        update_group(&mut self.tcp_mptcp, groups, pkt, dir);
        update_group(&mut self.tcp_rtt, groups, pkt, dir);
        update_group(&mut self.padding, groups, pkt, dir);
        update_group(&mut self.fingerprint, groups, pkt, dir);
        update_group(&mut self.entropy, groups, pkt, dir);
        update_group(&mut self.tcp_fingerprint, groups, pkt, dir);
        update_group(&mut self.mac, groups, pkt, dir);
        update_group(&mut self.icmp, groups, pkt, dir);
    }

    /// Writes the higher tiers' columns of the jobs whose flows hold them, one group at a time
    /// (see [`FlowFeatures::finish_all`]).
    fn finish_all(jobs: &mut [RecordJob<'_>]) {
        /// Groups that read nothing but the flow's identity, each in its own pass.
        macro_rules! finish_each {
            ($($group:ident),+) => {
                $(each_higher(jobs, |h, _, flow, groups, row| {
                    finish_group(&mut h.$group, groups, || flow, row);
                });)+
            };
        }
        finish_each!(quic, ssh);
        each_higher(jobs, |h, core, _, groups, row| {
            let quic_hello = quic_hello(&h.quic, groups);
            finish_group(
                &mut h.http2,
                groups,
                || {
                    let (tls_server_alpn, tls_client_alpn, tls13) = core.tls.alpn_signals();
                    http2::Reads {
                        tls_server_alpn,
                        tls_client_alpn,
                        tls13,
                        quic_alpn: quic_hello.map_or("", |h| h.alpn.as_str()),
                    }
                },
                row,
            );
        });
        finish_each!(dns);
        each_higher(jobs, |h, core, _, groups, row| {
            finish_group(
                &mut h.padding,
                groups,
                || padding::Reads {
                    sizes: core.size.length_moments(),
                    counts: core.size.length_counts(),
                    gaps: core.timing.gap_moments(),
                },
                row,
            );
        });
        each_higher(jobs, |h, core, flow, groups, row| {
            let (ssh_seen, dns_seen) = (h.ssh.seen(), h.dns.seen());
            let entropy = &mut h.entropy;
            finish_group(
                &mut h.fingerprint,
                groups,
                || fingerprint::Reads {
                    flow,
                    packets: core.meta.directed_packets(),
                    bytes: core.meta.directed_bytes(),
                    duration: core.meta.duration_secs(),
                    sizes: core.size.length_moments(),
                    largest_forward: core.size.largest(Dir::Fwd),
                    sni: core.tls.client_hello().map(|h| h.sni.as_str()),
                    ssh: ssh_seen,
                    dns: dns_seen,
                    sample: entropy.sample(),
                },
                row,
            );
        });
        finish_each!(
            entropy,
            mac,
            ip_extended,
            ipv6_options,
            tcp_sequence,
            tcp_window,
            tcp_options,
            tcp_mptcp,
            tcp_rtt,
            tcp_fingerprint,
            icmp
        );
    }

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

/// Feeds `state` when its group is computed.
#[inline]
fn update_group<E: Extractor>(state: &mut E, groups: GroupSet, pkt: &Packet<'_>, dir: Dir) {
    if groups.contains(E::GROUP) {
        state.update(pkt, dir);
    }
}

/// Writes `state`'s columns when its group is computed, skips them otherwise. What the group
/// reads is gathered only when it is computed.
fn finish_group<'r, E: Extractor>(
    state: &mut E,
    groups: GroupSet,
    reads: impl FnOnce() -> E::Reads<'r>,
    row: &mut Row,
) {
    if groups.contains(E::GROUP) {
        state.finish(reads(), row);
    } else {
        row.skip_to(group_end(E::GROUP));
    }
    written_through(row, E::GROUP);
}

/// One past the registry index of `group`'s last column.
fn group_end(group: Group) -> usize {
    static ENDS: std::sync::OnceLock<[usize; Group::ALL.len()]> = std::sync::OnceLock::new();
    ENDS.get_or_init(|| {
        let mut ends = [0; Group::ALL.len()];
        for (i, f) in FEATURES.iter().enumerate() {
            ends[f.group as usize] = i + 1;
        }
        ends
    })[group as usize]
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
