//! TLS handshake parser tests.

use super::*;

fn ext(ty: u16, data: &[u8]) -> Vec<u8> {
    let mut e = ty.to_be_bytes().to_vec();
    e.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
    e.extend_from_slice(data);
    e
}

fn handshake(ty: u8, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).unwrap().to_be_bytes();
    let mut m = vec![ty, len[1], len[2], len[3]];
    m.extend_from_slice(body);
    m
}

fn records(content: &[u8], max_fragment: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in content.chunks(max_fragment) {
        out.extend_from_slice(&[22, 3, 1]);
        out.extend_from_slice(&u16::try_from(chunk.len()).unwrap().to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

fn client_hello_body() -> Vec<u8> {
    let mut b = vec![0x03, 0x03];
    b.extend_from_slice(&[7; 32]);
    b.push(32);
    b.extend_from_slice(&[9; 32]);
    let suites: [u16; 4] = [0x0a0a, 0x1301, 0xc02b, 0x002f];
    b.extend_from_slice(&u16::try_from(suites.len() * 2).unwrap().to_be_bytes());
    for s in suites {
        b.extend_from_slice(&s.to_be_bytes());
    }
    b.extend_from_slice(&[1, 0]);
    let mut exts = Vec::new();
    exts.extend(ext(0x1a1a, b""));
    let host = b"example.org";
    let mut sni = (u16::try_from(host.len() + 3).unwrap())
        .to_be_bytes()
        .to_vec();
    sni.push(0);
    sni.extend_from_slice(&u16::try_from(host.len()).unwrap().to_be_bytes());
    sni.extend_from_slice(host);
    exts.extend(ext(0, &sni));
    exts.extend(ext(10, &[0, 6, 0x2a, 0x2a, 0, 0x1d, 0, 0x17]));
    exts.extend(ext(11, &[1, 0]));
    exts.extend(ext(
        16,
        &[
            0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
        ],
    ));
    exts.extend(ext(35, b""));
    let mut share = vec![0, 36, 0, 0x1d, 0, 32];
    share.extend_from_slice(&[5; 32]);
    exts.extend(ext(51, &share));
    exts.extend(ext(21, &[0; 100]));
    b.extend_from_slice(&u16::try_from(exts.len()).unwrap().to_be_bytes());
    b.extend_from_slice(&exts);
    b
}

fn server_flight() -> Vec<u8> {
    let mut sh = vec![0x03, 0x03];
    sh.extend_from_slice(&[1; 32]);
    sh.push(0);
    sh.extend_from_slice(&0xc02bu16.to_be_bytes());
    sh.push(0);
    let exts = [ext(0xff01, &[0]), ext(11, &[1, 0])].concat();
    sh.extend_from_slice(&u16::try_from(exts.len()).unwrap().to_be_bytes());
    sh.extend_from_slice(&exts);
    let mut certs = Vec::new();
    for len in [1200u32, 900, 0] {
        certs.extend_from_slice(&len.to_be_bytes()[1..]);
        certs.extend(std::iter::repeat_n(0x30, len as usize));
    }
    let mut cert_body = u32::try_from(certs.len()).unwrap().to_be_bytes()[1..].to_vec();
    cert_body.extend_from_slice(&certs);
    let mut ske = vec![3, 0, 0x17, 65];
    ske.extend_from_slice(&[4; 65]);
    ske.extend_from_slice(&[0; 72]);
    let mut content = handshake(2, &sh);
    content.extend(handshake(11, &cert_body));
    content.extend(handshake(12, &ske));
    content.extend(handshake(14, b""));
    let mut flight = records(&content, 1000);
    // ChangeCipherSpec, then an encrypted record the parser must not read.
    flight.extend_from_slice(&[20, 3, 3, 0, 1, 1, 23, 3, 3, 0, 4, 0xde, 0xad, 0xbe, 0xef]);
    flight
}

#[test]
fn grease_detection() {
    assert!(is_grease(0x0a0a));
    assert!(is_grease(0xfafa));
    assert!(!is_grease(0x0a1a));
    assert!(!is_grease(0x1301));
}

#[test]
fn client_hello_fields_and_ja3() {
    let h = parse_client_hello(&client_hello_body()).unwrap();
    assert_eq!(h.version, 0x0303);
    assert_eq!(h.session_id_len, 32);
    assert_eq!(h.cipher_suites.len(), 4, "GREASE counts as offered");
    assert_eq!(h.extensions.len(), 8);
    assert_eq!(h.sni, "example.org");
    assert_eq!(h.alpn, "h2");
    assert_eq!(h.key_share, Some((0x1d, 32)));
    assert!(h.has_extension(EXT_SESSION_TICKET_ID));
    assert_eq!(
        h.ja3_string(),
        "771,4865-49195-47,0-10-11-16-35-51-21,29-23,0"
    );
    assert_eq!(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
}

#[test]
fn server_hello_without_extensions_reads_nothing_past_itself() {
    let mut sh = vec![0x03, 0x01];
    sh.extend_from_slice(&[1; 32]);
    sh.push(0);
    sh.extend_from_slice(&0x0004u16.to_be_bytes());
    sh.push(0);
    let h = parse_server_hello(&sh).unwrap();
    assert_eq!(h.ja3s_string(), "769,4,");
}

fn parse_stream(bytes: &[u8], splits: &[usize]) -> TlsFindings {
    let mut p = TlsParser::default();
    let mut at = 0;
    for &s in splits.iter().chain(std::iter::once(&bytes.len())) {
        p.feed(&bytes[at..s]);
        at = s;
    }
    p.findings
}

#[test]
fn whole_server_flight() {
    let f = parse_stream(&server_flight(), &[]);
    let sh = f.server_hello.unwrap();
    assert_eq!(sh.cipher_suite, 0xc02b);
    assert_eq!(sh.ja3s_string(), "771,49195,65281-11");
    assert_eq!(
        f.certificates,
        Some(Certificates {
            count: 2,
            total_len: 2100,
            first_len: 1200
        })
    );
    assert_eq!(f.key_exchange, Some(KeyExchange::NamedCurve(0x17, 65)));
}

#[test]
fn every_segmentation_gives_the_same_findings() {
    let client = records(&handshake(1, &client_hello_body()), 100);
    let whole = parse_stream(&client, &[]).client_hello.unwrap();
    for cut in 1..client.len() {
        let split = parse_stream(&client, &[cut]).client_hello;
        assert_eq!(split.as_ref(), Some(&whole), "cut at {cut}");
    }
    let server = server_flight();
    let whole = parse_stream(&server, &[]);
    for cut in (1..server.len()).step_by(7) {
        let split = parse_stream(&server, &[cut / 2, cut]);
        assert_eq!(split.certificates, whole.certificates, "cut at {cut}");
        assert_eq!(split.server_hello, whole.server_hello);
        assert_eq!(split.key_exchange, whole.key_exchange);
    }
}

#[test]
fn stops_at_encryption_and_on_non_tls() {
    let mut p = TlsParser::default();
    p.feed(&server_flight());
    assert!(p.is_done());
    let mut p = TlsParser::default();
    p.feed(b"GET / HTTP/1.1\r\n\r\n");
    assert!(p.is_done());
    assert!(p.findings.is_empty());
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn on_mutated_handshakes(flips in proptest::collection::vec((0usize..6000, any::<u8>()), 0..10), cuts in proptest::collection::vec(0usize..6000, 0..4)) {
            let mut bytes = records(&handshake(1, &client_hello_body()), 64);
            bytes.extend(server_flight());
            for (at, v) in flips {
                let n = bytes.len();
                bytes[at % n] = v;
            }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % bytes.len()).collect();
            cuts.sort_unstable();
            let _ = parse_stream(&bytes, &cuts);
        }

        #[test]
        fn hello_parsers_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_client_hello(&bytes);
            let _ = parse_server_hello(&bytes);
            let _ = parse_server_key_exchange(&bytes);
        }
    }
}

#[test]
fn remembered_fingerprints_equal_computed_ones() {
    let base = parse_client_hello(&client_hello_body()).unwrap();
    // Hellos that differ in one fingerprinted field each, asked for twice and interleaved:
    // every answer must be the one computed afresh for that hello.
    let mut variants = vec![base.clone()];
    let mut v = base.clone();
    v.cipher_suites.push(0x1302);
    variants.push(v);
    let mut v = base.clone();
    v.extensions.retain(|&e| e != 16);
    variants.push(v);
    let mut v = base.clone();
    v.groups.reverse();
    variants.push(v);
    let mut v = base.clone();
    v.point_formats = vec![0, 1];
    variants.push(v);
    let mut v = base.clone();
    v.signature_algorithms = vec![0x0403, 0x0804];
    variants.push(v);
    let mut v = base.clone();
    v.alpn_raw = b"http/1.1".to_vec();
    variants.push(v);
    let mut v = base.clone();
    v.supported_versions = vec![0x0304, 0x0303];
    variants.push(v);
    for _ in 0..2 {
        for h in &variants {
            assert_eq!(h.ja3_hash(), md5_hex(&h.ja3_string()));
            for quic in [false, true] {
                assert_eq!(h.ja4(quic), h.compute_ja4(quic));
            }
        }
    }
    let ja4s: std::collections::HashSet<String> = variants.iter().map(|h| h.ja4(false)).collect();
    assert!(
        ja4s.len() >= 5,
        "the variants fingerprint differently: {ja4s:?}"
    );
    assert_ne!(base.ja4(false), base.ja4(true), "TLS and QUIC differ");
    let server = parse_stream(&server_flight(), &[]).server_hello.unwrap();
    let mut other = server.clone();
    other.cipher_suite = 0x1301;
    for h in [&server, &other, &server] {
        assert_eq!(h.ja3s_hash(), md5_hex(&h.ja3s_string()));
    }
}
