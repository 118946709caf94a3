//! JSON Lines: one object per flow; non-finite floats become `null`.

use std::io::{self, Write};

use super::{write_float, write_int, Columns, RecordSink};
use crate::features::{Row, Value};

pub(super) struct JsonlSink {
    out: Box<dyn Write + Send>,
    columns: Columns,
    keys: Vec<String>,
}

impl JsonlSink {
    pub(super) fn new(out: Box<dyn Write + Send>, columns: Columns) -> Self {
        let keys = columns
            .names()
            .iter()
            .map(|n| serde_json::to_string(n).unwrap_or_default())
            .collect();
        Self { out, columns, keys }
    }
}

impl RecordSink for JsonlSink {
    fn write_row(&mut self, row: &Row) -> io::Result<()> {
        self.out.write_all(b"{")?;
        for (i, (v, key)) in self.columns.values(row).zip(&self.keys).enumerate() {
            if i > 0 {
                self.out.write_all(b",")?;
            }
            self.out.write_all(key.as_bytes())?;
            self.out.write_all(b":")?;
            match v {
                Value::Int(n) => write_int(&mut self.out, n)?,
                Value::Float(f) if f.is_finite() => write_float(&mut self.out, f)?,
                Value::Float(_) => self.out.write_all(b"null")?,
                Value::Bool(b) => self.out.write_all(if b { b"true" } else { b"false" })?,
                Value::Str(s) => serde_json::to_writer(&mut self.out, s)?,
            }
        }
        self.out.write_all(b"}\n")
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.out.flush()
    }
}
