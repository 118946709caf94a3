//! A conversation of segments whose payloads, sequence numbers, flags and directions the fuzzer
//! chooses, to a server port whose application parser it picks (TLS, SSH, DNS over TCP and UDP,
//! HTTP/1 and h2c, QUIC): the stream reassembly and every application-layer parser across
//! segmentation, retransmission, overlap, gaps and reordering, then every extractor's record.
//! Nothing may panic.
//!
//! Input: one byte choosing the transport and server port, then records of
//! `[control][sequence adjustment, i16 LE][length, u16 LE][payload]`; control bit 0 is the direction
//! (set: from the server), bits 1 to 5 the TCP flags FIN, SYN, RST, PSH, ACK.
#![no_main]

use capture::decode::LinkType;
use capture::engine::Engine;
use capture::flow::FlowConfig;
use capture::input::Frame;
use capture::reassembly::ReassemblyLimits;
use libfuzzer_sys::fuzz_target;

const SERVERS: [(u8, u16); 8] = [
    (6, 443),
    (6, 22),
    (6, 53),
    (6, 80),
    (6, 8443),
    (17, 443),
    (17, 53),
    (17, 4433),
];

fn frame(
    protocol: u8,
    from_server: bool,
    port: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let (client, server) = ([10, 0, 0, 1], [192, 0, 2, 7]);
    let (src, dst) = if from_server {
        (server, client)
    } else {
        (client, server)
    };
    let (sport, dport) = if from_server {
        (port, 50_000)
    } else {
        (50_000, port)
    };
    let l4 = if protocol == 6 { 20 } else { 8 };
    let total = (20 + l4 + payload.len()) as u16;
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
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
        protocol,
        0,
        0,
    ]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    if protocol == 6 {
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&ack.to_be_bytes());
        f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    } else {
        f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
    }
    f.extend_from_slice(payload);
    f
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, mut rest)) = data.split_first() else {
        return;
    };
    let (protocol, port) = SERVERS[usize::from(choice) % SERVERS.len()];
    let mut engine = Engine::new(FlowConfig::default(), ReassemblyLimits::default());
    // Records built one by one, or kept and built together at the end, as the emitter does.
    let together = choice & 0x80 != 0;
    let mut finished = Vec::new();
    let mut sink = |f: capture::flow::FinishedFlow| {
        if together {
            finished.push(f);
        } else {
            let _ = f.into_row();
        }
    };
    // Next sequence number per direction (client, server).
    let mut next = [1_000u32, 900_000u32];
    let mut ts = 1_000_000_000i64;
    while rest.len() >= 5 {
        let control = rest[0];
        let adjust = i16::from_le_bytes([rest[1], rest[2]]);
        let len = u16::from_le_bytes([rest[3], rest[4]]);
        rest = &rest[5..];
        let take = usize::from(len).min(rest.len());
        let (payload, tail) = rest.split_at(take);
        rest = tail;
        let from_server = control & 1 == 1;
        let side = usize::from(from_server);
        let seq = next[side].wrapping_add_signed(i32::from(adjust));
        // FIN, SYN, RST, PSH, ACK: the TCP header's low five flag bits, in its order.
        let tcp_flags = (control >> 1) & 0x1f;
        let bytes = frame(
            protocol,
            from_server,
            port,
            seq,
            next[1 - side],
            tcp_flags,
            payload,
        );
        next[side] = seq.wrapping_add(payload.len() as u32);
        ts += 1_000_000;
        engine.process_frame(
            &Frame {
                ts_ns: ts,
                data: &bytes,
                wire_len: bytes.len() as u32,
                link: LinkType::Ethernet,
            },
            &mut sink,
        );
    }
    engine.finish(&mut sink);
    let mut rows = Vec::new();
    for batch in finished.chunks_mut(capture::flow::RECORD_BATCH) {
        capture::flow::FinishedFlow::write_all(batch, &mut rows);
    }
});
