//! Offline extraction: capture files in, one record per flow out.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::engine::{Engine, EngineStats};
use crate::flow::{FinishedFlow, RECORD_BATCH};
use crate::flow::{FlowConfig, FlowTableStats};
use crate::input::Frame;
use crate::input::{expand_inputs, CaptureFile, InputError};
use crate::output::RecordSink;
use crate::reassembly::ReassemblyLimits;

/// What an extraction did.
#[derive(Debug, Default)]
pub struct ExtractSummary {
    /// Capture files read.
    pub files: Vec<PathBuf>,
    /// Files in input directories skipped because they are not captures.
    pub skipped_files: Vec<PathBuf>,
    /// Engine counters.
    pub engine: EngineStats,
    /// Flow counters.
    pub flows: FlowTableStats,
    /// Records written.
    pub records: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Files that could not be read to the end: everything before the error was processed.
    pub input_errors: Vec<InputError>,
    /// Files that could not be opened at all.
    pub open_errors: Vec<(PathBuf, String)>,
    /// Largest memory held by open flows (bytes), sampled every 64 Ki packets or, with more
    /// than 16 Ki flows open, every four packets per open flow.
    pub peak_flow_memory: usize,
    /// Open flows at that sample.
    pub flows_at_peak_memory: usize,
}

/// When to measure the flow table's memory. A measurement walks every open flow's state, so
/// a fixed interval would make it quadratic in the number of open flows (with a million open,
/// it took four tenths of the run); spacing the samples by four packets per open flow keeps
/// its cost below a quarter of a walk per packet.
#[derive(Debug)]
struct MemorySampler {
    next: u64,
    peak: usize,
    flows_at_peak: usize,
}

impl MemorySampler {
    /// Packets between two samples at least.
    const MIN_INTERVAL: u64 = 65_536;

    fn new() -> Self {
        Self {
            next: Self::MIN_INTERVAL,
            peak: 0,
            flows_at_peak: 0,
        }
    }

    /// Measures when `packets` (a running count) has reached the next sample.
    #[inline]
    fn maybe_sample(&mut self, packets: u64, engine: &Engine) {
        if packets >= self.next {
            self.sample(engine);
            let spacing = 4 * engine.active_flows() as u64;
            self.next = packets + spacing.max(Self::MIN_INTERVAL);
        }
    }

    fn sample(&mut self, engine: &Engine) {
        let mem = engine.flow_memory_bytes();
        if mem > self.peak {
            self.peak = mem;
            self.flows_at_peak = engine.active_flows();
        }
    }
}

impl ExtractSummary {
    /// Whether some input could not be read completely.
    #[must_use]
    pub fn incomplete(&self) -> bool {
        !self.input_errors.is_empty() || !self.open_errors.is_empty()
    }
}

/// Reads every input in order through one flow table and writes each finished flow to `sink`.
/// `progress` is called with (bytes of input done, bytes of input in all) every 64 Ki frames.
pub fn extract(
    inputs: &[PathBuf],
    flow: FlowConfig,
    sink: &mut dyn RecordSink,
    progress: &mut dyn FnMut(u64, u64),
) -> std::io::Result<ExtractSummary> {
    let started = Instant::now();
    let (files, skipped_files) = expand_inputs(inputs)?;
    let mut summary = ExtractSummary {
        skipped_files,
        ..ExtractSummary::default()
    };
    let total_bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let mut engine = Engine::new(flow, ReassemblyLimits::default());
    let mut out = Emitter::new(sink);
    let mut done_bytes = 0u64;
    let mut memory = MemorySampler::new();
    let mut packets = 0u64;
    for path in &files {
        let file = match CaptureFile::open(path) {
            Ok(f) => f,
            Err(e) => {
                summary.open_errors.push((path.clone(), e.to_string()));
                continue;
            }
        };
        let mut reader = match file.frames() {
            Ok(r) => r,
            Err(e) => {
                summary.input_errors.push(e);
                continue;
            }
        };
        let mut n = 0u64;
        while let Some(frame) = reader.next() {
            match frame {
                Ok(frame) => engine.process_frame(&frame, &mut |f| out.emit(f)),
                Err(e) => {
                    summary.input_errors.push(e);
                    break;
                }
            }
            n += 1;
            packets += 1;
            if n.is_multiple_of(65_536) {
                progress(done_bytes + reader.position(), total_bytes);
            }
            memory.maybe_sample(packets, &engine);
            if out.error.is_some() {
                break;
            }
        }
        done_bytes += file.len();
        progress(done_bytes, total_bytes);
        summary.files.push(path.clone());
        if out.error.is_some() {
            break;
        }
    }
    memory.sample(&engine);
    summary.peak_flow_memory = memory.peak;
    summary.flows_at_peak_memory = memory.flows_at_peak;
    engine.finish(&mut |f| out.emit(f));
    out.flush();
    if let Some(e) = out.error {
        return Err(e);
    }
    summary.engine = engine.stats();
    summary.flows = engine.flow_stats();
    summary.records = out.records;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Hands finished flows to the sink, [`RECORD_BATCH`] at a time so that their records are built
/// together; after the first write error it stops writing and keeps the error.
struct Emitter<'s> {
    sink: &'s mut dyn RecordSink,
    /// Flows that ended and wait for the rest of their batch.
    pending: Vec<FinishedFlow>,
    scratch: Vec<crate::features::Row>,
    records: u64,
    error: Option<std::io::Error>,
}

impl<'s> Emitter<'s> {
    fn new(sink: &'s mut dyn RecordSink) -> Self {
        Self {
            sink,
            pending: Vec::with_capacity(RECORD_BATCH),
            scratch: Vec::new(),
            records: 0,
            error: None,
        }
    }

    fn emit(&mut self, finished: FinishedFlow) {
        if self.error.is_some() {
            return;
        }
        self.pending.push(finished);
        if self.pending.len() >= RECORD_BATCH {
            self.flush();
        }
    }

    /// Writes the flows waiting, if any.
    fn flush(&mut self) {
        if self.error.is_some() || self.pending.is_empty() {
            self.pending.clear();
            return;
        }
        let n = self.pending.len() as u64;
        match self.sink.write_flows(&mut self.pending, &mut self.scratch) {
            Ok(()) => self.records += n,
            Err(e) => self.error = Some(e),
        }
    }
}

/// Frames per message from the reading thread to a worker.
const DISPATCH_BATCH: usize = 512;

/// What a worker of [`extract_parallel`] hands back.
struct WorkerEnd {
    engine: EngineStats,
    flows: FlowTableStats,
    peak_flow_memory: usize,
    flows_at_peak_memory: usize,
}

/// [`extract`] on `workers` threads: one thread reads the inputs and deals each frame to the
/// worker that owns its flow ([`crate::engine::flow_owner`]: both directions and every fragment
/// go to one worker), each worker runs its own engine (shared-nothing), and the calling thread
/// writes the records. The records are those of [`extract`]; their order differs. With one
/// worker this is [`extract`].
pub fn extract_parallel(
    inputs: &[PathBuf],
    flow: FlowConfig,
    sink: &mut dyn RecordSink,
    progress: &mut dyn FnMut(u64, u64),
    workers: usize,
) -> std::io::Result<ExtractSummary> {
    if workers <= 1 {
        return extract(inputs, flow, sink, progress);
    }
    let started = Instant::now();
    let (paths, skipped_files) = expand_inputs(inputs)?;
    let mut summary = ExtractSummary {
        skipped_files,
        ..ExtractSummary::default()
    };
    let mut files = Vec::new();
    for path in paths {
        match CaptureFile::open(&path) {
            Ok(f) => files.push((path, f)),
            Err(e) => summary.open_errors.push((path, e.to_string())),
        }
    }
    let total_bytes: u64 = files.iter().map(|(_, f)| f.len()).sum();
    let done_bytes = std::sync::atomic::AtomicU64::new(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let mut out = Emitter::new(sink);
    let (ends, read) = std::thread::scope(|scope| {
        let (records, finished) = crossbeam_channel::bounded::<FinishedFlow>(8192);
        let mut queues = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            // Each batch carries the time of the last frame read before it was sent, so that
            // every worker's clock follows the input's and idle flows end as they would on one
            // thread.
            let (queue, frames) = crossbeam_channel::bounded::<(Vec<Frame<'_>>, i64)>(64);
            queues.push(queue);
            let records = records.clone();
            let core = cores.get(w % cores.len().max(1)).copied();
            handles.push(scope.spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                let mut engine = Engine::new(flow, ReassemblyLimits::default());
                let mut ended = |f: FinishedFlow| {
                    let _ = records.send(f);
                };
                let mut memory = MemorySampler::new();
                let mut packets = 0u64;
                for (batch, clock) in frames {
                    for frame in &batch {
                        engine.process_frame(frame, &mut ended);
                    }
                    engine.advance_clock(clock, &mut ended);
                    packets += batch.len() as u64;
                    memory.maybe_sample(packets, &engine);
                }
                memory.sample(&engine);
                engine.finish(&mut ended);
                WorkerEnd {
                    engine: engine.stats(),
                    flows: engine.flow_stats(),
                    peak_flow_memory: memory.peak,
                    flows_at_peak_memory: memory.flows_at_peak,
                }
            }));
        }
        drop(records);
        let (files, done_bytes, stop) = (&files, &done_bytes, &stop);
        let reader = scope.spawn(move || {
            let mut errors = Vec::new();
            let mut read = Vec::new();
            // Global number (1-based) of the first frame that does not decode, for the summary.
            let mut first_undecodable = None;
            let mut global = 0u64;
            let mut clock = i64::MIN;
            let mut batches: Vec<Vec<Frame<'_>>> = (0..workers)
                .map(|_| Vec::with_capacity(DISPATCH_BATCH))
                .collect();
            let mut before = 0;
            'files: for (path, file) in files {
                let mut reader = match file.frames() {
                    Ok(r) => r,
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                };
                let mut n = 0u64;
                while let Some(frame) = reader.next() {
                    let frame = match frame {
                        Ok(frame) => frame,
                        Err(e) => {
                            errors.push(e);
                            break;
                        }
                    };
                    global += 1;
                    clock = frame.ts_ns;
                    // Frames that do not decode go to worker 0, which counts them.
                    let owner = crate::engine::flow_owner(frame.link, frame.data, workers);
                    if owner.is_none() && first_undecodable.is_none() {
                        first_undecodable = Some(global);
                    }
                    let w = owner.unwrap_or(0);
                    batches[w].push(frame);
                    if batches[w].len() == DISPATCH_BATCH {
                        let full =
                            std::mem::replace(&mut batches[w], Vec::with_capacity(DISPATCH_BATCH));
                        if queues[w].send((full, clock)).is_err()
                            || stop.load(std::sync::atomic::Ordering::Relaxed)
                        {
                            break 'files;
                        }
                    }
                    n += 1;
                    if n.is_multiple_of(65_536) {
                        done_bytes.store(
                            before + reader.position(),
                            std::sync::atomic::Ordering::Relaxed,
                        );
                    }
                }
                // Every worker learns the time at the end of each file (the next file's clock
                // may start earlier): its idle flows end here, as on one thread.
                for (queue, batch) in queues.iter().zip(batches.iter_mut()) {
                    let full = std::mem::replace(batch, Vec::with_capacity(DISPATCH_BATCH));
                    if queue.send((full, clock)).is_err() {
                        break 'files;
                    }
                }
                before += file.len();
                done_bytes.store(before, std::sync::atomic::Ordering::Relaxed);
                read.push(path.clone());
            }
            drop(queues);
            (errors, read, first_undecodable)
        });
        // This thread writes the records as they come.
        loop {
            match finished.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(f) => {
                    out.emit(f);
                    if out.error.is_some() {
                        stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    out.flush();
                    progress(
                        done_bytes.load(std::sync::atomic::Ordering::Relaxed),
                        total_bytes,
                    );
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
        }
        out.flush();
        let read = reader.join().unwrap_or_default();
        let ends: Vec<WorkerEnd> = handles.into_iter().filter_map(|h| h.join().ok()).collect();
        (ends, read)
    });
    progress(total_bytes, total_bytes);
    if ends.len() < workers {
        return Err(std::io::Error::other("an extraction worker panicked"));
    }
    if let Some(e) = out.error {
        return Err(e);
    }
    let (errors, read, first_undecodable) = read;
    summary.input_errors = errors;
    summary.files = read;
    for end in &ends {
        summary.engine.add(&end.engine);
    }
    // Worker 0 numbers frames by its own count; the reader knows the frame's place in the input.
    if let (Some((_, error)), Some(number)) = (summary.engine.first_error, first_undecodable) {
        summary.engine.first_error = Some((number, error));
    }
    for end in &ends {
        summary.flows.add(&end.flows);
        summary.peak_flow_memory += end.peak_flow_memory;
        summary.flows_at_peak_memory += end.flows_at_peak_memory;
    }
    summary.records = out.records;
    summary.elapsed = started.elapsed();
    Ok(summary)
}
