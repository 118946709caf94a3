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
use parquet::basic::{
    Compression, Encoding, EncodingMask, LogicalType, PageType, Repetition, Type as PhysicalType,
    ZstdLevel,
};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ColumnChunkMetaData, PageEncodingStats};
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::types::{ColumnDescPtr, SchemaDescPtr, Type};

use super::{page_encoding, Columns, RecordSink};
use crate::features::{Kind, Row};
use crate::sys::stream::{stream_fence, stream_line};

/// Rows buffered per row group.
pub(crate) const ROW_GROUP_ROWS: usize = 8 * 1024;

/// Words between the starts of two columns in [`GroupBuffers`]: a row group's worth and three
/// cache lines more, a whole number of lines. A block of records writes one line into each
/// column; with a power-of-two distance those lines would all map onto one cache set, with this
/// one they spread over the sets.
const COLUMN_STRIDE: usize = ROW_GROUP_ROWS + 24;

/// Rows copied whole into a small block before they join the row group, a column at a time. A
/// record holds one word of every column: written straight into a whole row group's buffers
/// (megabytes), each write lands on a line of its own in every column, hundreds of streams, more
/// than the caches keep. The block stays in the first-level cache, and moving it over writes
/// each column's words for the block's rows at once: a whole cache line with eight rows.
const BLOCK_ROWS: usize = 8;

/// One string column of a row group: the strings' bytes back to back, and where each ends.
#[derive(Default)]
struct StrColumn {
    bytes: Vec<u8>,
    ends: Vec<u32>,
}

/// The values of one row group before encoding.
struct GroupBuffers {
    /// Every column's words (integers, doubles' bits, booleans as 0 or 1), column after
    /// column, [`COLUMN_STRIDE`] slots apart; a string column's slots go unused.
    words: Vec<u64>,
    /// The string columns, in column order.
    strings: Vec<StrColumn>,
    rows: usize,
}

impl GroupBuffers {
    fn new(columns: usize, string_columns: usize) -> Self {
        // Megabytes (27 MB for every group), all written within the first row group.
        let mut words = vec![0; columns * COLUMN_STRIDE];
        crate::sys::advise_huge_pages(&mut words);
        Self {
            words,
            strings: (0..string_columns).map(|_| StrColumn::default()).collect(),
            rows: 0,
        }
    }

    fn clear(&mut self) {
        for s in &mut self.strings {
            s.bytes.clear();
            s.ends.clear();
        }
        self.rows = 0;
    }

    /// The words of column `c`.
    fn column(&self, c: usize) -> &[u64] {
        &self.words[c * COLUMN_STRIDE..c * COLUMN_STRIDE + self.rows]
    }
}

/// What the encoder knows of each column: its type and, for a string column, which of the
/// string buffers is its.
#[derive(Clone)]
struct ColumnPlan {
    kinds: Vec<Kind>,
    string_slot: Vec<usize>,
}

/// One column chunk, encoded and compressed, with what the file's footer needs to know of it.
struct EncodedChunk {
    bytes: Bytes,
    close: ColumnCloseResult,
}

/// zstd level of every page unless the caller picks another: the fastest of the positive
/// levels; negative ones trade size for speed (see `docs/benchmarks.md`).
pub const DEFAULT_ZSTD_LEVEL: i32 = 1;

/// The zstd levels an encoder accepts: zstd's fast levels down to -7, and 1 to 19.
pub const ZSTD_LEVELS: std::ops::RangeInclusive<i32> = -7..=19;

/// Strings longer than this get no minimum and maximum in a chunk's statistics (the crate's
/// default truncation length; a longer bound would bloat the footer).
const MAX_STAT_STRING: usize = 64;

/// The first eight bytes of `s` as a big-endian number, zero-padded: comparing two of these
/// orders the strings byte-wise (as Parquet orders UTF-8) unless they are equal, when only a
/// full comparison can tell.
#[inline]
fn order_prefix(s: &[u8]) -> u64 {
    match s.first_chunk::<8>() {
        Some(head) => u64::from_be_bytes(*head),
        None => s
            .iter()
            .enumerate()
            .fold(0, |p, (i, &b)| p | u64::from(b) << (56 - 8 * i)),
    }
}

/// How `a` orders against `b`, given their prefixes. Equal prefixes leave only the bytes after
/// the eighth to compare, and none when both strings are that short: the zero padding then
/// sorts the shorter first, as its length does.
#[inline]
fn order_of(a: (u64, &[u8]), b: (u64, &[u8])) -> std::cmp::Ordering {
    a.0.cmp(&b.0)
        .then_with(|| match (a.1.get(8..), b.1.get(8..)) {
            (Some(a_rest), Some(b_rest)) => a_rest.cmp(b_rest),
            _ => a.1.len().cmp(&b.1.len()),
        })
}

/// Encodes column chunks as single data pages: integers DELTA_BINARY_PACKED, doubles
/// BYTE_STREAM_SPLIT, booleans and strings PLAIN (see `page_encoding`).
///
/// Written here rather than through the crate's column writers, which cost about 20 ns per
/// value (statistics gathered value by value, level buffers, encoder dispatch) and set up a
/// zstd context for every column chunk: our columns are all required and of four physical
/// types, so a chunk's page is its values' bytes, compressed by one long-lived context. The
/// crate still serializes the page headers, the row groups and the footer.
struct ChunkEncoder {
    zstd: zstd::bulk::Compressor<'static>,
    /// The context for DELTA_BINARY_PACKED pages at the fast levels: their bytes are packed
    /// bits, which Huffman coding of zstd's literals barely shrinks (2 % here) at a third of
    /// the page's compression time.
    zstd_packed: zstd::bulk::Compressor<'static>,
    /// An integer, boolean or string column's page before compression, reused: a fresh buffer
    /// of a page's size for every column chunk would be fresh memory for the allocator to fault
    /// in.
    plain: Vec<u8>,
    /// A double column's page, apart from the others': it keeps a column chunk's length from
    /// one chunk to the next, so that its bytes need not be zeroed before they are written.
    split: Vec<u8>,
    /// Every page after compression, reused alike.
    compressed: Vec<u8>,
}

impl ChunkEncoder {
    fn new(zstd_level: i32) -> io::Result<Self> {
        let mut zstd_packed = zstd::bulk::Compressor::new(zstd_level)?;
        if zstd_level <= DEFAULT_ZSTD_LEVEL {
            zstd_packed.set_parameter(zstd::stream::raw::CParameter::LiteralCompressionMode(
                zstd::zstd_safe::ParamSwitch::Disable,
            ))?;
        }
        Ok(Self {
            zstd: zstd::bulk::Compressor::new(zstd_level)?,
            zstd_packed,
            plain: Vec::new(),
            split: Vec::new(),
            compressed: Vec::new(),
        })
    }

    /// Encodes column `c` of `group` as one column chunk in memory.
    fn encode(
        &mut self,
        descr: &ColumnDescPtr,
        plan: &ColumnPlan,
        group: &GroupBuffers,
        c: usize,
    ) -> Result<EncodedChunk, ParquetError> {
        let plain = &mut self.plain;
        plain.clear();
        let split = &mut self.split;
        let n = group.rows;
        let bounds = n > 0;
        let (encoding, statistics) = match plan.kinds[c] {
            Kind::Int => {
                let min_max = page_encoding::delta_binary_packed(plain, group.column(c));
                (
                    Encoding::DELTA_BINARY_PACKED,
                    Statistics::int64(
                        min_max.map(|(min, _)| min),
                        min_max.map(|(_, max)| max),
                        None,
                        Some(0),
                        false,
                    ),
                )
            }
            Kind::Float => {
                let words = group.column(c);
                let (mut min, mut max, mut nans) = (f64::INFINITY, f64::NEG_INFINITY, 0u64);
                // A NaN compares false, so the bounds pass over it; written as comparisons
                // rather than `f64::min`, they compile to one instruction each.
                for &w in words {
                    let x = f64::from_bits(w);
                    nans += u64::from(x.is_nan());
                    if x < min {
                        min = x;
                    }
                    if x > max {
                        max = x;
                    }
                }
                page_encoding::byte_stream_split(split, words);
                // The format's rules: NaN never bounds a chunk, and a zero bound is written
                // as -0.0 for a minimum and +0.0 for a maximum.
                let bounds = (n as u64) > nans;
                let min = if min == 0.0 { -0.0 } else { min };
                let max = if max == 0.0 { 0.0 } else { max };
                let stats = ValueStatistics::<f64>::new(
                    bounds.then_some(min),
                    bounds.then_some(max),
                    None,
                    Some(0),
                    false,
                )
                .with_nan_count(Some(nans))
                .with_backwards_compatible_min_max(true);
                (Encoding::BYTE_STREAM_SPLIT, Statistics::Double(stats))
            }
            Kind::Bool => {
                let words = group.column(c);
                // Bit-packed, least significant bit first.
                plain.extend(words.chunks(8).map(|byte| {
                    byte.iter()
                        .enumerate()
                        .fold(0u8, |b, (i, &w)| b | u8::from(w != 0) << i)
                }));
                let (any, all) = (words.iter().any(|&w| w != 0), words.iter().all(|&w| w != 0));
                (
                    Encoding::PLAIN,
                    Statistics::boolean(
                        bounds.then_some(all),
                        bounds.then_some(any),
                        None,
                        Some(0),
                        false,
                    ),
                )
            }
            Kind::Str => {
                let column = &group.strings[plan.string_slot[c]];
                plain.reserve(column.bytes.len() + column.ends.len() * 4);
                let (mut start, mut bounds) = (0, None::<((u64, &[u8]), (u64, &[u8]))>);
                for &end in &column.ends {
                    let value = &column.bytes[start..end as usize];
                    start = end as usize;
                    plain.extend_from_slice(&(value.len() as u32).to_le_bytes());
                    plain.extend_from_slice(value);
                    let this = (order_prefix(value), value);
                    match &mut bounds {
                        None => bounds = Some((this, this)),
                        // A value equal to the minimum cannot pass the maximum.
                        Some((min, max)) => match order_of(this, *min) {
                            std::cmp::Ordering::Less => *min = this,
                            std::cmp::Ordering::Equal => {}
                            std::cmp::Ordering::Greater => {
                                if order_of(this, *max).is_gt() {
                                    *max = this;
                                }
                            }
                        },
                    }
                }
                let (min, max) = bounds
                    .map(|((_, min), (_, max))| (min, max))
                    .filter(|(min, max)| {
                        min.len() <= MAX_STAT_STRING && max.len() <= MAX_STAT_STRING
                    })
                    .map(|(min, max)| {
                        (ByteArray::from(min.to_vec()), ByteArray::from(max.to_vec()))
                    })
                    .unzip();
                (
                    Encoding::PLAIN,
                    Statistics::byte_array(min, max, None, Some(0), false),
                )
            }
        };
        let page: &[u8] = if plan.kinds[c] == Kind::Float {
            split
        } else {
            plain
        };
        let compressed = &mut self.compressed;
        compressed.clear();
        compressed.reserve(zstd::zstd_safe::compress_bound(page.len()));
        if plan.kinds[c] == Kind::Int {
            self.zstd_packed.compress_to_buffer(page, compressed)?;
        } else {
            self.zstd.compress_to_buffer(page, compressed)?;
        }
        let num_values = u32::try_from(n)
            .map_err(|_| ParquetError::General("too many values in a column chunk".into()))?;
        let page = CompressedPage::new(
            Page::DataPage {
                buf: Bytes::copy_from_slice(compressed),
                num_values,
                encoding,
                def_level_encoding: Encoding::RLE,
                rep_level_encoding: Encoding::RLE,
                statistics: None,
            },
            page.len(),
        );
        let mut sink = TrackedWrite::new(Vec::with_capacity(page.data().len() + 64));
        let spec = SerializedPageWriter::new(&mut sink).write_page(page)?;
        let metadata = ColumnChunkMetaData::builder(Arc::clone(descr))
            // The codec only: a file does not record the level its pages were compressed at.
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(DEFAULT_ZSTD_LEVEL)
                    .map_err(|e| ParquetError::General(e.to_string()))?,
            ))
            .set_encodings_mask(EncodingMask::new_from_encodings(
                [encoding, Encoding::RLE].iter(),
            ))
            .set_page_encoding_stats(vec![PageEncodingStats {
                page_type: PageType::DATA_PAGE,
                encoding,
                count: 1,
            }])
            .set_total_compressed_size(spec.compressed_size as i64)
            .set_total_uncompressed_size(spec.uncompressed_size as i64)
            .set_num_values(i64::from(num_values))
            .set_data_page_offset(0)
            .set_statistics(statistics)
            .build()?;
        Ok(EncodedChunk {
            bytes: Bytes::from(sink.into_inner()?),
            close: ColumnCloseResult {
                bytes_written: spec.bytes_written,
                rows_written: u64::from(num_values),
                metadata,
                bloom_filter: None,
                column_index: None,
                offset_index: None,
            },
        })
    }
}

/// Encodes every column of a row group; the buffers are left for reuse.
fn encode_row_group(
    schema: &SchemaDescPtr,
    plan: &ColumnPlan,
    encoder: &mut ChunkEncoder,
    group: &GroupBuffers,
) -> Result<Vec<EncodedChunk>, ParquetError> {
    let columns = plan.kinds.len();
    (0..columns)
        .map(|c| {
            // The row group's words were streamed out to memory: the next column's are asked
            // for while this one is encoded, which would otherwise wait on each of them.
            if c + 1 < columns && plan.kinds[c + 1] != Kind::Str {
                crate::sys::prefetch_to_l2(group.column(c + 1));
            }
            encoder.encode(&schema.column(c), plan, group, c)
        })
        .collect()
}

/// A row group handed to the pool, and what comes back.
struct EncodeJob {
    seq: u64,
    group: GroupBuffers,
    chunks: Result<Vec<EncodedChunk>, ParquetError>,
}

/// Threads that encode whole row groups. Memory is bounded: at most one row group per thread is
/// out, and buffer sets are reused.
struct EncodePool {
    jobs: Option<crossbeam_channel::Sender<EncodeJob>>,
    done: crossbeam_channel::Receiver<EncodeJob>,
    threads: Vec<JoinHandle<()>>,
    /// Encoded row groups that came back ahead of an earlier one.
    ready: BTreeMap<u64, EncodeJob>,
    spare: Vec<GroupBuffers>,
    submitted: u64,
    appended: u64,
}

impl EncodePool {
    fn new(
        threads: usize,
        zstd_level: i32,
        schema: &SchemaDescPtr,
        plan: &ColumnPlan,
    ) -> io::Result<Self> {
        let (jobs, job_rx) = crossbeam_channel::bounded::<EncodeJob>(threads);
        let (done_tx, done) = crossbeam_channel::bounded::<EncodeJob>(threads * 2);
        let mut handles = Vec::with_capacity(threads);
        for n in 0..threads {
            let (job_rx, done_tx) = (job_rx.clone(), done_tx.clone());
            let (schema, plan) = (Arc::clone(schema), plan.clone());
            let mut encoder = ChunkEncoder::new(zstd_level)?;
            handles.push(
                std::thread::Builder::new()
                    .name(format!("parquet-enc-{n}"))
                    .spawn(move || {
                        for mut job in job_rx {
                            job.chunks = encode_row_group(&schema, &plan, &mut encoder, &job.group);
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
    plan: ColumnPlan,
    /// Encodes row groups on the caller's thread when there is no pool.
    chunks: ChunkEncoder,
    /// The columns as runs of consecutive places in a record: (first column, first place,
    /// length). Registry order keeps a tier's columns together.
    runs: Vec<(usize, usize, usize)>,
    /// The string columns' places in a record, in column order.
    string_places: Vec<usize>,
    /// Values a record must hold: one past the last place the columns read.
    record_len: usize,
    group: GroupBuffers,
    /// The group's latest rows, row after row, each the columns' words in column order.
    block: Vec<u64>,
    /// Rows in `block`: the last of `group.rows`.
    block_rows: usize,
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
        Self::with_threads(out, columns, 0, DEFAULT_ZSTD_LEVEL)
    }

    /// An encoder that encodes full row groups on `threads` threads of its own (with 0, on the
    /// caller's thread) while the caller gathers the next row group, compressing its pages at
    /// `zstd_level` (one of [`ZSTD_LEVELS`]).
    pub(crate) fn with_threads(
        out: W,
        columns: Columns,
        threads: usize,
        zstd_level: i32,
    ) -> io::Result<Self> {
        if !ZSTD_LEVELS.contains(&zstd_level) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "zstd level {zstd_level} is outside {}..={}",
                    ZSTD_LEVELS.start(),
                    ZSTD_LEVELS.end()
                ),
            ));
        }
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
        // The file writer only writes the footer: pages are encoded by `ChunkEncoder`.
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::ZSTD(
                    ZstdLevel::try_new(DEFAULT_ZSTD_LEVEL).map_err(to_io)?,
                ))
                .set_created_by(format!("capture {}", env!("CARGO_PKG_VERSION")))
                .build(),
        );
        let writer =
            SerializedFileWriter::new(out, Arc::new(schema), Arc::clone(&props)).map_err(to_io)?;
        let schema = Arc::new(writer.schema_descr().clone());
        let kinds: Vec<Kind> = columns.defs().map(|d| d.kind).collect();
        let mut string_slot = vec![usize::MAX; kinds.len()];
        let mut string_places = Vec::new();
        for (c, (&kind, &place)) in kinds.iter().zip(columns.indices()).enumerate() {
            if kind == Kind::Str {
                string_slot[c] = string_places.len();
                string_places.push(place);
            }
        }
        let plan = ColumnPlan { kinds, string_slot };
        let pool = if threads > 0 {
            Some(EncodePool::new(threads, zstd_level, &schema, &plan)?)
        } else {
            None
        };
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        for (c, &i) in columns.indices().iter().enumerate() {
            match runs.last_mut() {
                Some((_, place, len)) if *place + *len == i => *len += 1,
                _ => runs.push((c, i, 1)),
            }
        }
        Ok(Self {
            writer,
            schema,
            // Sized for a whole row group up front: growing hundreds of column buffers by
            // doubling copies each of them and hands freed pages back to the system, to be
            // faulted in again.
            group: GroupBuffers::new(columns.len(), string_places.len()),
            block: vec![0; columns.len() * BLOCK_ROWS],
            block_rows: 0,
            plan,
            chunks: ChunkEncoder::new(zstd_level)?,
            record_len: columns.indices().iter().map(|&i| i + 1).max().unwrap_or(0),
            runs,
            string_places,
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
        self.unblock();
        // The row group's words were streamed in: they must be in memory before it is read,
        // here or on an encoding thread.
        stream_fence();
        if self.group.rows == 0 {
            return Ok(());
        }
        let Some(pool) = self.pool.as_mut() else {
            let chunks = encode_row_group(&self.schema, &self.plan, &mut self.chunks, &self.group)
                .map_err(to_io)?;
            self.group.clear();
            return append(&mut self.writer, chunks);
        };
        let fresh = pool
            .spare
            .pop()
            .unwrap_or_else(|| GroupBuffers::new(self.plan.kinds.len(), self.string_places.len()));
        let group = std::mem::replace(&mut self.group, fresh);
        let job = EncodeJob {
            seq: pool.submitted,
            group,
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
                let EncodeJob {
                    mut group, chunks, ..
                } = done;
                group.clear();
                pool.spare.push(group);
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
        let words = row.words();
        if words.len() < self.record_len {
            return Err(io::Error::other(format!(
                "a record of {} values where the columns need {}",
                words.len(),
                self.record_len
            )));
        }
        // The record's words into the block, in column order (a string column's word, where
        // the string lies in the record's text, goes unused), then the strings.
        let width = self.plan.kinds.len();
        let at = self.block_rows * width;
        for &(column, place, len) in &self.runs {
            self.block[at + column..at + column + len].copy_from_slice(&words[place..place + len]);
        }
        self.block_rows += 1;
        for (column, &place) in self.group.strings.iter_mut().zip(&self.string_places) {
            column
                .bytes
                .extend_from_slice(row.text_of(place).as_bytes());
            // A row group's strings stay far below 4 GiB: a row group is 8,192 records.
            column.ends.push(column.bytes.len() as u32);
        }
        self.group.rows += 1;
        if self.block_rows == BLOCK_ROWS {
            self.unblock();
        }
        if self.group.rows >= ROW_GROUP_ROWS {
            self.submit()?;
            // With a pool, one row group per thread may stay out; without, it is written.
            let threads = self.pool.as_ref().map_or(0, |p| p.threads.len() as u64);
            return Ok(self.append_ready(threads)? || self.pool.is_none());
        }
        Ok(false)
    }

    /// Moves the block's rows into the row group's columns.
    fn unblock(&mut self) {
        let rows = std::mem::take(&mut self.block_rows);
        if rows == 0 {
            return;
        }
        let width = self.plan.kinds.len();
        let first = self.group.rows - rows;
        let columns = self.group.words.chunks_exact_mut(COLUMN_STRIDE);
        if rows == BLOCK_ROWS {
            // A full block: each column's eight words fill 64 bytes of the row group (one
            // cache line where the allocator aligned the buffer so), streamed out unread.
            for (c, column) in columns.enumerate() {
                let out: &mut [u64; BLOCK_ROWS] = (&mut column[first..first + BLOCK_ROWS])
                    .try_into()
                    .expect("a block's worth of rows");
                stream_line(out, std::array::from_fn(|r| self.block[r * width + c]));
            }
        } else {
            for (c, column) in columns.enumerate() {
                for (r, slot) in column[first..first + rows].iter_mut().enumerate() {
                    *slot = self.block[r * width + c];
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::statistics::Statistics;
    use parquet::record::Field;

    use super::*;
    use crate::features::{Group, Tier, Value, FEATURES};

    /// A value as the tests hold it.
    #[derive(Clone, Debug, PartialEq)]
    enum Cell {
        Int(i64),
        Float(f64),
        Bool(bool),
        Str(String),
    }

    impl Cell {
        fn of(v: Value<'_>) -> Self {
            match v {
                Value::Int(n) => Self::Int(n),
                Value::Float(f) => Self::Float(f),
                Value::Bool(b) => Self::Bool(b),
                Value::Str(s) => Self::Str(s.to_string()),
            }
        }

        fn as_value(&self) -> Value<'_> {
            match self {
                Self::Int(n) => Value::Int(*n),
                Self::Float(f) => Value::Float(*f),
                Self::Bool(b) => Value::Bool(*b),
                Self::Str(s) => Value::Str(s),
            }
        }
    }

    /// A value of `kind` for row `r` and column `c`, with the edge cases of each type mixed in:
    /// extreme and negative integers, NaN, signed zeros and infinities, empty, long and
    /// non-ASCII strings.
    fn value(kind: Kind, r: usize, c: usize) -> Cell {
        let k = r.wrapping_mul(31).wrapping_add(c * 7);
        match kind {
            Kind::Int => Cell::Int(match k % 7 {
                0 => i64::MIN,
                1 => i64::MAX,
                2 => -(k as i64),
                _ => (k * k) as i64,
            }),
            Kind::Float => Cell::Float(match k % 9 {
                0 if c.is_multiple_of(3) => f64::NAN,
                1 => -0.0,
                2 => 0.0,
                3 if c.is_multiple_of(5) => f64::INFINITY,
                _ => (k as f64) / 7.0 - 50.0,
            }),
            Kind::Bool => Cell::Bool(!c.is_multiple_of(4) && (k.is_multiple_of(3) || c % 4 == 1)),
            Kind::Str => Cell::Str(match k % 6 {
                0 => String::new(),
                1 => "é".repeat(40 + c % 3),
                // Strings whose first eight bytes agree, and one that is their prefix.
                2 => format!("shared-prefix-{}", r % 97),
                3 => "shared-p".to_string(),
                _ => format!("{c}-{r}"),
            }),
        }
    }

    /// Records of `n` rows, as rows and as the cells of every feature.
    fn rows(columns: &Columns, n: usize) -> (Vec<Row>, Vec<Vec<Cell>>) {
        let cells: Vec<Vec<Cell>> = (0..n)
            .map(|r| {
                let mut cells: Vec<Cell> = FEATURES
                    .iter()
                    .map(|f| match f.kind {
                        Kind::Int => Cell::Int(0),
                        Kind::Float => Cell::Float(0.0),
                        Kind::Bool => Cell::Bool(false),
                        Kind::Str => Cell::Str(String::new()),
                    })
                    .collect();
                for (c, (&i, def)) in columns.indices().iter().zip(columns.defs()).enumerate() {
                    cells[i] = value(def.kind, r, c);
                }
                cells
            })
            .collect();
        let rows = cells
            .iter()
            .map(|cells| Row::from_values(cells.iter().map(Cell::as_value)))
            .collect();
        (rows, cells)
    }

    fn same(a: &Cell, b: &Cell) -> bool {
        match (a, b) {
            (Cell::Float(x), Cell::Float(y)) => x.to_bits() == y.to_bits(),
            _ => a == b,
        }
    }

    /// What the file holds at row `r`, column `c`, read back through the crate's reader.
    fn read(row: &parquet::record::Row, c: usize) -> Cell {
        match &row.get_column_iter().nth(c).unwrap().1 {
            Field::Long(v) => Cell::Int(*v),
            Field::Double(v) => Cell::Float(*v),
            Field::Bool(v) => Cell::Bool(*v),
            Field::Str(v) => Cell::Str(v.clone()),
            other => panic!("unexpected field {other:?}"),
        }
    }

    #[test]
    fn values_and_statistics_read_back_as_written() {
        // Columns of every type: timing's doubles, TLS's integers, booleans and strings.
        let columns = Columns::select(Tier::Core, Some(&[Group::Timing, Group::Tls]));
        for kind in [Kind::Int, Kind::Float, Kind::Bool, Kind::Str] {
            assert!(columns.defs().any(|d| d.kind == kind), "no {kind:?} column");
        }
        // Three row groups, the last one short.
        let n = ROW_GROUP_ROWS * 2 + 1_000;
        let (written, cells) = rows(&columns, n);
        for (row, cells) in written.iter().zip(&cells) {
            for (i, (a, b)) in row.values().map(Cell::of).zip(cells).enumerate() {
                assert!(
                    same(&a, b),
                    "feature {i}: the record holds {a:?}, not {b:?}"
                );
            }
        }
        // Every level gives the same records; the pool's and the caller's encoders too.
        for (threads, level) in [
            (0, DEFAULT_ZSTD_LEVEL),
            (2, DEFAULT_ZSTD_LEVEL),
            (2, -7),
            (0, 19),
        ] {
            let mut encoder =
                ParquetEncoder::with_threads(Vec::new(), columns.clone(), threads, level).unwrap();
            for row in &written {
                encoder.push_row(row).unwrap();
            }
            let file = Bytes::from(encoder.finish().unwrap());
            let reader = SerializedFileReader::new(file).unwrap();
            let meta = reader.metadata();
            assert_eq!(meta.file_metadata().num_rows(), n as i64);
            assert_eq!(meta.num_row_groups(), 3);
            for (r, row) in reader.get_row_iter(None).unwrap().enumerate() {
                let row = row.unwrap();
                for (c, &i) in columns.indices().iter().enumerate() {
                    let (got, want) = (read(&row, c), &cells[r][i]);
                    assert!(same(&got, want), "row {r} column {c}: {got:?} != {want:?}");
                }
            }
            // Every chunk's bounds are those of the values in its row group.
            let mut first = 0;
            for group in meta.row_groups() {
                let rows = &cells[first..first + group.num_rows() as usize];
                first += rows.len();
                for (c, (&i, def)) in columns.indices().iter().zip(columns.defs()).enumerate() {
                    let values = rows.iter().map(|r| &r[i]);
                    let stats = group.column(c).statistics().unwrap();
                    assert_eq!(stats.null_count_opt(), Some(0));
                    match (def.kind, stats) {
                        (Kind::Int, Statistics::Int64(s)) => {
                            let v: Vec<i64> = values
                                .map(|v| if let Cell::Int(x) = v { *x } else { 0 })
                                .collect();
                            assert_eq!(s.min_opt(), v.iter().min());
                            assert_eq!(s.max_opt(), v.iter().max());
                        }
                        (Kind::Float, Statistics::Double(s)) => {
                            let v: Vec<f64> = values
                                .filter_map(|v| {
                                    if let Cell::Float(x) = v {
                                        Some(*x)
                                    } else {
                                        None
                                    }
                                })
                                .filter(|x| !x.is_nan())
                                .collect();
                            let min = v.iter().copied().fold(f64::INFINITY, f64::min);
                            let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                            assert_eq!(s.min_opt().copied(), Some(min));
                            assert_eq!(s.max_opt().copied(), Some(max));
                            if min == 0.0 {
                                assert!(s.min_opt().unwrap().is_sign_negative());
                            }
                            if max == 0.0 {
                                assert!(s.max_opt().unwrap().is_sign_positive());
                            }
                        }
                        (Kind::Bool, Statistics::Boolean(s)) => {
                            let v: Vec<bool> =
                                values.map(|v| matches!(v, Cell::Bool(true))).collect();
                            assert_eq!(s.min_opt(), v.iter().min());
                            assert_eq!(s.max_opt(), v.iter().max());
                        }
                        (Kind::Str, Statistics::ByteArray(s)) => {
                            let v: Vec<&[u8]> = values
                                .map(|v| {
                                    if let Cell::Str(x) = v {
                                        x.as_bytes()
                                    } else {
                                        &[]
                                    }
                                })
                                .collect();
                            let (min, max) = (v.iter().min().unwrap(), v.iter().max().unwrap());
                            if min.len() <= MAX_STAT_STRING && max.len() <= MAX_STAT_STRING {
                                assert_eq!(s.min_opt().map(ByteArray::data), Some(*min));
                                assert_eq!(s.max_opt().map(ByteArray::data), Some(*max));
                            } else {
                                assert!(s.min_opt().is_none() && s.max_opt().is_none());
                            }
                        }
                        (kind, stats) => panic!("column {c} of {kind:?} has {stats:?}"),
                    }
                }
            }
        }
    }

    /// Bytes around the eight of a prefix, zeros and one repeated letter common among them.
    fn short_bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        proptest::collection::vec(prop_oneof![Just(0u8), Just(b'a'), any::<u8>()], 0..20)
    }

    proptest::proptest! {
        /// Ordering by prefix and remainder is the byte-wise order Parquet's statistics use.
        #[test]
        fn string_order_is_bytewise(a in short_bytes(), b in short_bytes()) {
            // Half the cases share a head, so that equal prefixes are common.
            let shared = a.len().min(b.len()) / 2;
            let b = if a.len() % 2 == 0 { [&a[..shared], &b[shared..]].concat() } else { b };
            proptest::prop_assert_eq!(
                order_of((order_prefix(&a), &a), (order_prefix(&b), &b)),
                a.as_slice().cmp(b.as_slice())
            );
        }
    }
}
