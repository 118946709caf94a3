//! Parquet: typed, required columns (int64, double, boolean, UTF-8 string), zstd-compressed,
//! in row groups of up to [`ROW_GROUP_ROWS`] flows.
//!
//! Each column chunk is encoded and compressed into memory on its own, then spliced into the
//! file. That lets full row groups be encoded on a pool of threads while the next one is
//! gathered; they are appended in the order they were gathered.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use parquet::basic::{Compression, LogicalType, Repetition, Type as PhysicalType, ZstdLevel};
use parquet::column::writer::{get_column_writer, get_typed_column_writer, ColumnCloseResult};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::properties::{WriterProperties, WriterPropertiesPtr};
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::types::{SchemaDescPtr, Type};

use super::{Columns, RecordSink};
use crate::features::{Kind, Row, Value};

/// Rows buffered per row group.
pub(crate) const ROW_GROUP_ROWS: usize = 8 * 1024;

/// Records staged row by row before they are spread into the columns, a block at a time.
/// Writing one value into each of a hundred or more column buffers per record scatters stores
/// over as many cache lines; staging a block in one small array and then filling each column
/// with a run of values keeps both sides sequential.
const STAGE_ROWS: usize = 128;

enum Column {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Bool(Vec<bool>),
    /// The strings' bytes back to back, and where each ends: one allocation per row group
    /// instead of one per value.
    Str {
        bytes: Vec<u8>,
        ends: Vec<usize>,
    },
}

impl Column {
    fn empty_like(&self) -> Self {
        match self {
            Self::Int(_) => Self::Int(Vec::with_capacity(ROW_GROUP_ROWS)),
            Self::Float(_) => Self::Float(Vec::with_capacity(ROW_GROUP_ROWS)),
            Self::Bool(_) => Self::Bool(Vec::with_capacity(ROW_GROUP_ROWS)),
            Self::Str { .. } => Self::Str {
                bytes: Vec::new(),
                ends: Vec::with_capacity(ROW_GROUP_ROWS),
            },
        }
    }
}

/// One column chunk, encoded and compressed, with what the file's footer needs to know of it.
struct EncodedChunk {
    bytes: Bytes,
    close: ColumnCloseResult,
}

/// Encodes the values of `buffer` as one column chunk in memory, and empties `buffer`.
fn encode_column(
    schema: &SchemaDescPtr,
    props: &WriterPropertiesPtr,
    index: usize,
    buffer: &mut Column,
) -> Result<EncodedChunk, ParquetError> {
    let mut sink = TrackedWrite::new(Vec::new());
    let writer = get_column_writer(
        schema.column(index),
        Arc::clone(props),
        Box::new(SerializedPageWriter::new(&mut sink)),
    );
    let close = match buffer {
        Column::Int(v) => {
            let mut w = get_typed_column_writer::<Int64Type>(writer);
            w.write_batch(v, None, None)?;
            v.clear();
            w.close()?
        }
        Column::Float(v) => {
            let mut w = get_typed_column_writer::<DoubleType>(writer);
            w.write_batch(v, None, None)?;
            v.clear();
            w.close()?
        }
        Column::Bool(v) => {
            let mut w = get_typed_column_writer::<BoolType>(writer);
            w.write_batch(v, None, None)?;
            v.clear();
            w.close()?
        }
        Column::Str { bytes, ends } => {
            let all = Bytes::from(std::mem::take(bytes));
            let mut start = 0;
            let values: Vec<ByteArray> = ends
                .iter()
                .map(|&end| {
                    let value = ByteArray::from(all.slice(start..end));
                    start = end;
                    value
                })
                .collect();
            ends.clear();
            let mut w = get_typed_column_writer::<ByteArrayType>(writer);
            w.write_batch(&values, None, None)?;
            w.close()?
        }
    };
    Ok(EncodedChunk {
        bytes: Bytes::from(sink.into_inner()?),
        close,
    })
}

/// Encodes every column of a row group; the buffers come back empty.
fn encode_row_group(
    schema: &SchemaDescPtr,
    props: &WriterPropertiesPtr,
    buffers: &mut [Column],
) -> Result<Vec<EncodedChunk>, ParquetError> {
    buffers
        .iter_mut()
        .enumerate()
        .map(|(i, b)| encode_column(schema, props, i, b))
        .collect()
}

/// A row group handed to the pool, and what comes back.
struct Encoding {
    seq: u64,
    buffers: Vec<Column>,
    chunks: Result<Vec<EncodedChunk>, ParquetError>,
}

/// Threads that encode whole row groups. Memory is bounded: at most one row group per thread is
/// out, and buffer sets are reused.
struct EncodePool {
    jobs: Option<crossbeam_channel::Sender<Encoding>>,
    done: crossbeam_channel::Receiver<Encoding>,
    threads: Vec<JoinHandle<()>>,
    /// Encoded row groups that came back ahead of an earlier one.
    ready: BTreeMap<u64, Encoding>,
    spare: Vec<Vec<Column>>,
    submitted: u64,
    appended: u64,
}

impl EncodePool {
    fn new(
        threads: usize,
        schema: &SchemaDescPtr,
        props: &WriterPropertiesPtr,
    ) -> io::Result<Self> {
        let (jobs, job_rx) = crossbeam_channel::bounded::<Encoding>(threads);
        let (done_tx, done) = crossbeam_channel::bounded::<Encoding>(threads * 2);
        let mut handles = Vec::with_capacity(threads);
        for n in 0..threads {
            let (job_rx, done_tx) = (job_rx.clone(), done_tx.clone());
            let (schema, props) = (Arc::clone(schema), Arc::clone(props));
            handles.push(
                std::thread::Builder::new()
                    .name(format!("parquet-enc-{n}"))
                    .spawn(move || {
                        for mut job in job_rx {
                            job.chunks = encode_row_group(&schema, &props, &mut job.buffers);
                            if done_tx.send(job).is_err() {
                                return;
                            }
                        }
                    })?,
            );
        }
        Ok(Self {
            jobs: Some(jobs),
            done,
            threads: handles,
            ready: BTreeMap::new(),
            spare: Vec::new(),
            submitted: 0,
            appended: 0,
        })
    }

    fn outstanding(&self) -> u64 {
        self.submitted - self.appended
    }
}

impl Drop for EncodePool {
    fn drop(&mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Buffers records column by column and writes them to `W` as Parquet row groups. The file sink
/// and the spill writer's segments both use it, so both have one schema.
pub(crate) struct ParquetEncoder<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    schema: SchemaDescPtr,
    props: WriterPropertiesPtr,
    /// Each column's place in a record and its type, in column order.
    layout: Vec<(usize, Kind)>,
    /// The string columns: (column, place in a record).
    strings: Vec<(usize, usize)>,
    buffers: Vec<Column>,
    /// Numbers and booleans of up to [`STAGE_ROWS`] records as 64-bit words, row-major.
    stage: Vec<u64>,
    staged: usize,
    rows: usize,
    /// Encoding threads; none: row groups are encoded on the caller's thread.
    pool: Option<EncodePool>,
}

pub(super) type ParquetSink = ParquetEncoder<Box<dyn Write + Send>>;

pub(crate) fn to_io(e: ParquetError) -> io::Error {
    io::Error::other(e)
}

impl<W: Write + Send> ParquetEncoder<W> {
    /// An encoder that encodes row groups on the caller's thread.
    pub(crate) fn new(out: W, columns: Columns) -> io::Result<Self> {
        Self::with_threads(out, columns, 0)
    }

    /// An encoder that encodes full row groups on `threads` threads of its own (with 0, on the
    /// caller's thread) while the caller gathers the next row group.
    pub(crate) fn with_threads(out: W, columns: Columns, threads: usize) -> io::Result<Self> {
        let mut fields = Vec::with_capacity(columns.len());
        for (def, name) in columns.defs().zip(columns.names()) {
            let (physical, logical) = match def.kind {
                Kind::Int => (PhysicalType::INT64, None),
                Kind::Float => (PhysicalType::DOUBLE, None),
                Kind::Bool => (PhysicalType::BOOLEAN, None),
                Kind::Str => (PhysicalType::BYTE_ARRAY, Some(LogicalType::String)),
            };
            let field = Type::primitive_type_builder(name, physical)
                .with_repetition(Repetition::REQUIRED)
                .with_logical_type(logical)
                .build()
                .map_err(to_io)?;
            fields.push(Arc::new(field));
        }
        let schema = Type::group_type_builder("flow")
            .with_fields(fields)
            .build()
            .map_err(to_io)?;
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(to_io)?));
        // Measured values (times, rates, ratios) rarely repeat: a dictionary costs a hash per
        // value and is then abandoned, so doubles go straight to plain encoding and zstd.
        for (def, name) in columns.defs().zip(columns.names()) {
            if matches!(def.kind, Kind::Float | Kind::Int) {
                props = props.set_column_dictionary_enabled(name.as_str().into(), false);
            }
        }
        let props = Arc::new(
            props
                .set_created_by(format!("capture {}", env!("CARGO_PKG_VERSION")))
                .build(),
        );
        let writer =
            SerializedFileWriter::new(out, Arc::new(schema), Arc::clone(&props)).map_err(to_io)?;
        let schema = Arc::new(writer.schema_descr().clone());
        let pool = if threads > 0 {
            Some(EncodePool::new(threads, &schema, &props)?)
        } else {
            None
        };
        // Sized for a whole row group up front: growing hundreds of column buffers by
        // doubling copies each of them and hands freed pages back to the system, to be faulted
        // in again.
        let buffers = columns
            .defs()
            .map(|d| match d.kind {
                Kind::Int => Column::Int(Vec::with_capacity(ROW_GROUP_ROWS)),
                Kind::Float => Column::Float(Vec::with_capacity(ROW_GROUP_ROWS)),
                Kind::Bool => Column::Bool(Vec::with_capacity(ROW_GROUP_ROWS)),
                Kind::Str => Column::Str {
                    bytes: Vec::new(),
                    ends: Vec::with_capacity(ROW_GROUP_ROWS),
                },
            })
            .collect();
        let stage = vec![0; STAGE_ROWS * columns.len()];
        let layout: Vec<(usize, Kind)> = columns
            .indices()
            .iter()
            .zip(columns.defs())
            .map(|(&i, d)| (i, d.kind))
            .collect();
        let strings = layout
            .iter()
            .enumerate()
            .filter(|(_, (_, kind))| *kind == Kind::Str)
            .map(|(c, &(i, _))| (c, i))
            .collect();
        Ok(Self {
            writer,
            schema,
            props,
            layout,
            strings,
            buffers,
            stage,
            staged: 0,
            rows: 0,
            pool,
        })
    }

    /// Bytes written to `W` so far.
    pub(crate) fn bytes_written(&self) -> usize {
        self.writer.bytes_written()
    }

    /// The row groups written so far.
    pub(crate) fn row_groups(&self) -> &[parquet::file::metadata::RowGroupMetaData] {
        self.writer.flushed_row_groups()
    }

    /// The file's schema.
    pub(crate) fn schema(&self) -> SchemaDescPtr {
        Arc::clone(&self.schema)
    }

    /// The output.
    pub(crate) fn inner_mut(&mut self) -> &mut W {
        self.writer.inner_mut()
    }

    /// Writes the buffered records, if any, as a row group, and every row group still being
    /// encoded: afterwards [`Self::row_groups`] holds every record pushed.
    pub(crate) fn flush_row_group(&mut self) -> io::Result<()> {
        self.submit()?;
        self.append_ready(0)?;
        Ok(())
    }

    /// Hands the buffered records, if any, over as a row group: encoded here without a pool,
    /// else sent to the pool.
    fn submit(&mut self) -> io::Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        self.spread_stage();
        self.rows = 0;
        let Some(pool) = self.pool.as_mut() else {
            let chunks =
                encode_row_group(&self.schema, &self.props, &mut self.buffers).map_err(to_io)?;
            return append(&mut self.writer, chunks);
        };
        let fresh = pool
            .spare
            .pop()
            .unwrap_or_else(|| self.buffers.iter().map(Column::empty_like).collect());
        let buffers = std::mem::replace(&mut self.buffers, fresh);
        let job = Encoding {
            seq: pool.submitted,
            buffers,
            chunks: Ok(Vec::new()),
        };
        pool.jobs
            .as_ref()
            .ok_or_else(|| io::Error::other("parquet encoder pool is closed"))?
            .send(job)
            .map_err(|_| io::Error::other("a parquet encoding thread has stopped"))?;
        pool.submitted += 1;
        Ok(())
    }

    /// Appends encoded row groups in order until at most `keep_out` are still out; returns
    /// whether any was appended.
    fn append_ready(&mut self, keep_out: u64) -> io::Result<bool> {
        let Some(pool) = self.pool.as_mut() else {
            return Ok(false);
        };
        let mut appended = false;
        loop {
            while let Ok(done) = pool.done.try_recv() {
                pool.ready.insert(done.seq, done);
            }
            while let Some(done) = pool.ready.remove(&pool.appended) {
                let Encoding {
                    buffers, chunks, ..
                } = done;
                pool.spare.push(buffers);
                append(&mut self.writer, chunks.map_err(to_io)?)?;
                pool.appended += 1;
                appended = true;
            }
            if pool.outstanding() <= keep_out {
                return Ok(appended);
            }
            let done = pool
                .done
                .recv()
                .map_err(|_| io::Error::other("a parquet encoding thread has stopped"))?;
            pool.ready.insert(done.seq, done);
        }
    }
}

/// Splices one encoded row group into the file.
fn append<W: Write + Send>(
    writer: &mut SerializedFileWriter<W>,
    chunks: Vec<EncodedChunk>,
) -> io::Result<()> {
    let mut group = writer.next_row_group().map_err(to_io)?;
    for chunk in chunks {
        group
            .append_column(&chunk.bytes, chunk.close)
            .map_err(to_io)?;
    }
    group.close().map_err(to_io)?;
    // Spliced chunks stay in the file writer's buffer until flushed: a sync of the output
    // right after this must find the whole row group there.
    writer.flush()
}

impl<W: Write + Send> ParquetEncoder<W> {
    /// Buffers one record; a full row group is encoded and written out. Returns whether a row
    /// group was written.
    pub(crate) fn push_row(&mut self, row: &Row) -> io::Result<bool> {
        let width = self.layout.len();
        let base = self.staged * width;
        let stage = &mut self.stage[base..base + width];
        let values = row.values.as_slice();
        let mismatch = || io::Error::other("record value does not match its column type");
        // Numbers and booleans in one tight pass over the record (strings take a slot that
        // stays unused), then the strings.
        for (slot, &(index, kind)) in stage.iter_mut().zip(&self.layout) {
            *slot = match (kind, values.get(index)) {
                (Kind::Int, Some(Value::Int(v))) => *v as u64,
                (Kind::Float, Some(Value::Float(v))) => v.to_bits(),
                (Kind::Bool, Some(Value::Bool(v))) => u64::from(*v),
                (Kind::Str, Some(Value::Str(_))) => 0,
                _ => return Err(mismatch()),
            };
        }
        for &(column, index) in &self.strings {
            let (Some(Column::Str { bytes, ends }), Some(Value::Str(v))) =
                (self.buffers.get_mut(column), values.get(index))
            else {
                return Err(mismatch());
            };
            bytes.extend_from_slice(v.as_bytes());
            ends.push(bytes.len());
        }
        self.staged += 1;
        if self.staged == STAGE_ROWS {
            self.spread_stage();
        }
        self.rows += 1;
        if self.rows >= ROW_GROUP_ROWS {
            self.submit()?;
            // With a pool, one row group per thread may stay out; without, it is written.
            let threads = self.pool.as_ref().map_or(0, |p| p.threads.len() as u64);
            return Ok(self.append_ready(threads)? || self.pool.is_none());
        }
        Ok(false)
    }

    /// Moves the staged records into their columns.
    fn spread_stage(&mut self) {
        let (width, staged) = (self.buffers.len(), self.staged);
        let words = |c: usize| (0..staged).map(move |r| r * width + c);
        for (c, buffer) in self.buffers.iter_mut().enumerate() {
            match buffer {
                Column::Int(v) => v.extend(words(c).map(|i| self.stage[i] as i64)),
                Column::Float(v) => v.extend(words(c).map(|i| f64::from_bits(self.stage[i]))),
                Column::Bool(v) => v.extend(words(c).map(|i| self.stage[i] != 0)),
                Column::Str { .. } => {}
            }
        }
        self.staged = 0;
    }

    /// Writes the last row group and the footer; returns the output.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.flush_row_group()?;
        self.pool = None;
        self.writer.into_inner().map_err(to_io)
    }
}

impl RecordSink for ParquetSink {
    fn write_row(&mut self, row: &Row) -> io::Result<()> {
        self.push_row(row).map(|_| ())
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        let mut inner = ParquetEncoder::finish(*self)?;
        inner.flush()
    }
}
