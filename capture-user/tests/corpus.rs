//! The whole shared corpus through the engine: accounting, parity with JoyfulJay on the flows
//! it segments the same way, and JA3/JA3S equal to tshark's on every TLS flow.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use capture::features::{Kind, DEFAULT_CONNECTION_WINDOW_SECS, FEATURES};
use common::{corpus_dir, corpus_files, extract_file, number, text, Cell};

type Flow = HashMap<&'static str, Cell>;
type Endpoints = ((String, u16), (String, u16));

fn endpoints(a: (String, u16), b: (String, u16)) -> Endpoints {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

fn our_endpoints(f: &Flow) -> Endpoints {
    let port = |n| number(&f[n]).unwrap_or_default() as u16;
    endpoints(
        (text(&f["src_ip"]), port("src_port")),
        (text(&f["dst_ip"]), port("dst_port")),
    )
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_frame_is_accounted_for() {
    for path in corpus_files() {
        let (flows, summary) = extract_file(&path);
        assert!(
            summary.input_errors.is_empty(),
            "{}: {:?}",
            path.display(),
            summary.input_errors
        );
        let e = summary.engine;
        let skipped: u64 = e.skipped.iter().sum();
        assert_eq!(
            e.frames,
            e.packets + skipped,
            "{}: frames must be packets or a counted skip",
            path.display()
        );
        let in_flows: i64 = flows
            .iter()
            .map(|f| number(&f["total_packets"]).unwrap_or_default() as i64)
            .sum();
        assert_eq!(in_flows as u64, e.packets, "{}", path.display());
        assert_eq!(flows.len() as u64, summary.records);
        // A capture of only non-IP frames (the ERSPAN sample mirrors STP and ARP) has no flows.
        let not_ip = e.skipped[capture_common::SkipReason::NotIp as usize];
        assert!(
            !flows.is_empty() || not_ip == e.frames,
            "{}: no flows",
            path.display()
        );
    }
}

/// Columns whose value depends on the transport payload length.
const PAYLOAD_COLUMNS: &[&str] = &[
    "payload_bytes_fwd",
    "payload_bytes_bwd",
    "payload_bytes_total",
    "payload_len_min",
    "payload_len_max",
    "payload_len_mean",
    "payload_len_std",
    "payload_len_fwd_mean",
    "payload_len_fwd_std",
    "payload_len_bwd_mean",
    "payload_len_bwd_std",
    "packets_with_payload",
    "packets_with_payload_fwd",
    "packets_with_payload_bwd",
    "header_only_ratio",
    "l7_bytes_fwd",
    "l7_bytes_bwd",
    "l7_bytes_total",
    "l7_pkt_min_fwd",
    "l7_pkt_max_fwd",
    "l7_pkt_min_bwd",
    "l7_pkt_max_bwd",
    "tcp_data_packets",
    "tcp_ack_only_packets",
    "tcp_fstat",
    "tcp_seq_fwd_bytes_sent",
    "tcp_seq_fwd_retrans",
    "tcp_seq_fwd_gaps",
    "tcp_seq_fwd_ooo",
    "tcp_seq_bwd_bytes_sent",
    "tcp_seq_bwd_retrans",
    "tcp_seq_bwd_gaps",
    "tcp_seq_bwd_ooo",
    "tcp_total_retrans",
    "tcp_total_ooo",
    "tcp_retrans_ratio",
    "tcp_rtt_ack_min",
    "tcp_rtt_ack_max",
    "tcp_rtt_ack_mean",
    "entropy_payload",
    "entropy_initiator",
    "entropy_responder",
    "entropy_ratio",
    "byte_distribution_uniformity",
    "printable_ratio",
    "null_ratio",
    "high_byte_ratio",
    "payload_bytes_sampled",
    "burst_padding_ratio",
    "burst_overhead_bytes",
    "avg_burst_payload_efficiency",
];
const TLS_CLIENT_COLUMNS: &[&str] = &[
    "tls_detected",
    "tls_version",
    "tls_version_str",
    "tls_cipher_count",
    "tls_extension_count",
    "tls_sni",
    "tls_alpn",
    "ja3_hash",
    "tls_session_id_len",
    "tls_session_ticket_ext",
    "tls_psk_ext",
    "tls_early_data_ext",
];
const TLS_SERVER_COLUMNS: &[&str] = &["tls_cipher_suite", "ja3s_hash"];
const TLS_BEYOND_256_COLUMNS: &[&str] = &[
    "tls_cert_count",
    "tls_cert_total_length",
    "tls_cert_first_length",
    "tls_cert_chain_length",
    "tls_session_resumed",
    "tls_key_exchange_group",
    "tls_key_exchange_group_name",
    "tls_key_exchange_length",
];
/// DNS columns describing the response.
const DNS_RESPONSE_COLUMNS: &[&str] = &[
    "dns_response_code",
    "dns_response_code_str",
    "dns_answer_count",
    "dns_authority_count",
    "dns_additional_count",
    "dns_min_ttl",
    "dns_max_ttl",
    "dns_is_response",
    "dns_truncated",
    "dns_recursion_available",
];
/// Layers JoyfulJay's hdr_desc can name.
const JJ_LAYERS: &[&str] = &["ETH", "IP", "IP6", "TCP", "UDP", "ICMP"];

/// Why JoyfulJay's value for `column` on this flow is not the truth, if it is not.
/// Each reason is documented in docs/deviations.md.
fn known_deviation(
    column: &str,
    ours: &Flow,
    jj: &HashMap<String, String>,
    file: &str,
) -> Option<&'static str> {
    let jj_num = |c: &str| {
        jj.get(c)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_default()
    };
    let our_num = |c: &str| number(&ours[c]).unwrap_or_default();
    if (column == "hdr_desc" || column == "num_hdrs")
        && text(&ours["hdr_desc"])
            .split('-')
            .any(|l| !JJ_LAYERS.contains(&l) && !l.starts_with("PROTO"))
    {
        return Some("we name every layer (VLAN, MPLS, tunnels, cooked/loopback headers, ICMP6)");
    }
    if PAYLOAD_COLUMNS.contains(&column) {
        let extra = jj_num("payload_bytes_total") - our_num("payload_bytes_total");
        if extra > 0.0 && extra <= 6.0 * our_num("total_packets") {
            return Some("Scapy counts Ethernet padding of short frames as TCP/UDP payload");
        }
        if our_num("protocol") == 58.0 {
            return Some("JoyfulJay counts the ICMPv6 header as payload");
        }
    }
    if TLS_CLIENT_COLUMNS.contains(&column)
        && jj.get("tls_detected").map(String::as_str) == Some("True")
        && jj_num("tls_version") == 0.0
    {
        return Some("JoyfulJay takes any payload starting with byte 22 and a 1 at offset 5 for a ClientHello, UDP included");
    }
    if TLS_CLIENT_COLUMNS.contains(&column)
        && jj.get("ja3_hash").map(String::as_str) != Some(text(&ours["ja3_hash"]).as_str())
    {
        return Some(
            "JoyfulJay cuts the ClientHello at 256 bytes (JA3 is checked against tshark instead)",
        );
    }
    if TLS_SERVER_COLUMNS.contains(&column)
        && jj.get("ja3s_hash").map(String::as_str) != Some(text(&ours["ja3s_hash"]).as_str())
    {
        return Some("JoyfulJay's JA3S reads past a ServerHello without extensions (JA3S is checked against tshark instead)");
    }
    if TLS_BEYOND_256_COLUMNS.contains(&column) {
        let jj_missed_certs = jj_num("tls_cert_count") < our_num("tls_cert_count");
        let jj_missed_kex =
            jj_num("tls_key_exchange_group") == 0.0 && our_num("tls_key_exchange_group") != 0.0;
        let jj_kex_from_client = column.starts_with("tls_key_exchange")
            && our_num("tls_key_exchange_group") != jj_num("tls_key_exchange_group")
            && our_num("tls_cert_count") > jj_num("tls_cert_count");
        if jj_missed_certs || jj_missed_kex || jj_kex_from_client {
            return Some("JoyfulJay reads only the first 256 bytes of each packet and misses later certificates and the ServerKeyExchange");
        }
    }
    if column == "tls_session_resumed"
        && jj_num("tls_cert_count") == 0.0
        && text(&ours[column]) == "False"
    {
        return Some("JoyfulJay calls any handshake without a visible certificate resumed (every TLS 1.3 one); we ask the ServerHello");
    }
    if column.starts_with("dns_")
        && our_num("protocol") == 6.0
        && jj.get("dns_detected").map(String::as_str) == Some("False")
        && text(&ours["dns_detected"]) == "True"
    {
        return Some("JoyfulJay reads DNS over UDP only; we read DNS over TCP too");
    }
    if DNS_RESPONSE_COLUMNS.contains(&column)
        && jj.get("dns_is_response").map(String::as_str) == Some("False")
        && text(&ours["dns_is_response"]) == "True"
    {
        return Some("JoyfulJay describes only the first DNS message (the query); we take response fields from the response");
    }
    if matches!(column, "dns_is_query" | "dns_recursion_desired")
        && jj.get("dns_is_query").map(String::as_str) == Some("False")
        && text(&ours["dns_is_query"]) == "True"
    {
        return Some("JoyfulJay describes only the first DNS message (a response); we see the query that follows too");
    }
    if (column.starts_with("mptcp_") || column == "is_mptcp")
        && jj_num("mptcp_detected") == 0.0
        && our_num("mptcp_detected") == 1.0
    {
        return Some("JoyfulJay's Scapy backend hands its MPTCP extractor option names instead of bytes, so it never sees MPTCP");
    }
    if (column.starts_with("tcp_seq_") && (column.ends_with("_ooo") || column.ends_with("_gaps")))
        || column == "tcp_total_ooo"
    {
        let side = if column.contains("_bwd_") {
            "bwd"
        } else {
            "fwd"
        };
        let ooo = if column == "tcp_total_ooo" {
            column.to_string()
        } else {
            format!("tcp_seq_{side}_ooo")
        };
        if jj_num(&ooo) > our_num(&ooo) {
            return Some("JoyfulJay advances the expected sequence number on segments that take no sequence space (bare ACKs)");
        }
    }
    if matches!(column, "ssh_hassh" | "ssh_hassh_server")
        && jj.get(column).is_some_and(String::is_empty)
    {
        return Some(
            "JoyfulJay cuts the KEXINIT at 256 bytes (HASSH is checked against tshark instead)",
        );
    }
    if column == "ssh_encrypted_packets" && jj_num(column) < our_num(column) {
        return Some("JoyfulJay counts an encrypted SSH packet only when its first four bytes read as a plausible cleartext length");
    }
    if column == "traffic_type"
        && jj.get(column).map(String::as_str) == Some("encrypted")
        && matches!(text(&ours[column]).as_str(), "plain" | "unknown")
    {
        return Some("JoyfulJay calls every flow without a Tor, VPN or DoH sign encrypted; we look at the payload");
    }
    if column.starts_with("quic_")
        && jj.get("quic_detected").map(String::as_str) == Some("True")
        && text(&ours["quic_detected"]) == "False"
    {
        return Some("JoyfulJay takes any UDP payload whose first byte has QUIC's fixed bit for QUIC, whatever its version field");
    }
    if column == "quic_pn_length" && text(&ours["quic_detected"]) == "True" {
        return Some("JoyfulJay reads the packet-number length from header-protected bits; we remove the protection first");
    }
    if matches!(column, "quic_sni" | "quic_alpn") && jj.get(column).is_some_and(String::is_empty) {
        return Some(
            "JoyfulJay does not decrypt QUIC Initials (QUIC SNI is checked against tshark instead)",
        );
    }
    if matches!(
        column,
        "quic_0rtt_detected" | "quic_retry_detected" | "quic_initial_packets"
    ) {
        let version = our_num("quic_version") as u32;
        let ietf_v1_numbering =
            version == 1 || version >> 8 == 0x00ff_0000 || version >> 8 == 0x00fa_ceb0;
        if !ietf_v1_numbering {
            return Some("QUIC v2 (RFC 9369) and Google QUIC number long-header packet types differently from v1");
        }
        if column != "quic_initial_packets" && jj.get(column).map(String::as_str) == Some("False") {
            return Some("JoyfulJay reads the packet type of the flow's first QUIC packet only");
        }
    }
    if file == "ndpi__dns_fragmented" && our_num("total_bytes") != jj_num("total_bytes") {
        return Some("IP fragments are reassembled into the datagram they belong to");
    }
    None
}

fn tolerance(column: &str, expected: f64) -> f64 {
    let timing = column.starts_with("iat_")
        || (column.starts_with("tcp_rtt_") && column != "tcp_rtt_samples")
        || matches!(
            column,
            "duration"
                | "first_response_time"
                | "avg_burst_duration"
                | "avg_idle_duration"
                | "max_idle_duration"
        );
    let epoch = matches!(
        column,
        "start_time" | "end_time" | "time_first" | "time_last"
    );
    // Ratios of rates or of gap statistics amplify the float-epoch error of very short gaps.
    let from_duration = column.ends_with("_per_second")
        || column.starts_with("burstiness_index")
        || column == "iat_cv";
    if epoch {
        1e-6
    } else if from_duration {
        2e-2 * expected.abs() + 1e-6
    } else if timing {
        // JoyfulJay subtracts float epoch timestamps, which carry about 0.2 µs of precision;
        // squared gaps (variances) carry that error in proportion to their size.
        2e-6 + 1e-6 * expected.abs()
    } else {
        1e-9 * expected.abs().max(1.0)
    }
}

#[test]
fn parity_with_joyfuljay_on_flows_it_segments_the_same_way() {
    let reference = corpus_dir().join("reference/joyfuljay");
    let mut compared_flows = 0usize;
    let mut split_differently = 0usize;
    let mut compared_values = 0usize;
    let mut excused: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut mismatches = Vec::new();
    for path in corpus_files() {
        let name = stem(&path);
        let Ok(mut reader) = csv::Reader::from_path(reference.join(format!("{name}.csv"))) else {
            continue;
        };
        let headers = reader.headers().expect("header").clone();
        let mut jj_by_key: HashMap<(Endpoints, String), Vec<HashMap<String, String>>> =
            HashMap::new();
        for record in reader.records() {
            let record = record.expect("JoyfulJay csv row");
            let row: HashMap<String, String> = headers
                .iter()
                .map(String::from)
                .zip(record.iter().map(String::from))
                .collect();
            let port = |c: &str| row[c].parse::<f64>().unwrap_or_default() as u16;
            let key = endpoints(
                (row["src_ip"].clone(), port("src_port")),
                (row["dst_ip"].clone(), port("dst_port")),
            );
            jj_by_key
                .entry((key, row["protocol"].clone()))
                .or_default()
                .push(row);
        }
        let (ours, _) = extract_file(&path);
        // The connection group describes the whole graph of flows: it can only agree where
        // JoyfulJay found the same flows, all in one window step.
        let jj_rows: usize = jj_by_key.values().map(Vec::len).sum();
        let span = ours
            .iter()
            .map(|f| number(&f["end_time"]).unwrap_or_default())
            .fold(f64::MIN, f64::max)
            - ours
                .iter()
                .map(|f| number(&f["start_time"]).unwrap_or_default())
                .fold(f64::MAX, f64::min);
        let same_graph = jj_rows == ours.len()
            && span < DEFAULT_CONNECTION_WINDOW_SECS / 2.0
            && ours.iter().all(|flow| {
                let key = (our_endpoints(flow), text(&flow["protocol"]));
                let start = number(&flow["start_time"]).unwrap_or_default();
                jj_by_key.get(&key).is_some_and(|rows| {
                    rows.iter().any(|r| {
                        (r["start_time"].parse::<f64>().unwrap_or_default() - start).abs() < 2e-6
                            && r["total_packets"] == text(&flow["total_packets"])
                    })
                })
            });
        for flow in &ours {
            let key = (our_endpoints(flow), text(&flow["protocol"]));
            let start = number(&flow["start_time"]).unwrap_or_default();
            let Some(jj) = jj_by_key.get(&key).and_then(|rows| {
                rows.iter().find(|r| {
                    (r["start_time"].parse::<f64>().unwrap_or_default() - start).abs() < 2e-6
                })
            }) else {
                continue;
            };
            if jj["total_packets"] != text(&flow["total_packets"]) {
                split_differently += 1;
                continue;
            }
            compared_flows += 1;
            for def in FEATURES {
                let Some(jj_value) = jj.get(def.name) else {
                    continue;
                };
                let ours_value = &flow[def.name];
                let connection_reason = if !def.name.starts_with("conn_") {
                    None
                } else if !same_graph {
                    Some("the connection graph holds each tool's own flows (ours are checked against JoyfulJay's ConnectionGraph fed with our flows by tests/compat/check_connection.py)")
                } else if def.name.ends_with("_community") {
                    Some("networkx numbers Louvain communities after a random shuffle")
                } else {
                    None
                };
                if let Some(reason) =
                    connection_reason.or_else(|| known_deviation(def.name, flow, jj, &name))
                {
                    *excused.entry(reason).or_default() += 1;
                    continue;
                }
                compared_values += 1;
                let equal = match (def.kind, number(ours_value), jj_value.parse::<f64>()) {
                    (Kind::Str, _, _) | (_, None, _) => text(ours_value) == *jj_value,
                    (Kind::Bool, Some(a), _) => (a != 0.0) == (jj_value == "True"),
                    (_, Some(a), Ok(b)) => a == b || (a - b).abs() <= tolerance(def.name, b),
                    (_, Some(_), Err(_)) => false,
                };
                if !equal {
                    mismatches.push(format!(
                        "{name} {key:?} {}: ours {} joyfuljay {jj_value}",
                        def.name,
                        text(ours_value)
                    ));
                }
            }
        }
    }
    eprintln!("compared {compared_flows} flows ({compared_values} values); {split_differently} flows JoyfulJay splits differently");
    for (reason, n) in &excused {
        eprintln!("  {n:6} values differ for a documented reason: {reason}");
    }
    assert!(
        compared_flows >= 350,
        "too few flows compared: {compared_flows}"
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(40)].join("\n")
    );
}

/// tshark's per-packet reference rows for the capture `name`, when the corpus has them.
fn tshark_reference(name: &str) -> Option<Vec<HashMap<String, String>>> {
    let path = corpus_dir().join(format!("reference/tshark/{name}.tsv"));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .from_path(path)
        .ok()?;
    Some(
        reader
            .deserialize()
            .map(|record| record.expect("tshark row"))
            .collect(),
    )
}

fn tshark_endpoints(r: &HashMap<String, String>) -> Endpoints {
    let port = |c: &str| r[c].parse::<u16>().unwrap_or_default();
    endpoints(
        (r["src_ip"].clone(), port("src_port")),
        (r["dst_ip"].clone(), port("dst_port")),
    )
}

#[test]
fn ja3_ja3s_hassh_and_hassh_server_equal_tshark_on_every_flow() {
    let mut checked = 0;
    let mut ech_offers = 0;
    let mut wrong = Vec::new();
    for path in corpus_files() {
        let name = stem(&path);
        let Some(reference) = tshark_reference(&name) else {
            continue;
        };
        let (ours, _) = extract_file(&path);
        for r in reference {
            let fingerprints = ["ja3", "ja3s", "hassh", "hasshserver"];
            if r["transport"] != "tcp" || fingerprints.iter().all(|f| r[*f].is_empty()) {
                continue;
            }
            let key = tshark_endpoints(&r);
            let t: f64 = r["time_epoch"].parse().unwrap_or_default();
            let flow = ours.iter().find(|f| {
                our_endpoints(f) == key
                    && number(&f["start_time"]).unwrap_or_default() <= t + 1e-6
                    && t <= number(&f["end_time"]).unwrap_or_default() + 1e-6
            });
            let Some(flow) = flow else {
                wrong.push(format!("{name} frame {}: no flow for {key:?}", r["frame"]));
                continue;
            };
            if !r["ja3_full"].is_empty() {
                // tshark's JA3 string lists the extensions: ECH is 65037 (0xfe0d).
                let offered = r["ja3_full"]
                    .split(',')
                    .nth(2)
                    .is_some_and(|e| e.split('-').any(|x| x == "65037"));
                checked += 1;
                if text(&flow["tls_ech_offered"]) != u8::from(offered).to_string() {
                    wrong.push(format!("{name} frame {} tls_ech_offered: ours {} tshark's extensions say {offered}", r["frame"], text(&flow["tls_ech_offered"])));
                }
                ech_offers += usize::from(offered);
            }
            for (theirs, column) in [
                (&r["ja3"], "ja3_hash"),
                (&r["ja3s"], "ja3s_hash"),
                (&r["hassh"], "ssh_hassh"),
                (&r["hasshserver"], "ssh_hassh_server"),
            ] {
                if theirs.is_empty() {
                    continue;
                }
                checked += 1;
                if text(&flow[column]) != *theirs {
                    wrong.push(format!(
                        "{name} frame {} {column}: ours {} tshark {theirs}",
                        r["frame"],
                        text(&flow[column])
                    ));
                }
            }
        }
    }
    assert!(checked >= 300, "too few fingerprints checked: {checked}");
    assert!(ech_offers > 0, "no ClientHello offering ECH was checked");
    assert!(
        wrong.is_empty(),
        "{} disagreements:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn quic_sni_equals_tshark_on_every_decrypted_client_hello() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for path in corpus_files() {
        let name = stem(&path);
        let Some(reference) = tshark_reference(&name) else {
            continue;
        };
        let (ours, _) = extract_file(&path);
        for r in reference {
            if r["transport"] != "udp" || r["quic_version"].is_empty() || r["sni"].is_empty() {
                continue;
            }
            let key = tshark_endpoints(&r);
            checked += 1;
            match ours.iter().find(|f| our_endpoints(f) == key) {
                Some(f) if text(&f["quic_sni"]) == r["sni"] => {}
                Some(f) => wrong.push(format!(
                    "{name} frame {}: ours {:?} tshark {}",
                    r["frame"],
                    text(&f["quic_sni"]),
                    r["sni"]
                )),
                None => wrong.push(format!("{name} frame {}: no flow for {key:?}", r["frame"])),
            }
        }
    }
    assert!(checked >= 4, "too few QUIC ClientHellos checked: {checked}");
    assert!(
        wrong.is_empty(),
        "{} disagreements:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn ja4_equals_ja4plus_on_every_client_hello() {
    let reference = include_str!("data/ja4_reference.tsv");
    let mut expected: BTreeMap<&str, std::collections::BTreeSet<String>> = BTreeMap::new();
    for line in reference.lines().filter(|l| !l.starts_with('#')) {
        let (file, ja4) = line.split_once('\t').expect("capture<TAB>ja4");
        expected.entry(file).or_default().insert(ja4.to_owned());
    }
    let mut checked = 0;
    for path in corpus_files() {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let (flows, _) = extract_file(&path);
        let ours: std::collections::BTreeSet<String> = flows
            .iter()
            .map(|f| text(&f["ja4"]))
            .filter(|v| !v.is_empty())
            .collect();
        let want = expected.remove(name.as_ref()).unwrap_or_default();
        checked += want.len();
        assert_eq!(ours, want, "{name}");
    }
    assert!(
        expected.is_empty(),
        "captures missing from the corpus: {expected:?}"
    );
    assert!(checked >= 25, "too few JA4 values checked: {checked}");
}
