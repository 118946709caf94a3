//! Live capture: the XDP program hands every frame of an interface to one AF_XDP socket per
//! receive queue, and one worker thread per queue, pinned to a core, runs the same engine the
//! offline path runs (decode, flows, features). Finished flows reach the record sink through one
//! bounded channel; the calling thread writes them, reads the counters, and stops everything when
//! told to.
//!
//! Where a packet goes, stage by stage, is counted: seen by XDP, redirected or not (no socket on
//! its queue), dropped by the socket (receive ring full, fill ring empty, invalid), read by a
//! worker, turned into a flow update or skipped (by reason), and finally written in a record.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, PerCpuArray, XskMap};
use aya::programs::{Xdp, XdpMode};
use aya::Ebpf;
use capture_common::{
    Ipv4Bytes, Ipv6Bytes, XdpConfig, XdpCounter, XdpCounters, FILTER_PREFIXES, MAX_QUEUES,
};

use crate::decode::LinkType;
use crate::engine::{Engine, EngineStats};
use crate::filter::Filter;
use crate::flow::{FinishedFlow, FlowConfig, FlowTableStats};
use crate::input::Frame;
use crate::output::RecordSink;
use crate::reassembly::ReassemblyLimits;
use crate::sys::afpacket::PacketRing;
use crate::sys::xsk::{SocketStats, XskQueue};

/// Frames read from a socket per batch.
const BATCH: u32 = 256;
/// How long a quiet worker sleeps before looking at its clock and the stop flag.
const POLL_MS: i32 = 50;
/// Finished flows in flight between the workers and the writer.
const RECORD_QUEUE: usize = 8192;
/// Frames in flight to each worker from the others (and the buffers that carry them).
const HANDOFF_FRAMES: usize = 4096;
/// Bytes a handed-off frame keeps (UMEM frames are no larger).
const HANDOFF_FRAME_BYTES: usize = crate::sys::xsk::FRAME_SIZE as usize;

/// A frame a worker received for a flow another worker owns.
struct HandOff {
    ts_ns: i64,
    len: usize,
    bytes: Box<[u8]>,
}

/// What a worker receives from the others: frames in `inbox`, their empty buffers back from it
/// through `free`. Both are bounded and preallocated, so handing off never allocates.
struct Mailbox {
    inbox: crossbeam_queue::ArrayQueue<HandOff>,
    free: crossbeam_queue::ArrayQueue<Box<[u8]>>,
}

impl Mailbox {
    fn new() -> Self {
        let free = crossbeam_queue::ArrayQueue::new(HANDOFF_FRAMES);
        for _ in 0..HANDOFF_FRAMES {
            let _ = free.push(vec![0u8; HANDOFF_FRAME_BYTES].into_boxed_slice());
        }
        Self {
            inbox: crossbeam_queue::ArrayQueue::new(HANDOFF_FRAMES),
            free,
        }
    }
}

/// The worker that owns the flow of `data`: both directions, and every fragment, of a flow
/// give the same answer, whichever queue the NIC put them on.
fn owner(data: &[u8], workers: usize) -> Option<usize> {
    crate::engine::flow_owner(LinkType::Ethernet, data, workers)
}

/// Where frames come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// XDP redirecting into AF_XDP sockets (the default).
    Xdp,
    /// AF_PACKET sockets with TPACKET_V3 rings, for hosts where XDP cannot attach.
    AfPacket,
    /// A capture file read through the live pipeline (worker, records channel, writer,
    /// counters), at file speed; the capture ends at the end of the file.
    File(std::path::PathBuf),
}

/// What to capture and how.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// Interface name.
    pub iface: String,
    /// XDP and AF_XDP, or AF_PACKET.
    pub source: SourceKind,
    /// Receive queues to serve (default: every queue the interface has).
    pub queues: Option<u32>,
    /// UMEM frames (and ring slots) per queue.
    pub frames_per_queue: u32,
    /// Generic (skb) XDP instead of the driver's native XDP.
    pub skb_mode: bool,
    /// Bind copy mode without trying zero-copy first.
    pub copy_only: bool,
    /// Frames no socket takes go on to the kernel instead of being dropped.
    pub pass_unmatched: bool,
    /// Only frames this filter selects are captured (compiled into the XDP program's maps).
    pub filter: Option<Filter>,
    /// Keep one flow in this many, chosen by a hash that is the same in both directions, so
    /// that sampled flows stay whole (0 or 1: every flow).
    pub sample_every: u32,
    /// Flow settings, as offline.
    pub flow: FlowConfig,
}

/// What a live capture did, stage by stage.
#[derive(Debug, Default, Clone)]
pub struct LiveStats {
    /// XDP program decisions, summed over CPUs, by [`XdpCounter`] index.
    pub xdp: [u64; XdpCounter::COUNT],
    /// Each socket: queue, how it was bound, the kernel's drop counters.
    pub sockets: Vec<(u32, &'static str, SocketStats)>,
    /// Frames the workers read from their sockets.
    pub frames_read: u64,
    /// Frames read from each queue's socket.
    pub frames_per_queue: Vec<(u32, u64)>,
    /// Bytes of those frames.
    pub bytes_read: u64,
    /// Engine counters summed over workers (at the end of the capture).
    pub engine: EngineStats,
    /// Flow table counters summed over workers (at the end of the capture).
    pub flows: FlowTableStats,
    /// Records written.
    pub records: u64,
    /// Frames handed to the worker owning their flow (received on another queue).
    pub handed_off: u64,
    /// Frames lost because that worker's inbox was full.
    pub handoff_dropped: u64,
    /// Records lost because the queue from the workers to the output was full.
    pub records_dropped: u64,
}

/// A running capture's live counters, shared with the workers.
#[derive(Debug, Default)]
struct Progress {
    frames: AtomicU64,
    bytes: AtomicU64,
    active_flows: AtomicU64,
    /// Sums over sockets of the kernel's drop counters, as last read by each worker: receive
    /// ring full, fill ring empty, dropped otherwise, invalid.
    socket_drops: [AtomicU64; 4],
    /// Packets that updated a flow, summed over workers.
    packets_in_flows: AtomicU64,
    /// Frames passed to the worker that owns their flow.
    handed_off: AtomicU64,
    /// Frames lost because the owning worker's inbox was full.
    handoff_dropped: AtomicU64,
    /// Records lost because the queue to the output was full.
    records_dropped: AtomicU64,
    /// Workers that have read their socket for the last time.
    stopped_workers: AtomicU64,
    /// The source has nothing more (end of a capture file).
    exhausted: AtomicBool,
    /// Why reading the source stopped early.
    source_error: std::sync::Mutex<Option<String>>,
}

/// Why a live capture could not start or stopped early.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The interface does not exist.
    #[error("interface '{0}' does not exist (see `ip link`)")]
    NoInterface(String),
    /// Loading the program, creating maps or sockets needs privileges.
    #[error("{what}: permission denied; run as root or grant CAP_BPF, CAP_NET_ADMIN and CAP_NET_RAW (and CAP_PERFMON, CAP_SYS_RESOURCE on older kernels)")]
    Permission {
        /// What was refused.
        what: String,
    },
    /// The XDP program would not attach in the asked mode.
    #[error("cannot attach XDP to '{iface}' in {mode} mode: {reason}{hint}")]
    Attach {
        /// Interface.
        iface: String,
        /// native or skb.
        mode: &'static str,
        /// The loader's error, with its causes.
        reason: String,
        /// What to try instead.
        hint: &'static str,
    },
    /// The embedded XDP program is missing or invalid.
    #[error("the XDP program: {0}")]
    Program(String),
    /// A socket or ring failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

fn permission_or(what: &str, e: &(dyn std::error::Error + 'static)) -> LiveError {
    // The verifier also answers EACCES: only without privileges is that a permission problem.
    let privileged = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("CapEff:"))
                .and_then(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
        })
        // CAP_SYS_ADMIN (21) or CAP_BPF (39) with CAP_NET_ADMIN (12).
        .is_some_and(|caps| {
            caps & (1 << 21) != 0 || caps & (1 << 39 | 1 << 12) == (1 << 39 | 1 << 12)
        });
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut text = e.to_string();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::PermissionDenied && !privileged {
                return LiveError::Permission { what: what.into() };
            }
        }
        if let Some(aya::programs::ProgramError::LoadError { verifier_log, .. }) =
            err.downcast_ref::<aya::programs::ProgramError>()
        {
            text = format!("{text}\nverifier log:\n{verifier_log}");
        }
        source = err.source();
    }
    LiveError::Program(format!("{what}: {text}"))
}

/// Writes a compiled filter into the program's maps.
fn load_filter(ebpf: &mut Ebpf, filter: &Filter) -> Result<(), LiveError> {
    fn map<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut aya::maps::Map, LiveError> {
        ebpf.map_mut(name)
            .ok_or_else(|| LiveError::Program(format!("no {name} map")))
    }
    let program = |e: aya::maps::MapError| LiveError::Program(e.to_string());
    let write = |what: &str, e: aya::maps::MapError| permission_or(&format!("writing {what}"), &e);
    let prefixes = filter.prefixes(false);
    let prefixes6 = filter.prefixes(true);
    if prefixes.len().max(prefixes6.len()) > FILTER_PREFIXES as usize {
        return Err(LiveError::Program(format!(
            "the filter has more than {FILTER_PREFIXES} address prefixes of one family"
        )));
    }
    {
        let mut v4: LpmTrie<_, Ipv4Bytes, u16> =
            LpmTrie::try_from(map(ebpf, "FILTER_V4")?).map_err(program)?;
        for (prefix, len, atoms) in &prefixes {
            if let std::net::IpAddr::V4(a) = prefix {
                v4.insert(&Key::new(u32::from(*len), Ipv4Bytes(a.octets())), atoms, 0)
                    .map_err(|e| write("the IPv4 prefixes", e))?;
            }
        }
    }
    {
        let mut v6: LpmTrie<_, Ipv6Bytes, u16> =
            LpmTrie::try_from(map(ebpf, "FILTER_V6")?).map_err(program)?;
        for (prefix, len, atoms) in &prefixes6 {
            if let std::net::IpAddr::V6(a) = prefix {
                v6.insert(&Key::new(u32::from(*len), Ipv6Bytes(a.octets())), atoms, 0)
                    .map_err(|e| write("the IPv6 prefixes", e))?;
            }
        }
    }
    let mut fill = |name: &str, entries: Vec<(u32, u16)>| -> Result<(), LiveError> {
        let mut array: Array<_, u16> = Array::try_from(map(ebpf, name)?).map_err(program)?;
        for (index, atoms) in entries {
            array.set(index, atoms, 0).map_err(|e| write(name, e))?;
        }
        Ok(())
    };
    fill(
        "FILTER_PORTS",
        filter
            .ports()
            .into_iter()
            .map(|(p, a)| (u32::from(p), a))
            .collect(),
    )?;
    fill(
        "FILTER_PROTOCOLS",
        filter
            .protocols()
            .into_iter()
            .map(|(p, a)| (u32::from(p), a))
            .collect(),
    )?;
    fill(
        "FILTER_VLANS",
        filter
            .vlans()
            .into_iter()
            .map(|(v, a)| (u32::from(v), a))
            .collect(),
    )?;
    let mut truth: Array<_, u64> = Array::try_from(map(ebpf, "FILTER_TRUTH")?).map_err(program)?;
    for (i, word) in (0..).zip(filter.truth_table()) {
        truth
            .set(i, word, 0)
            .map_err(|e| write("the truth table", e))?;
    }
    Ok(())
}

/// Receive queues of `iface`, from sysfs.
pub fn rx_queues(iface: &str) -> Result<u32, LiveError> {
    let dir = std::path::Path::new("/sys/class/net").join(iface);
    if !dir.exists() {
        return Err(LiveError::NoInterface(iface.into()));
    }
    let n = std::fs::read_dir(dir.join("queues"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count()
        })
        .unwrap_or(1);
    Ok(u32::try_from(n.max(1)).unwrap_or(1))
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// What a worker hands back when it stops.
struct WorkerEnd {
    frames: u64,
    bytes: u64,
    engine: EngineStats,
    flows: FlowTableStats,
    stats: SocketStats,
    queue: u32,
    mode: &'static str,
}

/// The workers of a capture and what they share.
struct Pipeline {
    workers: Vec<std::thread::JoinHandle<WorkerEnd>>,
    records: crossbeam_channel::Receiver<FinishedFlow>,
    stop: Arc<AtomicBool>,
    progress: Arc<Progress>,
}

impl Pipeline {
    /// One worker per source, each pinned to a core in turn; with `hand_off` and several
    /// sources, workers pass frames of flows they do not own to the owner's mailbox.
    fn spawn(sources: Vec<Source>, flow: FlowConfig, hand_off: bool) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(Progress::default());
        let (sender, records) = crossbeam_channel::bounded(RECORD_QUEUE);
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let mailboxes: Arc<Vec<Mailbox>> = Arc::new(if hand_off && sources.len() > 1 {
            (0..sources.len()).map(|_| Mailbox::new()).collect()
        } else {
            Vec::new()
        });
        let mut workers = Vec::new();
        for (queue, source) in (0..).zip(sources) {
            let core = cores.get(queue as usize % cores.len().max(1)).copied();
            let name = format!("capture-w{queue}");
            let worker = Worker {
                source,
                queue,
                mailboxes: Arc::clone(&mailboxes),
                engine: Engine::new(flow, ReassemblyLimits::default()),
                sender: sender.clone(),
                stop: Arc::clone(&stop),
                progress: Arc::clone(&progress),
            };
            workers.push(std::thread::Builder::new().name(name).spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                worker.run()
            })?);
        }
        Ok(Self {
            workers,
            records,
            stop,
            progress,
        })
    }
}

/// A live capture whose program is attached and whose workers run.
pub struct LiveCapture {
    /// The XDP program (absent with AF_PACKET); dropping it detaches the program.
    ebpf: Option<Ebpf>,
    workers: Vec<std::thread::JoinHandle<WorkerEnd>>,
    records: crossbeam_channel::Receiver<FinishedFlow>,
    stop: Arc<AtomicBool>,
    progress: Arc<Progress>,
    modes: Vec<(u32, &'static str)>,
    started: Instant,
}

impl std::fmt::Debug for LiveCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCapture")
            .field("modes", &self.modes)
            .finish_non_exhaustive()
    }
}

/// A one-line view of a running capture.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveStatus {
    /// Seconds since the start.
    pub elapsed: f64,
    /// Frames read by the workers so far.
    pub frames: u64,
    /// Bytes of those frames.
    pub bytes: u64,
    /// Open flows (as last reported by the workers).
    pub active_flows: u64,
    /// XDP counters so far.
    pub xdp: [u64; XdpCounter::COUNT],
    /// Socket drop counters so far, summed over queues (as of each worker's last reading).
    pub sockets: SocketStats,
    /// Packets that updated a flow so far.
    pub packets_in_flows: u64,
    /// Records lost so far because the queue to the output was full.
    pub records_dropped: u64,
}

impl LiveStatus {
    /// Logs the counters (every few seconds from the capture loop), as a warning when a stage
    /// lost frames since `previous`.
    pub fn log(&self, previous: &Self, records: u64) {
        let lost =
            |s: &SocketStats| s.rx_ring_full + s.fill_ring_empty + s.rx_dropped + s.rx_invalid;
        let new_losses = lost(&self.sockets).saturating_sub(lost(&previous.sockets));
        if new_losses > 0 {
            tracing::warn!(
                lost = new_losses,
                rx_ring_full = self.sockets.rx_ring_full,
                fill_ring_empty = self.sockets.fill_ring_empty,
                "sockets lost frames: the workers fall behind"
            );
        }
        let new_record_losses = self
            .records_dropped
            .saturating_sub(previous.records_dropped);
        if new_record_losses > 0 {
            tracing::warn!(
                lost = new_record_losses,
                "records lost: the queue to the output was full"
            );
        }
        tracing::info!(
            frames = self.frames,
            bytes = self.bytes,
            active_flows = self.active_flows,
            records,
            xdp_seen = self.xdp[XdpCounter::Seen as usize],
            xdp_redirected = self.xdp[XdpCounter::Redirected as usize],
            xdp_dropped = self.xdp[XdpCounter::Dropped as usize],
            socket_drops = lost(&self.sockets),
            "capture counters"
        );
    }

    /// The counters in the Prometheus text exposition format; `records` is the number of
    /// records written so far.
    #[must_use]
    pub fn prometheus(&self, records: u64) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP capture_{name} {help}");
            let _ = writeln!(out, "# TYPE capture_{name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "capture_{name}{labels} {value}");
            }
        };
        let xdp: Vec<(String, u64)> = XdpCounter::ALL
            .iter()
            .map(|c| {
                (
                    format!("{{decision=\"{}\"}}", c.as_str()),
                    self.xdp[*c as usize],
                )
            })
            .collect();
        let xdp: Vec<(&str, u64)> = xdp.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        metric(
            "xdp_frames_total",
            "counter",
            "Frames the XDP program saw, by decision.",
            &xdp,
        );
        metric(
            "socket_drops_total",
            "counter",
            "Frames the AF_XDP sockets lost, by reason (kernel counters).",
            &[
                ("{reason=\"rx_ring_full\"}", self.sockets.rx_ring_full),
                ("{reason=\"fill_ring_empty\"}", self.sockets.fill_ring_empty),
                ("{reason=\"rx_dropped\"}", self.sockets.rx_dropped),
                ("{reason=\"rx_invalid\"}", self.sockets.rx_invalid),
            ],
        );
        metric(
            "frames_read_total",
            "counter",
            "Frames the workers read from their sockets.",
            &[("", self.frames)],
        );
        metric(
            "bytes_read_total",
            "counter",
            "Bytes of those frames.",
            &[("", self.bytes)],
        );
        metric(
            "packets_in_flows_total",
            "counter",
            "Packets that updated a flow.",
            &[("", self.packets_in_flows)],
        );
        metric(
            "active_flows",
            "gauge",
            "Flows open in the workers' tables.",
            &[("", self.active_flows)],
        );
        metric(
            "records_written_total",
            "counter",
            "Flow records handed to the output.",
            &[("", records)],
        );
        metric(
            "records_dropped_total",
            "counter",
            "Flow records lost because the queue from the workers to the output was full.",
            &[("", self.records_dropped)],
        );
        out
    }
}

impl LiveCapture {
    fn from_parts(ebpf: Option<Ebpf>, pipeline: Pipeline, modes: Vec<(u32, &'static str)>) -> Self {
        Self {
            ebpf,
            workers: pipeline.workers,
            records: pipeline.records,
            stop: pipeline.stop,
            progress: pipeline.progress,
            modes,
            started: Instant::now(),
        }
    }

    /// Loads `program` (the XDP object), opens one socket per queue, starts the workers and
    /// attaches the program.
    pub fn start(config: &LiveConfig, program: &[u8]) -> Result<Self, LiveError> {
        if let SourceKind::File(path) = &config.source {
            return Self::start_file(config, path);
        }
        let available = rx_queues(&config.iface)?;
        let queues = config.queues.unwrap_or(available).clamp(1, MAX_QUEUES);
        if config.source == SourceKind::AfPacket {
            return Self::start_af_packet(config, queues);
        }
        if let SourceKind::File(path) = &config.source {
            return Self::start_file(config, path);
        }
        let mut ebpf =
            Ebpf::load(program).map_err(|e| permission_or("loading the XDP object", &e))?;
        let mut settings = XdpConfig {
            pass_unmatched: u32::from(config.pass_unmatched),
            sample_every: config.sample_every,
            ..XdpConfig::default()
        };
        if let Some(filter) = &config.filter {
            load_filter(&mut ebpf, filter)?;
            let m = filter.direction_masks();
            settings.filter_enabled = 1;
            settings.src_addr_atoms = m.src_addr;
            settings.dst_addr_atoms = m.dst_addr;
            settings.src_port_atoms = m.src_port;
            settings.dst_port_atoms = m.dst_port;
            settings.ipv4_atoms = m.ipv4;
            settings.ipv6_atoms = m.ipv6;
            settings.vlan_atoms = m.any_vlan;
        }
        {
            let map = ebpf
                .map_mut("CONFIG")
                .ok_or_else(|| LiveError::Program("no CONFIG map".into()))?;
            let mut array: Array<_, XdpConfig> =
                Array::try_from(map).map_err(|e| LiveError::Program(e.to_string()))?;
            array
                .set(0, settings, 0)
                .map_err(|e| permission_or("writing the XDP settings", &e))?;
        }
        let mut modes = Vec::new();
        let mut sockets = Vec::new();
        for queue in 0..queues {
            let xsk = XskQueue::open(
                &config.iface,
                queue,
                config.frames_per_queue,
                config.copy_only,
            )
            .map_err(|e| match e.kind() {
                io::ErrorKind::PermissionDenied => LiveError::Permission {
                    what: format!("AF_XDP socket on queue {queue}"),
                },
                _ => LiveError::Io(io::Error::new(
                    e.kind(),
                    format!("AF_XDP socket on {} queue {queue}: {e}", config.iface),
                )),
            })?;
            modes.push((queue, xsk.mode().as_str()));
            sockets.push(xsk);
        }
        {
            let map = ebpf
                .map_mut("SOCKETS")
                .ok_or_else(|| LiveError::Program("no SOCKETS map".into()))?;
            let mut xskmap =
                XskMap::try_from(map).map_err(|e| LiveError::Program(e.to_string()))?;
            for (queue, xsk) in (0..).zip(&sockets) {
                xskmap
                    .set(queue, xsk.fd(), 0)
                    .map_err(|e| permission_or("registering the socket in the XSKMAP", &e))?;
            }
        }
        // Frames of a flow can arrive on any queue: workers hand them to the flow's owner.
        let pipeline = Pipeline::spawn(
            sockets
                .into_iter()
                .map(|x| Source::Xdp(Box::new(x)))
                .collect(),
            config.flow,
            true,
        )?;
        let mode = if config.skb_mode {
            XdpMode::Skb
        } else {
            XdpMode::Driver
        };
        let attached = (|| {
            let program: &mut Xdp = ebpf
                .program_mut("capture")
                .ok_or_else(|| LiveError::Program("no program named capture".into()))?
                .try_into()
                .map_err(|e: aya::programs::ProgramError| LiveError::Program(e.to_string()))?;
            program
                .load()
                .map_err(|e| permission_or("loading the XDP program into the kernel", &e))?;
            program
                .attach(&config.iface, mode)
                .map_err(|e| {
                    let mut reason = e.to_string();
                    let mut cause = std::error::Error::source(&e);
                    let mut out_of_range = false;
                    while let Some(c) = cause {
                        reason = format!("{reason}: {c}");
                        out_of_range |= c
                            .downcast_ref::<io::Error>()
                            .is_some_and(|io| io.raw_os_error() == Some(libc::ERANGE));
                        cause = c.source();
                    }
                    LiveError::Attach {
                        iface: config.iface.clone(),
                        mode: if config.skb_mode { "skb" } else { "native" },
                        reason,
                        hint: if out_of_range {
                            " (the interface's MTU is too large for native XDP on this driver: lower it, or use --xdp-mode skb)"
                        } else if config.skb_mode {
                            " (try --source af-packet)"
                        } else {
                            " (try --xdp-mode skb, or --source af-packet)"
                        },
                    }
                })
        })();
        let capture = Self::from_parts(Some(ebpf), pipeline, modes);
        match attached {
            Ok(_) => {
                tracing::info!(
                    iface = %config.iface,
                    queues,
                    modes = ?capture.modes,
                    filter = config.filter.is_some(),
                    sample_every = config.sample_every,
                    "XDP program attached, AF_XDP sockets bound"
                );
                Ok(capture)
            }
            Err(e) => {
                // Stop the workers before reporting: they hold the sockets.
                let _ = capture.stop_workers();
                Err(e)
            }
        }
    }

    fn start_file(config: &LiveConfig, path: &std::path::Path) -> Result<Self, LiveError> {
        if config.filter.is_some() || config.sample_every > 1 {
            return Err(LiveError::Program(
                "--filter and --sample are decided by the XDP program; reading a file they are not available".into(),
            ));
        }
        let file = crate::input::CaptureFile::open(path).map_err(|e| {
            LiveError::Io(io::Error::new(e.kind(), format!("{}: {e}", path.display())))
        })?;
        let pipeline = Pipeline::spawn(vec![Source::File(Box::new(file))], config.flow, false)?;
        Ok(Self::from_parts(None, pipeline, vec![(0, "file")]))
    }

    /// Whether every source is exhausted (the end of a capture file): nothing more will come.
    #[must_use]
    pub fn finished(&self) -> bool {
        self.progress.exhausted.load(Ordering::Acquire)
    }

    /// The first error reading the source, if any (a damaged capture file).
    #[must_use]
    pub fn source_error(&self) -> Option<String> {
        self.progress
            .source_error
            .lock()
            .ok()
            .and_then(|e| e.clone())
    }

    fn start_af_packet(config: &LiveConfig, workers_wanted: u32) -> Result<Self, LiveError> {
        if config.filter.is_some() || config.sample_every > 1 {
            return Err(LiveError::Program(
                "--filter and --sample are decided by the XDP program; with --source af-packet they are not available".into(),
            ));
        }
        // One fanout group per capture; the kernel's fanout hash is the same in both directions
        // and reassembles fragments first, so no hand-off between workers is needed.
        let group = (workers_wanted > 1).then(|| (std::process::id() & 0xffff) as u16);
        let mut rings = Vec::new();
        for member in 0..workers_wanted {
            let ring = PacketRing::open(&config.iface, 64, group).map_err(|e| match e.kind() {
                io::ErrorKind::PermissionDenied => LiveError::Permission {
                    what: format!("AF_PACKET socket on {}", config.iface),
                },
                io::ErrorKind::NotFound => LiveError::NoInterface(config.iface.clone()),
                _ => LiveError::Io(io::Error::new(e.kind(), format!("member {member}: {e}"))),
            })?;
            rings.push(ring);
        }
        let modes = (0..workers_wanted).map(|m| (m, "af-packet")).collect();
        let pipeline = Pipeline::spawn(
            rings.into_iter().map(Source::Packet).collect(),
            config.flow,
            false,
        )?;
        tracing::info!(iface = %config.iface, sockets = workers_wanted, "AF_PACKET rings bound");
        Ok(Self::from_parts(None, pipeline, modes))
    }

    /// How each queue's socket was bound.
    #[must_use]
    pub fn modes(&self) -> &[(u32, &'static str)] {
        &self.modes
    }

    /// The XDP counters so far, summed over CPUs.
    #[must_use]
    pub fn xdp_counters(&self) -> [u64; XdpCounter::COUNT] {
        let mut sum = [0u64; XdpCounter::COUNT];
        let Some(map) = self.ebpf.as_ref().and_then(|e| e.map("COUNTERS")) else {
            return sum;
        };
        let Ok(counters) = PerCpuArray::<_, XdpCounters>::try_from(map) else {
            return sum;
        };
        if let Ok(per_cpu) = counters.get(&0, 0) {
            for cpu in per_cpu.iter() {
                for (s, v) in sum.iter_mut().zip(cpu.values) {
                    *s += v;
                }
            }
        }
        sum
    }

    /// A snapshot for a status line.
    #[must_use]
    pub fn status(&self) -> LiveStatus {
        LiveStatus {
            elapsed: self.started.elapsed().as_secs_f64(),
            frames: self.progress.frames.load(Ordering::Relaxed),
            bytes: self.progress.bytes.load(Ordering::Relaxed),
            active_flows: self.progress.active_flows.load(Ordering::Relaxed),
            xdp: self.xdp_counters(),
            sockets: SocketStats {
                rx_ring_full: self.progress.socket_drops[0].load(Ordering::Relaxed),
                fill_ring_empty: self.progress.socket_drops[1].load(Ordering::Relaxed),
                rx_dropped: self.progress.socket_drops[2].load(Ordering::Relaxed),
                rx_invalid: self.progress.socket_drops[3].load(Ordering::Relaxed),
            },
            packets_in_flows: self.progress.packets_in_flows.load(Ordering::Relaxed),
            records_dropped: self.progress.records_dropped.load(Ordering::Relaxed),
        }
    }

    /// Writes the records of flows that ended, waiting up to `wait` for the first one; returns
    /// how many were written.
    pub fn drain(&self, sink: &mut dyn RecordSink, wait: Duration) -> io::Result<u64> {
        let mut flows = Vec::new();
        if let Ok(flow) = self.records.recv_timeout(wait) {
            flows.push(flow);
            flows.extend(self.records.try_iter());
        }
        let n = flows.len() as u64;
        sink.write_flows(&mut flows, &mut Vec::new())?;
        Ok(n)
    }

    fn stop_workers(
        self,
    ) -> (
        Vec<WorkerEnd>,
        crossbeam_channel::Receiver<FinishedFlow>,
        Option<Ebpf>,
    ) {
        self.stop.store(true, Ordering::Relaxed);
        let mut ends = Vec::new();
        // Workers flush their open flows into the channel as they stop: keep it drained.
        let mut pending = self.workers;
        let mut held = Vec::new();
        while !pending.is_empty() {
            while let Ok(flow) = self.records.try_recv() {
                held.push(flow);
            }
            if let Some(i) = pending
                .iter()
                .position(std::thread::JoinHandle::is_finished)
            {
                if let Ok(end) = pending.swap_remove(i).join() {
                    ends.push(end);
                }
            } else {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let (resend, receiver) = crossbeam_channel::unbounded();
        for flow in held {
            let _ = resend.send(flow);
        }
        while let Ok(flow) = self.records.try_recv() {
            let _ = resend.send(flow);
        }
        (ends, receiver, self.ebpf)
    }

    /// Stops the capture: the workers end every open flow, the program is detached, and every
    /// record is written to `sink`. Returns the counters of every stage.
    pub fn stop(self, sink: &mut dyn RecordSink) -> io::Result<LiveStats> {
        let xdp_before_detach = self.xdp_counters();
        let progress = Arc::clone(&self.progress);
        let (ends, records, ebpf) = self.stop_workers();
        // Dropping the loader detaches the program (its link) and frees the maps.
        drop(ebpf);
        let mut stats = LiveStats {
            xdp: xdp_before_detach,
            ..LiveStats::default()
        };
        let mut flows: Vec<_> = records.try_iter().collect();
        stats.records += flows.len() as u64;
        sink.write_flows(&mut flows, &mut Vec::new())?;
        for end in ends {
            stats.frames_read += end.frames;
            stats.bytes_read += end.bytes;
            stats.engine.add(&end.engine);
            stats.flows.add(&end.flows);
            stats.sockets.push((end.queue, end.mode, end.stats));
            stats.frames_per_queue.push((end.queue, end.frames));
        }
        stats.sockets.sort_by_key(|s| s.0);
        stats.frames_per_queue.sort_unstable();
        stats.handed_off = progress.handed_off.load(Ordering::Relaxed);
        stats.handoff_dropped = progress.handoff_dropped.load(Ordering::Relaxed);
        stats.records_dropped = progress.records_dropped.load(Ordering::Relaxed);
        let drops: u64 = stats
            .sockets
            .iter()
            .map(|(_, _, s)| s.rx_ring_full + s.fill_ring_empty + s.rx_dropped + s.rx_invalid)
            .sum();
        tracing::info!(
            xdp_seen = stats.xdp[XdpCounter::Seen as usize],
            xdp_redirected = stats.xdp[XdpCounter::Redirected as usize],
            xdp_filtered = stats.xdp[XdpCounter::Filtered as usize],
            socket_drops = drops,
            frames_read = stats.frames_read,
            handed_off = stats.handed_off,
            handoff_dropped = stats.handoff_dropped,
            packets_in_flows = stats.engine.packets,
            flows = stats.flows.created,
            "capture stopped"
        );
        Ok(stats)
    }
}

/// A worker's socket.
enum Source {
    Xdp(Box<XskQueue>),
    Packet(PacketRing),
    File(Box<crate::input::CaptureFile>),
}

impl Source {
    /// Reads a batch, handing each frame's receive time and bytes to `each`.
    fn receive(&mut self, batch: u32, timeout_ms: i32, each: &mut impl FnMut(i64, &[u8])) -> u32 {
        match self {
            // AF_XDP carries no timestamps: the time the batch is read (after the wait, one
            // clock read per batch) stands for its frames.
            Self::Xdp(xsk) => {
                let mut stamp = None;
                xsk.receive(batch, timeout_ms, &mut |data| {
                    each(*stamp.get_or_insert_with(now_ns), data);
                })
            }
            Self::Packet(ring) => ring.receive(timeout_ms, &mut |ts, data, _| each(ts, data)),
            // Read whole in `Worker::run_file`.
            Self::File(_) => 0,
        }
    }

    fn stats(&mut self) -> SocketStats {
        match self {
            Self::Xdp(xsk) => xsk.stats().unwrap_or_default(),
            Self::Packet(ring) => ring
                .stats()
                .map(|s| SocketStats {
                    rx_ring_full: s.drops,
                    ..SocketStats::default()
                })
                .unwrap_or_default(),
            Self::File(_) => SocketStats::default(),
        }
    }

    fn mode(&self) -> &'static str {
        match self {
            Self::Xdp(xsk) => xsk.mode().as_str(),
            Self::Packet(_) => "af-packet",
            Self::File(_) => "file",
        }
    }
}

/// One receive queue's socket and engine.
struct Worker {
    source: Source,
    queue: u32,
    /// Every worker's mailbox (empty with one worker): frames of flows another worker owns go to
    /// its mailbox.
    mailboxes: Arc<Vec<Mailbox>>,
    engine: Engine,
    sender: crossbeam_channel::Sender<FinishedFlow>,
    stop: Arc<AtomicBool>,
    progress: Arc<Progress>,
}

impl Worker {
    /// Processes one frame received at `now`: here when this worker owns its flow, else in the
    /// owner's mailbox.
    fn take(
        engine: &mut Engine,
        mailboxes: &[Mailbox],
        me: usize,
        progress: &Progress,
        now: i64,
        data: &[u8],
        ended: &mut impl FnMut(FinishedFlow),
    ) {
        if mailboxes.len() > 1 {
            if let Some(owner) = owner(data, mailboxes.len()).filter(|o| *o != me) {
                let mailbox = &mailboxes[owner];
                match mailbox.free.pop() {
                    Some(mut bytes) => {
                        let len = data.len().min(bytes.len());
                        bytes[..len].copy_from_slice(&data[..len]);
                        let _ = mailbox.inbox.push(HandOff {
                            ts_ns: now,
                            len,
                            bytes,
                        });
                        progress.handed_off.fetch_add(1, Ordering::Relaxed);
                    }
                    None => {
                        progress.handoff_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                return;
            }
        }
        let frame = Frame {
            ts_ns: now,
            data,
            wire_len: u32::try_from(data.len()).unwrap_or(u32::MAX),
            link: LinkType::Ethernet,
        };
        engine.process_frame(&frame, ended);
    }

    /// Processes the frames other workers handed to this one; returns how many.
    fn drain_mailbox(&mut self, ended: &mut impl FnMut(FinishedFlow)) -> u64 {
        let Some(mailbox) = self.mailboxes.get(self.queue as usize) else {
            return 0;
        };
        let mut n = 0;
        while let Some(handoff) = mailbox.inbox.pop() {
            let frame = Frame {
                ts_ns: handoff.ts_ns,
                data: &handoff.bytes[..handoff.len],
                wire_len: u32::try_from(handoff.len).unwrap_or(u32::MAX),
                link: LinkType::Ethernet,
            };
            self.engine.process_frame(&frame, ended);
            let _ = mailbox.free.push(handoff.bytes);
            n += 1;
        }
        n
    }

    /// Reads a capture file through the same engine and record channel as a live source.
    fn run_file(mut self) -> WorkerEnd {
        let Source::File(file) = &self.source else {
            unreachable!("run_file is called for file sources")
        };
        let sender = self.sender.clone();
        let mut ended = |flow: FinishedFlow| {
            let _ = sender.send(flow);
        };
        let (mut frames, mut bytes) = (0u64, 0u64);
        match file.frames() {
            Ok(reader) => {
                for frame in reader {
                    if self.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match frame {
                        Ok(frame) => {
                            frames += 1;
                            bytes += frame.data.len() as u64;
                            self.engine.process_frame(&frame, &mut ended);
                            if frames.is_multiple_of(4096) {
                                self.progress.frames.store(frames, Ordering::Relaxed);
                                self.progress.bytes.store(bytes, Ordering::Relaxed);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut slot) = self.progress.source_error.lock() {
                                *slot = Some(e.to_string());
                            }
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                if let Ok(mut slot) = self.progress.source_error.lock() {
                    *slot = Some(e.to_string());
                }
            }
        }
        self.progress.frames.store(frames, Ordering::Relaxed);
        self.progress.bytes.store(bytes, Ordering::Relaxed);
        self.engine.finish(&mut ended);
        self.progress
            .packets_in_flows
            .store(self.engine.stats().packets, Ordering::Relaxed);
        self.progress.exhausted.store(true, Ordering::Release);
        WorkerEnd {
            frames,
            bytes,
            engine: self.engine.stats(),
            flows: self.engine.flow_stats(),
            stats: SocketStats::default(),
            queue: 0,
            mode: "file",
        }
    }

    fn run(mut self) -> WorkerEnd {
        if matches!(self.source, Source::File(_)) {
            return self.run_file();
        }
        let (mut frames, mut bytes) = (0u64, 0u64);
        let sender = self.sender.clone();
        let progress = Arc::clone(&self.progress);
        // The worker never waits for the output: waiting would stop it reading its socket, and
        // the wire does not wait. A record that finds the queue full is counted and dropped.
        let mut ended = |flow: FinishedFlow| {
            if sender.try_send(flow).is_err() {
                progress.records_dropped.fetch_add(1, Ordering::Relaxed);
            }
        };
        let me = self.queue as usize;
        // With other workers to hear from, do not sleep long on a quiet socket.
        let poll_ms = if self.mailboxes.len() > 1 { 5 } else { POLL_MS };
        let mut last_clock = now_ns();
        let mut published = SocketStats::default();
        let mut published_packets = 0u64;
        while !self.stop.load(Ordering::Relaxed) {
            let now = now_ns();
            let (engine, mailboxes, progress) = (&mut self.engine, &self.mailboxes, &self.progress);
            let mut batch_bytes = 0u64;
            let n = self.source.receive(BATCH, poll_ms, &mut |ts, data| {
                batch_bytes += data.len() as u64;
                Self::take(engine, mailboxes, me, progress, ts, data, &mut ended);
            });
            let received = self.drain_mailbox(&mut ended);
            frames += u64::from(n);
            bytes += batch_bytes;
            self.progress
                .frames
                .fetch_add(u64::from(n), Ordering::Relaxed);
            self.progress
                .bytes
                .fetch_add(batch_bytes, Ordering::Relaxed);
            if (n == 0 && received == 0) || now - last_clock > 1_000_000_000 {
                self.engine.advance_clock(now_ns(), &mut ended);
                last_clock = now;
                self.progress
                    .active_flows
                    .store(self.engine.active_flows() as u64, Ordering::Relaxed);
                // Publish by difference, so that the shared sums cover every queue.
                {
                    let now = self.source.stats();
                    let pairs = [
                        (now.rx_ring_full, published.rx_ring_full),
                        (now.fill_ring_empty, published.fill_ring_empty),
                        (now.rx_dropped, published.rx_dropped),
                        (now.rx_invalid, published.rx_invalid),
                    ];
                    for (sum, (new, old)) in self.progress.socket_drops.iter().zip(pairs) {
                        sum.fetch_add(new.saturating_sub(old), Ordering::Relaxed);
                    }
                    published = now;
                }
                let packets = self.engine.stats().packets;
                self.progress
                    .packets_in_flows
                    .fetch_add(packets - published_packets, Ordering::Relaxed);
                published_packets = packets;
            }
        }
        // Frames already in the ring when the stop came belong to the capture.
        loop {
            let (engine, mailboxes, progress) = (&mut self.engine, &self.mailboxes, &self.progress);
            let n = self.source.receive(BATCH, 0, &mut |ts, data| {
                bytes += data.len() as u64;
                Self::take(engine, mailboxes, me, progress, ts, data, &mut ended);
            });
            frames += u64::from(n);
            if n == 0 {
                break;
            }
        }
        // Wait until every worker has drained its socket, then take what they handed over.
        self.progress.stopped_workers.fetch_add(1, Ordering::AcqRel);
        while self.progress.stopped_workers.load(Ordering::Acquire) < self.mailboxes.len() as u64 {
            self.drain_mailbox(&mut ended);
            std::thread::sleep(Duration::from_millis(1));
        }
        self.drain_mailbox(&mut ended);
        self.engine.finish(&mut ended);
        WorkerEnd {
            frames,
            bytes,
            engine: self.engine.stats(),
            flows: self.engine.flow_stats(),
            stats: self.source.stats(),
            queue: self.queue,
            mode: self.source.mode(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_follow_the_prometheus_text_format() {
        let mut status = LiveStatus {
            frames: 10,
            bytes: 1000,
            active_flows: 2,
            packets_in_flows: 9,
            ..LiveStatus::default()
        };
        status.xdp[XdpCounter::Seen as usize] = 11;
        status.sockets.rx_ring_full = 1;
        let text = status.prometheus(3);
        let mut helped = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                helped.insert(rest.split(' ').next().unwrap_or_default().to_string());
                continue;
            }
            if line.starts_with("# TYPE ") {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("name and value");
            let name = series.split('{').next().unwrap_or_default();
            assert!(helped.contains(name), "{name} has no HELP line");
            assert!(name.starts_with("capture_"));
            assert!(
                series.ends_with('}') || !series.contains('{'),
                "labels closed: {line}"
            );
            value.parse::<u64>().expect("integer value");
        }
        assert!(text.contains("capture_xdp_frames_total{decision=\"seen\"} 11\n"));
        assert!(text.contains("capture_socket_drops_total{reason=\"rx_ring_full\"} 1\n"));
        assert!(text.contains("capture_records_written_total 3\n"));
    }
}
