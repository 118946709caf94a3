//! The `capture` binary as a user runs it.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use parquet::basic::Type as PhysicalType;
use parquet::file::reader::{FileReader, SerializedFileReader};

use common::{capture, stderr};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capture-cli-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs `capture extract tests/data/NAME -o OUT`.
fn extract_to(name: &str, out: &Path) -> Output {
    capture(&[
        "extract",
        data(name).to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ])
}

/// Runs `capture extract tests/data/NAMES... -o - ARGS...`, asserts success, returns the CSV
/// rows (header first).
#[track_caller]
fn extract_csv(names: &[&str], args: &[&str]) -> Vec<Vec<String>> {
    let inputs: Vec<PathBuf> = names.iter().map(|n| data(n)).collect();
    let mut all = vec!["extract", "-o", "-"];
    all.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    all.extend(args);
    let o = capture(&all);
    assert!(o.status.success(), "{}", stderr(&o));
    csv_rows(&String::from_utf8_lossy(&o.stdout))
}

#[track_caller]
fn assert_stderr_has(o: &Output, text: &str) {
    let err = stderr(o);
    assert!(err.contains(text), "standard error lacks {text:?}:\n{err}");
}

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let mut rows = vec![r.headers().unwrap().iter().map(String::from).collect()];
    rows.extend(
        r.records()
            .map(|x| x.unwrap().iter().map(String::from).collect()),
    );
    rows
}

#[test]
fn parquet_has_typed_columns_and_one_row_per_flow() {
    let out = scratch("flows.parquet");
    let o = extract_to("ndpi__vxlan.pcap", &out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("flows written"),
        "summary missing: {}",
        stderr(&o)
    );
    let reader = SerializedFileReader::new(fs::File::open(&out).unwrap()).unwrap();
    let meta = reader.metadata();
    let schema = meta.file_metadata().schema_descr();
    let column = |name: &str| {
        (0..schema.num_columns())
            .map(|i| schema.column(i))
            .find(|c| c.name() == name)
            .unwrap()
    };
    assert_eq!(column("total_packets").physical_type(), PhysicalType::INT64);
    assert_eq!(column("duration").physical_type(), PhysicalType::DOUBLE);
    assert_eq!(column("tcp_is_tcp").physical_type(), PhysicalType::BOOLEAN);
    assert_eq!(column("src_ip").physical_type(), PhysicalType::BYTE_ARRAY);
    assert_eq!(
        column("tunnel_type").physical_type(),
        PhysicalType::BYTE_ARRAY
    );
    assert_eq!(meta.file_metadata().num_rows(), 4);
    let compression = meta.row_group(0).column(0).compression();
    assert!(
        format!("{compression:?}").starts_with("ZSTD"),
        "{compression:?}"
    );
}

#[test]
fn csv_to_stdout_and_compressed_text_agree() {
    let o = capture(&[
        "extract",
        data("zeek__tls1.2.pcap").to_str().unwrap(),
        "-o",
        "-",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plain = String::from_utf8(o.stdout).unwrap();
    let rows = csv_rows(&plain);
    assert_eq!(rows.len(), 2);
    let col = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    // Certificate lengths 1449, 1280 and 1082 and cipher 0x0004, as tshark reads them.
    assert_eq!(rows[1][col("tls_cert_count")], "3");
    assert_eq!(rows[1][col("tls_cert_first_length")], "1449");
    assert_eq!(rows[1][col("tls_cert_total_length")], "3811");
    assert_eq!(rows[1][col("tls_cipher_suite")], "4");
    assert_eq!(rows[1][col("ja3_hash")], "bd9c99b3a0f752c3ab8b052a79e9de3e");
    assert_eq!(rows[1][col("flow_end_reason")], "fin");
    assert_eq!(rows[1][col("tcp_is_tcp")], "True");

    let zst = scratch("flows.csv.zst");
    let o = extract_to("zeek__tls1.2.pcap", &zst);
    assert!(o.status.success(), "{}", stderr(&o));
    let decoded = zstd::decode_all(fs::File::open(&zst).unwrap()).unwrap();
    assert_eq!(String::from_utf8(decoded).unwrap(), plain);

    let jsonl = scratch("flows.jsonl.zst");
    let o = extract_to("zeek__tls1.2.pcap", &jsonl);
    assert!(o.status.success(), "{}", stderr(&o));
    let decoded =
        String::from_utf8(zstd::decode_all(fs::File::open(&jsonl).unwrap()).unwrap()).unwrap();
    let record: serde_json::Value = serde_json::from_str(decoded.lines().next().unwrap()).unwrap();
    assert_eq!(record["tls_cert_count"], 3);
    assert_eq!(record["tcp_is_tcp"], true);
    assert_eq!(record["total_packets"], 22);
}

#[test]
fn feature_groups_and_bidir_split_shape_the_columns() {
    let rows = extract_csv(&["zeek__tls1.2.pcap"], &["--features", "tls", "tcp"]);
    assert_eq!(rows[0][0], "tcp_is_tcp");
    assert!(rows[0].contains(&"ja3_hash".to_string()));
    assert!(!rows[0].contains(&"iat_mean".to_string()));
    let rows = extract_csv(&["zeek__tls1.2.pcap"], &["--bidir-split"]);
    assert!(rows[0].contains(&"total_tcp_syn_count".to_string()));
    let o = capture(&[
        "extract",
        data("zeek__tls1.2.pcap").to_str().unwrap(),
        "-o",
        "-",
        "--features",
        "no_such_group",
    ]);
    assert!(!o.status.success());
    assert_stderr_has(&o, "unknown feature group 'no_such_group'");
}

#[test]
fn a_directory_is_every_capture_in_it() {
    let o = capture(&["extract", data("").to_str().unwrap(), "-o", "-", "--quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = csv_rows(&String::from_utf8_lossy(&o.stdout));
    assert!(rows.len() > 20, "{} rows", rows.len());
    assert_stderr_has(&o, "6 file(s)");
    assert!(
        stderr(&o).contains("skipped"),
        "SOURCES.md is reported as skipped: {}",
        stderr(&o)
    );
}

#[test]
fn truncated_input_keeps_what_was_read_and_says_where_it_broke() {
    let whole = fs::read(data("zeek__tls1.2.pcap")).unwrap();
    let cut = scratch("cut.pcap");
    fs::write(&cut, &whole[..whole.len() - 100]).unwrap();
    let o = capture(&["extract", cut.to_str().unwrap(), "-o", "-"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("cut.pcap: at byte offset"), "{err}");
    assert!(err.contains("file ends in the middle of a record"), "{err}");
    let rows = csv_rows(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(
        rows.len(),
        2,
        "the flow read before the damage is still written"
    );
}

#[test]
fn clear_errors_for_bad_arguments() {
    let o = capture(&["extract", "/nonexistent.pcap", "-o", "-"]);
    assert_eq!(o.status.code(), Some(3));
    assert_stderr_has(&o, "cannot open /nonexistent.pcap");
    let o = capture(&[
        "extract",
        data("zeek__tls1.2.pcap").to_str().unwrap(),
        "-o",
        scratch("flows.xyz").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert_stderr_has(&o, "cannot tell the output format");
    let o = capture(&[
        "extract",
        data("zeek__tls1.2.pcap").to_str().unwrap(),
        "-o",
        "-",
        "--timeout",
        "0",
    ]);
    assert_stderr_has(&o, "--timeout must be a positive number");
    let o = capture(&[
        "extract",
        data("zeek__tls1.2.pcap").to_str().unwrap(),
        "-o",
        "-",
        "--profile",
        "all",
        "--connection-window",
        "0",
    ]);
    assert!(!o.status.success());
    assert_stderr_has(&o, "--connection-window must be a positive number");
}

#[test]
fn features_lists_the_registry_and_docs_match() {
    let o = capture(&["features"]);
    assert!(o.status.success());
    let listing = String::from_utf8(o.stdout).unwrap();
    assert!(listing.lines().any(|l| l.starts_with("ja3_hash")));
    let o = capture(&["features", "--markdown"]);
    let docs =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/features.md"))
            .unwrap();
    assert_eq!(String::from_utf8(o.stdout).unwrap(), docs);
}

#[test]
fn cleartext_http2_frames_equal_tshark() {
    // tshark -d tcp.port==29518,http2 counts 12 frames: 2 DATA, 2 HEADERS, 4 SETTINGS,
    // 1 GOAWAY, 3 WINDOW_UPDATE, on stream 3.
    let rows = extract_csv(&["ndpi__http2.pcapng"], &["--features", "http2"]);
    let col = |name: &str| rows[1][rows[0].iter().position(|h| h == name).unwrap()].clone();
    assert_eq!(col("http_version"), "h2c");
    assert_eq!(col("http2_preface_seen"), "True");
    for (name, n) in [
        ("http2_frame_count", "12"),
        ("http2_data_frames", "2"),
        ("http2_headers_frames", "2"),
        ("http2_settings_frames", "4"),
        ("http2_goaway_frames", "1"),
        ("http2_window_update_frames", "3"),
        ("http2_streams_estimate", "1"),
    ] {
        assert_eq!(col(name), n, "{name}");
    }
}

#[test]
fn narrower_selections_give_the_same_values_as_every_group() {
    // Records are written in place over reused buffers and skip the groups a run does not
    // compute: a narrow run must still agree, column by column, with a run of every group.
    let run = |extra: &[&str]| {
        let mut args = vec!["--single-thread"];
        args.extend(extra);
        extract_csv(
            &[
                "zeek__tls1.2.pcap",
                "ndpi__vxlan.pcap",
                "zeek__gre-sample.pcap",
            ],
            &args,
        )
    };
    let all = run(&["--profile", "all"]);
    assert!(all.len() > 10, "too few flows: {}", all.len() - 1);
    // The writer thread builds the same records, connection window included.
    let threaded = extract_csv(
        &[
            "zeek__tls1.2.pcap",
            "ndpi__vxlan.pcap",
            "zeek__gre-sample.pcap",
        ],
        &["--profile", "all"],
    );
    assert_eq!(threaded, all);
    // `ja4` reads the tls group's ClientHello: a run without that group leaves it empty.
    for (narrow, without_tls) in [
        (run(&["--profile", "core"]), false),
        (run(&["--features", "timing"]), true),
        (run(&["--features", "tls", "dns"]), false),
        (run(&["--features", "fingerprint"]), false),
        (run(&["--features", "connection"]), true),
    ] {
        assert_eq!(narrow.len(), all.len());
        for (c, name) in narrow[0].iter().enumerate() {
            let a = all[0]
                .iter()
                .position(|n| n == name)
                .expect("column in all");
            for (r, row) in narrow.iter().enumerate().skip(1) {
                if without_tls && name == "ja4" {
                    assert_eq!(row[c], "", "flow {r}: ja4 without the tls group");
                } else {
                    assert_eq!(row[c], all[r][a], "flow {r}, column {name}");
                }
            }
        }
    }
}

/// The one file `capture run` wrote into `dir`.
fn run_output(dir: &Path) -> String {
    let files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    fs::read_to_string(&files[0]).unwrap()
}

#[test]
fn a_capture_file_through_the_live_pipeline_gives_the_offline_records() {
    let inputs = [
        "zeek__tls1.2.pcap",
        "ndpi__vxlan.pcap",
        "zeek__gre-sample.pcap",
    ];
    for name in inputs {
        let dir = scratch(&format!("run-{name}"));
        let _ = fs::remove_dir_all(&dir);
        let o = capture(&[
            "run",
            "--input",
            data(name).to_str().unwrap(),
            "--output-dir",
            dir.to_str().unwrap(),
            "--format",
            "csv",
            "--profile",
            "all",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_stderr_has(&o, "(file; queue 0 file)");
        let offline = extract_csv(&[name], &["--profile", "all"]);
        assert_eq!(csv_rows(&run_output(&dir)), offline, "{name}");
    }
    // A damaged file: what was read is written, the error names the offset, the exit code is 3.
    let whole = fs::read(data("zeek__tls1.2.pcap")).unwrap();
    let cut = scratch("run-cut.pcap");
    fs::write(&cut, &whole[..whole.len() - 100]).unwrap();
    let dir = scratch("run-cut");
    let _ = fs::remove_dir_all(&dir);
    let o = capture(&[
        "run",
        "--input",
        cut.to_str().unwrap(),
        "--output-dir",
        dir.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_stderr_has(&o, "at byte offset");
    assert_eq!(csv_rows(&run_output(&dir)).len(), 2);
}

#[test]
fn several_workers_give_the_records_of_one() {
    let groups = "flow_meta,timing,size,tcp,tls,quic,ssh,dns,entropy,ip_extended,tcp_sequence,tcp_window,tcp_options,tcp_rtt,http2,padding,fingerprint,mac,ipv6_options,icmp,tcp_mptcp,tcp_fingerprint";
    for name in [
        "zeek__tls1.2.pcap",
        "ndpi__vxlan.pcap",
        "zeek__gre-sample.pcap",
        "zeek__http-qinq-0.pcap",
        "ndpi__dns_fragmented.pcap",
        "ndpi__http2.pcapng",
    ] {
        let mut one = extract_csv(&[name], &["--features", groups]);
        for workers in ["2", "3"] {
            let mut many = extract_csv(&[name], &["--features", groups, "--workers", workers]);
            one.sort();
            many.sort();
            assert_eq!(many, one, "{name} with {workers} workers");
        }
    }
    // The connection group keeps one worker, and says why.
    let o = capture(&[
        "extract",
        data("zeek__tls1.2.pcap").to_str().unwrap(),
        "-o",
        "-",
        "--profile",
        "all",
        "--workers",
        "2",
    ]);
    assert!(!o.status.success());
    assert_stderr_has(&o, "the connection group needs --workers 1");
}
