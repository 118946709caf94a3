//! `capture`: the command-line front end.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use capture::extract::{extract, ExtractSummary};
use capture::features::{registry, ConnectionWindow, Group, GroupSet, Tier, FEATURES};
use capture::flow::FlowConfig;
use capture::output::{
    format_from_path, open_sink, Columns, Destination, Format, RecordSink, ThreadedSink,
};
use capture_common::{FlowEndReason, SkipReason, XdpCounter};
use clap::{Parser, Subcommand, ValueEnum};

// Flow records and per-flow state are many small allocations; mimalloc serves them from
// thread-local pages, which glibc's allocator does measurably slower (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code when some input could not be read to the end (everything readable was processed).
const EXIT_INCOMPLETE: u8 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "capture",
    version,
    about = "Flow features from packets: pcap/pcapng files in, one record per flow out"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Read capture files and write one feature record per bidirectional flow.
    Extract(ExtractArgs),
    /// Capture live from an interface (XDP and AF_XDP) and write one record per flow.
    Run(RunArgs),
    /// List the feature registry.
    Features(FeaturesArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Profile {
    /// JoyfulJay's JJ-CORE features (151) plus ours.
    Core,
    /// JJ-CORE and JJ-EXTENDED.
    Extended,
    /// JJ-CORE, JJ-EXTENDED and JJ-EXPERIMENTAL.
    Experimental,
    /// Every feature.
    All,
}

impl Profile {
    fn tier(self) -> Tier {
        match self {
            Self::Core => Tier::Core,
            Self::Extended => Tier::Extended,
            Self::Experimental | Self::All => Tier::Experimental,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FormatArg {
    Parquet,
    Csv,
    Jsonl,
}

/// Which features a record carries (shared by `extract` and `run`).
#[derive(clap::Args, Debug)]
struct Selection {
    /// Feature tier to emit.
    #[arg(long, value_enum, default_value = "core")]
    profile: Profile,
    /// Only these feature groups, whatever their tier (see `capture features`); the capture group is always written.
    #[arg(long, num_args = 1.., value_name = "GROUP")]
    features: Vec<String>,
}

impl Selection {
    /// The selected columns.
    fn columns(&self) -> Result<Columns> {
        let groups = parse_groups(&self.features)?;
        Ok(Columns::select(
            self.profile.tier(),
            (!groups.is_empty()).then_some(groups.as_slice()),
        ))
    }
}

#[derive(clap::Args, Debug)]
struct ExtractArgs {
    /// Capture files (pcap or pcapng, recognised by content) or directories of them.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output file; `-` for standard output. The format follows the extension
    /// (.parquet, .csv, .jsonl, .csv.zst, .jsonl.zst) unless --format is given.
    #[arg(short, long)]
    output: PathBuf,
    /// Output format (default: from the output's extension; csv for standard output).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Compress CSV or JSON Lines output with zstd (implied by a .zst extension).
    #[arg(long)]
    zstd: bool,
    #[command(flatten)]
    selection: Selection,
    /// Idle timeout in seconds: a flow with no packet for this long ends.
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// Active timeout in seconds: a flow older than this ends at its next packet (default: off).
    #[arg(long)]
    active_timeout: Option<f64>,
    /// Seconds a closed TCP connection stays open for trailing packets.
    #[arg(long, default_value_t = 5.0)]
    close_grace: f64,
    /// Most flows held at once; the least recently seen is evicted beyond it.
    #[arg(long, default_value_t = 1 << 20)]
    max_flows: usize,
    /// Make the outer tunnel (VXLAN/GENEVE VNI, GRE key, ERSPAN session) part of the flow key.
    #[arg(long)]
    key_by_tunnel: bool,
    /// Name columns as JoyfulJay's --bidir-split does.
    #[arg(long)]
    bidir_split: bool,
    /// Never show a progress bar.
    #[arg(long)]
    quiet: bool,
    /// Build, encode and write records on the packet thread instead of a separate writer thread.
    #[arg(long)]
    single_thread: bool,
    /// Seconds of traffic the connection group's graph spans (see docs/features.md); records
    /// wait up to half of it.
    #[arg(long, default_value_t = capture::features::DEFAULT_CONNECTION_WINDOW_SECS)]
    connection_window: f64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum XdpModeArg {
    /// In the driver (fastest; needs driver support).
    Native,
    /// Generic XDP in the kernel's network stack (any interface).
    Skb,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SourceArg {
    /// XDP hands frames to AF_XDP sockets (kernel bypass).
    Xdp,
    /// AF_PACKET sockets with TPACKET_V3 rings, for hosts where XDP cannot attach.
    AfPacket,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum NonMatching {
    /// Drop frames no socket takes (a mirror port).
    Drop,
    /// Pass them on to the kernel (a host that also uses the interface).
    Pass,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Interface to capture from.
    #[arg(long, required_unless_present = "input")]
    iface: Option<String>,
    /// A capture file to run through the live pipeline instead of an interface (same workers,
    /// record channel, writer and counters; ends at the end of the file).
    #[arg(long, conflicts_with = "iface")]
    input: Option<PathBuf>,
    /// Directory the records go to (flows-<start time>.<format>).
    #[arg(long)]
    output_dir: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "parquet")]
    format: FormatArg,
    /// Where frames come from.
    #[arg(long, value_enum, default_value = "xdp")]
    source: SourceArg,
    /// Receive queues to capture from (default: all of the interface's); with --source
    /// af-packet, the number of sockets in the fanout group.
    #[arg(long)]
    queues: Option<u32>,
    /// Stop after this many seconds (default: at SIGINT or SIGTERM).
    #[arg(long)]
    duration: Option<f64>,
    /// Where XDP runs.
    #[arg(long, value_enum, default_value = "native")]
    xdp_mode: XdpModeArg,
    /// Capture only what this tcpdump-style expression selects, decided in the XDP program
    /// (host, net, port, portrange, proto, ip, ip6, tcp, udp, icmp, icmp6, vlan, src, dst,
    /// and, or, not, parentheses); it sees the innermost packet, through VLAN tags and tunnels.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// Keep one flow in N, chosen by a hash of its addresses and ports that is the same in both
    /// directions, so that sampled flows stay whole.
    #[arg(long, value_name = "N")]
    sample: Option<u32>,
    /// What happens to frames no socket takes, and to those the filter or sampling leave out.
    #[arg(long, value_enum, default_value = "drop")]
    non_matching: NonMatching,
    /// Bind AF_XDP sockets in copy mode without trying zero-copy.
    #[arg(long)]
    copy: bool,
    /// UMEM frames (4 KiB each) and ring slots per queue.
    #[arg(long, default_value_t = 8192)]
    frames_per_queue: u32,
    #[command(flatten)]
    selection: Selection,
    /// Idle timeout in seconds.
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// Most flows held at once per queue.
    #[arg(long, default_value_t = 1 << 20)]
    max_flows: usize,
    /// Serve the counters in Prometheus text format at http://ADDR/metrics (for example
    /// 127.0.0.1:9911).
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
    /// An XDP object to load instead of the one built into this binary.
    #[arg(long)]
    xdp_object: Option<PathBuf>,
    /// No status line.
    #[arg(long)]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
struct FeaturesArgs {
    /// Print the Markdown of docs/features.md instead of a table.
    #[arg(long)]
    markdown: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Extract(args) => run_extract(&args),
        Command::Run(args) => run_live(&args),
        Command::Features(args) => run_features(&args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("capture: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn seconds_to_ns(what: &str, secs: f64) -> Result<i64> {
    if !(secs.is_finite() && secs > 0.0) {
        bail!("{what} must be a positive number of seconds, got {secs}");
    }
    Ok((secs * 1e9) as i64)
}

/// Parses `--features` (names, or comma-separated lists of names) into groups.
fn parse_groups(features: &[String]) -> Result<Vec<Group>> {
    let mut groups = Vec::new();
    for name in features {
        for part in name.split(',').filter(|p| !p.is_empty()) {
            let group = Group::from_name(part).with_context(|| {
                let known: Vec<_> = Group::ALL.iter().map(|g| g.name()).collect();
                format!(
                    "unknown feature group '{part}' (known: {})",
                    known.join(", ")
                )
            })?;
            groups.push(group);
        }
    }
    Ok(groups)
}

fn run_extract(args: &ExtractArgs) -> Result<ExitCode> {
    let mut columns = args.selection.columns()?;
    if args.bidir_split {
        columns = columns.with_bidir_split_names();
    }
    let missing = registry::missing_jj_groups(args.selection.profile.tier());
    if !missing.is_empty() {
        eprintln!(
            "capture: note: JoyfulJay groups of --profile {:?} not in this build yet: {}",
            args.selection.profile,
            missing.join(", ")
        );
    }
    let (dest, inferred) = if args.output.as_os_str() == "-" {
        (Destination::Stdout, None)
    } else {
        (
            Destination::File(args.output.clone()),
            format_from_path(&args.output),
        )
    };
    let (format, zstd) = match (args.format, inferred) {
        (Some(f), inferred) => (
            match f {
                FormatArg::Parquet => Format::Parquet,
                FormatArg::Csv => Format::Csv,
                FormatArg::Jsonl => Format::Jsonl,
            },
            args.zstd || inferred.is_some_and(|(_, z)| z),
        ),
        (None, Some((f, z))) => (f, z || args.zstd),
        (None, None) if dest == Destination::Stdout => (Format::Csv, args.zstd),
        (None, None) => bail!(
            "cannot tell the output format from '{}': use an extension (.parquet, .csv, .jsonl, .csv.zst, .jsonl.zst) or --format",
            args.output.display()
        ),
    };
    if zstd && format == Format::Parquet {
        bail!("Parquet output is always zstd-compressed inside; --zstd applies to csv and jsonl");
    }
    let flow = FlowConfig {
        idle_timeout_ns: seconds_to_ns("--timeout", args.timeout)?,
        active_timeout_ns: args
            .active_timeout
            .map(|s| seconds_to_ns("--active-timeout", s))
            .transpose()?,
        close_grace_ns: seconds_to_ns("--close-grace", args.close_grace)?,
        max_flows: args.max_flows.max(1),
        key_by_tunnel: args.key_by_tunnel,
        groups: GroupSet::of(&columns.groups()),
    };
    let computes_connection = columns.groups().contains(&Group::Connection);
    let mut sink = open_sink(&dest, format, zstd, columns)
        .with_context(|| format!("cannot create output '{}'", args.output.display()))?;
    if computes_connection {
        seconds_to_ns("--connection-window", args.connection_window)?;
        sink = Box::new(ConnectionWindow::new(sink, args.connection_window));
    }
    let mut sink: Box<dyn RecordSink> = if args.single_thread {
        sink
    } else {
        Box::new(ThreadedSink::spawn(sink, 4096).context("cannot start the writer thread")?)
    };
    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    let bar = show_progress.then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut progress = |done: u64, total: u64| {
        if let Some(bar) = &bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    };
    let summary =
        extract(&args.inputs, flow, sink.as_mut(), &mut progress).context("extraction stopped")?;
    sink.finish()
        .with_context(|| format!("finishing '{}'", args.output.display()))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    print_summary(&summary);
    if summary.incomplete() {
        return Ok(ExitCode::from(EXIT_INCOMPLETE));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(s: &ExtractSummary) {
    let secs = s.elapsed.as_secs_f64();
    let e = &s.engine;
    let pps = if secs > 0.0 {
        e.frames as f64 / secs
    } else {
        0.0
    };
    eprintln!(
        "capture: {} file(s), {} frames ({} bytes), {} packets in flows, {} flows written, {:.3} s, {:.0} frames/s",
        s.files.len(),
        e.frames,
        e.captured_bytes,
        e.packets,
        s.records,
        secs,
        pps
    );
    let ended: Vec<String> = FlowEndReason::ALL
        .iter()
        .filter(|r| s.flows.ended[**r as usize] > 0)
        .map(|r| format!("{} {}", r.as_str(), s.flows.ended[*r as usize]))
        .collect();
    if !ended.is_empty() {
        eprintln!("capture: flows ended by: {}", ended.join(", "));
    }
    let skipped: Vec<String> = SkipReason::ALL
        .iter()
        .filter(|r| e.skipped[**r as usize] > 0)
        .map(|r| format!("{} {}", r.as_str(), e.skipped[*r as usize]))
        .collect();
    if !skipped.is_empty() {
        eprintln!(
            "capture: frames not counted in flows: {}",
            skipped.join(", ")
        );
    }
    if let Some((frame, err)) = &e.first_error {
        eprintln!("capture: first undecodable frame: #{frame}: {err}");
    }
    if s.flows_at_peak_memory > 0 {
        eprintln!(
            "capture: peak flow-state memory {} bytes for {} open flows ({} bytes per flow)",
            s.peak_flow_memory,
            s.flows_at_peak_memory,
            s.peak_flow_memory / s.flows_at_peak_memory
        );
    }
    for path in &s.skipped_files {
        eprintln!(
            "capture: skipped {} (not a pcap or pcapng file)",
            path.display()
        );
    }
    for (path, err) in &s.open_errors {
        eprintln!("capture: error: cannot open {}: {err}", path.display());
    }
    for err in &s.input_errors {
        eprintln!("capture: error: {err}; frames before this point were processed");
    }
}

/// The XDP object built into this binary (empty when it was built without one).
const BUILT_IN_XDP: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/capture-xdp.o"));

fn run_live(args: &RunArgs) -> Result<ExitCode> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let program = match &args.xdp_object {
        Some(path) => std::fs::read(path)
            .with_context(|| format!("cannot read the XDP object {}", path.display()))?,
        None if matches!(args.source, SourceArg::AfPacket) || args.input.is_some() => Vec::new(),
        None if BUILT_IN_XDP.is_empty() => bail!(
            "this binary was built without the XDP program: run `cargo xtask build-ebpf` and rebuild, or pass --xdp-object"
        ),
        None => BUILT_IN_XDP.to_vec(),
    };
    let filter = args
        .filter
        .as_deref()
        .map(capture::filter::Filter::compile)
        .transpose()?;
    if args.sample == Some(0) {
        bail!("--sample must be at least 1 (1 keeps every flow)");
    }
    let columns = args.selection.columns()?;
    let flow = FlowConfig {
        idle_timeout_ns: seconds_to_ns("--timeout", args.timeout)?,
        max_flows: args.max_flows.max(1),
        groups: GroupSet::of(&columns.groups()),
        ..FlowConfig::default()
    };
    let duration = args
        .duration
        .map(|d| {
            seconds_to_ns("--duration", d).map(|ns| std::time::Duration::from_nanos(ns as u64))
        })
        .transpose()?;
    std::fs::create_dir_all(&args.output_dir)
        .with_context(|| format!("cannot create {}", args.output_dir.display()))?;
    let (format, extension) = match args.format {
        FormatArg::Parquet => (Format::Parquet, "parquet"),
        FormatArg::Csv => (Format::Csv, "csv"),
        FormatArg::Jsonl => (Format::Jsonl, "jsonl"),
    };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let path = args.output_dir.join(format!("flows-{stamp}.{extension}"));
    let computes_connection = columns.groups().contains(&Group::Connection);
    let mut sink = open_sink(&Destination::File(path.clone()), format, false, columns)
        .with_context(|| format!("cannot create output '{}'", path.display()))?;
    if computes_connection {
        sink = Box::new(ConnectionWindow::new(
            sink,
            capture::features::DEFAULT_CONNECTION_WINDOW_SECS,
        ));
    }
    let mut sink: Box<dyn RecordSink> =
        Box::new(ThreadedSink::spawn(sink, 4096).context("cannot start the writer thread")?);
    let metrics = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    if let Some(addr) = args.metrics_addr {
        serve_metrics(addr, Arc::clone(&metrics))?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install the signal handlers")?;
    }
    let iface = args.iface.clone().unwrap_or_default();
    let config = capture::live::LiveConfig {
        source: match (&args.input, args.source) {
            (Some(path), _) => capture::live::SourceKind::File(path.clone()),
            (None, SourceArg::Xdp) => capture::live::SourceKind::Xdp,
            (None, SourceArg::AfPacket) => capture::live::SourceKind::AfPacket,
        },
        filter,
        sample_every: args.sample.unwrap_or(1),
        iface: iface.clone(),
        queues: args.queues,
        frames_per_queue: args.frames_per_queue.max(64),
        skb_mode: matches!(args.xdp_mode, XdpModeArg::Skb),
        copy_only: args.copy,
        pass_unmatched: matches!(args.non_matching, NonMatching::Pass),
        flow,
    };
    // Logs go to standard error: by default only warnings on a terminal (the status line shows
    // the counters there), the counters every 10 s otherwise (a service); RUST_LOG overrides.
    let default_level = if std::io::stderr().is_terminal() {
        "warn"
    } else {
        "info"
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .try_init();
    let capture = capture::live::LiveCapture::start(&config, &program)?;
    let modes: Vec<String> = capture
        .modes()
        .iter()
        .map(|(q, m)| format!("queue {q} {m}"))
        .collect();
    eprintln!(
        "capture: capturing on {} ({}; {}) into {}",
        args.input
            .as_ref()
            .map_or(iface.clone(), |p| p.display().to_string()),
        match (args.source, args.xdp_mode) {
            _ if args.input.is_some() => "file",
            (SourceArg::AfPacket, _) => "AF_PACKET",
            (SourceArg::Xdp, XdpModeArg::Native) => "native XDP",
            (SourceArg::Xdp, XdpModeArg::Skb) => "skb XDP",
        },
        modes.join(", "),
        path.display()
    );
    let show_status = !args.quiet && std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let mut last_status = started;
    let mut written = 0u64;
    let mut previous = capture.status();
    let mut logged = previous;
    let mut last_log = started;
    while !stop.load(Ordering::Relaxed)
        && duration.is_none_or(|d| started.elapsed() < d)
        && !capture.finished()
    {
        written += capture
            .drain(sink.as_mut(), std::time::Duration::from_millis(100))
            .context("writing records")?;
        if last_status.elapsed() >= std::time::Duration::from_secs(1) {
            let now = capture.status();
            if let Ok(mut text) = metrics.lock() {
                *text = now.prometheus(written);
            }
            if last_log.elapsed() >= std::time::Duration::from_secs(10) {
                now.log(&logged, written);
                logged = now;
                last_log = std::time::Instant::now();
            }
            last_status = std::time::Instant::now();
            if !show_status {
                previous = now;
                continue;
            }
            let dt = (now.elapsed - previous.elapsed).max(1e-9);
            let pps = (now.frames - previous.frames) as f64 / dt;
            let bps = (now.bytes - previous.bytes) as f64 * 8.0 / dt;
            let drops = now.xdp[XdpCounter::Dropped as usize];
            let s = now.sockets;
            eprint!(
                "\r\x1b[Kcapture: {:.0} s  {pps:.0} packets/s  {:.1} Mbit/s  {} active flows  {written} records  XDP seen {} redirected {} dropped {drops}  socket ring full {} fill empty {} dropped {}",
                now.elapsed,
                bps / 1e6,
                now.active_flows,
                now.xdp[XdpCounter::Seen as usize],
                now.xdp[XdpCounter::Redirected as usize],
                s.rx_ring_full,
                s.fill_ring_empty,
                s.rx_dropped + s.rx_invalid,
            );
            previous = now;
        }
    }
    if show_status {
        eprintln!();
    }
    let source_error = capture.source_error();
    let stats = capture.stop(sink.as_mut()).context("writing records")?;
    sink.finish()
        .with_context(|| format!("cannot finish '{}'", path.display()))?;
    print_live_summary(&stats, written, &path);
    if let Some(e) = source_error {
        eprintln!("capture: error: {e} (everything read before it was written)");
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

/// Serves `/metrics` (the latest rendering in `text`) on `addr` from a background thread.
fn serve_metrics(
    addr: std::net::SocketAddr,
    text: std::sync::Arc<std::sync::Mutex<String>>,
) -> Result<()> {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("cannot serve metrics on {addr}"))?;
    std::thread::Builder::new()
        .name("capture-metrics".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                // Read the whole request head: closing with unread bytes would reset the
                // connection before the client reads the answer.
                let mut request = Vec::with_capacity(512);
                let mut chunk = [0u8; 512];
                while request.len() < 8192 && !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                let wanted = request.starts_with(b"GET /metrics ");
                let body = if wanted {
                    text.lock().map(|t| t.clone()).unwrap_or_default()
                } else {
                    "not found: the counters are at /metrics\n".to_string()
                };
                let status = if wanted { "200 OK" } else { "404 Not Found" };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.shutdown(std::net::Shutdown::Write);
            }
        })
        .context("cannot start the metrics thread")?;
    Ok(())
}

fn print_live_summary(stats: &capture::live::LiveStats, written: u64, path: &std::path::Path) {
    eprintln!("capture: stopped; where every packet went:");
    let xdp_used = stats.sockets.iter().any(|s| s.1 != "af-packet");
    for counter in XdpCounter::ALL.into_iter().filter(|_| xdp_used) {
        eprintln!(
            "  xdp {:<24} {:>12}",
            counter.as_str(),
            stats.xdp[counter as usize]
        );
    }
    for ((queue, mode, s), (_, frames)) in stats.sockets.iter().zip(&stats.frames_per_queue) {
        eprintln!(
            "  socket queue {queue} ({mode}): read {frames} rx_ring_full {} fill_ring_empty {} rx_dropped {} rx_invalid {}",
            s.rx_ring_full,
            s.fill_ring_empty,
            s.rx_dropped,
            s.rx_invalid
        );
    }
    eprintln!("  read by workers {:>21}", stats.frames_read);
    if stats.frames_per_queue.len() > 1 {
        eprintln!("  handed to the flow's worker {:>9}", stats.handed_off);
        eprintln!("  lost, worker inbox full {:>13}", stats.handoff_dropped);
    }
    eprintln!("  packets in flows {:>20}", stats.engine.packets);
    for reason in SkipReason::ALL {
        let n = stats.engine.skipped[reason as usize];
        if n > 0 {
            eprintln!("  not in flows: {:<22} {n:>8}", reason.as_str());
        }
    }
    let ended: Vec<String> = FlowEndReason::ALL
        .iter()
        .filter(|r| stats.flows.ended[**r as usize] > 0)
        .map(|r| format!("{} {}", r.as_str(), stats.flows.ended[*r as usize]))
        .collect();
    eprintln!(
        "  flows {} (ended by: {}); records written {} to {}",
        stats.flows.created,
        ended.join(", "),
        written + stats.records,
        path.display()
    );
}

fn run_features(args: &FeaturesArgs) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if args.markdown {
        out.write_all(registry::markdown().as_bytes())?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<30} {:<10} {:<16} {:<8} {:<6} {:<9} description",
        "name", "group", "tier", "type", "unit", "direction"
    )?;
    for f in FEATURES {
        let tier = if f.group == Group::Capture {
            "ours"
        } else {
            f.tier.name()
        };
        writeln!(
            out,
            "{:<30} {:<10} {:<16} {:<8} {:<6} {:<9} {}",
            f.name,
            f.group.name(),
            tier,
            f.kind.name(),
            f.unit,
            f.direction.name(),
            f.description
        )?;
    }
    Ok(())
}
