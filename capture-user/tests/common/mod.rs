//! Helpers shared by the integration tests.
#![allow(dead_code, reason = "each test binary uses a different part")]

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use capture::extract::{extract, ExtractSummary};
use capture::features::{ConnectionWindow, Row, Value, DEFAULT_CONNECTION_WINDOW_SECS, FEATURES};

/// A record's value, kept after the record is gone.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
}

impl From<Value<'_>> for Cell {
    fn from(v: Value<'_>) -> Self {
        match v {
            Value::Int(n) => Self::Int(n),
            Value::Float(f) => Self::Float(f),
            Value::Bool(b) => Self::Bool(b),
            Value::Str(s) => Self::Str(s.to_string()),
        }
    }
}
use capture::flow::FlowConfig;
use capture::output::RecordSink;

/// Runs the `capture` binary with `args` and waits for it.
pub fn capture(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_capture"))
        .args(args)
        .output()
        .expect("run capture")
}

/// A process's standard error as text.
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The shared corpus: `$CAPTURE_CORPUS`, else `shared/corpus` beside the repository.
pub fn corpus_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CAPTURE_CORPUS") {
        return PathBuf::from(dir);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    assert!(
        dir.join("pcap").is_dir(),
        "corpus not found at {} (set CAPTURE_CORPUS to the folder holding pcap/ and reference/)",
        dir.display()
    );
    dir
}

/// Every capture of the corpus, sorted.
pub fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir().join("pcap"))
        .expect("corpus pcap folder")
        .map(|e| e.expect("dir entry").path())
        .collect();
    files.sort();
    files
}

/// A sink keeping rows in memory.
#[derive(Debug, Default)]
pub struct Rows(pub Vec<Row>);

impl RecordSink for &mut Rows {
    fn write_row(&mut self, row: &Row) -> io::Result<()> {
        self.0.push(row.clone());
        Ok(())
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        Ok(())
    }
}

/// Extracts one file with the default (JoyfulJay-compatible) settings.
pub fn extract_file(path: &Path) -> (Vec<HashMap<&'static str, Cell>>, ExtractSummary) {
    let mut rows = Rows::default();
    let summary = {
        let mut sink = ConnectionWindow::new(&mut rows, DEFAULT_CONNECTION_WINDOW_SECS);
        let summary = extract(
            &[path.to_path_buf()],
            FlowConfig::default(),
            &mut sink,
            &mut |_, _| {},
        )
        .expect("extract");
        Box::new(sink).finish().expect("records written");
        summary
    };
    let named = rows
        .0
        .into_iter()
        .map(|r| {
            FEATURES
                .iter()
                .map(|f| f.name)
                .zip(r.values().map(Cell::from))
                .collect()
        })
        .collect();
    (named, summary)
}

/// Text form of a value, as in CSV.
pub fn text(v: &Cell) -> String {
    match v {
        Cell::Int(n) => n.to_string(),
        Cell::Float(f) => f.to_string(),
        Cell::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        Cell::Str(s) => s.clone(),
    }
}

/// Numeric form of a value.
pub fn number(v: &Cell) -> Option<f64> {
    match v {
        Cell::Int(n) => Some(*n as f64),
        Cell::Float(f) => Some(*f),
        Cell::Bool(b) => Some(f64::from(u8::from(*b))),
        Cell::Str(_) => None,
    }
}
