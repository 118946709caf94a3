//! Offline extraction: capture files in, one record per flow out.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::engine::{Engine, EngineStats};
use crate::flow::{FlowConfig, FlowTableStats};
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
    /// Largest memory held by open flows (bytes), sampled every 64 Ki packets.
    pub peak_flow_memory: usize,
    /// Open flows at that sample.
    pub flows_at_peak_memory: usize,
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
    let mut out = Emitter {
        sink,
        scratch: crate::features::Row::default(),
        records: 0,
        error: None,
    };
    let mut done_bytes = 0u64;
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
            if n.is_multiple_of(65_536) {
                progress(done_bytes + reader.position(), total_bytes);
                let mem = engine.flow_memory_bytes();
                if mem > summary.peak_flow_memory {
                    summary.peak_flow_memory = mem;
                    summary.flows_at_peak_memory = engine.active_flows();
                }
            }
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
    let mem = engine.flow_memory_bytes();
    if mem > summary.peak_flow_memory {
        summary.peak_flow_memory = mem;
        summary.flows_at_peak_memory = engine.active_flows();
    }
    engine.finish(&mut |f| out.emit(f));
    if let Some(e) = out.error {
        return Err(e);
    }
    summary.engine = engine.stats();
    summary.flows = engine.flow_stats();
    summary.records = out.records;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Hands finished flows to the sink; after the first write error it stops writing and keeps the error.
struct Emitter<'s> {
    sink: &'s mut dyn RecordSink,
    scratch: crate::features::Row,
    records: u64,
    error: Option<std::io::Error>,
}

impl Emitter<'_> {
    fn emit(&mut self, finished: crate::flow::FinishedFlow) {
        if self.error.is_some() {
            return;
        }
        match self.sink.write_flow(finished, &mut self.scratch) {
            Ok(()) => self.records += 1,
            Err(e) => self.error = Some(e),
        }
    }
}
