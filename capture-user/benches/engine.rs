//! Per-component micro-benchmarks: decoding, the flow table at 10 thousand and 1 million flows,
//! the feature update path, each feature group over the shared corpus, and record encoding.
//!
//! Run with `cargo bench -p capture-user`. The end-to-end figure is `cargo xtask bench offline`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use capture::decode::{decode_frame, ipproto, tcp, LinkType, Packet, TcpInfo};
use capture::engine::Engine;
use capture::features::{Dir, FlowFeatures, Group, GroupSet, Row};
use capture::flow::{FlowConfig, FlowTable};
use capture::input::{CaptureFile, Frame};
use capture::output::{open_sink, Columns, Destination, Format};
use capture::reassembly::ReassemblyLimits;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

fn tcp_frame(payload: usize) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    let total = u16::try_from(40 + payload).unwrap_or(u16::MAX);
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        6,
        0,
        0,
        10,
        0,
        0,
        1,
        10,
        0,
        0,
        2,
    ]);
    f.extend_from_slice(&[
        0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
    ]);
    f.resize(f.len() + payload, 0xab);
    f
}

fn vxlan_frame() -> Vec<u8> {
    let inner = tcp_frame(100);
    let udp_len = u16::try_from(8 + 8 + inner.len()).unwrap_or(u16::MAX);
    let ip_len = 20 + udp_len;
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    f.extend_from_slice(&[
        0x45,
        0,
        (ip_len >> 8) as u8,
        ip_len as u8,
        0,
        1,
        0x40,
        0,
        64,
        17,
        0,
        0,
        172,
        16,
        0,
        1,
        172,
        16,
        0,
        2,
    ]);
    f.extend_from_slice(&[
        0xc3,
        0x50,
        0x12,
        0xb5,
        (udp_len >> 8) as u8,
        udp_len as u8,
        0,
        0,
    ]);
    f.extend_from_slice(&[0x08, 0, 0, 0, 0, 0x30, 0x39, 0]);
    f.extend_from_slice(&inner);
    f
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    for (name, frame) in [
        ("eth_ipv4_tcp", tcp_frame(200)),
        ("vxlan_inner_tcp", vxlan_frame()),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut p = Packet::default();
                let _ = decode_frame(LinkType::Ethernet, black_box(&frame), &mut p);
                black_box(p.dst_port)
            });
        });
    }
    g.finish();
}

/// Packet `i` of `flows` distinct TCP conversations.
fn packet(i: u64, flows: u64) -> Packet<'static> {
    let f = i % flows;
    let mut p = Packet {
        ts_ns: i64::try_from(i).unwrap_or(0) * 1_000,
        ..Packet::default()
    };
    p.ip.version = 4;
    p.ip.src = IpAddr::V4(Ipv4Addr::from(
        0x0a00_0000 | u32::try_from(f >> 16).unwrap_or(0),
    ));
    p.ip.dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    p.ip.protocol = ipproto::TCP;
    p.ip.total_len = 100;
    p.src_port = u16::try_from(f & 0xffff).unwrap_or(0);
    p.dst_port = 443;
    p.tcp = Some(TcpInfo {
        flags: tcp::ACK,
        ..TcpInfo::default()
    });
    p
}

fn flow_table(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow_table");
    g.throughput(Throughput::Elements(1));
    for flows in [10_000u64, 1_000_000] {
        // Lookup and update of flows that already exist.
        let mut table = FlowTable::new(FlowConfig {
            max_flows: 2_000_000,
            ..FlowConfig::default()
        });
        let mut sink = |_| {};
        for i in 0..flows {
            table.process(&packet(i, flows), &mut sink);
        }
        eprintln!(
            "flow_table: {flows} flows hold {} bytes, {} bytes per flow",
            table.memory_bytes(),
            table.memory_bytes() / usize::try_from(flows).unwrap_or(1)
        );
        let mut i = flows;
        g.bench_function(format!("update_existing/{flows}"), |b| {
            b.iter(|| {
                table.process(black_box(&packet(i, flows)), &mut sink);
                i += 1;
            });
        });
        // Insert of a new flow into a table holding `flows` flows (the oldest is evicted).
        let mut table = FlowTable::new(FlowConfig {
            max_flows: usize::try_from(flows).unwrap_or(usize::MAX),
            ..FlowConfig::default()
        });
        for i in 0..flows {
            table.process(&packet(i, u64::MAX), &mut sink);
        }
        let mut n = flows;
        g.bench_function(format!("insert_evict/{flows}"), |b| {
            b.iter(|| {
                table.process(black_box(&packet(n, u64::MAX)), &mut sink);
                n += 1;
            });
        });
    }
    g.finish();
}

fn extractors(c: &mut Criterion) {
    let mut g = c.benchmark_group("extractors");
    // One iteration feeds 32 packets to a fresh flow.
    g.throughput(Throughput::Elements(32));
    let p = packet(1, 1);
    for (name, groups) in [
        (
            "flow_meta",
            GroupSet::of(&[capture::features::Group::FlowMeta]),
        ),
        ("timing", GroupSet::of(&[capture::features::Group::Timing])),
        ("size", GroupSet::of(&[capture::features::Group::Size])),
        ("tcp", GroupSet::of(&[capture::features::Group::Tcp])),
        ("tls", GroupSet::of(&[capture::features::Group::Tls])),
        ("all", GroupSet::ALL),
    ] {
        g.bench_function(format!("update/{name}"), |b| {
            b.iter_batched_ref(
                FlowFeatures::default,
                |f| {
                    for k in 0..32 {
                        let dir = if k % 2 == 0 { Dir::Fwd } else { Dir::Bwd };
                        f.update(groups, black_box(&p), dir);
                    }
                },
                BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

/// The frames of every capture in the shared corpus (`$CAPTURE_CORPUS/pcap`, else
/// `../shared/corpus/pcap`), else of the captures in `tests/data`: every protocol the groups parse.
fn corpus_frames() -> Vec<(i64, Vec<u8>, u32, LinkType)> {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::var_os("CAPTURE_CORPUS")
        .map(|d| std::path::PathBuf::from(d).join("pcap"))
        .filter(|d| d.is_dir())
        .or_else(|| Some(manifest.join("../../shared/corpus/pcap")).filter(|d| d.is_dir()))
        .unwrap_or_else(|| manifest.join("tests/data"));
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    paths.sort();
    let mut frames = Vec::new();
    for path in paths {
        let file = CaptureFile::open(&path).expect("capture opens");
        let Ok(reader) = file.frames() else { continue };
        frames.extend(
            reader
                .map_while(Result::ok)
                .map(|f| (f.ts_ns, f.data.to_vec(), f.wire_len, f.link)),
        );
    }
    eprintln!(
        "feature_groups: {} frames from {}",
        frames.len(),
        dir.display()
    );
    frames
}

/// Each group alone (with `flow_meta`, which every run computes) over the corpus: decoding,
/// the flow table, the group's updates and its record columns, per packet. A group's own cost is
/// its figure less `flow_meta`'s. The connection group is left out: it is computed over the
/// window of finished flows at output, which `cargo xtask bench profiles` measures.
fn feature_groups(c: &mut Criterion) {
    let frames = corpus_frames();
    let mut g = c.benchmark_group("feature_groups");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.sample_size(10);
    let mut row = Row::default();
    for group in Group::ALL {
        if group == Group::Connection {
            continue;
        }
        let config = FlowConfig {
            groups: GroupSet::of(&[group]),
            ..FlowConfig::default()
        };
        g.bench_function(group.name(), |b| {
            b.iter(|| {
                let mut engine = Engine::new(config, ReassemblyLimits::default());
                let mut ended = |f: capture::flow::FinishedFlow| {
                    f.write_into(&mut row);
                    black_box(&row);
                };
                for (ts_ns, data, wire_len, link) in &frames {
                    let frame = Frame {
                        ts_ns: *ts_ns,
                        data,
                        wire_len: *wire_len,
                        link: *link,
                    };
                    engine.process_frame(&frame, &mut ended);
                }
                engine.finish(&mut ended);
            });
        });
    }
    g.finish();
}

fn record_encoding(c: &mut Criterion) {
    let mut table = FlowTable::new(FlowConfig::default());
    let mut finished = Vec::new();
    // 1,024 flows of 4 packets each, so that a run measures per-record cost, not file creation.
    for i in 0..4096 {
        table.process(&packet(i, 1024), &mut |f| finished.push(f));
    }
    table.flush(&mut |f| finished.push(f));
    let rows: Vec<_> = finished
        .into_iter()
        .map(capture::flow::FinishedFlow::into_row)
        .collect();
    let mut g = c.benchmark_group("record_encoding");
    g.throughput(Throughput::Elements(rows.len() as u64));
    for (name, format) in [
        ("csv", Format::Csv),
        ("jsonl", Format::Jsonl),
        ("parquet", Format::Parquet),
    ] {
        let path = std::env::temp_dir().join(format!("capture-bench.{name}"));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut sink = open_sink(
                    &Destination::File(path.clone()),
                    format,
                    false,
                    Columns::select(capture::features::Tier::Core, None),
                )
                .expect("sink");
                for row in &rows {
                    sink.write_row(row).expect("write");
                }
                sink.finish().expect("finish");
            });
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    decode,
    flow_table,
    extractors,
    feature_groups,
    record_encoding
);
criterion_main!(benches);
