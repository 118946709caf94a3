//! The spill writer: records leave the workers over a bounded lock-free queue and a dedicated
//! thread writes them as zstd-compressed Parquet segments to local disk.
//!
//! - [`SpillSink`] is the front the capture loop writes to. It never waits when the queue is
//!   full (unless told to, offline): the record is dropped and counted, or, with
//!   [`Overload::Sample`], flows are sampled by a hash of their key as the queue fills.
//! - `segment` is the writer thread's side: row groups written through io_uring
//!   ([`crate::sys::uring`]), synced every `--fsync-secs`, journaled, rotated by size and age,
//!   renamed from `.partial` when complete, deleted oldest-first beyond `--max-disk`; a full
//!   disk pauses writing until space returns.
//! - `journal` makes a `.partial` file readable again after a crash ([`recover_dir`]).

mod journal;
mod segment;

use std::hash::{Hash, Hasher};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use journal::{recover_dir, seal, Recovery, Sealed};
pub use segment::{hive_dir, segment_name};

use crate::features::Row;
use crate::flow::FinishedFlow;
use crate::output::{Columns, RecordSink};

/// How often the writer thread does its time-driven work (syncs, rotation by age, disk probes).
const TICK: Duration = Duration::from_millis(100);

/// Records the writer thread takes between two looks at the clock: reading it costs as much as
/// a tenth of writing a record, and this many records take well under a millisecond.
const RECORDS_PER_CLOCK_READ: usize = 256;

/// What happens to a record when the writer's queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overload {
    /// Wait for room (offline: reading a file loses nothing by waiting).
    Wait,
    /// Drop the record and count it.
    Drop,
    /// Keep a shrinking share of flows, chosen by a hash of their key, as the queue passes
    /// half, three quarters and seven eighths full (1/2, 1/4, 1/8 of flows); drop when full.
    Sample,
}

/// Where and how segments are written.
#[derive(Clone, Debug)]
pub struct SpillConfig {
    /// Directory of the segments.
    pub dir: PathBuf,
    /// Sensor name carried in every segment name.
    pub sensor: String,
    /// A segment is closed once it holds this many bytes.
    pub rotate_bytes: u64,
    /// A segment is closed once it has been open this long.
    pub rotate_after: Duration,
    /// Records older than this are durable (synced and journaled).
    pub sync_every: Duration,
    /// The sensor's closed segments are deleted, oldest first, to keep the directory under this.
    pub max_disk: Option<u64>,
    /// Segments go into `date=YYYY-MM-DD/hour=HH/` subdirectories.
    pub hive: bool,
    /// Ask for `O_DIRECT` (it is used where the filesystem supports it).
    pub direct: bool,
    /// Records the queue to the writer holds.
    pub queue: usize,
    /// What a full queue does.
    pub overload: Overload,
    /// Delay injected before every disk write (tests of a slow disk).
    pub write_delay: Duration,
    /// Threads that encode and compress row groups beside the writer thread (0: the writer
    /// thread does it). [`default_encode_threads`] unless set.
    pub encode_threads: usize,
    /// zstd level of the segments' pages (one of [`crate::output::ZSTD_LEVELS`]).
    pub zstd_level: i32,
}

impl SpillConfig {
    /// Defaults for `dir`: 256 MiB or 5-minute segments, a sync every second, the host's name.
    #[must_use]
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            sensor: host_name(),
            rotate_bytes: 256 << 20,
            rotate_after: Duration::from_secs(300),
            sync_every: Duration::from_secs(1),
            max_disk: None,
            hive: false,
            direct: true,
            queue: 16_384,
            overload: Overload::Drop,
            write_delay: Duration::ZERO,
            encode_threads: default_encode_threads(),
            zstd_level: crate::output::DEFAULT_ZSTD_LEVEL,
        }
    }
}

/// Encoding threads beside the writer thread unless asked otherwise: one where the process may
/// run on two CPUs or more, none on one. Encoding and compressing is about two thirds of the
/// writer's work; on a thread of its own it overlaps the gathering of the next row group, and
/// the writer thread keeps draining its queue while a row group is encoded instead of stopping
/// for it (see docs/spill.md and docs/benchmarks.md).
#[must_use]
pub fn default_encode_threads() -> usize {
    match std::thread::available_parallelism() {
        Ok(cpus) if cpus.get() >= 2 => 1,
        _ => 0,
    }
}

/// The host name, made safe for a file name.
#[must_use]
pub fn host_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name = sanitize_sensor(raw.trim());
    if name.is_empty() {
        "sensor".to_string()
    } else {
        name
    }
}

/// Keeps letters, digits, `.` and `_`; anything else becomes `_` (a `-` would blur the
/// boundaries of the name's parts).
#[must_use]
pub fn sanitize_sensor(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Counters shared by the front and the writer thread.
#[derive(Debug, Default)]
pub struct SpillCounters {
    offered: AtomicU64,
    written: AtomicU64,
    dropped_queue_full: AtomicU64,
    sampled_out: AtomicU64,
    dropped_disk_full: AtomicU64,
    disk_full_events: AtomicU64,
    paused: AtomicU64,
    segments: AtomicU64,
    segment_bytes: AtomicU64,
    deleted_segments: AtomicU64,
    deleted_bytes: AtomicU64,
    syncs: AtomicU64,
    /// 0 before the first segment, 1 direct, 2 buffered.
    io_mode: AtomicU64,
}

/// A reading of the writer's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpillStats {
    /// Records handed to the writer.
    pub offered: u64,
    /// Records durable on disk (journaled, or in a closed segment).
    pub written: u64,
    /// Records dropped because the writer's queue was full.
    pub dropped_queue_full: u64,
    /// Records left out by overload sampling.
    pub sampled_out: u64,
    /// Records dropped while the disk was full.
    pub dropped_disk_full: u64,
    /// Times the disk filled.
    pub disk_full_events: u64,
    /// Whether writing is paused on a full disk.
    pub paused: bool,
    /// Segments closed.
    pub segments: u64,
    /// Bytes of the segments closed.
    pub segment_bytes: u64,
    /// Segments deleted to keep within the disk budget.
    pub deleted_segments: u64,
    /// Their bytes.
    pub deleted_bytes: u64,
    /// Syncs that made row groups durable.
    pub syncs: u64,
    /// `O_DIRECT` or buffered, once a segment was opened.
    pub io_mode: Option<&'static str>,
}

impl SpillCounters {
    /// The current values.
    #[must_use]
    pub fn snapshot(&self) -> SpillStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SpillStats {
            offered: get(&self.offered),
            written: get(&self.written),
            dropped_queue_full: get(&self.dropped_queue_full),
            sampled_out: get(&self.sampled_out),
            dropped_disk_full: get(&self.dropped_disk_full),
            disk_full_events: get(&self.disk_full_events),
            paused: get(&self.paused) != 0,
            segments: get(&self.segments),
            segment_bytes: get(&self.segment_bytes),
            deleted_segments: get(&self.deleted_segments),
            deleted_bytes: get(&self.deleted_bytes),
            syncs: get(&self.syncs),
            io_mode: match get(&self.io_mode) {
                1 => Some("O_DIRECT"),
                2 => Some("buffered"),
                _ => None,
            },
        }
    }
}

impl SpillStats {
    /// The counters in the Prometheus text exposition format.
    #[must_use]
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            out.push_str(&format!(
                "# HELP capture_writer_{name} {help}\n# TYPE capture_writer_{name} {kind}\ncapture_writer_{name} {value}\n"
            ));
        };
        metric(
            "records_offered_total",
            "counter",
            "Records handed to the spill writer.",
            self.offered,
        );
        metric(
            "records_written_total",
            "counter",
            "Records durable on disk.",
            self.written,
        );
        metric(
            "records_dropped_queue_full_total",
            "counter",
            "Records dropped because the writer's queue was full.",
            self.dropped_queue_full,
        );
        metric(
            "records_sampled_out_total",
            "counter",
            "Records left out by overload sampling.",
            self.sampled_out,
        );
        metric(
            "records_dropped_disk_full_total",
            "counter",
            "Records dropped while the disk was full.",
            self.dropped_disk_full,
        );
        metric(
            "disk_full_events_total",
            "counter",
            "Times the disk filled.",
            self.disk_full_events,
        );
        metric(
            "paused",
            "gauge",
            "1 while writing is paused on a full disk.",
            u64::from(self.paused),
        );
        metric(
            "segments_closed_total",
            "counter",
            "Segments closed.",
            self.segments,
        );
        metric(
            "segment_bytes_total",
            "counter",
            "Bytes of closed segments.",
            self.segment_bytes,
        );
        metric(
            "segments_deleted_total",
            "counter",
            "Segments deleted to keep within --max-disk.",
            self.deleted_segments,
        );
        metric(
            "syncs_total",
            "counter",
            "Syncs that made row groups durable.",
            self.syncs,
        );
        out
    }
}

/// Hands finished flows to the spill writer thread (see the module documentation).
pub struct SpillSink {
    sender: Option<crossbeam_channel::Sender<FinishedFlow>>,
    writer: Option<std::thread::JoinHandle<io::Result<()>>>,
    counters: Arc<SpillCounters>,
    capacity: usize,
    overload: Overload,
}

impl std::fmt::Debug for SpillSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpillSink")
            .field("overload", &self.overload)
            .finish_non_exhaustive()
    }
}

impl SpillSink {
    /// Starts the writer thread. `wrap` may put a stage before the segment writer on that
    /// thread (the connection-graph window).
    pub fn spawn(
        config: SpillConfig,
        columns: Columns,
        wrap: impl FnOnce(Box<dyn RecordSink + Send>) -> Box<dyn RecordSink + Send>,
    ) -> io::Result<Self> {
        let counters = Arc::new(SpillCounters::default());
        let capacity = config.queue.max(1);
        let overload = config.overload;
        let segments = segment::SegmentWriter::new(config, columns, Arc::clone(&counters))?;
        let mut inner = wrap(Box::new(segments));
        let (sender, receiver) = crossbeam_channel::bounded::<FinishedFlow>(capacity);
        let writer = std::thread::Builder::new()
            .name("capture-spill".into())
            .spawn(move || {
                let (mut flows, mut scratch) = (Vec::new(), Vec::new());
                let mut last_tick = Instant::now();
                loop {
                    match receiver.recv_timeout(TICK) {
                        Ok(flow) => {
                            // What else is queued already, without a clock read for each.
                            flows.push(flow);
                            flows.extend(receiver.try_iter().take(RECORDS_PER_CLOCK_READ - 1));
                            inner.write_flows(&mut flows, &mut scratch)?;
                        }
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                    }
                    if last_tick.elapsed() >= TICK {
                        inner.tick()?;
                        last_tick = Instant::now();
                    }
                }
                inner.finish()
            })?;
        Ok(Self {
            sender: Some(sender),
            writer: Some(writer),
            counters,
            capacity,
            overload,
        })
    }

    /// The writer's counters, live.
    #[must_use]
    pub fn counters(&self) -> Arc<SpillCounters> {
        Arc::clone(&self.counters)
    }

    fn join(&mut self) -> io::Result<()> {
        self.sender = None;
        match self.writer.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the spill writer thread panicked")),
            None => Err(io::Error::other("the spill writer already stopped")),
        }
    }

    fn writer_failed(&mut self) -> io::Error {
        self.join()
            .err()
            .unwrap_or_else(|| io::Error::other("the spill writer stopped"))
    }

    /// Whether overload sampling keeps `flow` with the queue `filled` full (0..=1).
    fn sampled_in(flow: &FinishedFlow, filled: f64) -> bool {
        let level = match filled {
            f if f < 0.5 => return true,
            f if f < 0.75 => 1,
            f if f < 0.875 => 2,
            _ => 3,
        };
        let mut hasher = rustc_hash::FxHasher::default();
        flow.flow.key.hash(&mut hasher);
        let hash = hasher.finish();
        // The high bits: FxHash mixes them best.
        (hash >> 61) & ((1 << level) - 1) == 0
    }
}

impl RecordSink for SpillSink {
    fn write_row(&mut self, _row: &Row) -> io::Result<()> {
        Err(io::Error::other(
            "the spill writer takes finished flows, not rows",
        ))
    }

    fn builds_records(&self) -> bool {
        false
    }

    fn write_flow(&mut self, flow: FinishedFlow, _scratch: &mut Row) -> io::Result<()> {
        let Some(sender) = self.sender.as_ref() else {
            return Err(io::Error::other("the spill writer already stopped"));
        };
        self.counters.offered.fetch_add(1, Ordering::Relaxed);
        let result = match self.overload {
            Overload::Wait => sender
                .send(flow)
                .map_err(|_| crossbeam_channel::TrySendError::Disconnected(())),
            Overload::Sample
                if !Self::sampled_in(&flow, sender.len() as f64 / self.capacity as f64) =>
            {
                self.counters.sampled_out.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Overload::Drop | Overload::Sample => sender.try_send(flow).map_err(|e| match e {
                crossbeam_channel::TrySendError::Full(_) => {
                    crossbeam_channel::TrySendError::Full(())
                }
                crossbeam_channel::TrySendError::Disconnected(_) => {
                    crossbeam_channel::TrySendError::Disconnected(())
                }
            }),
        };
        match result {
            Ok(()) => Ok(()),
            Err(crossbeam_channel::TrySendError::Full(())) => {
                self.counters
                    .dropped_queue_full
                    .fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(crossbeam_channel::TrySendError::Disconnected(())) => Err(self.writer_failed()),
        }
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.join()
    }
}

#[cfg(test)]
mod tests;

/// The writer's stages driven directly, for `capture bench-writer`.
#[doc(hidden)]
pub mod bench {
    use std::io::{self, Write};
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Instant;

    use super::{segment::SegmentWriter, SpillConfig, SpillCounters, SpillStats};
    use crate::features::Row;
    use crate::output::{Columns, RecordSink};
    use crate::sys::uring::{IoMode, UringWriter};

    /// Writes `total` bytes (`chunk` over and over) to `path` through the io_uring writer, as
    /// segments are written, and syncs; returns the seconds taken and how the file was written.
    pub fn raw_write(
        path: &Path,
        chunk: &[u8],
        total: u64,
        direct: bool,
    ) -> io::Result<(f64, &'static str)> {
        let mut writer = UringWriter::new(direct, std::time::Duration::ZERO)?;
        let started = Instant::now();
        let mode = writer.create(path)?;
        let mut left = total;
        while left > 0 {
            let n = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            writer.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        writer.finish_file()?;
        Ok((started.elapsed().as_secs_f64(), IoMode::name(mode)))
    }

    /// Writes `count` records to a segment writer: the records of the capture at `input`,
    /// built beforehand and held in memory, over and over. Timed on the wall clock from the
    /// first record to the last segment closed and synced, so that work on encoding threads
    /// counts as well. Returns those seconds and the writer's counters.
    pub fn write_records(
        config: SpillConfig,
        columns: Columns,
        input: &Path,
        count: usize,
    ) -> io::Result<(f64, SpillStats)> {
        struct Collect(Vec<Row>);
        impl RecordSink for Collect {
            fn write_row(&mut self, row: &Row) -> io::Result<()> {
                self.0.push(row.clone());
                Ok(())
            }
            fn finish(self: Box<Self>) -> io::Result<()> {
                Ok(())
            }
        }
        let flow = crate::flow::FlowConfig {
            groups: crate::features::GroupSet::of(&columns.groups()),
            ..crate::flow::FlowConfig::default()
        };
        let mut records = Collect(Vec::new());
        crate::extract::extract(&[input.to_path_buf()], flow, &mut records, &mut |_, _| {})?;
        let records = records.0;
        if records.is_empty() {
            return Err(io::Error::other("the capture has no flows"));
        }
        let counters = Arc::new(SpillCounters::default());
        let started = Instant::now();
        let mut writer = Box::new(SegmentWriter::new(config, columns, Arc::clone(&counters))?);
        let mut last_tick = Instant::now();
        for (i, row) in records.iter().cycle().take(count).enumerate() {
            writer.write_row(row)?;
            if i % super::RECORDS_PER_CLOCK_READ == 0 && last_tick.elapsed() >= super::TICK {
                writer.tick()?;
                last_tick = Instant::now();
            }
        }
        writer.finish()?;
        let secs = started.elapsed().as_secs_f64();
        Ok((secs, counters.snapshot()))
    }
}
