//! Parquet: typed, required columns (int64, double, boolean, UTF-8 string), zstd-compressed,
//! in row groups of up to [`ROW_GROUP_ROWS`] flows.

use std::io::{self, Write};
use std::sync::Arc;

use parquet::basic::{Compression, LogicalType, Repetition, Type as PhysicalType, ZstdLevel};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

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

/// Buffers records column by column and writes them to `W` as Parquet row groups. The file sink
/// and the spill writer's segments both use it, so both have one schema.
pub(crate) struct ParquetEncoder<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    columns: Columns,
    buffers: Vec<Column>,
    /// Numbers and booleans of up to [`STAGE_ROWS`] records as 64-bit words, row-major.
    stage: Vec<u64>,
    staged: usize,
    rows: usize,
}

pub(super) type ParquetSink = ParquetEncoder<Box<dyn Write + Send>>;

pub(crate) fn to_io(e: ParquetError) -> io::Error {
    io::Error::other(e)
}

impl<W: Write + Send> ParquetEncoder<W> {
    pub(crate) fn new(out: W, columns: Columns) -> io::Result<Self> {
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
        let props = props
            .set_created_by(format!("capture {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer =
            SerializedFileWriter::new(out, Arc::new(schema), Arc::new(props)).map_err(to_io)?;
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
        Ok(Self {
            writer,
            columns,
            buffers,
            stage,
            staged: 0,
            rows: 0,
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
    pub(crate) fn schema(&self) -> parquet::schema::types::SchemaDescPtr {
        Arc::new(self.writer.schema_descr().clone())
    }

    /// The output.
    pub(crate) fn inner_mut(&mut self) -> &mut W {
        self.writer.inner_mut()
    }

    /// Writes the buffered records, if any, as a row group.
    pub(crate) fn flush_row_group(&mut self) -> io::Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        self.spread_stage();
        let mut group = self.writer.next_row_group().map_err(to_io)?;
        for buffer in &mut self.buffers {
            let Some(mut col) = group.next_column().map_err(to_io)? else {
                return Err(io::Error::other(
                    "parquet schema has fewer columns than the record",
                ));
            };
            match buffer {
                Column::Int(v) => {
                    col.typed::<Int64Type>()
                        .write_batch(v, None, None)
                        .map_err(to_io)?;
                    v.clear();
                }
                Column::Float(v) => {
                    col.typed::<DoubleType>()
                        .write_batch(v, None, None)
                        .map_err(to_io)?;
                    v.clear();
                }
                Column::Bool(v) => {
                    col.typed::<BoolType>()
                        .write_batch(v, None, None)
                        .map_err(to_io)?;
                    v.clear();
                }
                Column::Str { bytes, ends } => {
                    let all = bytes::Bytes::from(std::mem::take(bytes));
                    let mut start = 0;
                    let values: Vec<ByteArray> = ends
                        .iter()
                        .map(|&end| {
                            let value = ByteArray::from(all.slice(start..end));
                            start = end;
                            value
                        })
                        .collect();
                    col.typed::<ByteArrayType>()
                        .write_batch(&values, None, None)
                        .map_err(to_io)?;
                    ends.clear();
                }
            }
            col.close().map_err(to_io)?;
        }
        group.close().map_err(to_io)?;
        self.rows = 0;
        Ok(())
    }
}

impl<W: Write + Send> ParquetEncoder<W> {
    /// Buffers one record; a full row group is written out. Returns whether one was.
    pub(crate) fn push_row(&mut self, row: &Row) -> io::Result<bool> {
        let width = self.buffers.len();
        let base = self.staged * width;
        let stage = &mut self.stage[base..base + width];
        for ((slot, buffer), value) in stage
            .iter_mut()
            .zip(self.buffers.iter_mut())
            .zip(self.columns.values(row))
        {
            *slot = match (buffer, value) {
                (Column::Int(_), Value::Int(v)) => *v as u64,
                (Column::Float(_), Value::Float(v)) => v.to_bits(),
                (Column::Bool(_), Value::Bool(v)) => u64::from(*v),
                (Column::Str { bytes, ends }, Value::Str(v)) => {
                    bytes.extend_from_slice(v.as_bytes());
                    ends.push(bytes.len());
                    0
                }
                _ => {
                    return Err(io::Error::other(
                        "record value does not match its column type",
                    ))
                }
            };
        }
        self.staged += 1;
        if self.staged == STAGE_ROWS {
            self.spread_stage();
        }
        self.rows += 1;
        if self.rows >= ROW_GROUP_ROWS {
            self.flush_row_group()?;
            return Ok(true);
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
