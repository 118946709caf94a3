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
            "1",
            "numrxqueues",
            "1",
            "type",
            "veth",
            "peer",
            "name",
            &pair.sender_if,
            "numtxqueues",
            "1",
            "numrxqueues",
            "1",
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

    fn capture(&self, out: &Path, extra: &[&str]) -> Child {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.capture_ns])
            .arg(env!("CARGO_BIN_EXE_capture"))
            .args(["run", "--iface", &self.capture_if, "--output-dir"])
            .arg(out)
            .args(["--format", "csv", "--quiet"])
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start capture");
        // Wait until the program is attached and the sockets are bound.
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        assert!(
            first.contains("capturing on"),
            "capture did not start: {first}{}",
            lines.map_while(Result::ok).collect::<Vec<_>>().join("\n")
        );
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

fn wait_for_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(started.elapsed() < limit, "capture did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn live_records_equal_offline_extraction_of_the_replayed_captures() {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    require_root();
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
    let pair = VethPair::new("eq");
    let out = scratch("live-equal");
    sh(&["ip", "-n", &pair.capture_ns, "link", "set", "lo", "up"]);
    let mut capture = pair.capture(&out, &["--metrics-addr", "127.0.0.1:9911"]);
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
    assert!(
        metrics.contains(&format!(
            "capture_xdp_frames_total{{decision=\"redirected\"}} {sent}\n"
        )),
        "every replayed frame ({sent}) should be redirected:\n{metrics}"
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
    let mut capture = pair.capture(&out, &[]);
    assert!(
        pair.xdp_attached(),
        "the program should be attached while capturing"
    );
    capture.kill().expect("SIGKILL");
    let _ = capture.wait();
    // The kernel releases the link with the process's last descriptor.
    let started = Instant::now();
    while pair.xdp_attached() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !pair.xdp_attached(),
        "the XDP program stayed attached after SIGKILL"
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
