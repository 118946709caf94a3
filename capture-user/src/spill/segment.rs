//! The writer thread's side: records into Parquet segments, synced, journaled, rotated, renamed,
//! and kept under the disk budget; a full disk pauses writing instead of failing it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::journal::{self, JournalWriter};
use super::{SpillConfig, SpillCounters};
use crate::features::Row;
use crate::output::parquet::ParquetEncoder;
use crate::output::{Columns, RecordSink};
use crate::sys::uring::{IoMode, UringWriter};

/// Free space needed before writing resumes after the disk filled.
const RESUME_FREE_BYTES: u64 = 1 << 20;

/// How often a full disk is looked at again.
const DISK_FULL_PROBE: std::time::Duration = std::time::Duration::from_secs(1);

struct Segment {
    encoder: ParquetEncoder<UringWriter>,
    journal: JournalWriter,
    /// Final name.
    path: PathBuf,
    partial: PathBuf,
    opened: Instant,
    rows: u64,
    journaled_groups: usize,
    journaled_rows: u64,
    /// Rows in written row groups (the rest are buffered in the encoder).
    grouped_rows: u64,
}

impl Segment {
    fn note_groups(&mut self) {
        self.grouped_rows = self
            .encoder
            .row_groups()
            .iter()
            .map(|g| g.num_rows().max(0) as u64)
            .sum();
    }
}

struct DiskFull {
    last_probe: Instant,
}

/// Writes records into rotating segments (see the module documentation).
pub(crate) struct SegmentWriter {
    config: SpillConfig,
    columns: Columns,
    io: Option<UringWriter>,
    current: Option<Segment>,
    seq: u64,
    counters: Arc<SpillCounters>,
    last_sync: Instant,
    /// Compressed bytes per record, as last measured: buffered records count towards
    /// `--rotate-size` before they are encoded.
    bytes_per_row: f64,
    disk_full: Option<DiskFull>,
    /// Segments cut short by a full disk, sealed from their journals once space returns.
    stalled: Vec<PathBuf>,
}

fn is_disk_full(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

/// The name of a segment opened at `at`: it sorts by time and carries the sensor.
pub fn segment_name(at: SystemTime, sensor: &str, seq: u64) -> String {
    let t = chrono::DateTime::<chrono::Utc>::from(at);
    format!(
        "{}-{sensor}-{seq:06}.parquet",
        t.format("%Y%m%dT%H%M%S%.6fZ")
    )
}

/// The hive-style directory of a segment opened at `at`.
pub fn hive_dir(at: SystemTime) -> String {
    let t = chrono::DateTime::<chrono::Utc>::from(at);
    t.format("date=%Y-%m-%d/hour=%H").to_string()
}

impl SegmentWriter {
    pub(crate) fn new(
        config: SpillConfig,
        columns: Columns,
        counters: Arc<SpillCounters>,
    ) -> io::Result<Self> {
        fs::create_dir_all(&config.dir)?;
        let io = UringWriter::new(config.direct, config.write_delay)?;
        Ok(Self {
            config,
            columns,
            io: Some(io),
            current: None,
            seq: 0,
            counters,
            last_sync: Instant::now(),
            bytes_per_row: 256.0,
            disk_full: None,
            stalled: Vec::new(),
        })
    }

    fn open_segment(&mut self) -> io::Result<()> {
        let now = SystemTime::now();
        let mut dir = self.config.dir.clone();
        if self.config.hive {
            dir.push(hive_dir(now));
            fs::create_dir_all(&dir)?;
        }
        let path = dir.join(segment_name(now, &self.config.sensor, self.seq));
        self.seq += 1;
        let partial = journal::partial_path(&path);
        let mut io = match self.io.take() {
            Some(io) => io,
            None => UringWriter::new(self.config.direct, self.config.write_delay)?,
        };
        let mode = io.create(&partial)?;
        self.counters.io_mode.store(
            match mode {
                IoMode::Direct => 1,
                IoMode::Buffered => 2,
            },
            Ordering::Relaxed,
        );
        let journal = match JournalWriter::create(&path) {
            Ok(j) => j,
            Err(e) => {
                io.abandon_file();
                self.io = Some(io);
                let _ = fs::remove_file(&partial);
                return Err(e);
            }
        };
        let encoder = ParquetEncoder::with_threads(
            io,
            self.columns.clone(),
            self.config.encode_threads,
            self.config.zstd_level,
        )?;
        tracing::debug!(segment = %partial.display(), mode = mode.name(), "segment opened");
        self.current = Some(Segment {
            encoder,
            journal,
            path,
            partial,
            opened: Instant::now(),
            rows: 0,
            journaled_groups: 0,
            journaled_rows: 0,
            grouped_rows: 0,
        });
        Ok(())
    }

    /// Syncs the segment's bytes, then journals its new row groups.
    fn sync_segment(segment: &mut Segment, counters: &SpillCounters) -> io::Result<()> {
        segment.encoder.flush_row_group()?;
        segment.note_groups();
        segment.encoder.inner_mut().sync()?;
        let groups = &segment.encoder.row_groups()[segment.journaled_groups..];
        if groups.is_empty() {
            return Ok(());
        }
        let rows: u64 = groups.iter().map(|g| g.num_rows().max(0) as u64).sum();
        let count = groups.len();
        let schema = segment.encoder.schema();
        segment.journal.append(&schema, groups)?;
        segment.journal.sync()?;
        segment.journaled_groups += count;
        segment.journaled_rows += rows;
        counters.written.fetch_add(rows, Ordering::Relaxed);
        counters.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn close_segment(&mut self) -> io::Result<()> {
        let Some(segment) = self.current.take() else {
            return Ok(());
        };
        let Segment {
            encoder,
            path,
            partial,
            rows,
            journaled_rows,
            ..
        } = segment;
        let finished = encoder.finish().and_then(|mut io| {
            let len = io.finish_file();
            if len.is_err() {
                io.abandon_file();
            }
            self.io = Some(io);
            len
        });
        let len = match finished {
            Ok(len) => len,
            Err(e) => {
                // What was journaled stays recoverable; the rest of the segment is lost.
                self.stalled.push(partial);
                self.counters
                    .dropped_disk_full
                    .fetch_add(rows - journaled_rows, Ordering::Relaxed);
                return Err(e);
            }
        };
        fs::rename(&partial, &path)?;
        journal::sync_dir(&path)?;
        let _ = fs::remove_file(journal::journal_path(&path));
        self.counters
            .written
            .fetch_add(rows - journaled_rows, Ordering::Relaxed);
        self.counters.segments.fetch_add(1, Ordering::Relaxed);
        self.counters
            .segment_bytes
            .fetch_add(len, Ordering::Relaxed);
        tracing::debug!(segment = %path.display(), bytes = len, records = rows, "segment closed");
        self.enforce_budget()
    }

    /// Deletes this sensor's oldest closed segments until the directory is within `--max-disk`.
    fn enforce_budget(&mut self) -> io::Result<()> {
        let Some(budget) = self.config.max_disk else {
            return Ok(());
        };
        let marker = format!("-{}-", self.config.sensor);
        let mut segments = Vec::new();
        let mut used = 0u64;
        journal::walk(&self.config.dir, &mut |path| {
            let len = fs::metadata(path).map_or(0, |m| m.len());
            used += len;
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.ends_with(".parquet") && name.contains(&marker) {
                segments.push((name.to_string(), path.to_path_buf(), len));
            }
        })?;
        segments.sort();
        for (_, path, len) in segments {
            if used <= budget {
                break;
            }
            fs::remove_file(&path)?;
            used -= len;
            self.counters
                .deleted_segments
                .fetch_add(1, Ordering::Relaxed);
            self.counters
                .deleted_bytes
                .fetch_add(len, Ordering::Relaxed);
            tracing::info!(segment = %path.display(), bytes = len, "deleted to stay within --max-disk");
            if self.config.hive {
                remove_empty_dirs(&path, &self.config.dir);
            }
        }
        Ok(())
    }

    /// Handles a write failure: a full disk pauses writing (the segment is kept for sealing);
    /// anything else is returned.
    fn fail(&mut self, e: io::Error) -> io::Result<()> {
        if !is_disk_full(&e) {
            return Err(e);
        }
        if let Some(mut segment) = self.current.take() {
            segment.encoder.inner_mut().abandon_file();
            self.counters
                .dropped_disk_full
                .fetch_add(segment.rows - segment.journaled_rows, Ordering::Relaxed);
            self.stalled.push(segment.partial.clone());
            // The encoder took the writer with it; a new one is made on resumption.
        }
        if self.disk_full.is_none() {
            tracing::error!(
                dir = %self.config.dir.display(),
                "disk full: records are dropped and counted until space returns; segments written so far stay intact"
            );
            eprintln!(
                "capture: error: the disk holding {} is full: records are dropped and counted until space returns",
                self.config.dir.display()
            );
            self.counters
                .disk_full_events
                .fetch_add(1, Ordering::Relaxed);
        }
        self.counters.paused.store(1, Ordering::Relaxed);
        self.disk_full = Some(DiskFull {
            last_probe: Instant::now(),
        });
        Ok(())
    }

    /// With the disk full: looks again (at most once a second) and resumes when there is room,
    /// sealing the segments the full disk cut short.
    fn probe_disk(&mut self) -> bool {
        let Some(full) = &mut self.disk_full else {
            return true;
        };
        if full.last_probe.elapsed() < DISK_FULL_PROBE {
            return false;
        }
        full.last_probe = Instant::now();
        let free = crate::sys::free_bytes(&self.config.dir).unwrap_or(0);
        if free < RESUME_FREE_BYTES {
            return false;
        }
        let mut still_stalled = Vec::new();
        for partial in std::mem::take(&mut self.stalled) {
            match journal::seal(&partial) {
                Ok(sealed) => {
                    if sealed.segment.is_some() {
                        self.counters.segments.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(e) if is_disk_full(&e) => still_stalled.push(partial),
                Err(e) => {
                    tracing::error!(segment = %partial.display(), error = %e, "cannot seal; `capture recover` can");
                }
            }
        }
        if !still_stalled.is_empty() {
            self.stalled = still_stalled;
            return false;
        }
        tracing::warn!(dir = %self.config.dir.display(), "disk has room again: writing resumes");
        eprintln!(
            "capture: the disk holding {} has room again: writing resumes",
            self.config.dir.display()
        );
        self.disk_full = None;
        self.counters.paused.store(0, Ordering::Relaxed);
        true
    }

    fn push(&mut self, row: &Row) -> io::Result<()> {
        if self.current.is_none() {
            self.open_segment()?;
        }
        let Some(segment) = self.current.as_mut() else {
            return Ok(());
        };
        if segment.encoder.push_row(row)? {
            segment.note_groups();
        }
        segment.rows += 1;
        let written = segment.encoder.bytes_written() as f64;
        if segment.grouped_rows > 0 {
            self.bytes_per_row = written / segment.grouped_rows as f64;
        }
        let buffered = (segment.rows - segment.grouped_rows) as f64;
        if written + buffered * self.bytes_per_row >= self.config.rotate_bytes as f64 {
            self.close_segment()?;
        }
        Ok(())
    }

    fn on_tick(&mut self) -> io::Result<()> {
        if self.last_sync.elapsed() >= self.config.sync_every {
            self.last_sync = Instant::now();
            if let Some(segment) = self.current.as_mut() {
                Self::sync_segment(segment, &self.counters)?;
                if segment.encoder.bytes_written() as u64 >= self.config.rotate_bytes {
                    self.close_segment()?;
                }
            }
        }
        if self
            .current
            .as_ref()
            .is_some_and(|s| s.opened.elapsed() >= self.config.rotate_after)
        {
            self.close_segment()?;
        }
        Ok(())
    }
}

fn remove_empty_dirs(file: &Path, root: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

impl RecordSink for SegmentWriter {
    fn write_row(&mut self, row: &Row) -> io::Result<()> {
        if self.disk_full.is_some() && !self.probe_disk() {
            self.counters
                .dropped_disk_full
                .fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        match self.push(row) {
            Ok(()) => Ok(()),
            Err(e) => self.fail(e),
        }
    }

    fn tick(&mut self) -> io::Result<()> {
        if self.disk_full.is_some() {
            self.probe_disk();
            return Ok(());
        }
        match self.on_tick() {
            Ok(()) => Ok(()),
            Err(e) => self.fail(e),
        }
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        if self.disk_full.is_some() {
            // One more look: the space may have come back.
            if let Some(full) = &mut self.disk_full {
                full.last_probe = Instant::now() - DISK_FULL_PROBE;
            }
            self.probe_disk();
        }
        if self.disk_full.is_none() {
            if let Err(e) = self.close_segment() {
                self.fail(e)?;
            }
        }
        if !self.stalled.is_empty() {
            let names: Vec<String> = self
                .stalled
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!(
                    "the disk is still full; `capture recover {}` makes readable what was synced of: {}",
                    self.config.dir.display(),
                    names.join(", ")
                ),
            ));
        }
        Ok(())
    }
}
