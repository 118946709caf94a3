//! Flow life-cycle tests: how flows start, which side initiated, and why they end.

use std::net::{IpAddr, Ipv4Addr};

use capture_common::FlowEndReason;

use super::*;
use crate::decode::{ipproto, TcpInfo};

const SYN: u16 = tcp::SYN;
const SYNACK: u16 = tcp::SYN | tcp::ACK;
const ACK: u16 = tcp::ACK;
const FINACK: u16 = tcp::FIN | tcp::ACK;
const RST: u16 = tcp::RST;
const SEC: i64 = 1_000_000_000;

fn addr(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
}

/// A TCP segment from host `from` to host `to` (ports 1000+host).
fn seg(
    ts: i64,
    from: u8,
    to: u8,
    flags: u16,
    seq: u32,
    ack: u32,
    payload: &'static [u8],
) -> Packet<'static> {
    let mut p = Packet {
        ts_ns: ts,
        payload,
        ..Packet::default()
    };
    p.ip.version = 4;
    p.ip.src = addr(from);
    p.ip.dst = addr(to);
    p.ip.protocol = ipproto::TCP;
    p.ip.total_len = 40 + u32::try_from(payload.len()).unwrap();
    p.src_port = 1000 + u16::from(from);
    p.dst_port = 1000 + u16::from(to);
    p.tcp = Some(TcpInfo {
        seq,
        ack,
        flags,
        ..TcpInfo::default()
    });
    p
}

fn udp(ts: i64, from: u8, to: u8) -> Packet<'static> {
    let mut p = Packet {
        ts_ns: ts,
        ..Packet::default()
    };
    p.ip.version = 4;
    p.ip.src = addr(from);
    p.ip.dst = addr(to);
    p.ip.protocol = ipproto::UDP;
    p.ip.total_len = 28;
    p.src_port = 1000 + u16::from(from);
    p.dst_port = 1000 + u16::from(to);
    p
}

struct Run {
    table: FlowTable,
    ended: Vec<FinishedFlow>,
}

impl Run {
    fn new(config: FlowConfig) -> Self {
        Self {
            table: FlowTable::new(config),
            ended: Vec::new(),
        }
    }

    fn feed(&mut self, pkts: &[Packet<'_>]) {
        for p in pkts {
            let ended = &mut self.ended;
            self.table.process(p, &mut |f| ended.push(f));
        }
    }

    fn flush(&mut self) {
        let ended = &mut self.ended;
        self.table.flush(&mut |f| ended.push(f));
    }

    fn summary(&self) -> Vec<(FlowEndReason, u64, IpAddr)> {
        self.ended
            .iter()
            .map(|f| (f.reason, f.flow.features.packets(), f.flow.initiator.0))
            .collect()
    }
}

/// A whole connection from host 1 to host 2: handshake, one exchange, FIN both ways, final ACK.
fn connection(t0: i64) -> Vec<Packet<'static>> {
    vec![
        seg(t0, 1, 2, SYN, 100, 0, b""),
        seg(t0 + 1_000, 2, 1, SYNACK, 500, 101, b""),
        seg(t0 + 2_000, 1, 2, ACK, 101, 501, b""),
        seg(t0 + 3_000, 1, 2, ACK | tcp::PSH, 101, 501, b"GET"),
        seg(t0 + 4_000, 2, 1, ACK | tcp::PSH, 501, 104, b"OK"),
        seg(t0 + 5_000, 1, 2, FINACK, 104, 503, b""),
        seg(t0 + 6_000, 2, 1, FINACK, 503, 105, b""),
        seg(t0 + 7_000, 1, 2, ACK, 105, 504, b""),
    ]
}

#[test]
fn fin_close_keeps_trailing_packets_in_the_flow() {
    let mut run = Run::new(FlowConfig::default());
    let mut pkts = connection(0);
    // A duplicate final ACK after the close, within the grace period.
    pkts.push(seg(8_000, 1, 2, ACK, 105, 504, b""));
    run.feed(&pkts);
    assert!(run.ended.is_empty(), "the flow waits out its grace period");
    // Any later packet moves time past the grace period.
    run.feed(&[udp(10 * SEC, 7, 8)]);
    assert_eq!(run.summary(), vec![(FlowEndReason::Fin, 9, addr(1))]);
}

#[test]
fn one_fin_without_the_other_is_not_a_close() {
    let mut run = Run::new(FlowConfig::default());
    let pkts = connection(0);
    run.feed(&pkts[..6]);
    run.feed(&[udp(30 * SEC, 7, 8)]);
    assert!(run.ended.is_empty());
    run.flush();
    assert_eq!(run.summary()[0], (FlowEndReason::EndOfInput, 6, addr(1)));
}

#[test]
fn rst_ends_the_flow_after_grace() {
    let mut run = Run::new(FlowConfig::default());
    run.feed(&[
        seg(0, 1, 2, SYN, 1, 0, b""),
        seg(1_000, 2, 1, RST | ACK, 0, 2, b""),
        seg(2_000, 1, 2, SYN, 1, 0, b""),
    ]);
    // The retried SYN starts a new connection rather than joining the reset one.
    assert_eq!(run.summary(), vec![(FlowEndReason::Rst, 2, addr(1))]);
    run.flush();
    assert_eq!(run.summary()[1], (FlowEndReason::EndOfInput, 1, addr(1)));
}

#[test]
fn idle_timeout_splits_and_expires() {
    let mut run = Run::new(FlowConfig::default());
    run.feed(&[udp(0, 1, 2), udp(SEC, 2, 1), udp(62 * SEC, 1, 2)]);
    assert_eq!(run.summary(), vec![(FlowEndReason::Idle, 2, addr(1))]);
    // Another conversation moving time on expires the idle one without a packet of its own.
    run.feed(&[udp(200 * SEC, 5, 6)]);
    assert_eq!(run.summary()[1], (FlowEndReason::Idle, 1, addr(1)));
}

#[test]
fn exactly_the_idle_timeout_is_not_idle() {
    let mut run = Run::new(FlowConfig::default());
    run.feed(&[udp(0, 1, 2), udp(60 * SEC, 1, 2)]);
    run.flush();
    assert_eq!(run.summary(), vec![(FlowEndReason::EndOfInput, 2, addr(1))]);
}

#[test]
fn active_timeout_cuts_long_flows() {
    let mut run = Run::new(FlowConfig {
        active_timeout_ns: Some(10 * SEC),
        ..FlowConfig::default()
    });
    let pkts: Vec<_> = (0..25).map(|i| udp(i * SEC, 1, 2)).collect();
    run.feed(&pkts);
    run.flush();
    let reasons: Vec<_> = run.summary().iter().map(|s| (s.0, s.1)).collect();
    assert_eq!(
        reasons,
        vec![
            (FlowEndReason::Active, 11),
            (FlowEndReason::Active, 11),
            (FlowEndReason::EndOfInput, 3)
        ]
    );
}

#[test]
fn least_recently_seen_flow_is_evicted() {
    let mut run = Run::new(FlowConfig {
        max_flows: 2,
        ..FlowConfig::default()
    });
    run.feed(&[udp(0, 1, 2), udp(1, 3, 4), udp(2, 1, 2), udp(3, 5, 6)]);
    assert_eq!(run.summary(), vec![(FlowEndReason::Evicted, 1, addr(3))]);
    assert_eq!(run.table.active(), 2);
    assert_eq!(run.table.stats().ended[FlowEndReason::Evicted as usize], 1);
}

#[test]
fn synack_seen_first_still_names_the_syn_sender_initiator() {
    let mut run = Run::new(FlowConfig::default());
    run.feed(&[
        seg(0, 2, 1, SYNACK, 500, 101, b""),
        seg(1_000, 1, 2, ACK, 101, 501, b""),
    ]);
    run.flush();
    let f = &run.ended[0].flow;
    assert_eq!(f.initiator, (addr(1), 1001));
    assert_eq!(f.responder, (addr(2), 1002));
}

#[test]
fn first_packet_sender_is_initiator_otherwise() {
    let mut run = Run::new(FlowConfig::default());
    run.feed(&[udp(0, 9, 1), udp(1, 1, 9)]);
    run.flush();
    assert_eq!(run.ended[0].flow.initiator.0, addr(9));
}

#[test]
fn memory_is_accounted() {
    let mut run = Run::new(FlowConfig::default());
    run.feed(&connection(0));
    assert!(run.table.memory_bytes() > std::mem::size_of::<Flow>());
}

#[test]
fn a_train_and_a_reused_slot_each_find_their_own_flow() {
    let mut run = Run::new(FlowConfig {
        max_flows: 2,
        ..FlowConfig::default()
    });
    // Trains of one flow, interleaved with another; then 1→2 is evicted and its slot goes to
    // 5→6, the last flow seen: the next packet of 1→2 must open a flow of its own, not join 5→6.
    run.feed(&[
        udp(0, 1, 2),
        udp(1, 2, 1),
        udp(2, 1, 2),
        udp(3, 3, 4),
        udp(4, 3, 4),
        udp(5, 1, 2),
        udp(6, 3, 4),
        udp(7, 5, 6),
        udp(8, 1, 2),
    ]);
    run.flush();
    let mut got: Vec<_> = run.summary().iter().map(|s| (s.0, s.1, s.2)).collect();
    got.sort_by_key(|s| (s.2, s.1));
    assert_eq!(
        got,
        vec![
            (FlowEndReason::EndOfInput, 1, addr(1)),
            (FlowEndReason::Evicted, 4, addr(1)),
            (FlowEndReason::Evicted, 3, addr(3)),
            (FlowEndReason::EndOfInput, 1, addr(5)),
        ]
    );
}
