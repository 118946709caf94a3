//! `capture`: the command-line front end.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use capture::extract::{extract_parallel, ExtractSummary};
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
static ALLOCATOR: capture::Allocator = capture::Allocator;

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
    /// Make the `.partial` segments a crash left in a directory readable, keeping every row
    /// group that was completely written.
    Recover(RecoverArgs),
    /// Send traffic out of an interface: captures replayed (and multiplied into more flows), or
    /// 64-byte or IMIX UDP frames, at a set packet rate.
    Gen(GenArgs),
    /// Measure the spill writer (used by `cargo xtask bench writer`).
    #[command(hide = true)]
    BenchWriter(BenchWriterArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum MixArg {
    /// The frames of the --pcap captures.
    Replay,
    /// 64-byte frames (60 before the frame check sequence).
    #[value(name = "64")]
    Small,
    /// IP packets of 40, 576 and 1,500 bytes, 7:4:1.
    Imix,
}

#[derive(clap::Args, Debug)]
struct GenArgs {
    /// Interface to send on.
    #[arg(long)]
    iface: String,
    /// Captures to replay (their Ethernet frames, in order, timing ignored).
    #[arg(long = "pcap", value_name = "FILE")]
    pcaps: Vec<PathBuf>,
    /// What to send (default: replay with --pcap, else 64).
    #[arg(long, value_enum)]
    mix: Option<MixArg>,
    /// Packets per second (default: as fast as the interface takes them).
    #[arg(long)]
    rate: Option<f64>,
    /// Copies of every replayed frame with rewritten addresses and client port: each
    /// conversation becomes this many.
    #[arg(long, default_value_t = 1)]
    copies: u32,
    /// Distinct UDP flows of the 64 and imix mixes.
    #[arg(long, default_value_t = 1024)]
    flows: u32,
    /// Passes over the mix.
    #[arg(long, default_value_t = 1)]
    loops: u64,
    /// Stop after this many frames.
    #[arg(long)]
    count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
}

#[derive(clap::Args, Debug)]
struct BenchWriterArgs {
    /// Capture whose records are written.
    #[arg(long)]
    input: PathBuf,
    /// Directory to write into (in a subdirectory of its own, removed at the end).
    #[arg(long)]
    dir: PathBuf,
    /// Records to write (the capture's records over and over).
    #[arg(long, default_value_t = 3_000_000)]
    records: usize,
    /// Bytes of the plain I/O measurement.
    #[arg(long, default_value = "2G", value_parser = parse_size)]
    raw_bytes: u64,
    #[command(flatten)]
    selection: Selection,
    /// Never use O_DIRECT.
    #[arg(long)]
    buffered: bool,
    /// Threads that encode row groups beside the writer thread (default: as for --output-dir).
    #[arg(long)]
    encode_threads: Option<usize>,
    /// zstd level of the pages.
    #[arg(long, default_value_t = capture::output::DEFAULT_ZSTD_LEVEL, allow_negative_numbers = true)]
    zstd_level: i32,
}

#[derive(clap::Args, Debug)]
struct RecoverArgs {
    /// The --output-dir of the run that stopped (searched with its subdirectories).
    dir: PathBuf,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OverloadArg {
    /// Drop the record and count it.
    Drop,
    /// Keep a shrinking, hash-chosen share of flows as the queue fills; drop when full.
    Sample,
    /// Wait for room (the default for --input, where waiting loses nothing).
    Wait,
}

/// How Parquet segments are written into --output-dir (shared by `extract` and `run`).
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Segments (--output-dir)")]
struct SpillArgs {
    /// Close a segment once it holds this much (bytes; K, M, G suffixes are powers of 1024).
    #[arg(long, default_value = "256M", value_parser = parse_size, value_name = "SIZE")]
    rotate_size: u64,
    /// Close a segment once it has been open this long.
    #[arg(long, default_value_t = 300.0, value_name = "SECS")]
    rotate_secs: f64,
    /// Records older than this are synced to disk and survive a crash.
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    fsync_secs: f64,
    /// Name carried in every segment's name (default: the host name).
    #[arg(long)]
    sensor: Option<String>,
    /// Delete this sensor's oldest closed segments to keep the directory under this size.
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    max_disk: Option<u64>,
    /// Put segments in date=YYYY-MM-DD/hour=HH/ subdirectories.
    #[arg(long)]
    hive: bool,
    /// Never use O_DIRECT (by default it is used where the filesystem supports it).
    #[arg(long)]
    buffered: bool,
    /// Flows the queue to the writer holds (each holds its feature state until written).
    #[arg(long, default_value_t = 16_384, value_name = "RECORDS")]
    writer_queue: usize,
    /// Threads that encode and compress row groups beside the writer thread (0: the writer
    /// thread does it; default: 1 where the process may use two CPUs or more, else 0). Raise it
    /// when the writer falls behind the flow rate and cores are free.
    #[arg(long, value_name = "N")]
    encode_threads: Option<usize>,
    /// zstd level of the segments' pages, -7 to 19: negative levels compress faster into larger
    /// segments (-7: about 1.15 times the records per second of level 1, at 1.3 times the bytes).
    #[arg(long, default_value_t = capture::output::DEFAULT_ZSTD_LEVEL, value_name = "LEVEL",
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32).range(-7..=19))]
    zstd_level: i32,
    /// Delay before every disk write, in milliseconds (for testing a slow disk).
    #[arg(long, hide = true, default_value_t = 0)]
    test_write_delay_ms: u64,
}

impl SpillArgs {
    fn config(
        &self,
        dir: &std::path::Path,
        overload: capture::spill::Overload,
    ) -> Result<capture::spill::SpillConfig> {
        use std::time::Duration;
        let secs =
            |what: &str, v: f64| seconds_to_ns(what, v).map(|ns| Duration::from_nanos(ns as u64));
        let sensor = match &self.sensor {
            Some(name) => {
                let clean = capture::spill::sanitize_sensor(name);
                if clean.is_empty() {
                    bail!("--sensor needs letters or digits");
                }
                clean
            }
            None => capture::spill::host_name(),
        };
        if self.rotate_size == 0 {
            bail!("--rotate-size must be more than 0");
        }
        let fsync = if self.fsync_secs == 0.0 {
            Duration::ZERO
        } else {
            secs("--fsync-secs", self.fsync_secs)?
        };
        Ok(capture::spill::SpillConfig {
            dir: dir.to_path_buf(),
            sensor,
            rotate_bytes: self.rotate_size,
            rotate_after: secs("--rotate-secs", self.rotate_secs)?,
            sync_every: fsync,
            max_disk: self.max_disk,
            hive: self.hive,
            direct: !self.buffered,
            queue: self.writer_queue.max(1),
            overload,
            write_delay: Duration::from_millis(self.test_write_delay_ms),
            encode_threads: self
                .encode_threads
                .unwrap_or_else(capture::spill::default_encode_threads),
            zstd_level: self.zstd_level,
        })
    }
}

/// Parses a size such as `1048576`, `512K`, `256M`, `1G`, `2GiB`.
fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size (for example 1048576, 512K, 256M, 1G)"))?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("'{text}': unknown unit (use K, M, G or T)")),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("'{text}' is too large"))
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
    #[arg(
        short,
        long,
        required_unless_present = "output_dir",
        conflicts_with = "output_dir"
    )]
    output: Option<PathBuf>,
    /// Write Parquet segments into this directory instead, as `capture run` does (rotated,
    /// synced, recoverable; see the Segments options).
    #[arg(long)]
    output_dir: Option<PathBuf>,
    #[command(flatten)]
    spill: SpillArgs,
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
    #[arg(long, conflicts_with = "workers")]
    single_thread: bool,
    /// Flow workers: one thread reads the input and deals frames out by flow, each worker owns
    /// its flows (default 1: the reading thread processes everything).
    #[arg(long, default_value_t = 1, value_name = "N")]
    workers: usize,
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
    /// Directory the records go to: Parquet segments (see the Segments options), or with
    /// --format csv or jsonl one file, flows-<start time>.<format>.
    #[arg(long)]
    output_dir: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "parquet")]
    format: FormatArg,
    /// What happens to a record when the writer falls behind (default: drop for an interface,
    /// wait for --input).
    #[arg(long, value_enum)]
    on_overload: Option<OverloadArg>,
    #[command(flatten)]
    spill: SpillArgs,
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
        Command::Recover(args) => run_recover(&args),
        Command::Gen(args) => run_gen(&args).map(|()| ExitCode::SUCCESS),
        Command::BenchWriter(args) => run_bench_writer(&args).map(|()| ExitCode::SUCCESS),
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
    let output = match (&args.output, &args.output_dir) {
        (Some(file), _) => Output::File(file),
        (None, Some(dir)) => {
            if args.zstd || matches!(args.format, Some(FormatArg::Csv | FormatArg::Jsonl)) {
                bail!("--output-dir writes Parquet segments (zstd inside); --format and --zstd apply to -o");
            }
            if args.single_thread {
                bail!(
                    "--output-dir always writes on its own thread; --single-thread applies to -o"
                );
            }
            Output::Segments(args.spill.config(dir, capture::spill::Overload::Wait)?)
        }
        (None, None) => bail!("give -o FILE or --output-dir DIR"),
    };
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
    if computes_connection {
        seconds_to_ns("--connection-window", args.connection_window)?;
        if args.workers > 1 {
            bail!(
                "the connection group needs --workers 1: its graph windows follow the order in which flows end, which several workers do not keep (select groups with --features, or --profile core or extended)"
            );
        }
    }
    let window = args.connection_window;
    let (mut sink, spill): (Box<dyn RecordSink>, _) = match &output {
        Output::File(path) => {
            let (dest, format, zstd) = file_output(path, args.format, args.zstd)?;
            let mut sink = open_sink(&dest, format, zstd, columns)
                .with_context(|| format!("cannot create output '{}'", path.display()))?;
            if computes_connection {
                sink = Box::new(ConnectionWindow::new(sink, window));
            }
            if args.single_thread {
                (sink, None)
            } else {
                let threaded =
                    ThreadedSink::spawn(sink, 4096).context("cannot start the writer thread")?;
                (Box::new(threaded), None)
            }
        }
        Output::Segments(config) => {
            let dir = config.dir.clone();
            let spill = capture::spill::SpillSink::spawn(config.clone(), columns, |inner| {
                if computes_connection {
                    Box::new(ConnectionWindow::new(inner, window))
                } else {
                    inner
                }
            })
            .with_context(|| format!("cannot write segments into '{}'", dir.display()))?;
            let counters = spill.counters();
            (Box::new(spill), Some(counters))
        }
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
    let summary = extract_parallel(
        &args.inputs,
        flow,
        sink.as_mut(),
        &mut progress,
        args.workers,
    )
    .context("extraction stopped")?;
    let finished = sink.finish();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    // The counters are reported even when the output could not be finished.
    print_summary(&summary);
    if let Some(counters) = spill {
        print_spill_summary(&counters.snapshot(), &output.name());
    }
    finished.with_context(|| format!("finishing '{}'", output.name()))?;
    if summary.incomplete() {
        return Ok(ExitCode::from(EXIT_INCOMPLETE));
    }
    Ok(ExitCode::SUCCESS)
}

/// Where `extract` writes.
enum Output<'a> {
    File(&'a PathBuf),
    Segments(capture::spill::SpillConfig),
}

impl Output<'_> {
    fn name(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Segments(config) => config.dir.display().to_string(),
        }
    }
}

/// Destination, format and compression of `-o FILE`.
fn file_output(
    output: &std::path::Path,
    format: Option<FormatArg>,
    zstd: bool,
) -> Result<(Destination, Format, bool)> {
    let (dest, inferred) = if output.as_os_str() == "-" {
        (Destination::Stdout, None)
    } else {
        (
            Destination::File(output.to_path_buf()),
            format_from_path(output),
        )
    };
    let (format, zstd) = match (format, inferred) {
        (Some(f), inferred) => (
            match f {
                FormatArg::Parquet => Format::Parquet,
                FormatArg::Csv => Format::Csv,
                FormatArg::Jsonl => Format::Jsonl,
            },
            zstd || inferred.is_some_and(|(_, z)| z),
        ),
        (None, Some((f, z))) => (f, z || zstd),
        (None, None) if dest == Destination::Stdout => (Format::Csv, zstd),
        (None, None) => bail!(
            "cannot tell the output format from '{}': use an extension (.parquet, .csv, .jsonl, .csv.zst, .jsonl.zst) or --format",
            output.display()
        ),
    };
    if zstd && format == Format::Parquet {
        bail!("Parquet output is always zstd-compressed inside; --zstd applies to csv and jsonl");
    }
    Ok((dest, format, zstd))
}

fn print_spill_summary(s: &capture::spill::SpillStats, dir: &str) {
    eprintln!(
        "capture: segments in {dir}: {} closed ({} bytes, {}), {} records written; dropped: {} queue full, {} disk full; {} sampled out; {} segments deleted for --max-disk",
        s.segments,
        s.segment_bytes,
        s.io_mode.unwrap_or("no file opened"),
        s.written,
        s.dropped_queue_full,
        s.dropped_disk_full,
        s.sampled_out,
        s.deleted_segments,
    );
}

/// Prints `key=value` lines: the plain io_uring write of `--raw-bytes`, then `--records`
/// records of `--input` through the segment writer, then the compression the segments achieved.
fn run_bench_writer(args: &BenchWriterArgs) -> Result<()> {
    let columns = args.selection.columns()?;
    // Everything is written in a directory of our own inside --dir, removed at the end.
    let dir = args
        .dir
        .join(format!("capture-bench-writer-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // Plain writes: what the disk takes through the same io_uring path, for comparison with fio.
    let chunk: Vec<u8> = (0..(1 << 20))
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let raw = dir.join("raw.bin");
    let (secs, mode) =
        capture::spill::bench::raw_write(&raw, &chunk, args.raw_bytes, !args.buffered)?;
    std::fs::remove_file(&raw)?;
    println!(
        "raw_bytes={} raw_secs={secs:.4} raw_mode={mode}",
        args.raw_bytes
    );
    let mut config = capture::spill::SpillConfig::new(dir.join("segments"));
    config.direct = !args.buffered;
    if let Some(threads) = args.encode_threads {
        config.encode_threads = threads;
    }
    config.zstd_level = args.zstd_level;
    let encode_threads = config.encode_threads;
    let (secs, stats) =
        capture::spill::bench::write_records(config, columns.clone(), &args.input, args.records)?;
    println!(
        "records={} columns={} records_secs={secs:.4} segment_bytes={} segments={} mode={} encode_threads={encode_threads}",
        stats.written,
        columns.len(),
        stats.segment_bytes,
        stats.segments,
        stats.io_mode.unwrap_or("none")
    );
    // Compression: encoded column bytes before and after zstd, from the segments' own metadata.
    let (mut plain, mut packed) = (0i64, 0i64);
    for entry in std::fs::read_dir(dir.join("segments"))? {
        use parquet::file::reader::FileReader;
        let file = std::fs::File::open(entry?.path())?;
        let reader = parquet::file::reader::SerializedFileReader::new(file)?;
        for group in reader.metadata().row_groups() {
            for column in group.columns() {
                plain += column.uncompressed_size();
                packed += column.compressed_size();
            }
        }
    }
    println!("encoded_bytes={plain} compressed_bytes={packed}");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn run_gen(args: &GenArgs) -> Result<()> {
    use capture::gen::{GenConfig, Mix};
    let mix = match (args.mix, args.pcaps.is_empty()) {
        (Some(MixArg::Replay) | None, false) => Mix::Replay {
            captures: args.pcaps.clone(),
            copies: args.copies.max(1),
        },
        (Some(MixArg::Replay), true) => bail!("--mix replay needs --pcap FILE"),
        (Some(MixArg::Small) | None, true) => Mix::Small { flows: args.flows },
        (Some(MixArg::Imix), true) => Mix::Imix { flows: args.flows },
        (Some(_), false) => {
            bail!("--pcap replays captures; --mix 64 and imix make their own frames")
        }
    };
    if let Some(rate) = args.rate {
        if !(rate.is_finite() && rate > 0.0) {
            bail!("--rate must be a positive number of packets per second");
        }
    }
    let config = GenConfig {
        iface: args.iface.clone(),
        mix,
        rate: args.rate,
        loops: args.loops.max(1),
        count: args.count,
        duration: args
            .duration
            .map(|d| {
                seconds_to_ns("--duration", d).map(|ns| std::time::Duration::from_nanos(ns as u64))
            })
            .transpose()?,
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, std::sync::Arc::clone(&stop))
            .context("cannot install the signal handlers")?;
    }
    let report = capture::gen::run(&config, &stop)
        .with_context(|| format!("sending on '{}'", args.iface))?;
    if report.not_rewritable > 0 {
        eprintln!(
            "capture: note: {} frames of the captures are not IP over Ethernet, VLAN, MPLS or PPPoE: their copies repeat them unchanged",
            report.not_rewritable
        );
    }
    println!(
        "sent {} frames ({} bytes) in {:.3} s: {:.0} packets/s, {:.1} Mbit/s{}",
        report.sent,
        report.bytes,
        report.elapsed.as_secs_f64(),
        report.pps(),
        report.bytes as f64 * 8.0 / report.elapsed.as_secs_f64().max(1e-9) / 1e6,
        if report.skipped > 0 {
            format!(
                "; {} frames of the captures were not Ethernet and were left out",
                report.skipped
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

fn run_recover(args: &RecoverArgs) -> Result<ExitCode> {
    if !args.dir.is_dir() {
        bail!("'{}' is not a directory", args.dir.display());
    }
    let recovery = capture::spill::recover_dir(&args.dir)
        .with_context(|| format!("recovering '{}'", args.dir.display()))?;
    for sealed in &recovery.sealed {
        match &sealed.segment {
            Some(segment) => println!(
                "{}: kept {} records in {} row groups -> {}; dropped {} bytes after the last complete row group",
                sealed.partial.display(),
                sealed.records,
                sealed.groups,
                segment.display(),
                sealed.dropped_bytes
            ),
            None => println!(
                "{}: no complete row group; removed ({} bytes dropped)",
                sealed.partial.display(),
                sealed.dropped_bytes
            ),
        }
    }
    for journal in &recovery.stale_journals {
        println!(
            "{}: journal of a complete segment; removed",
            journal.display()
        );
    }
    let records: u64 = recovery.sealed.iter().map(|s| s.records).sum();
    println!(
        "recovered {} partial segments ({records} records)",
        recovery.sealed.len()
    );
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
    let computes_connection = columns.groups().contains(&Group::Connection);
    let window = capture::features::DEFAULT_CONNECTION_WINDOW_SECS;
    let (mut sink, spill, destination): (Box<dyn RecordSink>, _, String) = match args.format {
        FormatArg::Parquet => {
            let overload = match args.on_overload {
                Some(OverloadArg::Drop) => capture::spill::Overload::Drop,
                Some(OverloadArg::Sample) => capture::spill::Overload::Sample,
                Some(OverloadArg::Wait) => capture::spill::Overload::Wait,
                None if args.input.is_some() => capture::spill::Overload::Wait,
                None => capture::spill::Overload::Drop,
            };
            let config = args.spill.config(&args.output_dir, overload)?;
            let spill = capture::spill::SpillSink::spawn(config, columns, |inner| {
                if computes_connection {
                    Box::new(ConnectionWindow::new(inner, window))
                } else {
                    inner
                }
            })
            .with_context(|| {
                format!("cannot write segments into '{}'", args.output_dir.display())
            })?;
            let counters = spill.counters();
            (
                Box::new(spill),
                Some(counters),
                format!("{} (Parquet segments)", args.output_dir.display()),
            )
        }
        FormatArg::Csv | FormatArg::Jsonl => {
            let (format, extension) = match args.format {
                FormatArg::Jsonl => (Format::Jsonl, "jsonl"),
                _ => (Format::Csv, "csv"),
            };
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let path = args.output_dir.join(format!("flows-{stamp}.{extension}"));
            let mut sink = open_sink(&Destination::File(path.clone()), format, false, columns)
                .with_context(|| format!("cannot create output '{}'", path.display()))?;
            if computes_connection {
                sink = Box::new(ConnectionWindow::new(sink, window));
            }
            let threaded =
                ThreadedSink::spawn(sink, 4096).context("cannot start the writer thread")?;
            (Box::new(threaded), None, path.display().to_string())
        }
    };
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
        destination
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
                if let Some(counters) = &spill {
                    text.push_str(&counters.snapshot().prometheus());
                }
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
    // The counters are reported even when the output could not be finished.
    let finished = sink.finish();
    print_live_summary(&stats, written, &destination);
    if let Some(counters) = &spill {
        print_spill_summary(&counters.snapshot(), &args.output_dir.display().to_string());
    }
    finished.with_context(|| format!("cannot finish '{destination}'"))?;
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

fn print_live_summary(stats: &capture::live::LiveStats, written: u64, destination: &str) {
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
    if stats.records_dropped > 0 {
        eprintln!(
            "  records lost, output queue full {:>6}",
            stats.records_dropped
        );
    }
    let ended: Vec<String> = FlowEndReason::ALL
        .iter()
        .filter(|r| stats.flows.ended[**r as usize] > 0)
        .map(|r| format!("{} {}", r.as_str(), stats.flows.ended[*r as usize]))
        .collect();
    eprintln!(
        "  flows {} (ended by: {}); records handed to the output {} ({})",
        stats.flows.created,
        ended.join(", "),
        written + stats.records,
        destination
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
