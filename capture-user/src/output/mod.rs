//! Where a record leaves: column selection and the CSV, JSON Lines and Parquet writers.

mod csv;
mod jsonl;
mod page_encoding;
pub(crate) mod parquet;

pub use parquet::{DEFAULT_ZSTD_LEVEL, ZSTD_LEVELS};

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::features::{FeatureDef, Group, Row, Tier, FEATURES};
use crate::flow::{FinishedFlow, RECORD_BATCH};

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet, typed columns, zstd-compressed.
    Parquet,
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl Format {
    /// Parses a `--format` value.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "parquet" => Some(Self::Parquet),
            "csv" => Some(Self::Csv),
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            _ => None,
        }
    }
}

/// Format and compression implied by a file name: `.parquet`, `.csv`, `.jsonl`, and
/// `.csv.zst` / `.jsonl.zst` for zstd-compressed text.
#[must_use]
pub fn format_from_path(path: &Path) -> Option<(Format, bool)> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let (stem, zstd) = match name.strip_suffix(".zst") {
        Some(stem) => (stem.to_string(), true),
        None => (name, false),
    };
    let ext = Path::new(&stem).extension()?.to_str()?.to_string();
    let format = Format::from_name(&ext)?;
    if zstd && format == Format::Parquet {
        return None;
    }
    Some((format, zstd))
}

/// Which columns a record carries, in registry order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Columns {
    indices: Vec<usize>,
    names: Vec<String>,
}

impl Columns {
    /// Columns of the named `groups` (whatever their tier), or, without groups, of every
    /// feature up to `tier`. The `capture` group (why the flow ended, its tunnel) is always
    /// included.
    #[must_use]
    pub fn select(tier: Tier, groups: Option<&[Group]>) -> Self {
        let indices = FEATURES
            .iter()
            .enumerate()
            .filter(|(_, f)| match groups {
                _ if f.group == Group::Capture => true,
                Some(groups) => groups.contains(&f.group),
                None => f.tier <= tier,
            })
            .map(|(i, _)| i)
            .collect::<Vec<_>>();
        let names = indices
            .iter()
            .map(|&i| FEATURES[i].name.to_string())
            .collect();
        Self { indices, names }
    }

    /// Renames columns the way JoyfulJay's `--bidir-split` does, so models trained on that
    /// layout read ours: its combined directional counters get a `total_` prefix, and
    /// `_initiator`/`_responder` suffixes become `fwd_`/`bwd_` prefixes.
    #[must_use]
    pub fn with_bidir_split_names(mut self) -> Self {
        for name in &mut self.names {
            *name = bidir_split_name(name);
        }
        self
    }

    /// Output column names, in order.
    #[must_use]
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The selected features.
    pub fn defs(&self) -> impl Iterator<Item = &'static FeatureDef> + '_ {
        self.indices.iter().map(|&i| &FEATURES[i])
    }

    /// Where each column's value sits in a [`Row`](crate::features::Row).
    #[must_use]
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// Number of columns.
    #[must_use]
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether no column is selected.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The selected values of `row`, in column order.
    pub fn values<'r>(
        &'r self,
        row: &'r Row,
    ) -> impl Iterator<Item = crate::features::Value<'r>> + 'r {
        self.indices.iter().map(move |&i| row.value(i))
    }

    /// The set of groups the selection needs computed.
    #[must_use]
    pub fn groups(&self) -> Vec<Group> {
        let mut g: Vec<Group> = self.defs().map(|f| f.group).collect();
        g.dedup();
        g
    }
}

/// JoyfulJay's combined directional features, renamed with `total_` under `--bidir-split`.
const BIDIR_TOTAL: &[&str] = &[
    "packet_count",
    "total_bytes",
    "payload_bytes",
    "mean_packet_size",
    "min_packet_size",
    "max_packet_size",
    "std_packet_size",
    "mean_payload_size",
    "mean_iat",
    "min_iat",
    "max_iat",
    "std_iat",
    "iat_sequence",
    "size_sequence",
    "burst_count",
    "mean_burst_duration",
    "mean_burst_packets",
    "mean_burst_bytes",
    "tcp_syn_count",
    "tcp_ack_count",
    "tcp_fin_count",
    "tcp_rst_count",
    "tcp_psh_count",
    "tcp_urg_count",
    "entropy_payload",
    "byte_distribution_uniformity",
    "printable_ratio",
    "null_ratio",
    "high_byte_ratio",
];

fn bidir_split_name(name: &str) -> String {
    if let Some(base) = name.strip_suffix("_initiator") {
        format!("fwd_{base}")
    } else if let Some(base) = name.strip_suffix("_responder") {
        format!("bwd_{base}")
    } else if BIDIR_TOTAL.contains(&name) {
        format!("total_{name}")
    } else {
        name.to_string()
    }
}

/// A destination for records.
pub trait RecordSink {
    /// Writes one record.
    fn write_row(&mut self, row: &Row) -> io::Result<()>;

    /// Writes the record of a finished flow. By default the record is built here, in
    /// `scratch` (whose buffers are reused from flow to flow); a threaded sink instead hands the
    /// flow to its writer thread, which builds and writes the record there.
    fn write_flow(&mut self, flow: FinishedFlow, scratch: &mut Row) -> io::Result<()> {
        flow.write_into(scratch);
        self.write_row(scratch)
    }

    /// Whether the sink builds the records of the flows it is given. A threaded sink does not:
    /// it hands each flow to its writer thread, which builds the records of what it finds queued.
    fn builds_records(&self) -> bool {
        true
    }

    /// Writes the records of finished flows, in order, and empties `flows`. The records are
    /// built [`RECORD_BATCH`] at a time ([`FinishedFlow::write_all`]), in `scratch`, then
    /// written; a sink that does not build records is handed the flows one by one.
    fn write_flows(
        &mut self,
        flows: &mut Vec<FinishedFlow>,
        scratch: &mut Vec<Row>,
    ) -> io::Result<()> {
        if !self.builds_records() {
            return flows
                .drain(..)
                .try_for_each(|flow| self.write_flow(flow, &mut Row::default()));
        }
        let written = flows.chunks_mut(RECORD_BATCH).try_for_each(|batch| {
            FinishedFlow::write_all(batch, scratch);
            scratch[..batch.len()]
                .iter()
                .try_for_each(|row| self.write_row(row))
        });
        flows.clear();
        written
    }

    /// Time-driven work (syncs, rotation by age), called about every 100 ms by a writer thread
    /// whether records arrive or not.
    fn tick(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Flushes and closes the output; nothing is complete until this returns.
    fn finish(self: Box<Self>) -> io::Result<()>;
}

impl<S: RecordSink + ?Sized> RecordSink for Box<S> {
    fn write_row(&mut self, row: &Row) -> io::Result<()> {
        (**self).write_row(row)
    }

    fn write_flow(&mut self, flow: FinishedFlow, scratch: &mut Row) -> io::Result<()> {
        (**self).write_flow(flow, scratch)
    }

    fn builds_records(&self) -> bool {
        (**self).builds_records()
    }

    fn write_flows(
        &mut self,
        flows: &mut Vec<FinishedFlow>,
        scratch: &mut Vec<Row>,
    ) -> io::Result<()> {
        (**self).write_flows(flows, scratch)
    }

    fn tick(&mut self) -> io::Result<()> {
        (**self).tick()
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        (*self).finish()
    }
}

/// Where records go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// Standard output.
    Stdout,
    /// A file (created or truncated).
    File(PathBuf),
}

/// Opens a sink writing `format` (optionally zstd-compressed text) to `dest`.
pub fn open_sink(
    dest: &Destination,
    format: Format,
    zstd: bool,
    columns: Columns,
) -> io::Result<Box<dyn RecordSink + Send>> {
    let raw: Box<dyn Write + Send> = match dest {
        Destination::Stdout => Box::new(io::stdout()),
        Destination::File(path) => Box::new(File::create(path)?),
    };
    let out: Box<dyn Write + Send> = if zstd {
        Box::new(zstd::Encoder::new(BufWriter::with_capacity(1 << 20, raw), 3)?.auto_finish())
    } else {
        Box::new(BufWriter::with_capacity(1 << 20, raw))
    };
    Ok(match format {
        Format::Csv => Box::new(csv::CsvSink::new(out, columns)?),
        Format::Jsonl => Box::new(jsonl::JsonlSink::new(out, columns)),
        Format::Parquet => Box::new(parquet::ParquetSink::new(out, columns)?),
    })
}

/// Hands finished flows to a writer thread over a bounded channel: building each record
/// (percentiles, address strings, fingerprints) and encoding and compressing it run beside the
/// packet path instead of on it. Offline, a full channel makes the sender wait (no record is ever
/// dropped); a write error stops the writer and is returned by the next call.
pub struct ThreadedSink {
    sender: Option<crossbeam_channel::Sender<FinishedFlow>>,
    writer: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl std::fmt::Debug for ThreadedSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadedSink").finish_non_exhaustive()
    }
}

impl ThreadedSink {
    /// Starts the writer thread around `inner`, with room for `capacity` flows in flight.
    pub fn spawn(mut inner: Box<dyn RecordSink + Send>, capacity: usize) -> io::Result<Self> {
        let (sender, receiver) = crossbeam_channel::bounded::<FinishedFlow>(capacity);
        let writer = std::thread::Builder::new()
            .name("capture-writer".into())
            .spawn(move || {
                let (mut flows, mut scratch) = (Vec::new(), Vec::new());
                // Whatever else is queued goes with each flow received, up to a batch.
                while let Ok(flow) = receiver.recv() {
                    flows.push(flow);
                    flows.extend(receiver.try_iter().take(RECORD_BATCH - 1));
                    inner.write_flows(&mut flows, &mut scratch)?;
                }
                inner.finish()
            })?;
        Ok(Self {
            sender: Some(sender),
            writer: Some(writer),
        })
    }

    /// Closes the channel and waits for the writer: its result is the sink's result.
    fn join(&mut self) -> io::Result<()> {
        self.sender = None;
        match self.writer.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the writer thread panicked")),
            None => Err(io::Error::other("the writer thread already stopped")),
        }
    }
}

impl RecordSink for ThreadedSink {
    fn write_row(&mut self, _row: &Row) -> io::Result<()> {
        Err(io::Error::other(
            "a threaded sink takes finished flows, not rows",
        ))
    }

    fn write_flow(&mut self, flow: FinishedFlow, _scratch: &mut Row) -> io::Result<()> {
        match self.sender.as_ref().map(|s| s.send(flow)) {
            Some(Ok(())) => Ok(()),
            // The writer hung up: it failed, and joining it yields why.
            _ => Err(self
                .join()
                .err()
                .unwrap_or_else(|| io::Error::other("the writer thread stopped"))),
        }
    }

    fn builds_records(&self) -> bool {
        false
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.join()
    }
}

/// Writes a float with the shortest digits that read back to the same value (as Python's
/// `repr` does); `nan`, `inf` and `-inf` for the non-finite values.
pub(crate) fn write_float(out: &mut impl Write, v: f64) -> io::Result<()> {
    if v.is_nan() {
        out.write_all(b"nan")
    } else if v.is_infinite() {
        out.write_all(if v > 0.0 { b"inf" } else { b"-inf" })
    } else {
        out.write_all(ryu::Buffer::new().format_finite(v).as_bytes())
    }
}

/// Writes an integer.
pub(crate) fn write_int(out: &mut impl Write, v: i64) -> io::Result<()> {
    out.write_all(itoa::Buffer::new().format(v).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_extensions() {
        assert_eq!(
            format_from_path(Path::new("a/flows.parquet")),
            Some((Format::Parquet, false))
        );
        assert_eq!(
            format_from_path(Path::new("flows.CSV")),
            Some((Format::Csv, false))
        );
        assert_eq!(
            format_from_path(Path::new("flows.csv.zst")),
            Some((Format::Csv, true))
        );
        assert_eq!(
            format_from_path(Path::new("flows.jsonl.zst")),
            Some((Format::Jsonl, true))
        );
        assert_eq!(format_from_path(Path::new("flows.parquet.zst")), None);
        assert_eq!(format_from_path(Path::new("flows")), None);
    }

    #[test]
    fn selection_keeps_registry_order_and_capture_columns() {
        let all = Columns::select(Tier::Experimental, None);
        assert_eq!(all.len(), FEATURES.len());
        let tls = Columns::select(Tier::Core, Some(&[Group::Tls]));
        let names: Vec<_> = tls.defs().map(|f| f.name).collect();
        assert_eq!(names.first(), Some(&"tls_detected"));
        assert!(names.contains(&"flow_end_reason"));
        assert!(!names.contains(&"src_ip"));
    }

    #[test]
    fn bidir_split_renames_like_joyfuljay() {
        let cols = Columns::select(Tier::Core, None).with_bidir_split_names();
        assert!(cols.names().iter().any(|n| n == "total_tcp_syn_count"));
        assert!(cols.names().iter().any(|n| n == "total_total_bytes"));
        assert!(cols.names().iter().any(|n| n == "src_ip"));
        assert_eq!(bidir_split_name("entropy_initiator"), "fwd_entropy");
    }
}
