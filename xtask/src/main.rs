//! Project tasks: `cargo xtask run|test|bench|fuzz|docs|build-ebpf`.
//!
//! Every task installs what it needs first (Python packages go into a scratch virtual
//! environment under `target/`), so a fresh clone needs only `cargo xtask <task>`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  run [-- ARGS]        build the XDP program and the release binary; with --iface IFACE, run
                       `capture run --iface IFACE ARGS`; with other ARGS, `capture ARGS`; with no
                       ARGS, a live demo: capture on a veth pair while the shipped samples are
                       replayed into it, then print the flows
  test                 format check, clippy, every test, and the pandas/polars/DuckDB check of the outputs
  bench offline [N]    the offline benchmark on the 1.1M-packet capture (N runs, default 5),
                       side by side with NFStream; writes docs/benchmarks.md
  bench profiles [N]   --profile all against --profile core, single-threaded
  bench live [N]       live capture on a veth pair at several offered rates from tcpreplay,
                       `capture gen` (replay, 64-byte, IMIX) and trafgen, against tcpdump, each
                       point N times (default 3), with plots (needs root, iproute2, ethtool,
                       tcpreplay, tcpdump)
  bench floors [N]     the benchmark capture through tcpdump (reading only), tshark and
                       JoyfulJay with its dpkt backend (once, stopped after 300 s), beside
                       capture (N runs, default 3)
  bench memory [N]     bytes per open flow and peak RSS, also with 1,000,000 concurrent flows
                       (N runs, default 3)
  bench workers [N]    offline extraction with 1 to 4 flow workers (N alternating runs), with a plot
  bench writer [N]     the spill writer against fio on the same directory (N runs, default 3)
  bench all            every bench above, in turn
  fuzz [SECONDS]       run the decoder fuzz target (default 300 s) with cargo-fuzz on nightly
  docs                 regenerate docs/features.md from the feature registry
  build-ebpf           build the XDP program (nightly + bpf-linker)";

fn main() {
    if let Err(e) = run_task() {
        eprintln!("xtask: error: {e:#}");
        std::process::exit(1);
    }
}

fn run_task() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = || {
        args.iter()
            .skip(1)
            .map(String::as_str)
            .filter(|a| *a != "--")
            .collect::<Vec<_>>()
    };
    match args.first().map(String::as_str) {
        Some("run") => run(&rest()),
        Some("test") => test(),
        Some("bench") => bench(&rest()),
        Some("fuzz") => fuzz(
            rest()
                .first()
                .map_or(Ok(300), |s| s.parse())
                .context("fuzz SECONDS")?,
        ),
        Some("docs") => docs(),
        Some("build-ebpf") => build_ebpf(),
        _ => {
            println!("{USAGE}");
            Ok(())
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn sh(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: $ {}", describe(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {}", describe(cmd)))?;
    if !status.success() {
        bail!("{} failed with {status}", describe(cmd));
    }
    Ok(())
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program().to_string_lossy().into_owned())
        .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn release_binary() -> Result<PathBuf> {
    sh(cargo().args([
        "build",
        "--release",
        "-p",
        "capture-user",
        "--bin",
        "capture",
    ]))?;
    Ok(root().join("target/release/capture"))
}

fn run(args: &[&str]) -> Result<()> {
    build_ebpf()?;
    let capture = release_binary()?;
    if args.contains(&"--iface") {
        // `cargo xtask run -- --iface ens5 [...]`: a live capture, records under target/live
        // unless an output directory is given.
        let mut cmd = Command::new(&capture);
        cmd.arg("run").args(args);
        if !args.contains(&"--output-dir") {
            cmd.arg("--output-dir").arg(root().join("target/live"));
        }
        return sh(&mut cmd);
    }
    if !args.is_empty() {
        return sh(Command::new(&capture).args(args));
    }
    demo(&capture)
}

/// A veth pair between two network namespaces, wire-sized frames, no IPv6 chatter of its own;
/// the namespaces (and the pair with them) are removed on drop.
struct VethLab {
    namespaces: [&'static str; 2],
}

impl VethLab {
    fn new(cap_ns: &'static str, gen_ns: &'static str, cap_if: &str, gen_if: &str) -> Result<Self> {
        let lab = Self {
            namespaces: [cap_ns, gen_ns],
        };
        lab.remove();
        sh(Command::new("ip").args(["netns", "add", cap_ns]))?;
        sh(Command::new("ip").args(["netns", "add", gen_ns]))?;
        sh(Command::new("ip")
            .args([
                "link",
                "add",
                cap_if,
                "numrxqueues",
                "1",
                "numtxqueues",
                "1",
            ])
            .args(["type", "veth", "peer", "name", gen_if])
            .args(["numrxqueues", "1", "numtxqueues", "1"]))?;
        sh(Command::new("ip").args(["link", "set", cap_if, "netns", cap_ns]))?;
        sh(Command::new("ip").args(["link", "set", gen_if, "netns", gen_ns]))?;
        for (ns, dev) in [(cap_ns, cap_if), (gen_ns, gen_if)] {
            sh(Command::new("ip")
                .args(["netns", "exec", ns, "sysctl", "-q", "-w"])
                .arg(format!("net.ipv6.conf.{dev}.disable_ipv6=1")))?;
            sh(Command::new("ip").args(["-n", ns, "link", "set", dev, "mtu", "3000", "up"]))?;
            let _ = Command::new("ip")
                .args(["netns", "exec", ns, "ethtool", "-K", dev])
                .args(["tso", "off", "gso", "off", "gro", "off", "tx", "off"])
                .output();
        }
        Ok(lab)
    }

    fn remove(&self) {
        for ns in self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

impl Drop for VethLab {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The demo on a machine without a spare NIC: a veth pair between two network namespaces,
/// a live capture on one end, the shipped sample captures replayed into the other, then the
/// flows it recorded.
fn demo(capture: &Path) -> Result<()> {
    let out_dir = root().join("target/demo");
    let _ = std::fs::remove_dir_all(&out_dir);
    std::fs::create_dir_all(&out_dir)?;
    let (cap_ns, gen_ns, cap_if, gen_if) = ("capture-demo", "sender-demo", "demo-cap", "demo-gen");
    let lab = VethLab::new(cap_ns, gen_ns, cap_if, gen_if)
        .context("the live demo needs root, iproute2 and ethtool (see README)")?;
    let result = (|| -> Result<()> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", cap_ns])
            .arg(capture)
            .args(["run", "--iface", cap_if, "--format", "csv", "--output-dir"])
            .arg(&out_dir)
            .args(["--duration", "4"])
            .spawn()
            .context("cannot start the capture")?;
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let samples: Vec<PathBuf> = std::fs::read_dir(root().join("capture-user/tests/data"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
            .collect();
        sh(Command::new("ip")
            .args(["netns", "exec", gen_ns, "tcpreplay", "-q", "--pps", "2000"])
            .arg(format!("--intf1={gen_if}"))
            .args(&samples))?;
        let status = child.wait()?;
        if !status.success() {
            bail!("the capture failed: {status}");
        }
        let out = std::fs::read_dir(&out_dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "csv"))
            .context("the capture wrote no records")?;
        print_preview(&out)?;
        println!("\nall {} columns: {}", count_columns(&out)?, out.display());
        Ok(())
    })();
    drop(lab);
    result.context("the live demo needs root, iproute2, ethtool and tcpreplay (see README)")
}

fn count_columns(csv: &Path) -> Result<usize> {
    let text = std::fs::read_to_string(csv)?;
    Ok(text.lines().next().map_or(0, |h| h.split(',').count()))
}

/// Prints a few telling columns of each flow as an aligned table.
fn print_preview(csv: &Path) -> Result<()> {
    let text = std::fs::read_to_string(csv)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let wanted = [
        "src_ip",
        "src_port",
        "dst_ip",
        "dst_port",
        "protocol",
        "total_packets",
        "total_bytes",
        "duration",
        "hdr_desc",
        "ja3_hash",
        "flow_end_reason",
    ];
    let idx: Vec<usize> = wanted
        .iter()
        .filter_map(|w| header.iter().position(|h| h == w))
        .collect();
    let rows: Vec<Vec<String>> = lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            idx.iter()
                .map(|&i| cells.get(i).copied().unwrap_or("").to_string())
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..idx.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .chain([wanted[c].len()])
                .max()
                .unwrap_or(0)
                .min(40)
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{:<w$}", c.chars().take(*w).collect::<String>(), w = *w))
            .collect::<Vec<_>>()
            .join("  ")
    };
    println!(
        "{}",
        line(&wanted.iter().map(|s| (*s).to_string()).collect::<Vec<_>>())
    );
    for r in rows.iter().take(40) {
        println!("{}", line(r));
    }
    if rows.len() > 40 {
        println!("... {} flows in all", rows.len());
    }
    Ok(())
}

/// A scratch virtual environment under target/ with `packages` installed.
fn venv(name: &str, packages: &[&str]) -> Result<PathBuf> {
    let dir = root().join("target").join(name);
    let python = dir.join("bin/python");
    let stamp = dir.join(format!(
        ".installed-{}",
        packages.join("_").replace(['=', '<', '>', '[', ']'], "-")
    ));
    if !stamp.exists() {
        if !python.exists() {
            sh(Command::new("python3").args(["-m", "venv"]).arg(&dir))?;
        }
        sh(Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(packages))?;
        std::fs::write(&stamp, "")?;
    }
    Ok(python)
}

fn test() -> Result<()> {
    sh(cargo().args(["fmt", "--all", "--", "--check"]))?;
    sh(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The live-capture tests run the binary with the XDP program built in.
    build_ebpf()?;
    // The spill tests also read their segments with DuckDB and pyarrow through this Python.
    let compat_python = venv(
        "venv-compat",
        &["pandas", "pyarrow", "polars", "duckdb", "zstandard"],
    )?;
    let (mut passed, failed) = cargo_test(&compat_python)?;
    // The outputs must open in the tools data scientists use, with no code of ours.
    let capture = release_binary()?;
    let out = root().join("target/compat");
    std::fs::create_dir_all(&out)?;
    let samples = root().join("capture-user/tests/data");
    for name in ["flows.parquet", "flows.csv", "flows.jsonl", "flows.csv.zst"] {
        sh(Command::new(&capture)
            .arg("extract")
            .arg(&samples)
            .arg("-o")
            .arg(out.join(name))
            .arg("--quiet"))?;
    }
    sh(Command::new(&compat_python)
        .arg(root().join("tests/compat/check_outputs.py"))
        .arg(&out))?;
    passed += 1;
    // The connection group against JoyfulJay's own graph code, fed with our flows.
    let python = venv("venv-joyfuljay", &["joyfuljay[graphs]==0.1.6.1"])?;
    let corpus = root().join("../shared/corpus/pcap");
    let corpus =
        std::env::var_os("CAPTURE_CORPUS").map_or(corpus, |dir| PathBuf::from(dir).join("pcap"));
    let mut pcaps: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .with_context(|| format!("cannot read the corpus at {}", corpus.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    pcaps.sort();
    sh(Command::new(python)
        .arg(root().join("tests/compat/check_connection.py"))
        .arg(&capture)
        .arg(out.join("connection"))
        .args(&pcaps))?;
    passed += 1;
    // One closing line for every test run above (cargo's own last lines are often the empty
    // doc-test binaries).
    println!("tests: {passed} passed, {failed} failed");
    Ok(())
}

/// Runs `cargo test --workspace`, echoing its output, and sums its `test result` lines.
fn cargo_test(compat_python: &Path) -> Result<(u64, u64)> {
    use std::io::BufRead;
    let mut cmd = cargo();
    cmd.args(["test", "--workspace"])
        .env("CAPTURE_COMPAT_PYTHON", compat_python)
        .stdout(Stdio::piped());
    eprintln!("xtask: $ {}", describe(&cmd));
    let mut child = cmd.spawn().context("cannot start cargo test")?;
    let (mut passed, mut failed) = (0, 0);
    if let Some(out) = child.stdout.take() {
        for line in std::io::BufReader::new(out).lines() {
            let line = line?;
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                // "ok. 78 passed; 0 failed; 0 ignored; ..."
                let count = |word: &str| -> u64 {
                    rest.split(';')
                        .find_map(|part| {
                            part.trim()
                                .strip_suffix(word)?
                                .trim()
                                .rsplit(' ')
                                .next()?
                                .parse()
                                .ok()
                        })
                        .unwrap_or(0)
                };
                passed += count("passed");
                failed += count("failed");
            }
        }
    }
    let status = child.wait()?;
    if !status.success() {
        println!("tests: {passed} passed, {failed} failed");
        bail!("cargo test failed with {status}");
    }
    Ok((passed, failed))
}

fn bench(args: &[&str]) -> Result<()> {
    match args.first().copied() {
        Some("offline") => bench_offline(
            args.get(1)
                .map_or(Ok(5), |s| s.parse())
                .context("bench offline N")?,
        ),
        Some("profiles") => bench_profiles(
            args.get(1)
                .map_or(Ok(7), |s| s.parse())
                .context("bench profiles N")?,
        ),
        Some("live") => bench_live(
            args.get(1)
                .map_or(Ok(3), |s| s.parse())
                .context("bench live N")?,
        ),
        Some("floors") => bench_floors(
            args.get(1)
                .map_or(Ok(3), |s| s.parse())
                .context("bench floors N")?,
        ),
        Some("memory") => bench_memory(
            args.get(1)
                .map_or(Ok(3), |s| s.parse())
                .context("bench memory N")?,
        ),
        Some("workers") => bench_workers(
            args.get(1)
                .map_or(Ok(3), |s| s.parse())
                .context("bench workers N")?,
        ),
        Some("all") => {
            bench_offline(5)?;
            bench_profiles(7)?;
            bench_floors(3)?;
            bench_memory(3)?;
            bench_workers(3)?;
            bench_writer(3)?;
            bench_live(3)
        }
        Some("writer") => bench_writer(
            args.get(1)
                .map_or(Ok(3), |s| s.parse())
                .context("bench writer N")?,
        ),
        other => bail!(
            "unknown bench {other:?}: this build has `cargo xtask bench offline [N]`, `cargo xtask bench profiles [N]`, `cargo xtask bench live [N]`, `cargo xtask bench floors [N]`, `cargo xtask bench memory [N]`, `cargo xtask bench workers [N]`, `cargo xtask bench writer [N]` and `cargo xtask bench all`"
        ),
    }
}

/// Installs, through apt, the package of every (command, package) whose command is not on
/// the PATH.
fn ensure_tools(tools: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(command, _)| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {command}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(|&(_, package)| package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    sh(Command::new("apt-get").arg("update").arg("-qq"))?;
    sh(Command::new("apt-get")
        .args(["install", "-y", "-qq"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn bench_input() -> Result<PathBuf> {
    let big = PathBuf::from(
        std::env::var("CAPTURE_BENCH_PCAP").unwrap_or_else(|_| "/tmp/bench/big.pcap".into()),
    );
    if !big.exists() {
        let script = root().join("../shared/bench/build_big.py");
        if !script.exists() {
            bail!(
                "{} is missing and so is {}: set CAPTURE_BENCH_PCAP",
                big.display(),
                script.display()
            );
        }
        // The build script cuts and joins captures with Wireshark's editcap and mergecap.
        ensure_tools(&[
            ("editcap", "tshark"),
            ("mergecap", "tshark"),
            ("capinfos", "tshark"),
        ])?;
        sh(Command::new("python3").arg(script).env("OUT", &big))?;
    }
    settle(&big)?;
    Ok(big)
}

/// Drops `path` from the page cache and reads it back, so that every benchmark starts from the
/// capture as it is held after being read from disk, not as writing it left it. The two differ
/// in cost to map: the kernel (6.18, ext4) reads a file back in folios of up to 2 MiB, which a
/// mapping maps with one fault each, where the pages a write left are 4 KiB, mapped sixteen to
/// a fault and unmapped one by one (0.04 to 0.05 s of a 0.25 to 0.3 s single-threaded run of
/// this capture; NFStream, which reads with `read()`, is not moved by it). Which state a
/// capture was in used to depend on whether the host had paged it out since it was built.
fn settle(path: &Path) -> Result<()> {
    let evict = "import os, sys\nfd = os.open(sys.argv[1], os.O_RDONLY)\nos.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)";
    sh(Command::new("python3").args(["-c", evict]).arg(path))?;
    warm(path)
}

/// Reads `path` through once, so that the run timed next finds it in the page cache. This VM's
/// host pages out file pages that no process has mapped after about a minute (DAMON reclaim),
/// which left each run reading a different share of the capture from disk.
fn warm(path: &Path) -> Result<()> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    std::io::copy(&mut file, &mut std::io::sink())?;
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench_offline(runs: usize) -> Result<()> {
    let capture = release_binary()?;
    let big = bench_input()?;
    let packets = count_packets(&capture, &big)?;
    let out = root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let workers = cores.to_string();
    // (profile, extra arguments, label)
    let mut plans: Vec<(&str, Vec<&str>, String)> = Vec::new();
    for profile in ["core", "all"] {
        for (how, extra) in [
            ("one packet thread, one writer thread", vec![]),
            ("everything on one thread", vec!["--single-thread"]),
            ("all cores", vec!["--workers", workers.as_str()]),
        ] {
            // The connection group's windows follow the order in which flows end, which
            // several workers do not keep: `extract` refuses `--profile all --workers N`.
            if profile == "all" && extra.first() == Some(&"--workers") {
                continue;
            }
            let flags = if extra.is_empty() {
                String::new()
            } else {
                format!(" {}", extra.join(" "))
            };
            plans.push((
                profile,
                extra,
                format!("`capture extract --profile {profile}{flags}` ({how})"),
            ));
        }
    }
    let python = venv("venv-nfstream", &["nfstream==6.6.0"])?;
    let runs = runs.max(1);
    let nf_runs = runs.clamp(1, 3);
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); plans.len()];
    let mut summary = String::new();
    let mut nfstream = Vec::new();
    let mut nf_flows = String::new();
    // Rounds of one run of every case, with NFStream's runs spread among them: the host's speed
    // drifts within minutes, and both tools should see the same drift.
    for round in 0..runs {
        for (i, (profile, extra, _)) in plans.iter().enumerate() {
            let (secs, text) =
                time_capture_once(&capture, &big, &out, profile, extra, round, packets)?;
            if *profile == "core" && extra.is_empty() {
                summary = text;
            }
            times[i].push(secs);
        }
        if nfstream.len() < nf_runs && round * nf_runs / runs == nfstream.len() {
            let (secs, flows) = time_nfstream_once(&python, &big, nfstream.len(), packets)?;
            nf_flows = flows;
            nfstream.push(secs);
        }
    }
    let cases: Vec<(String, Vec<f64>)> = plans
        .into_iter()
        .zip(times)
        .map(|((_, _, label), t)| (label, t))
        .collect();
    let report = offline_report(&big, packets, cores, &cases, &nfstream, &nf_flows, &summary);
    println!("{report}");
    write_benchmarks_section("offline", &report)
}

/// One timed NFStream run over `big`: its seconds and the flows it reported.
fn time_nfstream_once(python: &Path, big: &Path, i: usize, packets: u64) -> Result<(f64, String)> {
    let script = "import sys, time\nfrom nfstream import NFStreamer\nt=time.time()\nn=sum(1 for _ in NFStreamer(source=sys.argv[1], statistical_analysis=True, n_meters=1))\nprint(time.time()-t, n)";
    warm(big)?;
    let o = Command::new(python)
        .args(["-c", script])
        .arg(big)
        .output()?;
    if !o.status.success() {
        bail!("nfstream failed: {}", String::from_utf8_lossy(&o.stderr));
    }
    let text = String::from_utf8_lossy(&o.stdout);
    let mut parts = text.split_whitespace();
    let secs: f64 = parts.next().unwrap_or("0").parse()?;
    let flows = parts.next().unwrap_or("").to_string();
    eprintln!(
        "xtask: nfstream run {}: {:.3} s, {:.0} packets/s",
        i + 1,
        secs,
        packets as f64 / secs
    );
    Ok((secs, flows))
}

/// Runs `cmd` and returns its standard output and standard error, failing when it fails.
fn output(cmd: &mut Command) -> Result<(String, String)> {
    let o = cmd
        .output()
        .with_context(|| format!("cannot start {}", describe(cmd)))?;
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    if !o.status.success() {
        bail!("{} failed with {}: {err}", describe(cmd), o.status);
    }
    Ok((out, err))
}

/// The number after `label` on the first line holding it (`  xdp seen   123`, `123 packets
/// captured`).
fn count_after(text: &str, label: &str) -> u64 {
    text.lines()
        .find(|l| l.contains(label))
        .and_then(|l| {
            let (before, after) = l.split_once(label)?;
            after
                .split_whitespace()
                .next()
                .and_then(|w| w.parse().ok())
                .or_else(|| before.split_whitespace().last()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Times `cmd`, killing it after `limit`; returns the seconds, or None when it hit the limit.
fn timed(cmd: &mut Command, limit: std::time::Duration) -> Result<Option<f64>> {
    eprintln!("xtask: $ {}", describe(cmd));
    let started = Instant::now();
    let err_path = std::env::temp_dir().join(format!("xtask-timed-{}.err", std::process::id()));
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path)?)
        .spawn()
        .with_context(|| format!("cannot start {}", describe(cmd)))?;
    loop {
        if let Some(status) = child.try_wait()? {
            let secs = started.elapsed().as_secs_f64();
            if !status.success() {
                let text = std::fs::read_to_string(&err_path).unwrap_or_default();
                let last = text
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("");
                bail!("failed after {secs:.1} s with {status}: {}", last.trim());
            }
            return Ok(Some(secs));
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The same file through the tools a user would otherwise run, and the cost of only reading it.
fn bench_floors(runs: usize) -> Result<()> {
    let runs = runs.max(1);
    ensure_tools(&[("tcpdump", "tcpdump"), ("tshark", "tshark")])?;
    let capture = release_binary()?;
    let big = bench_input()?;
    let packets = count_packets(&capture, &big)? as f64;
    let limit = std::time::Duration::from_secs(300);
    // JoyfulJay's fastest reader is its dpkt backend (the `fast` extra); its command line always
    // reads with scapy, so it runs through its Python API here.
    let jj_python = venv("venv-joyfuljay", &["joyfuljay[graphs,fast]==0.1.6.1"])?;
    let jj_script = "import sys\nfrom joyfuljay.core.config import Config\nfrom joyfuljay.core.pipeline import Pipeline\nfrom joyfuljay.capture.dpkt_backend import DpktBackend\np = Pipeline(Config(profile='JJ-CORE'))\np.backend = DpktBackend(store_raw_payload=p._needs_raw_payload())\nprint(sum(1 for _ in p.iter_features(sys.argv[1])))";
    let out = root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    let cases: Vec<(String, Command)> = vec![
        (
            format!("`capture extract {} -o x.parquet --profile core --single-thread --quiet`", big.display()),
            {
                let mut c = Command::new(&capture);
                c.arg("extract").arg(&big).arg("-o").arg(out.join("floor.parquet"))
                    .args(["--profile", "core", "--single-thread", "--quiet"]);
                c
            },
        ),
        (
            format!("`tcpdump -r {} -w /dev/null` (reading the file, nothing else)", big.display()),
            {
                let mut c = Command::new("tcpdump");
                c.arg("-r").arg(&big).args(["-w", "/dev/null"]);
                c
            },
        ),
        (
            format!("`tshark -q -z conv,tcp -r {}` (TCP conversations only)", big.display()),
            {
                let mut c = Command::new("tshark");
                c.args(["-q", "-z", "conv,tcp", "-r"]).arg(&big);
                c
            },
        ),
        (
            format!("JoyfulJay 0.1.6.1, `Pipeline(Config(profile='JJ-CORE'))` with its dpkt backend, every flow's features iterated (stopped after {} s)", limit.as_secs()),
            {
                let mut c = Command::new(&jj_python);
                c.args(["-c", jj_script]).arg(&big);
                c
            },
        ),
        (
            format!("`jj extract {} -o x.csv --profile JJ-CORE` (JoyfulJay 0.1.6.1 with scapy, its command line's reader; stopped after {} s)", big.display(), limit.as_secs()),
            {
                let mut c = Command::new(jj_python.with_file_name("jj"));
                c.arg("extract").arg(&big).arg("-o").arg(out.join("floor-jj.csv"))
                    .args(["--profile", "JJ-CORE"]);
                c
            },
        ),
    ];
    let mut rows = String::new();
    let mut notes = String::new();
    for (label, mut cmd) in cases {
        // Tools that take minutes run once, within the time limit; the others `runs` times.
        let repeats = if label.contains("JoyfulJay") { 1 } else { runs };
        let mut times = Vec::new();
        let mut failure = None;
        for _ in 0..repeats {
            warm(&big)?;
            match timed(&mut cmd, limit) {
                Ok(Some(secs)) => times.push(secs),
                Ok(None) => break,
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        let row = if let Some(why) = failure {
            if label.contains("dpkt") {
                notes.push_str("JoyfulJay's dpkt reader, its fastest, stopped on this capture (see the row); its command line reads with scapy, the row after it.\n");
            }
            format!(
                "| {label} | 1 | fails on this file | | {} |\n",
                why.replace('|', "\\|")
            )
        } else if times.len() == repeats {
            let med = median(&mut times);
            let (lo, hi) = (times[0], times[times.len() - 1]);
            format!(
                "| {label} | {repeats} | {med:.2} s | {lo:.2}–{hi:.2} s | {:.0} |\n",
                packets / med
            )
        } else {
            format!(
                "| {label} | 1 | not finished after {} s | | below {:.0} |\n",
                limit.as_secs(),
                packets / limit.as_secs_f64()
            )
        };
        eprint!("xtask: {row}");
        rows.push_str(&row);
    }
    let report = format!(
        "Written by `cargo xtask bench floors {runs}`: on the same file ({packets:.0} packets), wall-clock, {runs} runs each except JoyfulJay (one run, stopped after {} s); what a user could run instead, and the cost of reading the file alone.\n\n\
| command | runs | median | range | packets/s (median) |\n|---|---|---|---|---|\n{rows}\n{notes}",
        limit.as_secs()
    );
    println!("{report}");
    write_benchmarks_section("floors", &report)
}

/// Writes a classic pcap holding `flows` UDP conversations that are all open at once: every
/// flow's query first (1 µs apart), then every answer.
fn write_concurrent_flows(path: &Path, flows: u32) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    out.write_all(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0])?;
    out.write_all(&65_535u32.to_le_bytes())?;
    out.write_all(&1u32.to_le_bytes())?;
    let mut t_us: u64 = 1_700_000_000_000_000;
    for answer in [false, true] {
        for f in 0..flows {
            let client = [10, (f >> 16) as u8, (f >> 8) as u8, f as u8];
            let server = [192, 0, 2, 1];
            let sport = 1024 + (f % 60_000) as u16;
            let (src, dst, sp, dp) = if answer {
                (server, client, 53, sport)
            } else {
                (client, server, sport, 53u16)
            };
            let mut frame = [0u8; 14 + 20 + 8 + 32];
            frame[..14].copy_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
            frame[14..26].copy_from_slice(&[0x45, 0, 0, 60, 0, 0, 0x40, 0, 64, 17, 0, 0]);
            frame[26..30].copy_from_slice(&src);
            frame[30..34].copy_from_slice(&dst);
            let mut sum = 0u32;
            for c in frame[14..34].chunks(2) {
                sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
            }
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            frame[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
            frame[34..36].copy_from_slice(&sp.to_be_bytes());
            frame[36..38].copy_from_slice(&dp.to_be_bytes());
            frame[38..40].copy_from_slice(&40u16.to_be_bytes());
            frame[42..].fill(0x42);
            out.write_all(&((t_us / 1_000_000) as u32).to_le_bytes())?;
            out.write_all(&((t_us % 1_000_000) as u32).to_le_bytes())?;
            out.write_all(&(frame.len() as u32).to_le_bytes())?;
            out.write_all(&(frame.len() as u32).to_le_bytes())?;
            out.write_all(&frame)?;
            t_us += 1;
        }
    }
    out.flush()?;
    Ok(())
}

/// Memory per open flow and peak RSS: the benchmark capture, and a synthetic capture with one
/// million flows open at once.
fn bench_memory(runs: usize) -> Result<()> {
    let runs = runs.max(1);
    ensure_tools(&[("/usr/bin/time", "time")])?;
    let capture = release_binary()?;
    let big = bench_input()?;
    let million = big.with_file_name("million-flows.pcap");
    if !million.exists() {
        write_concurrent_flows(&million, 1_000_000)?;
    }
    let out = root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    let mut rows = String::new();
    for (label, input) in [
        ("benchmark capture (1.1 M packets)", &big),
        (
            "1,000,000 concurrent UDP flows (2 M packets, generated)",
            &million,
        ),
    ] {
        for profile in ["core", "all"] {
            let mut rss = Vec::new();
            let mut flow_state = (String::new(), String::new());
            for _ in 0..runs {
                let o = Command::new("/usr/bin/time")
                    .arg("-v")
                    .arg(&capture)
                    .arg("extract")
                    .arg(input)
                    .arg("-o")
                    .arg(out.join("memory.parquet"))
                    .args(["--profile", profile, "--quiet", "--max-flows", "2000000"])
                    .output()?;
                let err = String::from_utf8_lossy(&o.stderr).into_owned();
                if !o.status.success() {
                    bail!("capture failed: {err}");
                }
                let rss_kib: u64 = err
                    .lines()
                    .find_map(|l| {
                        l.trim()
                            .strip_prefix("Maximum resident set size (kbytes): ")
                    })
                    .and_then(|v| v.trim().parse().ok())
                    .context("no peak RSS from /usr/bin/time")?;
                // "capture: peak flow-state memory B bytes for N open flows (P bytes per flow)"
                let line = err
                    .lines()
                    .find(|l| l.contains("peak flow-state memory"))
                    .context("no flow-state line in the summary")?;
                let words: Vec<&str> = line.split_whitespace().collect();
                let at = |w: &str| words.iter().position(|x| *x == w).map(|i| words[i - 1]);
                let flows = at("open").unwrap_or("?");
                let per_flow = line
                    .rsplit('(')
                    .next()
                    .and_then(|t| t.split_whitespace().next())
                    .unwrap_or("?");
                rss.push(rss_kib as f64 / 1024.0);
                flow_state = (flows.to_string(), per_flow.to_string());
            }
            let (flows, per_flow) = flow_state;
            let med = median(&mut rss);
            let row = format!(
                "| {label} | {profile} | {flows} | {per_flow} | {med:.0} MiB ({:.0}–{:.0}) |\n",
                rss[0],
                rss[rss.len() - 1]
            );
            eprint!("xtask: {row}");
            rows.push_str(&row);
        }
    }
    let report = format!(
        "Written by `cargo xtask bench memory {runs}`: {runs} runs of `/usr/bin/time -v capture extract INPUT -o x.parquet --profile P --quiet --max-flows 2000000`; \
flow-state bytes are the engine's own count at the moment most flows were open (sampled every 64 Ki packets, or every four packets per open flow above 16 Ki open flows), peak RSS is the whole process \
(input mapping, column buffers and allocator included).\n\n\
| input | profile | open flows at the peak | flow-state bytes per open flow | peak RSS, median (min–max) |\n|---|---|---|---|---|\n{rows}\n"
    );
    println!("{report}");
    write_benchmarks_section("memory", &report)
}

/// Offline extraction with 1 to 4 flow workers, in alternating runs.
fn bench_workers(runs: usize) -> Result<()> {
    let capture = release_binary()?;
    let big = bench_input()?;
    let packets = count_packets(&capture, &big)? as f64;
    let out = root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    let counts = [1usize, 2, 3, 4];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); counts.len()];
    for run in 0..runs.max(1) {
        for (i, workers) in counts.iter().enumerate() {
            warm(&big)?;
            let started = Instant::now();
            let o = Command::new(&capture)
                .arg("extract")
                .arg(&big)
                .arg("-o")
                .arg(out.join("workers.parquet"))
                .args([
                    "--profile",
                    "core",
                    "--quiet",
                    "--workers",
                    &workers.to_string(),
                ])
                .stderr(Stdio::piped())
                .output()?;
            let secs = started.elapsed().as_secs_f64();
            if !o.status.success() {
                bail!("capture failed: {}", String::from_utf8_lossy(&o.stderr));
            }
            eprintln!("xtask: --workers {workers} run {}: {secs:.3} s", run + 1);
            times[i].push(secs);
        }
    }
    let mut rows = String::new();
    let mut points = Vec::new();
    for (workers, t) in counts.iter().zip(&mut times) {
        let med = median(t);
        points.push((*workers as f64, packets / med));
        rows.push_str(&format!(
            "| {workers} | {med:.3} s | {:.3}–{:.3} s | {:.0} |\n",
            t[0],
            t[t.len() - 1],
            packets / med
        ));
    }
    let plots = root().join("docs/bench");
    std::fs::create_dir_all(&plots)?;
    line_chart(
        &plots.join("workers.svg"),
        "Offline extraction (--profile core) against the number of flow workers",
        "flow workers",
        "packets/s",
        &[("capture extract --workers N".to_string(), points)],
    )?;
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let report = format!(
        "Written by `cargo xtask bench workers {runs}`: `capture extract {} -o x.parquet --profile core --quiet --workers N`, {runs} alternating runs, wall-clock. \
With N flow workers one more thread reads the file and deals frames out by flow, and the records are built and written on two more; this machine has {cores} cores.\n\n\
![workers](bench/workers.svg)\n\n\
| workers | median | range | packets/s (median) |\n|---|---|---|---|\n{rows}\n",
        big.display()
    );
    println!("{report}");
    write_benchmarks_section("workers", &report)
}

/// The value of `key=` in `key=value` lines.
fn field<T: std::str::FromStr>(text: &str, key: &str) -> Result<T> {
    let pattern = format!("{key}=");
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(&pattern))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {key} in: {text}"))
}

/// The spill writer against fio on the same directory, in alternating runs: fio's sequential
/// direct 4 MiB writes, the same bytes through our io_uring path, and the benchmark capture's
/// JJ-CORE records through the whole writer (encode, compress, write, sync, rotate).
fn bench_writer(runs: usize) -> Result<()> {
    ensure_tools(&[("fio", "fio")])?;
    let capture = release_binary()?;
    let big = bench_input()?;
    let dir = PathBuf::from(
        std::env::var("CAPTURE_BENCH_DIR")
            .unwrap_or_else(|_| root().join("target/bench/writer").display().to_string()),
    );
    std::fs::create_dir_all(&dir)?;
    let size = "2G";
    let size_bytes = 2u64 << 30;
    let (mut fio, mut raw, mut records_per_s, mut writer_mb) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut pooled_per_s, mut pooled_mb) = (Vec::new(), Vec::new());
    let (mut inline_per_s, mut inline_mb) = (Vec::new(), Vec::new());
    let mut default_threads = 0u64;
    let (mut fast_per_s, mut fast_mb) = (Vec::new(), Vec::new());
    let mut fast_bytes_per_record = 0.0;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut last = String::new();
    let fio_args = [
        "--name=seq",
        "--rw=write",
        "--bs=4M",
        "--direct=1",
        "--size=2G",
        "--end_fsync=1",
        "--output-format=json",
    ];
    for run in 0..runs.max(1) {
        let fio_dir = dir.join("fio");
        std::fs::create_dir_all(&fio_dir)?;
        let (out, _) = output(
            Command::new("fio")
                .args(fio_args)
                .arg(format!("--directory={}", fio_dir.display())),
        )?;
        let _ = std::fs::remove_dir_all(&fio_dir);
        let json: serde_json::Value = serde_json::from_str(&out).context("fio's JSON")?;
        let bw = json["jobs"][0]["write"]["bw_bytes"]
            .as_f64()
            .context("fio bw_bytes")?;
        fio.push(bw / 1e6);
        // One writer run: its output, records per second, MB per second and bytes per record.
        let writer_run = |raw_bytes: &str, extra: &[&str]| -> Result<(String, f64, f64, f64)> {
            let (out, _) = output(
                Command::new(&capture)
                    .arg("bench-writer")
                    .arg("--input")
                    .arg(&big)
                    .arg("--dir")
                    .arg(dir.join("ours"))
                    .args(["--raw-bytes", raw_bytes, "--profile", "core"])
                    .args(extra),
            )?;
            let records: f64 = field(&out, "records")?;
            let secs: f64 = field(&out, "records_secs")?;
            let bytes: f64 = field(&out, "segment_bytes")?;
            Ok((out, records / secs, bytes / secs / 1e6, bytes / records))
        };
        let (out, per_s, mb, _) = writer_run(size, &[])?;
        let raw_secs: f64 = field(&out, "raw_secs")?;
        raw.push(size_bytes as f64 / raw_secs / 1e6);
        records_per_s.push(per_s);
        writer_mb.push(mb);
        default_threads = field(&out, "encode_threads")?;
        // Everything on the writer thread: gathering, encoding, compressing.
        let (_, per_s, mb, _) = writer_run("4M", &["--encode-threads", "0"])?;
        inline_per_s.push(per_s);
        inline_mb.push(mb);
        // The same with one encoding thread per core beside the writer thread.
        let threads = cores.to_string();
        let (_, per_s, mb, _) = writer_run("4M", &["--encode-threads", &threads])?;
        pooled_per_s.push(per_s);
        pooled_mb.push(mb);
        // And with zstd's fastest level the writer takes.
        let (_, per_s, mb, per_record) =
            writer_run("4M", &["--encode-threads", &threads, "--zstd-level", "-7"])?;
        fast_per_s.push(per_s);
        fast_mb.push(mb);
        fast_bytes_per_record = per_record;
        eprintln!(
            "xtask: run {}: fio {:.0} MB/s, io_uring path {:.0} MB/s, writer {:.0} records/s ({:.0} MB/s, the default, encoding threads: {default_threads}), on the writer thread alone {:.0} records/s, with {cores} encoding threads {:.0} records/s, and zstd -7 {:.0} records/s",
            run + 1,
            fio[run],
            raw[run],
            records_per_s[run],
            writer_mb[run],
            inline_per_s[run],
            pooled_per_s[run],
            fast_per_s[run]
        );
        last = out;
    }
    let stats = |v: &mut Vec<f64>| {
        let med = median(v);
        (med, v[0], v[v.len() - 1])
    };
    let (fio_med, fio_min, fio_max) = stats(&mut fio);
    let (raw_med, raw_min, raw_max) = stats(&mut raw);
    let (rec_med, rec_min, rec_max) = stats(&mut records_per_s);
    let (mb_med, mb_min, mb_max) = stats(&mut writer_mb);
    let (inline_med, inline_min, inline_max) = stats(&mut inline_per_s);
    let (inline_mb_med, inline_mb_min, inline_mb_max) = stats(&mut inline_mb);
    let (pool_med, pool_min, pool_max) = stats(&mut pooled_per_s);
    let (pool_mb_med, pool_mb_min, pool_mb_max) = stats(&mut pooled_mb);
    let (fast_med, fast_min, fast_max) = stats(&mut fast_per_s);
    let (fast_mb_med, fast_mb_min, fast_mb_max) = stats(&mut fast_mb);
    let encoded: f64 = field(&last, "encoded_bytes")?;
    let compressed: f64 = field(&last, "compressed_bytes")?;
    let records: f64 = field(&last, "records")?;
    let segment_bytes: f64 = field(&last, "segment_bytes")?;
    let columns: u64 = field(&last, "columns")?;
    let raw_mode: String = field(&last, "raw_mode")?;
    let mode: String = field(&last, "mode")?;
    let threads_word = if default_threads == 1 {
        "thread"
    } else {
        "threads"
    };
    let report = format!(
        "Written by `cargo xtask bench writer {runs}`: {runs} alternating runs in `{dir}`, wall-clock, each until the data is synced.

| case | median | range |
|---|---|---|
| `fio {fio_args} --directory=…` | {fio_med:.0} MB/s | {fio_min:.0}–{fio_max:.0} MB/s |
| the writer's io_uring path, {size} in 4 MiB buffers ({raw_mode}) | {raw_med:.0} MB/s | {raw_min:.0}–{raw_max:.0} MB/s |
| the whole writer with its defaults ({default_threads} encoding {threads_word} beside the writer thread on this machine): {records:.0} JJ-CORE records ({columns} columns; the benchmark capture's flows, built beforehand and held in memory, written over and over) gathered into column buffers by the writer thread, encoded and zstd-compressed a row group at a time, written ({mode}), synced every second, rotated at 256 MiB | {rec_med:.0} records/s ({mb_med:.1} MB/s) | {rec_min:.0}–{rec_max:.0} records/s ({mb_min:.1}–{mb_max:.1} MB/s) |
| the same with `--encode-threads 0`: the writer thread also encodes and compresses | {inline_med:.0} records/s ({inline_mb_med:.1} MB/s) | {inline_min:.0}–{inline_max:.0} records/s ({inline_mb_min:.1}–{inline_mb_max:.1} MB/s) |
| the same with `--encode-threads {cores}`: the writer thread gathers records, {cores} threads encode and compress whole row groups | {pool_med:.0} records/s ({pool_mb_med:.1} MB/s) | {pool_min:.0}–{pool_max:.0} records/s ({pool_mb_min:.1}–{pool_mb_max:.1} MB/s) |
| the same with `--encode-threads {cores} --zstd-level -7`: zstd's fast level, {fast_bytes_per_record:.1} bytes per record on disk | {fast_med:.0} records/s ({fast_mb_med:.1} MB/s) | {fast_min:.0}–{fast_max:.0} records/s ({fast_mb_min:.1}–{fast_mb_max:.1} MB/s) |

Writer times are wall-clock from the first record to the last segment synced and closed. The io_uring path reaches {:.0} % of fio's bandwidth (target: at least 80 %). The whole writer is bound by encoding and compression, not by the disk: {:.1} bytes per record on disk at the default level 1; zstd inside the Parquet pages turns {:.0} MB of encoded columns into {:.0} MB ({:.1}×).

",
        100.0 * raw_med / fio_med,
        segment_bytes / records,
        encoded / 1e6,
        compressed / 1e6,
        encoded / compressed,
        dir = dir.display(),
        fio_args = fio_args[..6].join(" "),
    );
    println!("{report}");
    write_benchmarks_section("writer", &report)
}

/// Live capture on a veth pair at several offered rates, against tcpdump on the same traffic.
/// One measurement of `bench live`: a generator at an offered rate, what we and tcpdump kept.
struct LivePoint {
    generator: &'static str,
    offered: Option<u64>,
    sent: u64,
    achieved: f64,
    seen: u64,
    ring_full: u64,
    fill_empty: u64,
    read: u64,
    in_flows: u64,
    dump_sent: u64,
    dump_achieved: f64,
    captured: u64,
    dropped: u64,
}

impl LivePoint {
    fn loss(&self) -> f64 {
        100.0 * (self.sent - self.in_flows.min(self.sent)) as f64 / self.sent.max(1) as f64
    }

    fn dump_loss(&self) -> f64 {
        100.0 * (self.dump_sent - self.captured.min(self.dump_sent)) as f64
            / self.dump_sent.max(1) as f64
    }
}

/// Draws `series` (name, points) as lines in an SVG chart at `path`.
fn line_chart(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<()> {
    use plotters::prelude::*;
    let x_max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.0))
        .fold(1.0, f64::max)
        * 1.05;
    let y_max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.1))
        .fold(1.0, f64::max)
        * 1.1;
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let style = if name.contains("tcpdump") {
            color.stroke_width(1)
        } else {
            color.stroke_width(3)
        };
        chart
            .draw_series(LineSeries::new(points.iter().copied(), style))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

fn bench_live(runs: usize) -> Result<()> {
    let runs = runs.max(1);
    build_ebpf()?;
    let capture = release_binary()?;
    let pcap = root().join("../shared/corpus/pcap/ndpi__443-firefox.pcap");
    let pcap = std::env::var_os("CAPTURE_CORPUS").map_or(pcap, |d| {
        PathBuf::from(d).join("pcap/ndpi__443-firefox.pcap")
    });
    // 150 passes of the 667-frame capture: every generator sends this many frames per run.
    let frames: u64 = 100_050;
    let (cap_ns, gen_ns, cap_if, gen_if) = ("bench-cap", "bench-gen", "bench-c", "bench-g");
    let lab = VethLab::new(cap_ns, gen_ns, cap_if, gen_if)?;
    let generators: [(&str, &[&str]); 5] = [
        ("tcpreplay, ndpi__443-firefox.pcap", &[]),
        (
            "capture gen, ndpi__443-firefox.pcap ×150 copies",
            &["--copies", "150"],
        ),
        (
            "capture gen, 64-byte frames, 10,000 flows",
            &["--mix", "64", "--flows", "10000"],
        ),
        (
            "capture gen, IMIX, 10,000 flows",
            &["--mix", "imix", "--flows", "10000"],
        ),
        ("trafgen, 64-byte frames, 10,000 flows", &[]),
    ];
    ensure_tools(&[
        ("trafgen", "netsniff-ng"),
        ("tcpreplay", "tcpreplay"),
        ("tcpdump", "tcpdump"),
    ])?;
    // trafgen's packet: 64-byte UDP frames whose source port counts through 10,000 values.
    let trafgen_conf = root().join("target/bench/trafgen.cfg");
    std::fs::create_dir_all(root().join("target/bench"))?;
    std::fs::write(
        &trafgen_conf,
        "{\n  eth(da=02:00:00:00:00:01, sa=02:00:00:00:00:02),\n  ipv4(saddr=10.1.0.1, daddr=198.18.0.1, ttl=64),\n  udp(sp=dinc(20000, 29999), dp=9),\n  fill(0x5a, 18)\n}\n",
    )?;
    let result = (|| -> Result<Vec<LivePoint>> {
        // Sends `frames` frames with generator `g` at `rate` (none: as fast as it can); returns
        // what it says it sent and at what rate.
        let send = |g: usize, rate: Option<u64>| -> Result<(u64, f64)> {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", gen_ns]);
            if g == 0 {
                cmd.args(["tcpreplay", "--loop", "150"])
                    .arg(format!("--intf1={gen_if}"));
                match rate {
                    None => cmd.arg("--topspeed"),
                    Some(r) => cmd.args(["--pps", &r.to_string()]),
                };
                let (out, _) = output(cmd.arg(&pcap))?;
                let sent = count_after(&out, "Actual:");
                let pps = out
                    .lines()
                    .find(|l| l.contains("Rated:"))
                    .and_then(|l| l.split(',').find(|p| p.contains("pps")))
                    .and_then(|p| p.split_whitespace().next()?.parse().ok())
                    .unwrap_or(0.0);
                return Ok((sent, pps));
            }
            if g == 4 {
                cmd.args(["trafgen", "--dev", gen_if, "--conf"])
                    .arg(&trafgen_conf)
                    .args(["-n", &frames.to_string(), "-P", "1"]);
                if let Some(r) = rate {
                    cmd.args(["-b", &format!("{r}pps")]);
                }
                let started = Instant::now();
                let (out, err) = output(&mut cmd)?;
                let secs = started.elapsed().as_secs_f64();
                let text = format!("{out}{err}");
                // "        100050 packets outgoing"
                let sent = text
                    .lines()
                    .find(|l| l.contains("packets outgoing"))
                    .and_then(|l| l.split_whitespace().next()?.parse().ok())
                    .unwrap_or(0);
                return Ok((sent, sent as f64 / secs.max(1e-9)));
            }
            cmd.arg(&capture)
                .args(["gen", "--iface", gen_if, "--count", &frames.to_string()])
                .args(["--loops", "1000000"])
                .args(generators[g].1);
            if g == 1 {
                cmd.arg("--pcap").arg(&pcap);
            }
            if let Some(r) = rate {
                cmd.args(["--rate", &r.to_string()]);
            }
            let (out, _) = output(&mut cmd)?;
            // "sent N frames (B bytes) in S s: R packets/s, ..."
            let words: Vec<&str> = out.split_whitespace().collect();
            let sent = words.get(1).and_then(|w| w.parse().ok()).unwrap_or(0);
            let pps = words
                .iter()
                .position(|w| *w == "packets/s,")
                .and_then(|i| words[i - 1].parse().ok())
                .unwrap_or(0.0);
            Ok((sent, pps))
        };
        let mut points = Vec::new();
        for (g, (generator, _)) in generators.iter().enumerate() {
            for rate in [
                Some(25_000),
                Some(50_000),
                Some(100_000),
                Some(200_000),
                Some(400_000),
                None,
            ] {
                for run in 1..=runs {
                    // Ours.
                    let out_dir = root().join("target/bench/live");
                    let _ = std::fs::remove_dir_all(&out_dir);
                    let child = Command::new("ip")
                        .args(["netns", "exec", cap_ns])
                        .arg(&capture)
                        .args(["run", "--iface", cap_if, "--quiet", "--output-dir"])
                        .arg(&out_dir)
                        .stderr(Stdio::piped())
                        .spawn()?;
                    std::thread::sleep(std::time::Duration::from_millis(1500));
                    let (sent, achieved) = send(g, rate)?;
                    std::thread::sleep(std::time::Duration::from_millis(500));
                    sh(Command::new("kill").arg("-INT").arg(child.id().to_string()))?;
                    let o = child.wait_with_output()?;
                    let summary = String::from_utf8_lossy(&o.stderr).into_owned();
                    // tcpdump (AF_PACKET) on the same traffic.
                    let dump = Command::new("ip")
                        .args([
                            "netns",
                            "exec",
                            cap_ns,
                            "tcpdump",
                            "-i",
                            cap_if,
                            "-w",
                            "/dev/null",
                        ])
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped())
                        .spawn()?;
                    std::thread::sleep(std::time::Duration::from_millis(1500));
                    let (dump_sent, dump_achieved) = send(g, rate)?;
                    std::thread::sleep(std::time::Duration::from_millis(500));
                    sh(Command::new("kill").arg("-INT").arg(dump.id().to_string()))?;
                    let o = dump.wait_with_output()?;
                    let text = String::from_utf8_lossy(&o.stderr).into_owned();
                    let point = LivePoint {
                        generator,
                        offered: rate,
                        sent,
                        achieved,
                        seen: count_after(&summary, "xdp seen"),
                        ring_full: count_after(&summary, "rx_ring_full"),
                        fill_empty: count_after(&summary, "fill_ring_empty"),
                        read: count_after(&summary, "read by workers"),
                        in_flows: count_after(&summary, "packets in flows"),
                        dump_sent,
                        dump_achieved,
                        captured: count_after(&text, "packets captured"),
                        dropped: count_after(&text, "packets dropped by kernel"),
                    };
                    eprintln!(
                    "xtask: {} at {:?}, run {run}: capture {}/{} ({:.0} packets/s), tcpdump {}/{}",
                    point.generator,
                    rate,
                    point.in_flows,
                    point.sent,
                    point.achieved,
                    point.captured,
                    point.dump_sent
                );
                    points.push(point);
                }
            }
        }
        Ok(points)
    })();
    drop(lab);
    let points = result?;
    // One row per generator and offered rate: the runs' median, min and max of the rate sent and
    // of the loss, and each stage's counters added over the runs.
    let spread = |v: Vec<f64>, digits: usize| -> (f64, String) {
        let mut v = v;
        let m = median(&mut v);
        let (lo, hi) = (v[0], v[v.len() - 1]);
        (m, format!("{m:.digits$} ({lo:.digits$}–{hi:.digits$})"))
    };
    let mut rows = String::new();
    let mut best = String::new();
    let mut kept = Vec::new();
    let mut lost = Vec::new();
    for (name, _) in generators {
        let mut offered_rates: Vec<Option<u64>> = Vec::new();
        for p in points.iter().filter(|p| p.generator == name) {
            if !offered_rates.contains(&p.offered) {
                offered_rates.push(p.offered);
            }
        }
        let (mut ours_best, mut theirs_best) = (0.0f64, 0.0f64);
        let (mut kept_ours, mut kept_dump, mut lost_ours, mut lost_dump) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for offered in offered_rates {
            let of: Vec<&LivePoint> = points
                .iter()
                .filter(|p| p.generator == name && p.offered == offered)
                .collect();
            let sum = |f: &dyn Fn(&LivePoint) -> u64| of.iter().map(|p| f(p)).sum::<u64>();
            let (achieved, achieved_text) = spread(of.iter().map(|p| p.achieved).collect(), 0);
            let (loss, loss_text) = spread(of.iter().map(|p| p.loss()).collect(), 2);
            let (dump_achieved, dump_achieved_text) =
                spread(of.iter().map(|p| p.dump_achieved).collect(), 0);
            let (dump_loss, dump_loss_text) = spread(of.iter().map(|p| p.dump_loss()).collect(), 2);
            let offered_text = offered.map_or("as fast as it sends".to_string(), |r| {
                format!("{r} packets/s")
            });
            rows.push_str(&format!(
                "| {name} | {offered_text} | {} | {achieved_text} | {} | {} | {} | {} | {} | {} | {loss_text} | {dump_achieved_text} | {} | {} | {dump_loss_text} |\n",
                of.len(),
                sum(&|p| p.sent),
                sum(&|p| p.seen),
                sum(&|p| p.ring_full),
                sum(&|p| p.fill_empty),
                sum(&|p| p.read),
                sum(&|p| p.in_flows),
                sum(&|p| p.captured),
                sum(&|p| p.dropped),
            ));
            // Zero loss counts only when every run of the point lost nothing.
            if of.iter().all(|p| p.loss() == 0.0) {
                ours_best = ours_best.max(achieved);
            }
            if of.iter().all(|p| p.dump_loss() == 0.0) {
                theirs_best = theirs_best.max(dump_achieved);
            }
            kept_ours.push((achieved, achieved * (1.0 - loss / 100.0)));
            kept_dump.push((dump_achieved, dump_achieved * (1.0 - dump_loss / 100.0)));
            lost_ours.push((achieved, loss));
            lost_dump.push((dump_achieved, dump_loss));
        }
        best.push_str(&format!(
            "- {name}: capture {ours_best:.0} packets/s, tcpdump {theirs_best:.0} packets/s.\n"
        ));
        let sorted = |mut line: Vec<(f64, f64)>| {
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            line
        };
        kept.push((format!("capture, {name}"), sorted(kept_ours)));
        kept.push((format!("tcpdump, {name}"), sorted(kept_dump)));
        lost.push((format!("capture, {name}"), sorted(lost_ours)));
        lost.push((format!("tcpdump, {name}"), sorted(lost_dump)));
    }
    // Plots: what each tool kept, and what it lost, against the rate the generator achieved
    // (medians of the runs).
    let plots = root().join("docs/bench");
    std::fs::create_dir_all(&plots)?;
    line_chart(
        &plots.join("live-throughput.svg"),
        "Packets kept per second against the rate sent (veth, one queue)",
        "packets/s sent",
        "packets/s kept",
        &kept,
    )?;
    line_chart(
        &plots.join("live-loss.svg"),
        "Loss against the rate sent (veth, one queue)",
        "packets/s sent",
        "% lost",
        &lost,
    )?;
    let report = format!(
        "Written by `cargo xtask bench live` (as root): a veth pair between two network namespaces; each generator sends {frames} frames into one end at each offered rate, {runs} times. \
On the other end first `capture run --iface bench-c` (native XDP, AF_XDP copy mode, one queue, `--profile core`), \
then `tcpdump -i bench-c -w /dev/null` (AF_PACKET) on a second run of the generator at the same rate. \
The generators: `tcpreplay --loop 150` of `ndpi__443-firefox.pcap` (667 frames, 200 flows per pass), and `capture gen` replaying the same capture as 150 copies with rewritten addresses and client ports \
(30,000 flows), sending 64-byte frames, or sending IMIX (IP packets of 40, 576 and 1,500 bytes, 7:4:1), over 10,000 flows; and trafgen (netsniff-ng) sending 64-byte frames over 10,000 flows from one CPU \
(its rate is what it sent over the wall time of the command, start-up included). \
veth cannot do zero-copy, and its sending core also does the receive work (NAPI, XDP, the copy into the socket), so these figures show loss at a rate on this VM, not what a NIC with zero-copy reaches. \
On a real NIC: `capture run --iface IFACE --queues N` on the sensor and an external generator (TRex, pktgen, or `capture gen --iface` on another host) on the other side of the link, and read the same counters from the summary or `/metrics`.\n\n\
![kept](bench/live-throughput.svg)\n\n![lost](bench/live-loss.svg)\n\n\
Rates and losses are the median of the runs with their minimum and maximum in brackets; the frame counts of each stage are added over the runs. \
A point is lost-free only when every one of its runs lost nothing.\n\n\
| generator | offered | runs | sent, packets/s | frames sent | XDP seen | socket ring full | fill ring empty | read by the worker | packets in flows | capture lost, % | tcpdump: sent, packets/s | tcpdump: captured | tcpdump: dropped by kernel | tcpdump lost, % |\n\
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n{rows}\n\
Highest rate sent (median of the runs) at which nothing was lost in any run, per generator:\n\n{best}\n"
    );
    println!("{report}");
    write_benchmarks_section("live", &report)
}

/// `--profile all` against `--profile core`, single-threaded, in alternating runs so that a
/// slow phase of the host hits both alike.
fn bench_profiles(runs: usize) -> Result<()> {
    let capture = release_binary()?;
    let big = bench_input()?;
    let packets = count_packets(&capture, &big)?;
    let out = root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut columns = [0usize; 2];
    for run in 0..runs.max(1) {
        for (i, profile) in ["core", "all"].into_iter().enumerate() {
            let file = out.join(format!("{profile}.parquet"));
            warm(&big)?;
            let started = Instant::now();
            let o = Command::new(&capture)
                .arg("extract")
                .arg(&big)
                .arg("-o")
                .arg(&file)
                .args(["--profile", profile, "--single-thread", "--quiet"])
                .stderr(Stdio::piped())
                .output()?;
            let secs = started.elapsed().as_secs_f64();
            if !o.status.success() {
                bail!("capture failed: {}", String::from_utf8_lossy(&o.stderr));
            }
            eprintln!("xtask: --profile {profile} run {}: {secs:.3} s", run + 1);
            times[i].push(secs);
        }
    }
    for (i, profile) in ["core", "all"].into_iter().enumerate() {
        let o = Command::new(&capture)
            .arg("extract")
            .arg(&big)
            .args([
                "-o",
                "-",
                "--format",
                "csv",
                "--profile",
                profile,
                "--quiet",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut header = String::new();
        if let Some(stdout) = o.stdout {
            use std::io::BufRead;
            std::io::BufReader::new(stdout).read_line(&mut header)?;
        }
        columns[i] = header.trim_end().split(',').count();
    }
    let mut rows = String::new();
    let mut medians = [0.0; 2];
    for (i, profile) in ["core", "all"].into_iter().enumerate() {
        let mut v = times[i].clone();
        let med = median(&mut v);
        medians[i] = med;
        rows.push_str(&format!(
            "| `capture extract {} -o target/bench/{profile}.parquet --profile {profile} --single-thread --quiet` ({} columns) | {} | {med:.3} s | {:.3}–{:.3} s | {:.0} |\n",
            big.display(),
            columns[i],
            v.len(),
            v[0],
            v[v.len() - 1],
            packets as f64 / med
        ));
    }
    let report = format!(
        "Written by `cargo xtask bench profiles {runs}`: alternating single-threaded runs on the same file, wall-clock.\n\n\
| command | runs | median | range | packets/s (median) |\n|---|---|---|---|---|\n{rows}\n\
`--profile all` runs at {:.1} % of `--profile core`'s packet rate (target: at least 50 %).\n\n",
        100.0 * medians[0] / medians[1]
    );
    println!("{report}");
    write_benchmarks_section("profiles", &report)
}

/// Runs `capture extract --profile core` on `big` `runs` times; returns the wall times and the
/// last run's summary.
/// One timed `capture extract` of `big`: its wall time and its summary on standard error.
fn time_capture_once(
    capture: &Path,
    big: &Path,
    out: &Path,
    profile: &str,
    extra: &[&str],
    i: usize,
    packets: u64,
) -> Result<(f64, String)> {
    warm(big)?;
    let started = Instant::now();
    let o = Command::new(capture)
        .arg("extract")
        .arg(big)
        .arg("-o")
        .arg(out.join(format!("{profile}.parquet")))
        .args(["--profile", profile, "--quiet"])
        .args(extra)
        .stderr(Stdio::piped())
        .output()?;
    let secs = started.elapsed().as_secs_f64();
    if !o.status.success() {
        bail!("capture failed: {}", String::from_utf8_lossy(&o.stderr));
    }
    eprintln!(
        "xtask: capture --profile {profile} {} run {}: {:.3} s, {:.0} packets/s",
        extra.join(" "),
        i + 1,
        secs,
        packets as f64 / secs
    );
    Ok((secs, String::from_utf8_lossy(&o.stderr).into_owned()))
}

fn count_packets(capture: &Path, big: &Path) -> Result<u64> {
    let o = Command::new(capture)
        .arg("extract")
        .arg(big)
        .args([
            "-o",
            "-",
            "--features",
            "flow_meta",
            "--quiet",
            "--format",
            "csv",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    let err = String::from_utf8_lossy(&o.stderr);
    // The summary reads "capture: 1 file(s), 1114480 frames (… bytes), …".
    let frames = err
        .split(", ")
        .find(|part| part.contains(" frames ("))
        .and_then(|part| part.split(' ').next()?.parse::<u64>().ok())
        .context("frame count in capture's summary")?;
    Ok(frames)
}

fn offline_report(
    big: &Path,
    packets: u64,
    cores: usize,
    cases: &[(String, Vec<f64>)],
    nfstream: &[f64],
    nf_flows: &str,
    summary: &str,
) -> String {
    let med = |v: &[f64]| {
        let mut v = v.to_vec();
        median(&mut v)
    };
    let row = |name: &str, v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(0.0, f64::max);
        format!(
            "| {name} | {} | {:.3} s | {lo:.3}–{hi:.3} s | {:.0} | {:.1}× |\n",
            v.len(),
            med(v),
            packets as f64 / med(v),
            med(nfstream) / med(v),
        )
    };
    let memory = summary
        .lines()
        .find(|l| l.contains("peak flow-state memory"))
        .unwrap_or("")
        .trim_start_matches("capture: ");
    let flows = summary
        .lines()
        .next()
        .unwrap_or("")
        .trim_start_matches("capture: ");
    let rows: String = cases.iter().map(|(name, times)| row(name, times)).collect();
    format!(
        "| tool | runs | median wall time | range | packets/s (median) | against NFStream |\n|---|---|---|---|---|---|\n{rows}{}\n\
         `--workers {cores}` is one flow worker per core ({cores} here), fed by one more thread that reads the file, with the records built and written on two more; \
         `--profile all` has no such row, since its connection group needs the order in which flows end, which only one worker keeps. \
         Input: `{}` ({} packets). NFStream flows: {}.\n\n\
         capture's own summary of the last `--profile core` run with the writer thread: {}; {}.\n",
        row("NFStream 6.6.0 `statistical_analysis=True, n_meters=1`", nfstream),
        big.display(),
        packets,
        nf_flows,
        flows,
        memory
    )
}

/// Replaces the generated section `name` of docs/benchmarks.md, keeping everything else.
fn write_benchmarks_section(name: &str, body: &str) -> Result<()> {
    let path = root().join("docs/benchmarks.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let begin = format!("<!-- xtask:{name}:begin -->");
    let end = format!("<!-- xtask:{name}:end -->");
    let machine = machine_description(name);
    let block = format!("{begin}\n{machine}\n\n{body}{end}");
    let new = match (text.find(&begin), text.find(&end)) {
        (Some(a), Some(b)) if b > a => format!("{}{}{}", &text[..a], block, &text[b + end.len()..]),
        _ => format!("{text}\n{block}\n"),
    };
    std::fs::write(&path, new)?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

fn machine_description(bench: &str) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "Measured {date} on {cpu}, {cores} cores, Linux {kernel}, by `cargo xtask bench {bench}`."
    )
}

fn fuzz(seconds: u64) -> Result<()> {
    let have = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        sh(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    let corpus = root().join("fuzz/corpus/decode_frame");
    std::fs::create_dir_all(&corpus)?;
    seed_fuzz_corpus(&corpus)?;
    let streams = root().join("fuzz/corpus/flow_streams");
    std::fs::create_dir_all(&streams)?;
    seed_stream_corpus(&streams)?;
    // The decoder and the application parsers get most of the time; the capture readers a third.
    for (target, secs, max_len) in [
        ("decode_frame", seconds, 4096),
        ("flow_streams", seconds, 32_768),
        ("read_capture", seconds / 3, 4096),
    ] {
        sh(Command::new("cargo")
            .current_dir(root().join("fuzz"))
            .args([
                "+nightly",
                "fuzz",
                "run",
                target,
                "--",
                &format!("-max_total_time={secs}"),
                &format!("-max_len={max_len}"),
            ]))?;
    }
    Ok(())
}

/// Seeds the decoder fuzzer with every frame of the shared corpus (one file per distinct frame,
/// prefixed with its link type as the target expects).
fn seed_fuzz_corpus(dir: &Path) -> Result<()> {
    let pcaps = root().join("../shared/corpus/pcap");
    let Ok(entries) = std::fs::read_dir(&pcaps) else {
        return Ok(());
    };
    let mut n = 0;
    for entry in entries {
        let path = entry?.path();
        let bytes = std::fs::read(&path)?;
        for (link, frame) in frames_of(&bytes) {
            let mut seed = link.to_le_bytes()[..2].to_vec();
            seed.extend_from_slice(frame);
            std::fs::write(dir.join(format!("seed-{n:06}")), seed)?;
            n += 1;
            if n > 20_000 {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// The server ports of the `flow_streams` fuzz target, in its order: (IP protocol, port).
const STREAM_SERVERS: [(u8, u16); 8] = [
    (6, 443),
    (6, 22),
    (6, 53),
    (6, 80),
    (6, 8443),
    (17, 443),
    (17, 53),
    (17, 4433),
];

/// Seeds the stream fuzzer with the corpus's conversations to its server ports, in its input
/// format (see `fuzz/fuzz_targets/flow_streams.rs`): every IPv4 packet over Ethernet to or from
/// such a port, one record each.
fn seed_stream_corpus(dir: &Path) -> Result<()> {
    let pcaps = root().join("../shared/corpus/pcap");
    let Ok(entries) = std::fs::read_dir(&pcaps) else {
        return Ok(());
    };
    let mut n = 0;
    for entry in entries {
        let bytes = std::fs::read(entry?.path())?;
        let mut seeds: Vec<Vec<u8>> = (0..STREAM_SERVERS.len()).map(|i| vec![i as u8]).collect();
        for (link, frame) in frames_of(&bytes) {
            if link != 1 || frame.len() < 14 {
                continue;
            }
            let mut at = 12;
            while frame.get(at..at + 2) == Some(&[0x81, 0x00]) {
                at += 4;
            }
            if frame.get(at..at + 2) != Some(&[0x08, 0x00]) {
                continue;
            }
            let ip = &frame[at + 2..];
            let Some(&first) = ip.first() else { continue };
            let ihl = usize::from(first & 0x0f) * 4;
            if first >> 4 != 4 || ip.len() < ihl + 8 {
                continue;
            }
            let protocol = ip[9];
            let l4 = &ip[ihl..];
            let (sport, dport) = (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
            );
            let Some((i, from_server)) = STREAM_SERVERS.iter().enumerate().find_map(|(i, s)| {
                (s.0 == protocol && (s.1 == sport || s.1 == dport)).then_some((i, s.1 == sport))
            }) else {
                continue;
            };
            let (flags, payload) = match protocol {
                6 if l4.len() >= 20 => {
                    let offset = usize::from(l4[12] >> 4) * 4;
                    (l4[13] & 0x1f, l4.get(offset..).unwrap_or(&[]))
                }
                17 => (0, &l4[8..]),
                _ => continue,
            };
            let seed = &mut seeds[i];
            if seed.len() > 30 << 10 {
                continue;
            }
            let control = u8::from(from_server) | (flags << 1);
            let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
            seed.extend_from_slice(&[control, 0, 0]);
            seed.extend_from_slice(&len.to_le_bytes());
            seed.extend_from_slice(&payload[..usize::from(len)]);
        }
        for seed in seeds.into_iter().filter(|s| s.len() > 1) {
            std::fs::write(dir.join(format!("seed-{n:04}")), seed)?;
            n += 1;
        }
    }
    Ok(())
}

/// The frames of a little-endian classic pcap (enough to seed a fuzzer; pcapng files are skipped).
fn frames_of(bytes: &[u8]) -> Vec<(u32, &[u8])> {
    let mut out = Vec::new();
    if bytes.len() < 24 || bytes[..4] != [0xd4, 0xc3, 0xb2, 0xa1] {
        return out;
    }
    let link = u32::from_le_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let len = u32::from_le_bytes([bytes[at + 8], bytes[at + 9], bytes[at + 10], bytes[at + 11]])
            as usize;
        let end = at + 16 + len;
        if end > bytes.len() {
            break;
        }
        out.push((link, &bytes[at + 16..end]));
        at = end;
    }
    out
}

fn docs() -> Result<()> {
    let o = cargo()
        .args([
            "run",
            "-q",
            "-p",
            "capture-user",
            "--bin",
            "capture",
            "--",
            "features",
            "--markdown",
        ])
        .output()?;
    if !o.status.success() {
        bail!(
            "capture features failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    std::fs::write(root().join("docs/features.md"), o.stdout)?;
    eprintln!("xtask: wrote docs/features.md");
    Ok(())
}

fn build_ebpf() -> Result<()> {
    let have_linker = Command::new("bpf-linker")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have_linker {
        bail!(
            "bpf-linker is not installed: see README.md (eBPF toolchain) for the two-line recipe"
        );
    }
    sh(Command::new("cargo")
        .current_dir(root().join("capture-ebpf"))
        .args(["+nightly", "build", "--release"]))?;
    eprintln!("xtask: built capture-ebpf/target/bpfel-unknown-none/release/capture-ebpf");
    Ok(())
}
