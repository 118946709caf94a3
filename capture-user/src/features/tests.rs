//! Feature values on hand-built flows, each direction checked separately.

use std::net::{IpAddr, Ipv4Addr};

use capture_common::{FlowEndReason, TunnelKind};

use super::*;
use crate::decode::{ipproto, tcp, Layer, TcpInfo, TunnelInfo};

const MS: i64 = 1_000_000;

fn client() -> (IpAddr, u16) {
    (IpAddr::V4(Ipv4Addr::new(192, 168, 0, 2)), 40000)
}

fn server() -> (IpAddr, u16) {
    (IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34)), 443)
}

/// A packet of `len` IP bytes and `payload` payload bytes in direction `dir` at `ts_ms`.
fn packet(
    ts_ms: i64,
    dir: Dir,
    len: u32,
    payload: &'static [u8],
    flags: Option<u16>,
) -> Packet<'static> {
    let (src, dst) = if dir == Dir::Fwd {
        (client(), server())
    } else {
        (server(), client())
    };
    let mut p = Packet {
        ts_ns: 1_700_000_000_000_000_000 + ts_ms * MS,
        payload,
        ..Packet::default()
    };
    p.ip.version = 4;
    p.ip.src = src.0;
    p.ip.dst = dst.0;
    p.src_port = src.1;
    p.dst_port = dst.1;
    p.ip.total_len = len;
    match flags {
        Some(flags) => {
            p.ip.protocol = ipproto::TCP;
            p.tcp = Some(TcpInfo {
                flags,
                ..TcpInfo::default()
            });
        }
        None => p.ip.protocol = ipproto::UDP,
    }
    p
}

fn row_of(pkts: &[(Packet<'static>, Dir)], protocol: u8) -> Row {
    let mut f = FlowFeatures::default();
    for (p, d) in pkts {
        f.update(GroupSet::ALL, p, *d);
    }
    f.finish(&FlowIdentity {
        initiator: client(),
        responder: server(),
        protocol,
        end_reason: FlowEndReason::Fin,
    })
}

#[track_caller]
fn float(row: &Row, name: &str) -> f64 {
    match row.get(name) {
        Some(Value::Float(v)) => v,
        other => panic!("{name}: expected a float, got {other:?}"),
    }
}

#[track_caller]
fn int(row: &Row, name: &str) -> i64 {
    match row.get(name) {
        Some(Value::Int(v)) => v,
        other => panic!("{name}: expected an int, got {other:?}"),
    }
}

#[track_caller]
fn boolean(row: &Row, name: &str) -> bool {
    match row.get(name) {
        Some(Value::Bool(v)) => v,
        other => panic!("{name}: expected a bool, got {other:?}"),
    }
}

#[track_caller]
fn string(row: &Row, name: &str) -> String {
    match row.get(name) {
        Some(Value::Str(v)) => v.to_string(),
        other => panic!("{name}: expected a string, got {other:?}"),
    }
}

#[track_caller]
fn close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "{actual} != {expected}"
    );
}

/// fwd at 0, 10, 30, 200 ms; bwd at 5, 15, 300 ms. Sizes fwd 100, 200, 100, 60; bwd 1500, 40, 40.
fn sample() -> Vec<(Packet<'static>, Dir)> {
    vec![
        (packet(0, Dir::Fwd, 100, b"0123456789", None), Dir::Fwd),
        (
            packet(5, Dir::Bwd, 1500, b"abcdefghijklmnopqrst", None),
            Dir::Bwd,
        ),
        (packet(10, Dir::Fwd, 200, b"", None), Dir::Fwd),
        (packet(15, Dir::Bwd, 40, b"xy", None), Dir::Bwd),
        (packet(30, Dir::Fwd, 100, b"abc", None), Dir::Fwd),
        (packet(200, Dir::Fwd, 60, b"", None), Dir::Fwd),
        (packet(300, Dir::Bwd, 40, b"", None), Dir::Bwd),
    ]
}

#[test]
fn row_matches_registry_types() {
    let row = row_of(&sample(), ipproto::UDP);
    // Every value is written as its registry type (a debug assertion checks each as it is
    // written), and every column gets one.
    assert_eq!(row.len(), FEATURES.len());
    for (v, def) in row.values().zip(FEATURES) {
        assert_eq!(v.kind(), def.kind, "{}", def.name);
    }
}

#[test]
fn flow_meta_counts_by_direction() {
    let row = row_of(&sample(), ipproto::UDP);
    assert_eq!(string(&row, "src_ip"), "192.168.0.2");
    assert_eq!(string(&row, "dst_ip"), "93.184.216.34");
    assert_eq!((int(&row, "src_port"), int(&row, "dst_port")), (40000, 443));
    assert_eq!(string(&row, "dst_port_class"), "https");
    assert_eq!(int(&row, "dst_port_class_num"), 1);
    assert_eq!(
        (
            int(&row, "packets_fwd"),
            int(&row, "packets_bwd"),
            int(&row, "total_packets")
        ),
        (4, 3, 7)
    );
    assert_eq!(
        (
            int(&row, "bytes_fwd"),
            int(&row, "bytes_bwd"),
            int(&row, "total_bytes")
        ),
        (460, 1580, 2040)
    );
    assert_eq!(
        (
            int(&row, "payload_bytes_fwd"),
            int(&row, "payload_bytes_bwd")
        ),
        (13, 22)
    );
    close(float(&row, "duration"), 0.3);
    close(float(&row, "packets_ratio"), 4.0 / 3.0);
    close(float(&row, "bytes_ratio"), 460.0 / 1580.0);
    close(float(&row, "packets_per_second"), 7.0 / 0.3);
    close(float(&row, "avg_packet_size"), 2040.0 / 7.0);
    close(float(&row, "start_time"), 1_700_000_000.0);
    // Epoch seconds as f64 carry about 0.2 µs of precision.
    assert!((float(&row, "end_time") - float(&row, "time_first") - 0.3).abs() < 1e-6);
    assert_eq!(int(&row, "flow_stat"), 0);
    assert_eq!(string(&row, "flow_end_reason"), "fin");
}

#[test]
fn timing_overall_and_per_direction() {
    let row = row_of(&sample(), ipproto::UDP);
    // Gaps overall: 5, 5, 5, 15, 170, 100 ms.
    close(float(&row, "iat_min"), 0.005);
    close(float(&row, "iat_max"), 0.170);
    close(float(&row, "iat_mean"), 0.3 / 6.0);
    close(float(&row, "iat_sum"), 0.3);
    close(float(&row, "iat_median"), 0.010);
    close(float(&row, "iat_p25"), 0.005);
    close(float(&row, "iat_p75"), 0.07875);
    let gaps = [0.005, 0.005, 0.005, 0.015, 0.170, 0.100];
    let mean = 0.05;
    let std = (gaps.iter().map(|g| (g - mean) * (g - mean)).sum::<f64>() / 6.0).sqrt();
    close(float(&row, "iat_std"), std);
    close(float(&row, "burstiness_index"), std / mean);
    // Forward gaps: 10, 20, 170 ms. Backward gaps: 10, 285 ms.
    close(float(&row, "iat_fwd_min"), 0.010);
    close(float(&row, "iat_fwd_max"), 0.170);
    close(float(&row, "iat_fwd_median"), 0.020);
    close(float(&row, "iat_bwd_mean"), 0.1475);
    close(float(&row, "iat_bwd_median"), 0.1475);
    close(float(&row, "iat_bwd_std"), 0.1375);
    close(float(&row, "first_response_time"), 0.005);
    // Bursts (gaps under 50 ms): packets 1-5, then 6, then 7; idle gaps 170 and 100 ms.
    assert_eq!(int(&row, "burst_count"), 3);
    assert_eq!(int(&row, "max_burst_packets"), 5);
    close(float(&row, "avg_burst_packets"), 7.0 / 3.0);
    close(float(&row, "avg_burst_duration"), 0.030 / 3.0);
    assert_eq!(int(&row, "idle_count"), 2);
    close(float(&row, "avg_idle_duration"), 0.135);
    close(float(&row, "max_idle_duration"), 0.170);
}

#[test]
fn timing_of_a_single_packet_is_zero() {
    let row = row_of(&sample()[..1], ipproto::UDP);
    for name in [
        "iat_min",
        "iat_mean",
        "iat_std",
        "iat_median",
        "iat_p99",
        "burstiness_index",
        "first_response_time",
    ] {
        close(float(&row, name), 0.0);
    }
    assert_eq!(int(&row, "burst_count"), 0);
}

/// Length percentiles of a flow of `n` packets whose lengths cycle through `distinct` values
/// (forward on even packets), against numpy's over the list of every length.
fn long_flow_length_percentiles(n: u32, distinct: u32) -> (Row, [f64; 3]) {
    let pkts: Vec<_> = (0..n)
        .map(|i| {
            let dir = if i % 2 == 0 { Dir::Fwd } else { Dir::Bwd };
            let len = 40 + (i * 7919) % distinct;
            (packet(i64::from(i), dir, len, b"", None), dir)
        })
        .collect();
    let median = |keep: &dyn Fn(u32) -> bool| {
        let mut lens: Vec<u32> = (0..n)
            .filter(|&i| keep(i))
            .map(|i| 40 + (i * 7919) % distinct)
            .collect();
        lens.sort_unstable();
        let mid = (lens.len() - 1) as f64 / 2.0;
        let (lo, hi) = (lens[mid.floor() as usize], lens[mid.ceil() as usize]);
        f64::from(lo) + f64::from(hi - lo) * (mid - mid.floor())
    };
    let want = [
        median(&|_| true),
        median(&|i| i % 2 == 0),
        median(&|i| i % 2 == 1),
    ];
    (row_of(&pkts, ipproto::UDP), want)
}

#[test]
fn length_percentiles_of_long_flows() {
    // Many packets, few lengths: exact whatever the packet count.
    let (row, [all, fwd, bwd]) = long_flow_length_percentiles(20_001, 300);
    assert_eq!(float(&row, "pkt_len_median"), all);
    assert_eq!(float(&row, "pkt_len_fwd_median"), fwd);
    assert_eq!(float(&row, "pkt_len_bwd_median"), bwd);
    // More distinct lengths than are counted: the sketch's 0.5 % accuracy.
    let (row, want) = long_flow_length_percentiles(20_001, 9_000);
    let got =
        ["pkt_len_median", "pkt_len_fwd_median", "pkt_len_bwd_median"].map(|c| float(&row, c));
    for (got, want) in got.into_iter().zip(want) {
        assert!((got - want).abs() <= want * 0.011, "{got} against {want}");
    }
    assert!(float(&row, "pkt_len_p90") > float(&row, "pkt_len_p75"));
}

#[test]
fn sizes_overall_and_per_direction() {
    let row = row_of(&sample(), ipproto::UDP);
    // All sizes sorted: 40 40 60 100 100 200 1500.
    close(float(&row, "pkt_len_min"), 40.0);
    close(float(&row, "pkt_len_max"), 1500.0);
    close(float(&row, "pkt_len_median"), 100.0);
    close(float(&row, "pkt_len_p25"), 50.0);
    close(float(&row, "pkt_len_p75"), 150.0);
    close(float(&row, "pkt_len_p90"), 720.0);
    close(float(&row, "pkt_len_fwd_mean"), 115.0);
    close(float(&row, "pkt_len_fwd_median"), 100.0);
    close(
        float(&row, "pkt_len_fwd_std"),
        (((100.0f64 - 115.0).powi(2) * 2.0 + 85.0f64.powi(2) + 55.0f64.powi(2)) / 4.0).sqrt(),
    );
    close(float(&row, "pkt_len_bwd_min"), 40.0);
    close(float(&row, "pkt_len_bwd_median"), 40.0);
    close(
        float(&row, "pkt_len_variance"),
        float(&row, "pkt_len_std").powi(2),
    );
    // Payloads fwd 10 0 3 0, bwd 20 2 0.
    close(float(&row, "payload_len_max"), 20.0);
    close(float(&row, "payload_len_fwd_mean"), 3.25);
    close(float(&row, "payload_len_bwd_mean"), 22.0 / 3.0);
    assert_eq!(
        (
            int(&row, "packets_with_payload_fwd"),
            int(&row, "packets_with_payload_bwd")
        ),
        (2, 2)
    );
    close(float(&row, "header_only_ratio"), 3.0 / 7.0);
    assert_eq!(
        (int(&row, "l7_pkt_min_fwd"), int(&row, "l7_pkt_max_fwd")),
        (3, 10)
    );
    assert_eq!(
        (int(&row, "l7_pkt_min_bwd"), int(&row, "l7_pkt_max_bwd")),
        (2, 20)
    );
    assert_eq!(int(&row, "l7_bytes_total"), 35);
    // 100 and 40 both appear twice; 100 came first.
    assert_eq!(int(&row, "dominant_pkt_size"), 100);
    close(float(&row, "dominant_pkt_ratio"), 2.0 / 7.0);
    close(float(&row, "pkt_asymmetry"), 1.0 / 7.0);
    close(float(&row, "byte_asymmetry"), (460.0 - 1580.0) / 2040.0);
}

/// A TCP flow's life: handshake, data with ECE, FIN from the responder, RST from the initiator.
fn tcp_life_cycle() -> Vec<(Packet<'static>, Dir)> {
    vec![
        (packet(0, Dir::Fwd, 60, b"", Some(tcp::SYN)), Dir::Fwd),
        (
            packet(1, Dir::Bwd, 60, b"", Some(tcp::SYN | tcp::ACK)),
            Dir::Bwd,
        ),
        (packet(2, Dir::Fwd, 52, b"", Some(tcp::ACK)), Dir::Fwd),
        (
            packet(
                3,
                Dir::Fwd,
                60,
                b"12345678",
                Some(tcp::ACK | tcp::PSH | tcp::ECE),
            ),
            Dir::Fwd,
        ),
        (
            packet(4, Dir::Bwd, 52, b"", Some(tcp::ACK | tcp::FIN)),
            Dir::Bwd,
        ),
        (packet(5, Dir::Fwd, 52, b"", Some(tcp::RST)), Dir::Fwd),
    ]
}

#[test]
fn tcp_flags_and_life_cycle() {
    let pkts = tcp_life_cycle();
    let row = row_of(&pkts, ipproto::TCP);
    assert!(boolean(&row, "tcp_is_tcp"));
    assert_eq!(
        (int(&row, "tcp_syn_count"), int(&row, "tcp_synack_count")),
        (1, 1)
    );
    assert_eq!(
        (
            int(&row, "tcp_ack_count"),
            int(&row, "tcp_psh_count"),
            int(&row, "tcp_ece_count")
        ),
        (4, 1, 1)
    );
    assert_eq!(
        (int(&row, "tcp_fin_count"), int(&row, "tcp_rst_count")),
        (1, 1)
    );
    assert!(boolean(&row, "tcp_initiator_syn"));
    assert!(boolean(&row, "tcp_responder_synack"));
    assert!(boolean(&row, "tcp_complete_handshake"));
    assert!(
        !boolean(&row, "tcp_graceful_close"),
        "only the responder sent FIN"
    );
    assert!(boolean(&row, "tcp_reset_close"));
    assert!(!boolean(&row, "tcp_flags_anomaly"));
    assert_eq!(int(&row, "tcp_ack_only_packets"), 1);
    assert_eq!(int(&row, "tcp_data_packets"), 1);
    close(float(&row, "tcp_syn_ratio"), 2.0 / 6.0);
    assert_eq!(
        int(&row, "tcp_flags_fwd"),
        i64::from(tcp::SYN | tcp::ACK | tcp::PSH | tcp::ECE | tcp::RST)
    );
    assert_eq!(
        int(&row, "tcp_flags_bwd"),
        i64::from(tcp::SYN | tcp::ACK | tcp::FIN)
    );
    // 0x01 initiator SYN, 0x02 responder SYN/ACK, 0x04 ACKs beyond the handshake, 0x10 responder FIN, 0x20 RST, 0x40 data.
    assert_eq!(
        int(&row, "tcp_fstat"),
        0x01 | 0x02 | 0x04 | 0x10 | 0x20 | 0x40
    );
    // flow_stat: SYN, SYN/ACK, FIN from responder, RST, and closed by RST after a handshake.
    assert_eq!(int(&row, "flow_stat"), 0x01 | 0x02 | 0x08 | 0x10 | 0x40);
}

#[test]
fn tcp_syn_from_the_responder_does_not_count_as_initiator_syn() {
    let pkts = vec![
        (packet(0, Dir::Bwd, 60, b"", Some(tcp::SYN)), Dir::Bwd),
        (
            packet(1, Dir::Fwd, 60, b"", Some(tcp::SYN | tcp::ACK)),
            Dir::Fwd,
        ),
    ];
    let row = row_of(&pkts, ipproto::TCP);
    assert!(!boolean(&row, "tcp_initiator_syn"));
    assert!(!boolean(&row, "tcp_responder_synack"));
    assert!(!boolean(&row, "tcp_complete_handshake"));
}

#[test]
fn tcp_anomalies() {
    for flags in [
        0,
        tcp::SYN | tcp::FIN,
        tcp::SYN | tcp::RST,
        tcp::FIN,
        tcp::FIN | tcp::PSH | tcp::URG | tcp::ACK,
    ] {
        let row = row_of(
            &[(packet(0, Dir::Fwd, 40, b"", Some(flags)), Dir::Fwd)],
            ipproto::TCP,
        );
        assert!(boolean(&row, "tcp_flags_anomaly"), "flags {flags:#x}");
        assert_eq!(int(&row, "tcp_fstat") & 0x80, 0x80);
    }
}

#[test]
fn non_tcp_flows_have_tcp_defaults() {
    let row = row_of(&sample(), ipproto::UDP);
    assert!(!boolean(&row, "tcp_is_tcp"));
    assert_eq!(int(&row, "tcp_fstat"), 0);
    close(float(&row, "tcp_syn_ratio"), 0.0);
    assert!(!boolean(&row, "tls_detected"));
    assert_eq!(string(&row, "ja3_hash"), "");
}

#[test]
fn capture_columns_describe_encapsulation() {
    let mut pkts = sample();
    pkts[0].0.tunnel = TunnelInfo {
        kind: TunnelKind::Vxlan,
        id: 4242,
    };
    pkts[0].0.link.vlan_count = 1;
    pkts[0].0.link.vlan_ids = [7, 0];
    for layer in [
        Layer::Ethernet,
        Layer::Ipv4,
        Layer::Udp,
        Layer::Vxlan,
        Layer::Ethernet,
        Layer::Ipv4,
        Layer::Udp,
    ] {
        pkts[0].0.layers.push(layer);
    }
    let row = row_of(&pkts, ipproto::UDP);
    assert_eq!(string(&row, "tunnel_type"), "vxlan");
    assert_eq!(int(&row, "tunnel_id"), 4242);
    assert_eq!(int(&row, "vlan_id"), 7);
    assert_eq!(string(&row, "hdr_desc"), "ETH-IP-UDP-VXLAN-ETH-IP-UDP");
    assert_eq!(int(&row, "num_hdrs"), 7);
}

#[test]
fn unknown_transport_is_named_by_number() {
    let mut p = packet(0, Dir::Fwd, 60, b"", None);
    p.ip.protocol = 50;
    p.layers.push(Layer::Ethernet);
    p.layers.push(Layer::Ipv4);
    let row = row_of(&[(p, Dir::Fwd)], 50);
    assert_eq!(string(&row, "hdr_desc"), "ETH-IP-PROTO50");
}

#[test]
fn disabled_groups_cost_nothing_and_write_defaults() {
    let mut f = FlowFeatures::default();
    for (p, d) in sample() {
        f.update(GroupSet::of(&[Group::FlowMeta]), &p, d);
    }
    let row = f.finish(&FlowIdentity {
        initiator: client(),
        responder: server(),
        protocol: 17,
        end_reason: FlowEndReason::Idle,
    });
    assert_eq!(int(&row, "total_packets"), 7);
    close(float(&row, "iat_mean"), 0.0);
    assert_eq!(f.heap_bytes(), 0);
}

#[test]
fn ip_extended_per_direction() {
    let mut pkts = sample();
    // Forward TTLs 60, 60, 59, 60; backward 120, 121, 120.
    for ((p, _), (ttl, tos, flags, ident)) in pkts.iter_mut().zip([
        (60, 0x28, 2, 65534),
        (120, 0x00, 2, 10),
        (60, 0x28, 2, 65535),
        (121, 0x01, 0, 11),
        (59, 0x28, 2, 2),
        (60, 0x28, 2, 3),
        (120, 0x00, 3, 3),
    ]) {
        p.ip.ttl = ttl;
        p.ip.tos = tos;
        p.ip.flags = flags;
        p.ip.ident = ident;
    }
    let row = row_of(&pkts, ipproto::UDP);
    assert_eq!(
        (int(&row, "ip_ttl_fwd_min"), int(&row, "ip_ttl_fwd_max")),
        (59, 60)
    );
    close(float(&row, "ip_ttl_fwd_mean"), 59.75);
    assert_eq!(int(&row, "ip_ttl_fwd_changes"), 1);
    assert_eq!(
        (int(&row, "ip_ttl_bwd_min"), int(&row, "ip_ttl_bwd_max")),
        (120, 121)
    );
    assert_eq!(int(&row, "ip_ttl_bwd_changes"), 1);
    assert_eq!(
        (
            int(&row, "ip_ttl_fwd_initial_est"),
            int(&row, "ip_ttl_fwd_hops_est")
        ),
        (64, 4)
    );
    assert_eq!(
        (int(&row, "ip_tos_value"), int(&row, "ip_tos_unique_count")),
        (0, 3)
    );
    assert_eq!((int(&row, "ip_dscp"), int(&row, "ip_ecn")), (0, 0));
    assert_eq!(int(&row, "ip_flags"), 3);
    assert_eq!(int(&row, "ip_df_count"), 6);
    close(float(&row, "ip_df_ratio"), 6.0 / 7.0);
    assert_eq!(int(&row, "ip_version"), 4);
    // IDs in arrival order: 65534, 10, 65535, 11, 2, 3, 3 -> steps 12, 65525, 12, 65527, 1, 0.
    assert_eq!(int(&row, "ip_id_gaps"), 4);
}

#[test]
fn ip_extended_ipv6_has_no_tos_flags_or_ids() {
    let mut pkts = sample();
    for (p, _) in &mut pkts {
        p.ip.version = 6;
        p.ip.ttl = 64;
        p.ip.tos = 0xb8;
        p.ip.ident = 0;
    }
    let row = row_of(&pkts, ipproto::UDP);
    assert_eq!(int(&row, "ip_version"), 6);
    assert_eq!(
        (
            int(&row, "ip_tos_value"),
            int(&row, "ip_tos_unique_count"),
            int(&row, "ip_df_count")
        ),
        (0, 0, 0)
    );
    assert_eq!(int(&row, "ip_id_gaps"), 0);
    assert_eq!(
        (
            int(&row, "ip_ttl_fwd_initial_est"),
            int(&row, "ip_ttl_fwd_hops_est")
        ),
        (64, 0)
    );
}

#[test]
fn tcp_window_per_direction() {
    let spec: [(Dir, u16, Option<u8>); 7] = [
        (Dir::Fwd, 64240, Some(7)),
        (Dir::Bwd, 65160, Some(9)),
        (Dir::Fwd, 502, None),
        (Dir::Bwd, 0, None),
        (Dir::Fwd, 502, None),
        (Dir::Fwd, 1000, Some(3)),
        (Dir::Bwd, 300, None),
    ];
    let pkts: Vec<_> = spec
        .iter()
        .enumerate()
        .map(|(i, &(dir, window, scale))| {
            let mut p = packet(i64::try_from(i).unwrap(), dir, 52, b"", Some(tcp::ACK));
            if let Some(t) = p.tcp.as_mut() {
                t.window = window;
                t.options.window_scale = scale;
            }
            (p, dir)
        })
        .collect();
    let row = row_of(&pkts, ipproto::TCP);
    assert_eq!(
        (int(&row, "tcp_init_win_fwd"), int(&row, "tcp_init_win_bwd")),
        (64240, 65160)
    );
    // The first scale option in each direction counts.
    assert_eq!(
        (
            int(&row, "tcp_win_scale_fwd"),
            int(&row, "tcp_win_scale_bwd")
        ),
        (7, 9)
    );
    assert_eq!(
        (int(&row, "tcp_win_fwd_min"), int(&row, "tcp_win_fwd_max")),
        (502, 64240)
    );
    close(
        float(&row, "tcp_win_fwd_mean"),
        (64240.0 + 502.0 + 502.0 + 1000.0) / 4.0,
    );
    assert_eq!(
        (
            int(&row, "tcp_win_bwd_min"),
            int(&row, "tcp_win_bwd_zero_count")
        ),
        (0, 1)
    );
    // Forward 64240 -> 502 (down), 502 -> 502 (same), 502 -> 1000 (up).
    assert_eq!(
        (
            int(&row, "tcp_win_fwd_up_count"),
            int(&row, "tcp_win_fwd_down_count"),
            int(&row, "tcp_win_fwd_change_count")
        ),
        (1, 1, 2)
    );
    // Backward 65160 -> 0 (down), 0 -> 300 (up).
    assert_eq!(
        (
            int(&row, "tcp_win_bwd_up_count"),
            int(&row, "tcp_win_bwd_down_count")
        ),
        (1, 1)
    );
    assert_eq!(int(&row, "tcp_scaled_win_fwd_max"), 64240 << 7);
    assert_eq!(int(&row, "tcp_scaled_win_bwd_max"), 65160 << 9);
    close(float(&row, "tcp_zero_win_ratio"), 1.0 / 7.0);
}

#[test]
fn tcp_window_without_scaling_or_tcp() {
    let row = row_of(&sample(), ipproto::UDP);
    assert_eq!(
        (
            int(&row, "tcp_init_win_fwd"),
            int(&row, "tcp_scaled_win_fwd_max")
        ),
        (0, 0)
    );
    close(float(&row, "tcp_zero_win_ratio"), 0.0);
}

#[test]
fn tcp_options_per_direction() {
    use crate::decode::tcp::TcpOptions;
    let opts = |mss, ws, sack_permitted, timestamp, sack_blocks| TcpOptions {
        mss,
        window_scale: ws,
        sack_permitted,
        timestamp,
        sack_blocks,
        ..TcpOptions::default()
    };
    let spec = [
        (
            Dir::Fwd,
            opts(Some(1460), Some(7), true, Some((u32::MAX - 5, 0)), 0),
        ),
        (
            Dir::Bwd,
            opts(Some(1400), None, true, Some((500, u32::MAX - 5)), 0),
        ),
        // A repeated MSS brings nothing new: not counted as carrying options.
        (Dir::Fwd, opts(Some(1460), None, false, None, 0)),
        (Dir::Fwd, opts(None, None, false, Some((10, 500)), 2)),
        (Dir::Bwd, opts(None, None, false, None, 0)),
    ];
    let pkts: Vec<_> = spec
        .iter()
        .enumerate()
        .map(|(i, &(dir, o))| {
            let mut p = packet(i64::try_from(i).unwrap(), dir, 52, b"", Some(tcp::ACK));
            if let Some(t) = p.tcp.as_mut() {
                t.options = o;
            }
            (p, dir)
        })
        .collect();
    let row = row_of(&pkts, ipproto::TCP);
    assert_eq!(
        (int(&row, "tcp_mss_fwd"), int(&row, "tcp_mss_bwd")),
        (1460, 1400)
    );
    assert_eq!((int(&row, "tcp_ws_fwd"), int(&row, "tcp_ws_bwd")), (7, 0));
    assert_eq!(
        (
            int(&row, "tcp_sack_permitted_fwd"),
            int(&row, "tcp_sack_permitted_bwd")
        ),
        (1, 1)
    );
    assert_eq!(int(&row, "tcp_sack_blocks_total"), 2);
    assert_eq!(int(&row, "tcp_ts_fwd_present"), 1);
    assert_eq!(int(&row, "tcp_ts_fwd_first"), i64::from(u32::MAX - 5));
    assert_eq!(int(&row, "tcp_ts_fwd_last"), 10);
    // The forward clock wrapped: 10 - (2^32 - 6) modulo 2^32.
    assert_eq!(int(&row, "tcp_ts_fwd_diff"), 16);
    assert_eq!(int(&row, "tcp_ts_ecr_bwd_first"), i64::from(u32::MAX - 5));
    assert_eq!(
        (int(&row, "tcp_ts_bwd_first"), int(&row, "tcp_ts_bwd_diff")),
        (500, 0)
    );
    assert_eq!(int(&row, "tcp_options_bitmap"), 0x0f);
    assert_eq!(int(&row, "tcp_options_pkt_count"), 3);
}

#[test]
fn mac_from_the_outermost_ethernet_header() {
    let a = [0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c];
    let b = [0x3c, 0xfd, 0xfe, 0x01, 0x02, 0x03];
    let mut pkts = sample();
    for (i, (p, dir)) in pkts.iter_mut().enumerate() {
        p.layers.push(Layer::Ethernet);
        p.link.ethertype = 0x8100;
        p.link.vlan_count = 1;
        p.link.vlan_ids = [if i == 6 { 5 } else { 7 }, 0];
        let (src, dst) = if *dir == Dir::Fwd { (a, b) } else { (b, a) };
        p.link.src_mac = Some(src);
        p.link.dst_mac = Some(match i {
            2 => [0xff; 6],
            3 => [0x01, 0x00, 0x5e, 0, 0, 1],
            _ => dst,
        });
    }
    let row = row_of(&pkts, ipproto::UDP);
    assert_eq!(string(&row, "mac_src"), "00:1b:21:0a:0b:0c");
    assert_eq!(string(&row, "mac_dst"), "3c:fd:fe:01:02:03");
    assert_eq!(int(&row, "mac_eth_type"), 0x8100);
    assert_eq!(
        (int(&row, "mac_vlan_id"), int(&row, "mac_vlan_count")),
        (5, 2)
    );
    assert_eq!(
        (
            int(&row, "mac_unique_src_count"),
            int(&row, "mac_unique_dst_count")
        ),
        (2, 4)
    );
    assert_eq!(int(&row, "mac_stat"), 0x01 | 0x02 | 0x04 | 0x08 | 0x10);
    assert_eq!(
        (
            int(&row, "mac_broadcast_count"),
            int(&row, "mac_multicast_count")
        ),
        (1, 1)
    );
}

#[test]
fn mac_is_empty_without_ethernet() {
    let mut pkts = sample();
    for (p, _) in &mut pkts {
        p.layers.push(Layer::LinuxSll);
        p.link.src_mac = Some([2, 0, 0, 0, 0, 1]);
    }
    let row = row_of(&pkts, ipproto::UDP);
    assert_eq!(string(&row, "mac_src"), "");
    assert_eq!(
        (
            int(&row, "mac_eth_type"),
            int(&row, "mac_stat"),
            int(&row, "mac_unique_src_count")
        ),
        (0, 0, 0)
    );
}

#[test]
fn icmp_echo_exchange() {
    use crate::decode::IcmpInfo;
    let spec: [(Dir, u8, u8, u16, u16); 6] = [
        (Dir::Fwd, 8, 0, 7, 1),
        (Dir::Bwd, 0, 0, 7, 1),
        (Dir::Fwd, 8, 0, 7, 2),
        (Dir::Fwd, 8, 0, 9, 5),
        (Dir::Bwd, 3, 1, 0, 0),
        (Dir::Bwd, 3, 3, 0, 0),
    ];
    let pkts: Vec<_> = spec
        .iter()
        .enumerate()
        .map(|(i, &(dir, icmp_type, code, ident, seq))| {
            let mut p = packet(i64::try_from(i).unwrap(), dir, 84, b"", None);
            p.ip.protocol = ipproto::ICMP;
            p.icmp = Some(IcmpInfo {
                icmp_type,
                code,
                ident,
                seq,
            });
            (p, dir)
        })
        .collect();
    let row = row_of(&pkts, ipproto::ICMP);
    assert_eq!(int(&row, "icmp_packet_count"), 6);
    assert_eq!(
        (
            int(&row, "icmp_echo_request_count"),
            int(&row, "icmp_echo_reply_count")
        ),
        (3, 1)
    );
    assert_eq!(int(&row, "icmp_dest_unreachable_count"), 2);
    assert_eq!(int(&row, "icmp_unique_type_codes"), 4);
    assert_eq!(
        (
            int(&row, "icmp_dominant_type"),
            int(&row, "icmp_dominant_type_count")
        ),
        (8, 3)
    );
    close(float(&row, "icmp_echo_success_ratio"), 1.0 / 3.0);
    // Destination-unreachable messages carry no identifier or sequence number.
    assert_eq!(int(&row, "icmp_unique_ids"), 2);
    assert_eq!(
        (
            int(&row, "icmp_seq_min"),
            int(&row, "icmp_seq_max"),
            int(&row, "icmp_seq_gaps")
        ),
        (1, 5, 1)
    );
    assert_eq!(int(&row, "icmp_stat"), 0x01 | 0x02 | 0x04);
    assert_eq!(int(&row, "is_icmp_only"), 1);
    let udp = row_of(&sample(), ipproto::UDP);
    assert_eq!(
        (int(&udp, "icmp_dominant_type"), int(&udp, "is_icmp_only")),
        (-1, 0)
    );
}

/// "example.org A" as a query (id 7) or as a response with one answer of TTL 120.
fn dns_message(response: bool) -> Vec<u8> {
    let mut m = vec![
        0,
        7,
        if response { 0x81 } else { 0x01 },
        if response { 0x83 } else { 0 },
        0,
        1,
        0,
        u8::from(response),
        0,
        0,
        0,
        0,
    ];
    m.extend_from_slice(b"\x07example\x03org\x00\x00\x01\x00\x01");
    if response {
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 120, 0, 4, 192, 0, 2, 1]);
    }
    m
}

fn dns_packet(
    ts: i64,
    dir: Dir,
    payload: &'static [u8],
    protocol: u8,
    seq: u32,
) -> (Packet<'static>, Dir) {
    let mut p = packet(
        ts,
        dir,
        60,
        payload,
        (protocol == ipproto::TCP).then_some(tcp::ACK | tcp::PSH),
    );
    // The responder is the DNS server here.
    if dir == Dir::Fwd {
        p.dst_port = 53;
    } else {
        p.src_port = 53;
    }
    if let Some(t) = p.tcp.as_mut() {
        t.seq = seq;
    }
    (p, dir)
}

#[test]
fn dns_over_udp_takes_query_and_response() {
    let query: &'static [u8] = Box::leak(dns_message(false).into_boxed_slice());
    let response: &'static [u8] = Box::leak(dns_message(true).into_boxed_slice());
    let pkts = vec![
        dns_packet(0, Dir::Fwd, query, ipproto::UDP, 0),
        dns_packet(1, Dir::Bwd, response, ipproto::UDP, 0),
    ];
    let row = row_of(&pkts, ipproto::UDP);
    assert!(boolean(&row, "dns_detected"));
    assert_eq!(string(&row, "dns_query_name"), "example.org");
    assert_eq!(
        (
            int(&row, "dns_query_type"),
            string(&row, "dns_query_type_str")
        ),
        (1, "A".to_string())
    );
    assert_eq!(
        (
            int(&row, "dns_response_code"),
            string(&row, "dns_response_code_str")
        ),
        (3, "NXDOMAIN".to_string())
    );
    assert_eq!(
        (
            int(&row, "dns_answer_count"),
            int(&row, "dns_min_ttl"),
            int(&row, "dns_max_ttl")
        ),
        (1, 120, 120)
    );
    assert!(boolean(&row, "dns_is_query") && boolean(&row, "dns_is_response"));
    assert!(boolean(&row, "dns_recursion_desired") && boolean(&row, "dns_recursion_available"));
    // Only the query: no response fields.
    let row = row_of(&pkts[..1], ipproto::UDP);
    assert_eq!(
        (int(&row, "dns_response_code"), int(&row, "dns_max_ttl")),
        (-1, 0)
    );
    assert!(!boolean(&row, "dns_is_response"));
}

#[test]
fn dns_over_tcp_is_reassembled() {
    let mut framed = Vec::new();
    let message = dns_message(true);
    framed.extend_from_slice(&u16::try_from(message.len()).unwrap().to_be_bytes());
    framed.extend_from_slice(&message);
    let framed: &'static [u8] = Box::leak(framed.into_boxed_slice());
    let (a, b) = framed.split_at(5);
    // The server's SYN/ACK fixes where its stream starts; then the second half arrives first.
    let mut synack = dns_packet(0, Dir::Bwd, b"", ipproto::TCP, 999);
    if let Some(t) = synack.0.tcp.as_mut() {
        t.flags = tcp::SYN | tcp::ACK;
    }
    let pkts = vec![
        synack,
        dns_packet(0, Dir::Bwd, b, ipproto::TCP, 1005),
        dns_packet(1, Dir::Bwd, a, ipproto::TCP, 1000),
    ];
    let row = row_of(&pkts, ipproto::TCP);
    assert!(boolean(&row, "dns_is_response"));
    assert_eq!(
        (string(&row, "dns_query_name"), int(&row, "dns_min_ttl")),
        ("example.org".to_string(), 120)
    );
    // Not port 53: not DNS.
    let mut other = pkts.clone();
    for (p, _) in &mut other {
        p.src_port = 5353;
    }
    assert!(!boolean(&row_of(&other, ipproto::TCP), "dns_detected"));
}

#[test]
fn mptcp_capable_handshake_and_join_subflow() {
    let seg = |ts, dir, flags, subtype| {
        let mut p = packet(ts, dir, 60, b"", Some(flags));
        if let Some(t) = p.tcp.as_mut() {
            t.options.mptcp_subtype = subtype;
        }
        (p, dir)
    };
    let main = vec![
        seg(0, Dir::Fwd, tcp::SYN, Some(0)),
        seg(1, Dir::Bwd, tcp::SYN | tcp::ACK, Some(0)),
        seg(2, Dir::Fwd, tcp::ACK, Some(2)),
        seg(3, Dir::Bwd, tcp::ACK, None),
    ];
    let row = row_of(&main, ipproto::TCP);
    assert_eq!(
        (int(&row, "mptcp_detected"), int(&row, "mptcp_option_count")),
        (1, 3)
    );
    assert_eq!(
        (
            int(&row, "mptcp_capable_fwd"),
            int(&row, "mptcp_capable_bwd")
        ),
        (1, 1)
    );
    assert_eq!((int(&row, "mptcp_stat"), int(&row, "is_mptcp")), (0x0f, 1));
    let join = vec![
        seg(0, Dir::Fwd, tcp::SYN, Some(1)),
        seg(1, Dir::Bwd, tcp::SYN | tcp::ACK, Some(1)),
    ];
    let row = row_of(&join, ipproto::TCP);
    assert_eq!(
        (
            int(&row, "mptcp_detected"),
            int(&row, "mptcp_capable_fwd"),
            int(&row, "is_mptcp")
        ),
        (1, 0, 0)
    );
}

#[test]
fn tcp_sequence_retransmissions_gaps_and_reordering() {
    let seg = |ts, dir, flags, seq: u32, ack: u32, payload: &'static [u8]| {
        let mut p = packet(
            ts,
            dir,
            40 + u32::try_from(payload.len()).unwrap(),
            payload,
            Some(flags),
        );
        if let Some(t) = p.tcp.as_mut() {
            t.seq = seq;
            t.ack = ack;
        }
        (p, dir)
    };
    let pkts = vec![
        seg(0, Dir::Fwd, tcp::SYN, 100, 0, b""),
        seg(1, Dir::Bwd, tcp::SYN | tcp::ACK, 900, 101, b""),
        // A bare ACK takes no sequence space: the data after it at the same number is in order.
        seg(2, Dir::Fwd, tcp::ACK, 101, 901, b""),
        seg(3, Dir::Fwd, tcp::ACK, 101, 901, b"abcd"),
        // 105..109 is missing: a gap; then the retransmission-free late segment is out of order.
        seg(4, Dir::Fwd, tcp::ACK, 109, 901, b"ijkl"),
        seg(5, Dir::Fwd, tcp::ACK, 105, 901, b"efgh"),
        // The first data segment again: a retransmission.
        seg(6, Dir::Fwd, tcp::ACK, 101, 901, b"abcd"),
        seg(7, Dir::Bwd, tcp::ACK, 901, 113, b""),
        seg(8, Dir::Bwd, tcp::ACK, 901, 113, b""),
    ];
    let row = row_of(&pkts, ipproto::TCP);
    assert_eq!(
        (int(&row, "tcp_isn_fwd"), int(&row, "tcp_isn_bwd")),
        (100, 900)
    );
    assert_eq!(int(&row, "tcp_seq_fwd_bytes_sent"), 12);
    assert_eq!(int(&row, "tcp_seq_fwd_retrans"), 1);
    assert_eq!(int(&row, "tcp_seq_fwd_gaps"), 1);
    assert_eq!(int(&row, "tcp_seq_fwd_ooo"), 2);
    assert_eq!(
        (int(&row, "tcp_seq_bwd_gaps"), int(&row, "tcp_seq_bwd_ooo")),
        (0, 0)
    );
    assert_eq!(
        (int(&row, "tcp_ack_fwd_count"), int(&row, "tcp_ack_fwd_dup")),
        (6, 4)
    );
    assert_eq!(
        (int(&row, "tcp_ack_bwd_count"), int(&row, "tcp_ack_bwd_dup")),
        (3, 1)
    );
    assert_eq!(
        (
            int(&row, "tcp_total_retrans"),
            int(&row, "tcp_total_ooo"),
            int(&row, "tcp_total_dup_acks")
        ),
        (1, 2, 5)
    );
    close(float(&row, "tcp_retrans_ratio"), 1.0 / 9.0);
}

#[test]
fn tcp_rtt_from_handshake_timestamps_and_acks() {
    let seg =
        |ms, dir, flags, seq: u32, ack: u32, ts: Option<(u32, u32)>, payload: &'static [u8]| {
            let mut p = packet(ms, dir, 52, payload, Some(flags));
            if let Some(t) = p.tcp.as_mut() {
                t.seq = seq;
                t.ack = ack;
                t.options.timestamp = ts;
            }
            (p, dir)
        };
    let pkts = vec![
        seg(0, Dir::Fwd, tcp::SYN, 10, 0, Some((1000, 0)), b""),
        seg(
            40,
            Dir::Bwd,
            tcp::SYN | tcp::ACK,
            50,
            11,
            Some((7000, 1000)),
            b"",
        ),
        seg(41, Dir::Fwd, tcp::ACK, 11, 51, Some((1001, 7000)), b""),
        seg(50, Dir::Fwd, tcp::ACK, 11, 51, Some((1002, 7000)), b"hello"),
        seg(110, Dir::Bwd, tcp::ACK, 51, 16, Some((7001, 1002)), b""),
    ];
    let row = row_of(&pkts, ipproto::TCP);
    close(float(&row, "tcp_rtt_handshake"), 0.041);
    // Echoes: 1000 after 40 ms, 7000 after 1 ms and after 10 ms, 1002 after 60 ms.
    assert_eq!(int(&row, "tcp_rtt_samples"), 4);
    close(float(&row, "tcp_rtt_min"), 0.001);
    close(float(&row, "tcp_rtt_max"), 0.060);
    close(float(&row, "tcp_rtt_mean"), 0.111 / 4.0);
    close(
        float(&row, "tcp_rtt_jitter_avg"),
        (0.039 + 0.009 + 0.050) / 3.0,
    );
    // "hello" (ending at 16) was acknowledged 60 ms later.
    close(float(&row, "tcp_rtt_ack_min"), 0.060);
    close(float(&row, "tcp_rtt_ack_mean"), 0.060);
    let partial = row_of(&pkts[..2], ipproto::TCP);
    close(float(&partial, "tcp_rtt_handshake"), 0.080);
}

#[test]
fn entropy_of_the_payload_sample() {
    let fwd: &'static [u8] = Box::leak(vec![b'a'; 300].into_boxed_slice());
    let bwd: &'static [u8] = Box::leak((0u8..=255).collect::<Vec<_>>().into_boxed_slice());
    let pkts = vec![
        (packet(0, Dir::Fwd, 340, fwd, None), Dir::Fwd),
        (packet(1, Dir::Bwd, 296, bwd, None), Dir::Bwd),
        (packet(2, Dir::Bwd, 296, bwd, None), Dir::Bwd),
    ];
    let row = row_of(&pkts, ipproto::UDP);
    // 256 bytes per direction: 'a' only forward, every value once backward.
    assert_eq!(int(&row, "payload_bytes_sampled"), 512);
    close(float(&row, "entropy_initiator"), 0.0);
    close(float(&row, "entropy_responder"), 8.0);
    close(float(&row, "entropy_ratio"), 0.0);
    // All: 'a' 257 times, the 255 other values once: p = 257/512 and 1/512.
    let expected = -(257.0f64 / 512.0) * (257.0f64 / 512.0).log2()
        - 255.0 * (1.0f64 / 512.0) * (1.0f64 / 512.0).log2();
    close(float(&row, "entropy_payload"), expected);
    close(float(&row, "printable_ratio"), (256.0 + 98.0) / 512.0);
    close(float(&row, "null_ratio"), 1.0 / 512.0);
    close(float(&row, "high_byte_ratio"), 128.0 / 512.0);
    let only_fwd = row_of(&pkts[..1], ipproto::UDP);
    assert!(float(&only_fwd, "entropy_ratio") == 0.0);
    let mixed: &'static [u8] = b"ab";
    let row = row_of(
        &[(packet(0, Dir::Fwd, 42, mixed, None), Dir::Fwd)],
        ipproto::UDP,
    );
    assert!(float(&row, "entropy_ratio").is_infinite());
}

#[test]
fn ipv6_options_and_extension_headers() {
    let mut pkts = sample();
    for (i, (p, _)) in pkts.iter_mut().enumerate() {
        p.ip.version = 6;
        p.ip.flow_label = if i < 4 { 0x5_5555 } else { 0x1_2345 };
        p.ip.tos = if i == 0 { 0xb9 } else { 0xb8 };
        p.ip.ext_headers = if i == 2 { 1 | 4 } else { 0 };
    }
    let row = row_of(&pkts, ipproto::UDP);
    assert_eq!(
        (
            int(&row, "ipv6_packet_count"),
            int(&row, "ipv4_packet_count")
        ),
        (7, 0)
    );
    assert_eq!(
        (
            int(&row, "ipv6_flow_label"),
            int(&row, "ipv6_flow_label_unique_count")
        ),
        (0x1_2345, 2)
    );
    assert_eq!(int(&row, "ipv6_flow_label_changes"), 1);
    assert_eq!(
        (
            int(&row, "ipv6_traffic_class"),
            int(&row, "ipv6_traffic_class_unique_count")
        ),
        (0xb8, 2)
    );
    assert_eq!((int(&row, "ipv6_dscp"), int(&row, "ipv6_ecn")), (46, 0));
    close(float(&row, "ipv6_ratio"), 1.0);
    assert_eq!(int(&row, "is_ipv6_only"), 1);
    assert_eq!(
        (
            int(&row, "ipv6_ext_header_types"),
            int(&row, "ipv6_ext_header_packets")
        ),
        (5, 1)
    );
    let v4 = row_of(&sample(), ipproto::UDP);
    assert_eq!(
        (
            int(&v4, "ipv4_packet_count"),
            int(&v4, "is_ipv6_only"),
            int(&v4, "ipv6_traffic_class")
        ),
        (7, 0, 0)
    );
}

#[test]
fn tcp_fingerprint_of_syn_and_synack() {
    let seg = |ms, dir, flags, window, ttl, mss, ws, ts: Option<(u32, u32)>| {
        let mut p = packet(ms, dir, 60, b"", Some(flags));
        p.ip.ttl = ttl;
        if let Some(t) = p.tcp.as_mut() {
            t.window = window;
            t.options.mss = mss;
            t.options.window_scale = ws;
            t.options.sack_permitted = true;
            t.options.timestamp = ts;
        }
        (p, dir)
    };
    let pkts = vec![
        seg(
            0,
            Dir::Fwd,
            tcp::SYN,
            29200,
            63,
            Some(1460),
            Some(7),
            Some((360_000, 0)),
        ),
        seg(
            1,
            Dir::Bwd,
            tcp::SYN | tcp::ACK,
            8192,
            120,
            Some(1400),
            None,
            None,
        ),
    ];
    let row = row_of(&pkts, ipproto::TCP);
    let digest = crate::stream::tls::md5_hex("29200_63_1460_7_3");
    assert_eq!(
        string(&row, "tcp_fp_fwd"),
        format!("t29200_1460_7_{}", &digest[..12])
    );
    assert_eq!(string(&row, "tcp_os_hint_fwd"), "linux");
    assert_eq!(string(&row, "tcp_os_hint_bwd"), "windows");
    close(float(&row, "tcp_uptime_fwd"), 1.0);
    close(float(&row, "tcp_uptime_bwd"), 0.0);
    assert_eq!(
        (
            int(&row, "tcp_fp_fwd_window"),
            int(&row, "tcp_fp_fwd_ttl"),
            int(&row, "tcp_fp_fwd_mss"),
            int(&row, "tcp_fp_fwd_ws")
        ),
        (29200, 63, 1460, 7)
    );
    assert_eq!(
        (int(&row, "tcp_fp_bwd_window"), int(&row, "tcp_fp_bwd_ws")),
        (8192, 0)
    );
    let none = row_of(&sample(), ipproto::UDP);
    assert_eq!(
        (
            string(&none, "tcp_fp_fwd"),
            string(&none, "tcp_os_hint_fwd")
        ),
        (String::new(), "unknown".to_string())
    );
}

#[test]
fn padding_of_constant_tor_like_cells() {
    let payload: &'static [u8] = Box::leak(vec![0u8; 534].into_boxed_slice());
    let pkts: Vec<_> = (0..10)
        .map(|i| {
            let dir = if i % 2 == 0 { Dir::Fwd } else { Dir::Bwd };
            (packet(i * 100, dir, 586, payload, None), dir)
        })
        .collect();
    let row = row_of(&pkts, ipproto::UDP);
    close(float(&row, "pkt_size_variance"), 0.0);
    assert!(boolean(&row, "is_constant_size"));
    assert_eq!(
        (
            int(&row, "dominant_size_mode"),
            int(&row, "unique_size_count")
        ),
        (586, 1)
    );
    close(float(&row, "size_entropy"), 0.0);
    assert!(boolean(&row, "is_constant_rate"));
    assert_eq!(int(&row, "tor_cell_count"), 10);
    assert!(boolean(&row, "is_tor_like"));
    // Every packet is its own burst (100 ms apart): 534 of 586 bytes are payload.
    assert_eq!(int(&row, "burst_overhead_bytes"), 520);
    close(float(&row, "avg_burst_payload_efficiency"), 534.0 / 586.0);
    close(float(&row, "padding_score"), 1.0);
    let mixed = row_of(&sample(), ipproto::UDP);
    assert!(!boolean(&mixed, "is_constant_size"));
    assert_eq!(int(&mixed, "dominant_size_mode"), 100);
}

#[test]
fn fingerprint_vpn_and_traffic_types() {
    // WireGuard: UDP to 51820, mostly full-size packets.
    let wg: Vec<_> = (0..4)
        .map(|i| {
            let dir = if i % 2 == 0 { Dir::Fwd } else { Dir::Bwd };
            let mut p = packet(i, dir, 1420, b"", None);
            if dir == Dir::Fwd {
                p.dst_port = 51820;
            } else {
                p.src_port = 51820;
            }
            (p, dir)
        })
        .collect();
    let mut f = FlowFeatures::default();
    for (p, d) in &wg {
        f.update(GroupSet::ALL, p, *d);
    }
    let identity = FlowIdentity {
        initiator: client(),
        responder: (server().0, 51820),
        protocol: ipproto::UDP,
        end_reason: FlowEndReason::Idle,
    };
    let row = f.finish(&identity);
    assert!(boolean(&row, "likely_vpn"));
    close(float(&row, "vpn_confidence"), 0.7);
    assert_eq!(string(&row, "vpn_type"), "wireguard");
    assert_eq!(string(&row, "traffic_type"), "vpn:wireguard");

    // Printable payload: plain. No payload: unknown.
    let text: &'static [u8] = b"GET /index.html HTTP/1.1\r\nHost: example.org\r\n\r\n";
    let plain = row_of(
        &[(packet(0, Dir::Fwd, 90, text, None), Dir::Fwd)],
        ipproto::UDP,
    );
    assert_eq!(string(&plain, "traffic_type"), "plain");
    let empty = row_of(
        &[(packet(0, Dir::Fwd, 40, b"", None), Dir::Fwd)],
        ipproto::UDP,
    );
    assert_eq!(string(&empty, "traffic_type"), "unknown");
    // A high-entropy sample: encrypted.
    let noise: &'static [u8] = Box::leak(
        (0..256u32)
            .map(|i| u8::try_from((i * 167 + 13) % 256).unwrap())
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let cipher = row_of(
        &[(packet(0, Dir::Fwd, 296, noise, None), Dir::Fwd)],
        ipproto::UDP,
    );
    assert_eq!(string(&cipher, "traffic_type"), "encrypted");
}

#[test]
fn fingerprint_needs_the_groups_it_reads() {
    let set = GroupSet::of(&[Group::Fingerprint]);
    for g in [
        Group::Size,
        Group::Tls,
        Group::Ssh,
        Group::Dns,
        Group::Entropy,
        Group::Fingerprint,
    ] {
        assert!(set.contains(g), "{}", g.name());
    }
    assert!(!set.contains(Group::Timing));
}

proptest::proptest! {
    #[test]
    fn addresses_are_written_as_they_display(v4 in proptest::num::u32::ANY, v6 in proptest::num::u128::ANY) {
        use std::net::{Ipv4Addr, Ipv6Addr};
        // Every field width of a dotted quad, and any IPv6 address.
        for ip in [
            IpAddr::V4(Ipv4Addr::from(v4)),
            IpAddr::V4(Ipv4Addr::new(0, 9, 10, 99)),
            IpAddr::V4(Ipv4Addr::new(100, 199, 200, 255)),
            IpAddr::V6(Ipv6Addr::from(v6)),
        ] {
            let mut row = Row::default();
            row.str_ip(ip);
            proptest::prop_assert_eq!(row.text_of(0), ip.to_string());
        }
    }
}

proptest::proptest! {
    /// Addresses are written as the standard library writes them: zero runs of every length and
    /// place (groups drawn mostly from 0 and 1), IPv4-mapped and -compatible forms.
    #[test]
    fn ipv6_text_equals_display(
        groups in proptest::array::uniform8(proptest::prop_oneof![
            3 => proptest::strategy::Just(0u16),
            1 => proptest::strategy::Just(1u16),
            1 => proptest::strategy::Just(0xffffu16),
            2 => proptest::num::u16::ANY,
        ]),
    ) {
        let v6 = std::net::Ipv6Addr::from(groups);
        let mut text = String::from("x");
        push_ipv6(&mut text, v6);
        proptest::prop_assert_eq!(&text[1..], v6.to_string());
    }
}

#[test]
fn ipv6_text_of_special_addresses() {
    for s in [
        "::",
        "::1",
        "::ffff:10.0.0.1",
        "::10.0.0.1",
        "1::",
        "2001:db8::1:0:0:1",
        "fe80::1",
    ] {
        let v6: std::net::Ipv6Addr = s.parse().unwrap();
        let mut text = String::new();
        push_ipv6(&mut text, v6);
        assert_eq!(text, v6.to_string(), "{s}");
    }
}

#[test]
fn a_recycled_higher_tier_state_starts_like_a_new_one() {
    let identity = FlowIdentity {
        initiator: client(),
        responder: server(),
        protocol: ipproto::UDP,
        end_reason: FlowEndReason::Fin,
    };
    let record = |features: &mut FlowFeatures| {
        let mut row = Row::default();
        features.finish_into(GroupSet::ALL, &identity, &mut row);
        row
    };
    let feed = |features: &mut FlowFeatures, pkts: &[(Packet<'static>, Dir)]| {
        for (p, d) in pkts {
            features.update(GroupSet::ALL, p, *d);
        }
    };
    // A flow that leaves state behind in many groups (payload sampled both ways, lengths,
    // TTLs, MAC sets), recycled once its record is written.
    let long: Vec<_> = sample().into_iter().cycle().take(70).collect();
    let mut ended = FlowFeatures::default();
    feed(&mut ended, &long);
    let _ = record(&mut ended);
    ended.recycle();
    assert_eq!(
        SPARE_HIGHER.with_borrow(Vec::len),
        1,
        "kept for the next flow"
    );
    // The next flow takes it, and its record is that of a flow on a new state.
    let short = &sample()[..3];
    let mut next = FlowFeatures::default();
    feed(&mut next, short);
    assert_eq!(
        SPARE_HIGHER.with_borrow(Vec::len),
        0,
        "taken by the next flow"
    );
    let mut fresh = FlowFeatures::default();
    feed(&mut fresh, short);
    let (recycled, new) = (record(&mut next), record(&mut fresh));
    assert_eq!(recycled.words, new.words);
    assert_eq!(recycled.text, new.text);
    // However many flows end at once, the thread keeps a bounded number.
    let mut many: Vec<FlowFeatures> = (0..2 * MAX_SPARE_HIGHER)
        .map(|_| {
            let mut f = FlowFeatures::default();
            feed(&mut f, short);
            f
        })
        .collect();
    for f in &mut many {
        f.recycle();
    }
    assert_eq!(SPARE_HIGHER.with_borrow(Vec::len), MAX_SPARE_HIGHER);
}

/// Records built together, group by group, are the records built one by one: for flows of
/// either transport, long and short, with and without the higher tiers, in one batch.
#[test]
fn records_built_together_equal_records_built_one_by_one() {
    let core = GroupSet::of(&[
        Group::FlowMeta,
        Group::Timing,
        Group::Size,
        Group::Tcp,
        Group::Tls,
    ]);
    let flows = [
        (sample(), GroupSet::ALL, ipproto::UDP),
        (tcp_life_cycle(), GroupSet::ALL, ipproto::TCP),
        (
            sample().into_iter().cycle().take(70).collect(),
            GroupSet::ALL,
            ipproto::UDP,
        ),
        (tcp_life_cycle(), core, ipproto::TCP),
        (sample()[..1].to_vec(), GroupSet::ALL, ipproto::UDP),
        (sample(), core, ipproto::UDP),
    ];
    let identity = |protocol| FlowIdentity {
        initiator: client(),
        responder: server(),
        protocol,
        end_reason: FlowEndReason::Fin,
    };
    let fed = |groups: GroupSet, pkts: &[(Packet<'static>, Dir)]| {
        let mut features = FlowFeatures::default();
        for (p, d) in pkts {
            features.update(groups, p, *d);
        }
        features
    };
    let one_by_one: Vec<Row> = flows
        .iter()
        .map(|(pkts, groups, protocol)| {
            let mut row = Row::default();
            fed(*groups, pkts).finish_into(*groups, &identity(*protocol), &mut row);
            row
        })
        .collect();
    let mut states: Vec<FlowFeatures> = flows.iter().map(|(p, g, _)| fed(*g, p)).collect();
    let mut rows: Vec<Row> = flows.iter().map(|_| Row::default()).collect();
    let mut jobs: Vec<RecordJob<'_>> = states
        .iter_mut()
        .zip(rows.iter_mut())
        .zip(&flows)
        .map(|((features, row), (_, groups, protocol))| RecordJob {
            features,
            flow: identity(*protocol),
            groups: *groups,
            row,
        })
        .collect();
    FlowFeatures::finish_all(&mut jobs);
    drop(jobs);
    for (i, (alone, together)) in one_by_one.iter().zip(&rows).enumerate() {
        assert_eq!(alone.words, together.words, "flow {i}");
        assert_eq!(alone.text, together.text, "flow {i}");
    }
    assert_ne!(rows[0].words, rows[5].words, "the flows differ");
}
