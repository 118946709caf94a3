//! Capture-file reader tests on files built in memory.

use std::path::Path;

use super::*;

fn pcap(big_endian: bool, nanos: bool, linktype: u32, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
    let w32 = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut f = Vec::new();
    f.extend_from_slice(&w32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    f.extend_from_slice(&w16(2));
    f.extend_from_slice(&w16(4));
    f.extend_from_slice(&w32(0));
    f.extend_from_slice(&w32(0));
    f.extend_from_slice(&w32(65535));
    f.extend_from_slice(&w32(linktype));
    for (secs, frac, data) in records {
        f.extend_from_slice(&w32(*secs));
        f.extend_from_slice(&w32(*frac));
        f.extend_from_slice(&w32(u32::try_from(data.len()).unwrap()));
        f.extend_from_slice(&w32(u32::try_from(data.len()).unwrap() + 4));
        f.extend_from_slice(data);
    }
    f
}

fn block(ty: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len().div_ceil(4) * 4;
    let total = u32::try_from(12 + padded).unwrap();
    let mut b = Vec::new();
    b.extend_from_slice(&ty.to_le_bytes());
    b.extend_from_slice(&total.to_le_bytes());
    b.extend_from_slice(body);
    b.resize(8 + padded, 0);
    b.extend_from_slice(&total.to_le_bytes());
    b
}

fn shb() -> Vec<u8> {
    let mut body = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&u64::MAX.to_le_bytes());
    block(0x0a0d_0d0a, &body)
}

fn idb(linktype: u16, tsresol: Option<u8>) -> Vec<u8> {
    let mut body = linktype.to_le_bytes().to_vec();
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(&0u32.to_le_bytes());
    if let Some(r) = tsresol {
        body.extend_from_slice(&9u16.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&[r, 0, 0, 0]);
        body.extend_from_slice(&[0, 0, 0, 0]);
    }
    block(1, &body)
}

fn epb(iface: u32, ticks: u64, data: &[u8]) -> Vec<u8> {
    let mut body = iface.to_le_bytes().to_vec();
    body.extend_from_slice(&u32::try_from(ticks >> 32).unwrap().to_le_bytes());
    body.extend_from_slice(&u32::try_from(ticks & 0xffff_ffff).unwrap().to_le_bytes());
    body.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
    body.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
    body.extend_from_slice(data);
    block(6, &body)
}

type ReadFrames = Vec<(i64, Vec<u8>, LinkType)>;

fn read_all(bytes: Vec<u8>) -> (ReadFrames, Option<InputError>) {
    let file = CaptureFile::from_bytes(Path::new("mem.cap"), bytes);
    let mut frames = Vec::new();
    let mut error = None;
    match file.frames() {
        Ok(reader) => {
            for f in reader {
                match f {
                    Ok(f) => frames.push((f.ts_ns, f.data.to_vec(), f.link)),
                    Err(e) => error = Some(e),
                }
            }
        }
        Err(e) => error = Some(e),
    }
    (frames, error)
}

#[test]
fn classic_pcap_all_four_magics() {
    for big_endian in [false, true] {
        for nanos in [false, true] {
            let bytes = pcap(big_endian, nanos, 1, &[(10, 5, b"abc"), (11, 999, b"defg")]);
            let (frames, err) = read_all(bytes);
            assert!(err.is_none());
            let unit = if nanos { 1 } else { 1000 };
            assert_eq!(
                frames[0],
                (
                    10_000_000_000 + 5 * unit,
                    b"abc".to_vec(),
                    LinkType::Ethernet
                )
            );
            assert_eq!(frames[1].0, 11_000_000_000 + 999 * unit);
            assert_eq!(frames.len(), 2);
        }
    }
}

#[test]
fn truncated_pcap_keeps_what_was_read_and_names_the_offset() {
    let mut bytes = pcap(false, false, 1, &[(1, 0, b"first"), (2, 0, b"second")]);
    let full = bytes.len();
    bytes.truncate(full - 3);
    let (frames, err) = read_all(bytes);
    assert_eq!(frames.len(), 1);
    let err = err.unwrap();
    assert_eq!(err.kind, InputErrorKind::Truncated);
    assert_eq!(err.offset, 24 + 16 + 5);
    assert!(
        err.to_string().contains("mem.cap: at byte offset 45"),
        "{err}"
    );
}

#[test]
fn corrupt_record_length_is_reported() {
    let mut bytes = pcap(false, false, 1, &[(1, 0, b"ok")]);
    bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]);
    let (frames, err) = read_all(bytes);
    assert_eq!(frames.len(), 1);
    assert!(matches!(err.unwrap().kind, InputErrorKind::BadLength(_)));
}

#[test]
fn unknown_format_is_named() {
    let (frames, err) = read_all(b"GIF89a not a capture".to_vec());
    assert!(frames.is_empty());
    assert_eq!(err.unwrap().kind, InputErrorKind::UnknownFormat);
}

#[test]
fn pcapng_interfaces_resolutions_and_link_types() {
    let mut f = shb();
    f.extend(idb(1, None)); // microseconds
    f.extend(idb(101, Some(9))); // nanoseconds, raw IP
    f.extend(idb(1, Some(0x80 | 10))); // 2^-10 s
    f.extend(epb(0, 1_500_000, b"a"));
    f.extend(epb(1, 1_500_000_123, b"bb"));
    f.extend(epb(2, 3 * 1024 + 512, b"ccc"));
    f.extend(block(0x0000_0bad, b"custom block"));
    let (frames, err) = read_all(f);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(frames.len(), 3);
    assert_eq!(
        frames[0],
        (1_500_000_000, b"a".to_vec(), LinkType::Ethernet)
    );
    assert_eq!(frames[1], (1_500_000_123, b"bb".to_vec(), LinkType::Raw));
    assert_eq!(frames[2].0, 3_500_000_000);
}

#[test]
fn pcapng_undeclared_interface_and_truncation() {
    let mut f = shb();
    f.extend(idb(1, None));
    f.extend(epb(0, 1, b"x"));
    f.extend(epb(5, 1, b"y"));
    let (frames, err) = read_all(f);
    assert_eq!(frames.len(), 1);
    assert_eq!(err.unwrap().kind, InputErrorKind::UnknownInterface(5));

    let mut f = shb();
    f.extend(idb(1, None));
    let good = f.len();
    f.extend(epb(0, 1, b"xyz"));
    f.truncate(f.len() - 2);
    let (_, err) = read_all(f);
    let err = err.unwrap();
    assert_eq!(
        (err.kind, err.offset),
        (InputErrorKind::Truncated, good as u64)
    );
}

#[test]
fn files_are_recognised_by_content_not_name() {
    let dir = std::env::temp_dir().join(format!("capture-input-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ng = dir.join("really-pcapng.pcap");
    let mut f = shb();
    f.extend(idb(1, None));
    f.extend(epb(0, 7, b"z"));
    std::fs::write(&ng, f).unwrap();
    let classic = dir.join("really-pcap.pcapng");
    std::fs::write(&classic, pcap(false, true, 1, &[(1, 2, b"q")])).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a capture").unwrap();
    let (files, skipped) = expand_inputs(std::slice::from_ref(&dir)).unwrap();
    assert_eq!(files, vec![classic.clone(), ng.clone()]);
    assert_eq!(skipped, vec![dir.join("notes.txt")]);
    assert_eq!(
        CaptureFile::open(&ng).unwrap().format(),
        Some(Format::Pcapng)
    );
    assert_eq!(
        CaptureFile::open(&classic).unwrap().format(),
        Some(Format::Pcap)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn on_corrupted_files(flips in proptest::collection::vec((0usize..400, any::<u8>()), 0..12), cut in 0usize..400) {
            let mut f = shb();
            f.extend(idb(1, Some(9)));
            f.extend(epb(0, 1, &[0u8; 60]));
            f.extend(epb(0, 2, &[1u8; 90]));
            let mut classic = pcap(false, false, 1, &[(1, 0, &[0u8; 60]), (2, 0, &[0u8; 70])]);
            for bytes in [&mut f, &mut classic] {
                for &(at, v) in &flips {
                    let n = bytes.len();
                    bytes[at % n] = v;
                }
                let n = bytes.len();
                bytes.truncate(cut.min(n));
                let _ = read_all(bytes.clone());
            }
        }
    }
}
