//! CSV: a header row of feature names, then one row per flow. Booleans are written as
//! `True`/`False` like JoyfulJay's pandas output.

use std::io::{self, Write};

use super::{write_float, write_int, Columns, RecordSink};
use crate::features::{Row, Value};

pub(super) struct CsvSink {
    out: Box<dyn Write + Send>,
    columns: Columns,
}

impl CsvSink {
    pub(super) fn new(mut out: Box<dyn Write + Send>, columns: Columns) -> io::Result<Self> {
        let header = columns.names().join(",");
        writeln!(out, "{header}")?;
        Ok(Self { out, columns })
    }
}

fn write_field(out: &mut impl Write, s: &str) -> io::Result<()> {
    if s.contains([',', '"', '\n', '\r']) {
        write!(out, "\"{}\"", s.replace('"', "\"\""))
    } else {
        out.write_all(s.as_bytes())
    }
}

impl RecordSink for CsvSink {
    fn write_row(&mut self, row: &Row) -> io::Result<()> {
        for (i, v) in self.columns.values(row).enumerate() {
            if i > 0 {
                self.out.write_all(b",")?;
            }
            match v {
                Value::Int(n) => write_int(&mut self.out, n)?,
                Value::Float(f) => write_float(&mut self.out, f)?,
                Value::Bool(b) => self.out.write_all(if b { b"True" } else { b"False" })?,
                Value::Str(s) => write_field(&mut self.out, s)?,
            }
        }
        self.out.write_all(b"\n")
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.out.flush()
    }
}
