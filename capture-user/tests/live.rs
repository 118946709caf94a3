//! Live capture through the real kernel path: XDP on a veth pair in network namespaces, AF_XDP
//! sockets, corpus captures replayed with tcpreplay, the records compared with offline
//! extraction of the same files.
//!
//! These tests need root (CI runs as root), `ip`, `ethtool` and `tcpreplay`, and a binary built
//! with the XDP program (`cargo xtask test` builds it first). They create and always delete
//! their own namespaces, and run one at a time: two captures at once on two cores overflow rings.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::corpus_dir;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn sh(args: &[&str]) -> std::process::Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A veth pair between two namespaces, removed on drop (also when a test fails).
struct VethPair {
    capture_ns: String,
    sender_ns: String,
    capture_if: String,
    sender_if: String,
}

impl VethPair {
    fn new(tag: &str) -> Self {
        Self::with_queues(tag, 1)
    }

    fn with_queues(tag: &str, queues: u32) -> Self {
        let queues = queues.to_string();
        let id = format!("{tag}{}", std::process::id() % 100_000);
        let pair = Self {
            capture_ns: format!("cap-{id}"),
            sender_ns: format!("gen-{id}"),
            capture_if: format!("c{id}"),
            sender_if: format!("g{id}"),
        };
        let _ = Command::new("ip")
            .args(["netns", "del", &pair.capture_ns])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &pair.sender_ns])
            .output();
        sh(&["ip", "netns", "add", &pair.capture_ns]);
        sh(&["ip", "netns", "add", &pair.sender_ns]);
        sh(&[
            "ip",
            "link",
            "add",
            &pair.capture_if,
            "numtxqueues",
            &queues,
            "numrxqueues",
            &queues,
            "type",
            "veth",
            "peer",
            "name",
            &pair.sender_if,
            "numtxqueues",
            &queues,
            "numrxqueues",
            &queues,
        ]);
        sh(&[
            "ip",
            "link",
            "set",
            &pair.capture_if,
            "netns",
            &pair.capture_ns,
        ]);
        sh(&[
            "ip",
            "link",
            "set",
            &pair.sender_if,
            "netns",
            &pair.sender_ns,
        ]);
        for (ns, dev) in [
            (&pair.capture_ns, &pair.capture_if),
            (&pair.sender_ns, &pair.sender_if),
        ] {
            // No router solicitations or MLD reports of our own in the capture.
            sh(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-q",
                "-w",
                &format!("net.ipv6.conf.{dev}.disable_ipv6=1"),
            ]);
            // Room for VLAN-tagged and larger frames from the corpus, within what native XDP on veth takes.
            sh(&["ip", "-n", ns, "link", "set", dev, "mtu", "3000", "up"]);
            // Wire-sized frames, not offload super-frames.
            let _ = Command::new("ip")
                .args(["netns", "exec", ns, "ethtool", "-K", dev])
                .args(["tso", "off", "gso", "off", "gro", "off", "tx", "off"])
                .output();
        }
        pair
    }

    /// Starts `capture run` on the capture end and waits until the program is attached and
    /// the sockets are bound; returns the process and the rest of its standard error.
    fn start(
        &self,
        out: &Path,
        extra: &[&str],
    ) -> (
        Running,
        std::io::Lines<BufReader<std::process::ChildStderr>>,
    ) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.capture_ns])
            .arg(env!("CARGO_BIN_EXE_capture"))
            .args(["run", "--iface", &self.capture_if, "--output-dir"])
            .arg(out)
            .args(if extra.contains(&"--format") {
                &["--quiet"][..]
            } else {
                &["--format", "csv", "--quiet"][..]
            })
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start capture");
        let stderr = child.stderr.take().expect("stderr");
        let child = Running(child);
        let mut lines = BufReader::new(stderr).lines();
        let first = started_line(&mut lines);
        assert!(
            first.contains("capturing on"),
            "capture did not start: {first}{}",
            lines.map_while(Result::ok).collect::<Vec<_>>().join("\n")
        );
        (child, lines)
    }

    fn capture(&self, out: &Path, extra: &[&str]) -> Running {
        let (child, lines) = self.start(out, extra);
        // Keep reading standard error so that the summary does not block on a full pipe.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                eprintln!("[capture] {line}");
            }
        });
        child
    }

    fn replay(&self, pcaps: &[PathBuf]) {
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &self.sender_ns,
            "tcpreplay",
            "-q",
            "--pps",
            "2000",
        ])
        .arg(format!("--intf1={}", self.sender_if))
        .args(pcaps);
        let out = cmd.output().expect("tcpreplay");
        assert!(
            out.status.success(),
            "tcpreplay failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn xdp_attached(&self) -> bool {
        let out = sh(&[
            "ip",
            "-n",
            &self.capture_ns,
            "link",
            "show",
            &self.capture_if,
        ]);
        String::from_utf8_lossy(&out.stdout).contains("xdp")
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.capture_ns])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.sender_ns])
            .output();
    }
}

/// Reads standard error up to the line saying the capture started (log lines may come first),
/// or up to an error.
fn started_line(lines: &mut impl Iterator<Item = std::io::Result<String>>) -> String {
    let mut seen = String::new();
    for line in lines.map_while(Result::ok) {
        if line.contains("capturing on") {
            return line;
        }
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("error") {
            break;
        }
    }
    seen
}

/// A capture process, killed if a test ends (or fails) before stopping it.
struct Running(Child);

impl Running {
    fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn require_root() {
    // The effective uid, read from /proc.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or("");
    assert_eq!(
        euid, "0",
        "the live-capture tests need root (network namespaces, XDP, AF_XDP); CI runs them as root"
    );
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// (src, sport, dst, dport, proto) -> [(packets, bytes)] of every record in a CSV.
type Flows = HashMap<(String, String, String, String, String), Vec<(u64, u64)>>;

fn flows_of_csv(text: &str) -> Flows {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().expect("header").clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect(name);
    let (src, sport, dst, dport, proto, packets, bytes) = (
        col("src_ip"),
        col("src_port"),
        col("dst_ip"),
        col("dst_port"),
        col("protocol"),
        col("total_packets"),
        col("total_bytes"),
    );
    let mut flows = Flows::new();
    for r in reader.records() {
        let r = r.expect("record");
        flows
            .entry((
                r[src].to_string(),
                r[sport].to_string(),
                r[dst].to_string(),
                r[dport].to_string(),
                r[proto].to_string(),
            ))
            .or_default()
            .push((
                r[packets].parse().expect("packets"),
                r[bytes].parse().expect("bytes"),
            ));
    }
    for v in flows.values_mut() {
        v.sort_unstable();
    }
    flows
}

fn read_output(dir: &Path) -> String {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("output dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "one output file expected: {files:?}");
    std::fs::read_to_string(&files[0]).expect("output")
}

/// Frames in a capture file, as the offline reader counts them.
fn frames_in(pcap: &Path) -> u64 {
    let o = Command::new(env!("CARGO_BIN_EXE_capture"))
        .arg("extract")
        .arg(pcap)
        .args(["-o", "-", "--features", "flow_meta"])
        .output()
        .expect("offline extract");
    let err = String::from_utf8_lossy(&o.stderr);
    err.split(", ")
        .find(|part| part.contains(" frames ("))
        .and_then(|part| part.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no frame count in: {err}"))
}

fn wait_for_exit(child: &mut Running, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            return status;
        }
        assert!(started.elapsed() < limit, "capture did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn live_records_equal_offline_extraction_of_the_replayed_captures() {
    live_equals_offline("eq", &[]);
}

#[test]
fn af_packet_records_equal_offline_extraction_of_the_replayed_captures() {
    live_equals_offline("pk", &["--source", "af-packet"]);
}

/// Captures (with `extra` options) while ten corpus captures are replayed, and compares the
/// records with offline extraction of the same files.
fn live_equals_offline(tag: &str, extra: &[&str]) {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    require_root();
    let xdp = !extra.contains(&"af-packet");
    let pcaps: Vec<PathBuf> = [
        "zeek__tls1.2.pcap",
        "ndpi__dns.pcap",
        "tcpdump__dns_tcp.pcap",
        "zeek__http-qinq-0.pcap",
        "ndpi__vxlan.pcap",
        "zeek__ssh-dups.pcap",
        "zeek__icmp6.pcap",
        "zeek__mixed-vlan-mpls.pcap",
        "ndpi__quic-29.pcap",
        "ndpi__quic_q50.pcap",
    ]
    .iter()
    .map(|n| corpus_dir().join("pcap").join(n))
    .collect();
    let pair = VethPair::new(tag);
    let out = scratch(&format!("live-equal-{tag}"));
    sh(&["ip", "-n", &pair.capture_ns, "link", "set", "lo", "up"]);
    let mut options = vec!["--metrics-addr", "127.0.0.1:9911"];
    options.extend(extra);
    let mut capture = pair.capture(&out, &options);
    pair.replay(&pcaps);
    // Let the last frames through the rings and the counters refresh, then read them as
    // Prometheus would, and stop as an operator would.
    std::thread::sleep(Duration::from_millis(1500));
    let metrics = sh(&[
        "ip",
        "netns",
        "exec",
        &pair.capture_ns,
        "bash",
        "-c",
        "exec 3<>/dev/tcp/127.0.0.1/9911; printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3; cat <&3",
    ]);
    let metrics = String::from_utf8_lossy(&metrics.stdout);
    let sent: u64 = pcaps.iter().map(|p| frames_in(p)).sum();
    let arrived = if xdp {
        format!("capture_xdp_frames_total{{decision=\"redirected\"}} {sent}\n")
    } else {
        format!("capture_frames_read_total {sent}\n")
    };
    assert!(
        metrics.contains(&arrived),
        "every replayed frame ({sent}) should arrive:\n{metrics}"
    );
    for reason in [
        "rx_ring_full",
        "fill_ring_empty",
        "rx_dropped",
        "rx_invalid",
    ] {
        assert!(
            metrics.contains(&format!(
                "capture_socket_drops_total{{reason=\"{reason}\"}} 0\n"
            )),
            "no loss at this rate ({reason}):\n{metrics}"
        );
    }
    sh(&["kill", "-INT", &capture.id().to_string()]);
    let status = wait_for_exit(&mut capture, Duration::from_secs(20));
    assert!(status.success(), "capture exited with {status}");
    assert!(
        !pair.xdp_attached(),
        "the XDP program stayed attached after exit"
    );
    let live = flows_of_csv(&read_output(&out));

    // Offline, each file on its own (their original timestamps are far apart; replayed, they
    // follow each other within seconds), with an idle timeout no replay reaches.
    let mut offline = Flows::new();
    for pcap in &pcaps {
        let o = Command::new(env!("CARGO_BIN_EXE_capture"))
            .arg("extract")
            .arg(pcap)
            .args(["-o", "-", "--quiet"])
            .output()
            .expect("offline extract");
        assert!(o.status.success());
        for (k, v) in flows_of_csv(&String::from_utf8_lossy(&o.stdout)) {
            offline.entry(k).or_default().extend(v);
        }
    }
    let mut missing = Vec::new();
    for (key, counts) in &offline {
        let mut counts = counts.clone();
        counts.sort_unstable();
        match live.get(key) {
            Some(seen) if *seen == counts => {}
            other => missing.push(format!("{key:?}: offline {counts:?}, live {other:?}")),
        }
    }
    assert!(offline.len() >= 20, "too few flows: {}", offline.len());
    assert!(
        missing.is_empty(),
        "{} of {} flows differ between live and offline:\n{}",
        missing.len(),
        offline.len(),
        missing.join("\n")
    );
}

#[test]
fn the_program_is_detached_after_sigkill_and_errors_are_clear() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    require_root();
    let pair = VethPair::new("kill");
    let out = scratch("live-kill");
    // Parquet segments, synced often; flows end soon after their last packet.
    let mut capture = pair.capture(
        &out,
        &[
            "--format",
            "parquet",
            "--fsync-secs",
            "0.05",
            "--timeout",
            "0.3",
        ],
    );
    assert!(
        pair.xdp_attached(),
        "the program should be attached while capturing"
    );
    pair.replay(&[corpus_dir().join("pcap/ndpi__dns.pcap")]);
    // Killed once some records are synced and journaled, with the segment still open.
    let journaled = || {
        std::fs::read_dir(&out).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                e.file_name().to_string_lossy().ends_with(".journal")
                    && e.metadata().is_ok_and(|m| m.len() > 8)
            })
        })
    };
    let started = Instant::now();
    while !journaled() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(journaled(), "no row group was journaled");
    capture.0.kill().expect("SIGKILL");
    let _ = capture.0.wait();
    // What was synced before the kill is made readable by `capture recover`.
    let o = Command::new(env!("CARGO_BIN_EXE_capture"))
        .arg("recover")
        .arg(&out)
        .output()
        .expect("capture recover");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(report.contains(": kept "), "{report}");
    let mut rows = 0;
    for entry in std::fs::read_dir(&out).unwrap().flatten() {
        let path = entry.path();
        assert!(
            path.extension().is_some_and(|e| e == "parquet"),
            "left after recovery: {}",
            path.display()
        );
        let reader =
            parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&path).unwrap())
                .unwrap();
        rows += parquet::file::reader::FileReader::metadata(&reader)
            .file_metadata()
            .num_rows();
    }
    assert!(rows > 0, "{report}");
    // The kernel releases the link with the process's last descriptor.
    let started = Instant::now();
    while pair.xdp_attached() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !pair.xdp_attached(),
        "the XDP program stayed attached after SIGKILL"
    );

    // Generic (skb) mode attaches too, and goes away with the process as well.
    let mut capture = pair.capture(&out, &["--xdp-mode", "skb"]);
    let link = sh(&[
        "ip",
        "-n",
        &pair.capture_ns,
        "link",
        "show",
        &pair.capture_if,
    ]);
    assert!(
        String::from_utf8_lossy(&link.stdout).contains("xdpgeneric"),
        "not attached in skb mode: {}",
        String::from_utf8_lossy(&link.stdout)
    );
    sh(&["kill", "-TERM", &capture.id().to_string()]);
    assert!(wait_for_exit(&mut capture, Duration::from_secs(20)).success());
    assert!(
        !pair.xdp_attached(),
        "the skb-mode program stayed attached after SIGTERM"
    );

    let o = Command::new("ip")
        .args(["netns", "exec", &pair.capture_ns])
        .arg(env!("CARGO_BIN_EXE_capture"))
        .args(["run", "--iface", "no-such-if0", "--output-dir"])
        .arg(&out)
        .output()
        .expect("capture");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("interface 'no-such-if0' does not exist"),
        "unclear error: {err}"
    );
}

/// Runs one capture with `extra` options while `pcaps` are replayed; returns the summary lines.
fn capture_summary(pair: &VethPair, name: &str, extra: &[&str], pcaps: &[PathBuf]) -> String {
    capture_summary_with(pair, &scratch(name), extra, || pair.replay(pcaps))
}

/// Runs one capture into `out` with `extra` options while `send` runs; returns the summary.
fn capture_summary_with(
    pair: &VethPair,
    out: &Path,
    extra: &[&str],
    send: impl FnOnce(),
) -> String {
    let (mut child, lines) = pair.start(out, extra);
    send();
    std::thread::sleep(Duration::from_millis(300));
    sh(&["kill", "-INT", &child.id().to_string()]);
    let summary: String = lines.map_while(Result::ok).collect::<Vec<_>>().join("\n");
    let status = wait_for_exit(&mut child, Duration::from_secs(20));
    assert!(status.success(), "capture failed: {summary}");
    summary
}

/// A counter from the summary table (`  xdp redirected   123`).
fn summary_count(summary: &str, label: &str) -> u64 {
    summary
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or_else(|| panic!("no '{label}' in:\n{summary}"))
}

fn tcpdump_count(pcap: &Path, expression: &str) -> u64 {
    let o = Command::new("tcpdump")
        .args(["-nn", "-r"])
        .arg(pcap)
        .arg(expression)
        .output()
        .expect("tcpdump");
    assert!(
        o.status.success(),
        "tcpdump rejected {expression}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).lines().count() as u64
}

#[test]
fn offloaded_filters_select_what_tcpdump_selects() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    require_root();
    let pcap = |n: &str| corpus_dir().join("pcap").join(n);
    // Untagged, untunnelled traffic: here our verdicts and tcpdump's must agree exactly.
    let plain: Vec<PathBuf> = [
        "zeek__tls1.2.pcap",
        "tcpdump__dns_tcp.pcap",
        "zeek__icmp6.pcap",
        "ndpi__443-firefox.pcap",
        "zeek__ssh-dups.pcap",
        "ndpi__quic-29.pcap",
        "zeek__sshguess.pcap",
    ]
    .iter()
    .map(|n| pcap(n))
    .collect();
    let tagged: Vec<PathBuf> = [
        "zeek__http-qinq-0.pcap",
        "zeek__mixed-vlan-mpls.pcap",
        "zeek__tls1.2.pcap",
    ]
    .iter()
    .map(|n| pcap(n))
    .collect();
    let cases: Vec<(&str, &[PathBuf])> = vec![
        ("tcp port 443 and not net 10.0.0.0/8", &plain),
        ("udp or icmp6", &plain),
        ("ip6 and not icmp6", &plain),
        ("src host 10.0.0.80 or dst port 53", &plain),
        (
            "portrange 20-25 and (src net 192.168.0.0/16 or dst net 192.168.0.0/16)",
            &plain,
        ),
        ("not (tcp or udp)", &plain),
        ("ip proto 17 || tcp dst port 22", &plain),
        ("src and dst net 192.168.0.0/16", &plain),
        ("vlan", &tagged),
        ("vlan 4093 or not vlan", &tagged),
    ];
    let pair = VethPair::new("flt");
    let mut failures = Vec::new();
    for (i, (expression, pcaps)) in cases.iter().enumerate() {
        let summary = capture_summary(
            &pair,
            &format!("live-filter-{i}"),
            &["--filter", expression],
            pcaps,
        );
        let sent: u64 = pcaps.iter().map(|p| frames_in(p)).sum();
        let wanted: u64 = pcaps.iter().map(|p| tcpdump_count(p, expression)).sum();
        let redirected = summary_count(&summary, "xdp redirected");
        let filtered = summary_count(&summary, "xdp filtered");
        if redirected != wanted || redirected + filtered != sent {
            failures.push(format!(
                "{expression}: tcpdump selects {wanted} of {sent}, we redirected {redirected} and filtered {filtered}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn filters_and_sampling_see_inside_mirror_tunnels() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    require_root();
    let vxlan = corpus_dir().join("pcap/ndpi__vxlan.pcap");
    // Offline extraction decodes the VXLAN tunnel: its inner TCP/443 flows are the truth.
    let o = Command::new(env!("CARGO_BIN_EXE_capture"))
        .arg("extract")
        .arg(&vxlan)
        .args(["-o", "-", "--quiet"])
        .output()
        .expect("offline extract");
    let flows = flows_of_csv(&String::from_utf8_lossy(&o.stdout));
    let inner_https: u64 = flows
        .iter()
        .filter(|((_, _, _, dport, proto), _)| dport == "443" && proto == "6")
        .flat_map(|(_, v)| v.iter().map(|(packets, _)| packets))
        .sum();
    assert!(
        inner_https > 50,
        "the sample should hold inner HTTPS: {inner_https}"
    );
    let pair = VethPair::new("tun");
    let summary = capture_summary(
        &pair,
        "live-tunnel",
        &["--filter", "tcp port 443"],
        std::slice::from_ref(&vxlan),
    );
    assert_eq!(
        summary_count(&summary, "xdp redirected"),
        inner_https,
        "{summary}"
    );
    // Sampling keeps whole flows: every recorded flow has all its packets.
    let out = scratch("live-sample");
    let mut capture = pair.capture(&out, &["--sample", "2"]);
    pair.replay(&[vxlan]);
    std::thread::sleep(Duration::from_millis(300));
    sh(&["kill", "-INT", &capture.id().to_string()]);
    assert!(wait_for_exit(&mut capture, Duration::from_secs(20)).success());
    let sampled = flows_of_csv(&read_output(&out));
    assert!(
        !sampled.is_empty() && sampled.len() < flows.len(),
        "{} of {}",
        sampled.len(),
        flows.len()
    );
    for (key, counts) in &sampled {
        assert_eq!(
            Some(counts),
            flows.get(key),
            "sampled flow {key:?} is not whole"
        );
    }
}

#[test]
fn two_queues_with_asymmetric_spreading_still_record_whole_flows() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    require_root();
    let pair = VethPair::with_queues("rss", 2);
    // Transmit-queue selection by CPU (XPS): what the sender sends from CPU 0 arrives on the
    // capture's queue 0, from CPU 1 on queue 1. Each direction of a connection is replayed from
    // a different CPU, so the two directions of every flow arrive on different queues, as with
    // a NIC whose receive hashing is not symmetric.
    for (queue, cpus) in [(0, "1"), (1, "2")] {
        sh(&[
            "ip",
            "netns",
            "exec",
            &pair.sender_ns,
            "sh",
            "-c",
            &format!(
                "echo {cpus} > /sys/class/net/{}/queues/tx-{queue}/xps_cpus",
                pair.sender_if
            ),
        ]);
    }
    let out = scratch("live-rss");
    let halves = scratch("live-rss-halves");
    let mut directions = [Vec::new(), Vec::new()];
    let mut offline = Flows::new();
    for (name, client) in [
        ("zeek__tls1.2.pcap", "10.0.0.80"),
        ("zeek__ssh-dups.pcap", "192.168.0.102"),
        ("tcpdump__dns_tcp.pcap", "192.168.1.11"),
    ] {
        let pcap = corpus_dir().join("pcap").join(name);
        for (i, expr) in [format!("src host {client}"), format!("dst host {client}")]
            .iter()
            .enumerate()
        {
            let half = halves.join(format!("{i}-{name}"));
            let o = Command::new("tcpdump")
                .args(["-r"])
                .arg(&pcap)
                .arg("-w")
                .arg(&half)
                .arg(expr)
                .output()
                .expect("tcpdump");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            directions[i].push(half);
        }
        let o = Command::new(env!("CARGO_BIN_EXE_capture"))
            .arg("extract")
            .arg(&pcap)
            .args(["-o", "-", "--quiet"])
            .output()
            .expect("offline extract");
        offline.extend(flows_of_csv(&String::from_utf8_lossy(&o.stdout)));
    }
    let summary = capture_summary_with(&pair, &out, &[], || {
        for (cpu, files) in ["0", "1"].iter().zip(&directions) {
            let o = Command::new("ip")
                .args(["netns", "exec", &pair.sender_ns, "taskset", "-c", cpu])
                .args(["tcpreplay", "-q", "--pps", "2000"])
                .arg(format!("--intf1={}", pair.sender_if))
                .args(files)
                .output()
                .expect("tcpreplay");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
    });
    // Both queues received part of the traffic, and frames crossed between the workers.
    for queue in ["socket queue 0", "socket queue 1"] {
        let line = summary.lines().find(|l| l.contains(queue)).expect(queue);
        assert!(!line.contains("read 0 "), "{line}");
    }
    assert!(
        summary_count(&summary, "handed to the flow's worker") > 0,
        "{summary}"
    );
    assert_eq!(
        summary_count(&summary, "lost, worker inbox full"),
        0,
        "{summary}"
    );
    let live = flows_of_csv(&read_output(&out));
    assert_eq!(
        live.len(),
        offline.len(),
        "live {live:?}\noffline {offline:?}"
    );
    for (key, counts) in &offline {
        assert_eq!(
            live.get(key),
            Some(counts),
            "flow {key:?} is split or incomplete"
        );
    }
}

/// Runs `capture gen ARGS` in the sender's namespace; returns the frames it reports sent and
/// its packet rate.
fn generate(pair: &VethPair, args: &[&str]) -> (u64, f64) {
    let o = Command::new("ip")
        .args(["netns", "exec", &pair.sender_ns])
        .arg(env!("CARGO_BIN_EXE_capture"))
        .args(["gen", "--iface", &pair.sender_if])
        .args(args)
        .output()
        .expect("capture gen");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "capture gen failed: {}{text}",
        String::from_utf8_lossy(&o.stderr)
    );
    // "sent N frames (B bytes) in S s: R packets/s, ..."
    let words: Vec<&str> = text.split_whitespace().collect();
    let sent = words[1].parse().expect("frames sent");
    let rate = words[words.iter().position(|w| *w == "packets/s,").expect("rate") - 1]
        .parse()
        .expect("rate");
    (sent, rate)
}

#[test]
fn the_generator_multiplies_flows_and_keeps_its_rate() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    require_root();
    let pair = VethPair::new("gen");
    let out = scratch("live-gen");
    let mut capture = pair.capture(&out, &["--timeout", "600"]);
    let pcap = corpus_dir().join("pcap/ndpi__dns.pcap");
    let pcap_arg = pcap.to_str().unwrap();
    // A capture replayed as five copies of itself, at a set rate.
    let (sent, rate) = generate(
        &pair,
        &["--pcap", pcap_arg, "--copies", "5", "--rate", "2000"],
    );
    assert_eq!(sent, 5 * frames_in(&pcap));
    assert!(
        (1500.0..2600.0).contains(&rate),
        "asked for 2000 packets/s, sent {rate}"
    );
    // 64-byte frames over 300 flows, ten passes; and an IMIX pass over 50 flows.
    let (sent, _) = generate(
        &pair,
        &[
            "--mix", "64", "--flows", "300", "--loops", "10", "--rate", "20000",
        ],
    );
    assert_eq!(sent, 3000);
    let (sent, _) = generate(&pair, &["--mix", "imix", "--flows", "50"]);
    assert_eq!(sent, 600);
    std::thread::sleep(Duration::from_millis(500));
    sh(&["kill", "-INT", &capture.id().to_string()]);
    assert!(wait_for_exit(&mut capture, Duration::from_secs(20)).success());
    let live = flows_of_csv(&read_output(&out));

    // Offline, the capture once: each of its flows comes back five times, under five address
    // pairs, with the same packet and byte counts.
    let o = Command::new(env!("CARGO_BIN_EXE_capture"))
        .arg("extract")
        .arg(&pcap)
        .args(["-o", "-", "--quiet", "--timeout", "600"])
        .output()
        .expect("offline extract");
    assert!(o.status.success());
    let offline = flows_of_csv(&String::from_utf8_lossy(&o.stdout));
    let mut offline_counts: Vec<(u64, u64)> = offline.values().flatten().copied().collect();
    offline_counts.sort_unstable();
    let mut copies: Vec<(u64, u64)> = live
        .iter()
        .filter(|(k, _)| !k.0.starts_with("10.") || k.2 != "198.18.0.1")
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    copies.sort_unstable();
    let expected: Vec<(u64, u64)> = offline_counts
        .iter()
        .flat_map(|c| std::iter::repeat_n(*c, 5))
        .collect();
    assert_eq!(copies, expected);
    // The synthetic flows: 300 of 10 packets of 40 IP bytes (64-byte frames); the IMIX pass
    // adds 12 packets of 7 × 40 + 4 × 576 + 1,500 IP bytes to the first 50 of them.
    let synthetic: Vec<(u64, u64)> = live
        .iter()
        .filter(|(k, _)| k.0.starts_with("10.") && k.2 == "198.18.0.1")
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    assert_eq!(synthetic.len(), 300, "{synthetic:?}");
    let imix_bytes = 7 * 40 + 4 * 576 + 1500;
    let (small, imix): (Vec<_>, Vec<_>) = synthetic
        .iter()
        .copied()
        .partition(|c: &(u64, u64)| c.0 == 10);
    assert_eq!(small.len(), 250, "{synthetic:?}");
    assert!(small.iter().all(|c| c.1 == 10 * 40), "{small:?}");
    assert_eq!(imix.len(), 50, "{imix:?}");
    assert!(
        imix.iter().all(|c| *c == (22, 10 * 40 + imix_bytes)),
        "{imix:?}"
    );
}
