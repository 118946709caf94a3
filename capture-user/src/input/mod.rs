//! Capture file input: classic pcap and pcapng, recognised by content rather than by name.

mod pcap;
mod pcapng;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::decode::LinkType;
use crate::sys::FileBytes;

/// One captured frame, borrowed from the file's bytes.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: i64,
    /// The captured bytes.
    pub data: &'a [u8],
    /// Length on the wire.
    pub wire_len: u32,
    /// How to decode `data`.
    pub link: LinkType,
}

/// What is wrong with a capture file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputErrorKind {
    /// The first bytes are neither pcap nor pcapng magic.
    UnknownFormat,
    /// The file ends inside a header or record.
    Truncated,
    /// A length field is impossible (record larger than the file or than any snap length).
    BadLength(u32),
    /// A pcapng block refers to an interface that was never described.
    UnknownInterface(u32),
    /// A pcapng section header has an unknown byte-order magic.
    BadByteOrder,
}

impl fmt::Display for InputErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownFormat => f.write_str("not a pcap or pcapng file (unknown magic number)"),
            Self::Truncated => f.write_str("file ends in the middle of a record"),
            Self::BadLength(n) => write!(f, "impossible length field {n}"),
            Self::UnknownInterface(i) => write!(f, "packet refers to undeclared interface {i}"),
            Self::BadByteOrder => f.write_str("section header with unknown byte-order magic"),
        }
    }
}

/// A capture-file error: which file, at which byte offset, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// The file.
    pub path: PathBuf,
    /// Byte offset of the header or record that could not be read.
    pub offset: u64,
    /// What went wrong.
    pub kind: InputErrorKind,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: at byte offset {}: {}",
            self.path.display(),
            self.offset,
            self.kind
        )
    }
}

impl std::error::Error for InputError {}

/// An opened capture file.
#[derive(Debug)]
pub struct CaptureFile {
    path: PathBuf,
    bytes: FileBytes,
}

/// The format a capture file was recognised as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Classic libpcap.
    Pcap,
    /// pcapng.
    Pcapng,
}

impl CaptureFile {
    /// Opens and maps `path`.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            bytes: FileBytes::open(file)?,
        })
    }

    /// Wraps bytes already in memory (tests, fuzzing).
    #[must_use]
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Self {
        Self {
            path: path.to_path_buf(),
            bytes: FileBytes::Owned(bytes),
        }
    }

    /// The file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Total size in bytes.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.bytes.as_slice().len() as u64
    }

    /// Whether the file is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.as_slice().is_empty()
    }

    /// Recognises the format from the magic number, whatever the file is called.
    #[must_use]
    pub fn format(&self) -> Option<Format> {
        detect(self.bytes.as_slice())
    }

    /// A reader over the frames.
    pub fn frames(&self) -> Result<FrameReader<'_>, InputError> {
        let data = self.bytes.as_slice();
        let inner = match detect(data) {
            Some(Format::Pcap) => {
                Inner::Pcap(pcap::Reader::new(data).map_err(|(o, k)| self.error(o, k))?)
            }
            Some(Format::Pcapng) => Inner::Pcapng(pcapng::Reader::new(data)),
            None => return Err(self.error(0, InputErrorKind::UnknownFormat)),
        };
        Ok(FrameReader {
            file: self,
            inner,
            failed: false,
            streamed_to: 0,
        })
    }

    fn error(&self, offset: u64, kind: InputErrorKind) -> InputError {
        InputError {
            path: self.path.clone(),
            offset,
            kind,
        }
    }
}

fn detect(data: &[u8]) -> Option<Format> {
    let magic = data.get(..4)?;
    match magic {
        [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xc3, 0xd4]
        | [0x4d, 0x3c, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d] => Some(Format::Pcap),
        [0x0a, 0x0d, 0x0d, 0x0a] => Some(Format::Pcapng),
        _ => None,
    }
}

#[derive(Debug)]
enum Inner<'a> {
    Pcap(pcap::Reader<'a>),
    Pcapng(pcapng::Reader<'a>),
}

/// Iterates the frames of a capture file. After the first error it yields nothing more;
/// everything before the error has been yielded.
#[derive(Debug)]
pub struct FrameReader<'a> {
    file: &'a CaptureFile,
    inner: Inner<'a>,
    failed: bool,
    /// The line the stream of second-level prefetches has reached, as an offset in the file.
    streamed_to: usize,
}

/// Bytes of the next record asked for while the current one is handled: its record header and
/// the packet's headers, tunnels included. The engine reads only the first bytes of each record,
/// a few hundred bytes apart, which the hardware prefetchers follow poorly and never across a
/// page: without this, every record's first byte waits for memory.
const NEXT_RECORD_PREFETCH: usize = 256;

/// How far ahead of the next record every line of the file is asked for into the second-level
/// cache. One record ahead is less than a memory latency when a record is handled quickly
/// (`--profile core`), and the record after it cannot be asked for before the next one's header
/// has arrived (chasing it stalls on that header); a blind stream this far ahead has the next
/// record's lines waiting in the second-level cache. The first-level cache is left to the exact
/// request above, so that payload most runs never read does not crowd the flow state there (see
/// docs/benchmarks.md).
const STREAM_AHEAD: usize = 2048;

impl<'a> FrameReader<'a> {
    /// Byte offset of the next record: how far into the file reading has come.
    #[must_use]
    pub fn position(&self) -> u64 {
        match &self.inner {
            Inner::Pcap(r) => r.position(),
            Inner::Pcapng(r) => r.position(),
        }
    }
}

impl<'a> Iterator for FrameReader<'a> {
    type Item = Result<Frame<'a>, InputError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = match &mut self.inner {
            Inner::Pcap(r) => r.next_frame(),
            Inner::Pcapng(r) => r.next_frame(),
        };
        match next {
            Ok(Some(frame)) => {
                let data = self.file.bytes.as_slice();
                let next = FrameReader::position(self) as usize;
                if let Some(ahead) = data.get(next..(next + NEXT_RECORD_PREFETCH).min(data.len())) {
                    crate::sys::prefetch_range(ahead);
                }
                // Whole lines, counted from the start of the mapping (page-aligned), each once.
                let stream_end = (next + STREAM_AHEAD) & !63;
                let stream_start = self.streamed_to.max((next + NEXT_RECORD_PREFETCH) & !63);
                crate::sys::prefetch_lines_to_l2(data, stream_start..stream_end);
                self.streamed_to = stream_end.max(stream_start);
                Some(Ok(frame))
            }
            Ok(None) => None,
            Err((offset, kind)) => {
                self.failed = true;
                Some(Err(self.file.error(offset, kind)))
            }
        }
    }
}

/// Expands inputs: a directory stands for every capture file in it (sorted by name, recursively);
/// a file stands for itself. Files in a directory that are not captures are skipped and listed.
pub fn expand_inputs(inputs: &[PathBuf]) -> std::io::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut stack = vec![input.clone()];
            let mut found = Vec::new();
            while let Some(dir) = stack.pop() {
                let named = |e: std::io::Error| {
                    std::io::Error::new(e.kind(), format!("{}: {e}", dir.display()))
                };
                for entry in std::fs::read_dir(&dir).map_err(named)? {
                    let path = entry.map_err(named)?.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else {
                        found.push(path);
                    }
                }
            }
            found.sort();
            for path in found {
                if sniff(&path) {
                    files.push(path);
                } else {
                    skipped.push(path);
                }
            }
        } else {
            files.push(input.clone());
        }
    }
    Ok((files, skipped))
}

fn sniff(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && detect(&magic).is_some()
}

#[cfg(test)]
mod tests;
