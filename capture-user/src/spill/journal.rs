//! The row-group journal beside a segment being written, and sealing a segment from it.
//!
//! A Parquet file is only readable once its footer is written, at the end. So that a crash
//! loses at most the records not yet synced, every row group, once its bytes are durable in the
//! `.partial` file, gets an entry in `<segment>.journal`: its metadata, encoded as a one-row-group
//! Parquet footer, framed with its length and CRC-32. Sealing a `.partial` (after a crash, or
//! after the disk filled) keeps the row groups whose entries are whole and whose bytes lie within
//! the file, cuts the file after the last of them, appends a footer listing them all, and renames
//! it to its final name.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::file::metadata::{
    FileMetaData, ParquetMetaData, ParquetMetaDataReader, ParquetMetaDataWriter, RowGroupMetaData,
};
use parquet::schema::types::SchemaDescPtr;

use crate::output::parquet::to_io;

/// Suffix of a segment still being written.
pub const PARTIAL_SUFFIX: &str = ".partial";
/// Suffix of a segment's journal.
pub const JOURNAL_SUFFIX: &str = ".journal";

const MAGIC: &[u8; 8] = b"CAPJRNL1";
const PARQUET_MAGIC: &[u8; 4] = b"PAR1";
/// An entry larger than this is damage, not metadata.
const MAX_ENTRY: usize = 64 << 20;

/// The journal of the segment whose final name is `segment`.
#[must_use]
pub fn journal_path(segment: &Path) -> PathBuf {
    let mut name = segment.as_os_str().to_owned();
    name.push(JOURNAL_SUFFIX);
    PathBuf::from(name)
}

/// The name a segment has while it is written.
#[must_use]
pub fn partial_path(segment: &Path) -> PathBuf {
    let mut name = segment.as_os_str().to_owned();
    name.push(PARTIAL_SUFFIX);
    PathBuf::from(name)
}

/// The final name of a `.partial` file.
fn final_path(partial: &Path) -> Option<PathBuf> {
    let name = partial.file_name()?.to_str()?;
    let stem = name.strip_suffix(PARTIAL_SUFFIX)?;
    Some(partial.with_file_name(stem))
}

fn created_by() -> Option<String> {
    Some(format!("capture {}", env!("CARGO_PKG_VERSION")))
}

/// Appends row-group entries to a journal.
#[derive(Debug)]
pub struct JournalWriter {
    file: File,
}

impl JournalWriter {
    /// Creates the journal of `segment`.
    pub fn create(segment: &Path) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(journal_path(segment))?;
        file.write_all(MAGIC)?;
        Ok(Self { file })
    }

    /// Appends one entry per row group (not yet synced: see [`JournalWriter::sync`]).
    pub fn append(
        &mut self,
        schema: &SchemaDescPtr,
        groups: &[RowGroupMetaData],
    ) -> io::Result<()> {
        let mut out = Vec::new();
        for group in groups {
            let metadata = ParquetMetaData::new(
                FileMetaData::new(
                    1,
                    group.num_rows(),
                    created_by(),
                    None,
                    Arc::clone(schema),
                    None,
                ),
                vec![group.clone()],
            );
            let mut footer = Vec::new();
            ParquetMetaDataWriter::new(&mut footer, &metadata)
                .finish()
                .map_err(to_io)?;
            // The footer ends with its length and the magic; the entry keeps the metadata only.
            let payload = &footer[..footer.len() - 8];
            let len = u32::try_from(payload.len())
                .map_err(|_| io::Error::other("row group metadata too large"))?;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
            out.extend_from_slice(payload);
        }
        self.file.write_all(&out)
    }

    /// Makes the entries durable.
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// The row groups a journal lists, in order, up to the first damaged entry.
fn read_journal(path: &Path) -> io::Result<(Option<SchemaDescPtr>, Vec<RowGroupMetaData>)> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut groups = Vec::new();
    let mut schema = None;
    let Some(mut rest) = bytes.strip_prefix(MAGIC.as_slice()) else {
        return Ok((None, groups));
    };
    while rest.len() >= 8 {
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len > MAX_ENTRY || rest.len() < 8 + len {
            break;
        }
        let payload = &rest[8..8 + len];
        if crc32fast::hash(payload) != crc {
            break;
        }
        let Ok(metadata) = ParquetMetaDataReader::decode_metadata(payload) else {
            break;
        };
        schema.get_or_insert_with(|| metadata.file_metadata().schema_descr_ptr());
        groups.extend(metadata.row_groups().iter().cloned());
        rest = &rest[8 + len..];
    }
    Ok((schema, groups))
}

/// Where a row group's bytes end in the file.
fn group_end(group: &RowGroupMetaData) -> u64 {
    group
        .columns()
        .iter()
        .map(|c| {
            let (start, len) = c.byte_range();
            start + len
        })
        .max()
        .unwrap_or(0)
}

/// What sealing a `.partial` file did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sealed {
    /// The `.partial` file.
    pub partial: PathBuf,
    /// The readable segment it became (none when not one row group was complete: the file is
    /// then removed).
    pub segment: Option<PathBuf>,
    /// Row groups and records kept.
    pub groups: usize,
    /// Records kept.
    pub records: u64,
    /// Bytes after the last complete row group, dropped.
    pub dropped_bytes: u64,
}

/// Makes a readable segment of `partial` from its journal (see the module documentation).
pub fn seal(partial: &Path) -> io::Result<Sealed> {
    let segment = final_path(partial).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not end in {PARTIAL_SUFFIX}", partial.display()),
        )
    })?;
    let journal = journal_path(&segment);
    let file_len = fs::metadata(partial)?.len();
    let (schema, mut groups) = if journal.exists() {
        read_journal(&journal)?
    } else {
        (None, Vec::new())
    };
    let mut head = [0u8; 4];
    let starts_right = File::open(partial)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == PARQUET_MAGIC;
    // Keep the leading row groups whose bytes are all in the file.
    let whole = groups
        .iter()
        .take_while(|g| group_end(g) <= file_len)
        .count();
    groups.truncate(if starts_right { whole } else { 0 });
    let mut sealed = Sealed {
        partial: partial.to_path_buf(),
        segment: None,
        groups: groups.len(),
        records: groups.iter().map(|g| g.num_rows().max(0) as u64).sum(),
        dropped_bytes: 0,
    };
    let (Some(schema), Some(last)) = (schema, groups.last()) else {
        sealed.dropped_bytes = file_len;
        fs::remove_file(partial)?;
        remove_if_present(&journal)?;
        return Ok(sealed);
    };
    let keep = group_end(last);
    sealed.dropped_bytes = file_len - keep;
    let groups: Vec<RowGroupMetaData> = groups
        .into_iter()
        .enumerate()
        .map(|(i, g)| {
            g.into_builder()
                .set_ordinal(i32::try_from(i).unwrap_or(i32::MAX))
                .build()
        })
        .collect::<Result<_, _>>()
        .map_err(to_io)?;
    let rows = groups.iter().map(RowGroupMetaData::num_rows).sum();
    let metadata = ParquetMetaData::new(
        FileMetaData::new(1, rows, created_by(), None, schema, None),
        groups,
    );
    let mut file = OpenOptions::new().write(true).open(partial)?;
    file.set_len(keep)?;
    let mut footer = Vec::new();
    ParquetMetaDataWriter::new(&mut footer, &metadata)
        .finish()
        .map_err(to_io)?;
    io::Seek::seek(&mut file, io::SeekFrom::Start(keep))?;
    file.write_all(&footer)?;
    file.sync_all()?;
    drop(file);
    fs::rename(partial, &segment)?;
    sync_dir(&segment)?;
    remove_if_present(&journal)?;
    sealed.segment = Some(segment);
    Ok(sealed)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Makes a rename or removal in the directory of `path` durable.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}

/// What `capture recover` did to a directory.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Each `.partial` file sealed.
    pub sealed: Vec<Sealed>,
    /// Journals left beside segments that were already complete (a crash after the rename),
    /// removed.
    pub stale_journals: Vec<PathBuf>,
}

/// Seals every `.partial` file under `dir` (subdirectories included, for the hive layout) and
/// removes the journals of segments that were complete.
pub fn recover_dir(dir: &Path) -> io::Result<Recovery> {
    let mut recovery = Recovery::default();
    let mut partials = Vec::new();
    let mut journals = Vec::new();
    walk(dir, &mut |path| {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(PARTIAL_SUFFIX) {
            partials.push(path.to_path_buf());
        } else if name.ends_with(JOURNAL_SUFFIX) {
            journals.push(path.to_path_buf());
        }
    })?;
    partials.sort();
    for partial in partials {
        recovery.sealed.push(seal(&partial)?);
    }
    for journal in journals {
        let Some(segment) = journal
            .to_str()
            .and_then(|s| s.strip_suffix(JOURNAL_SUFFIX))
            .map(PathBuf::from)
        else {
            continue;
        };
        if journal.exists() && segment.exists() {
            fs::remove_file(&journal)?;
            recovery.stale_journals.push(journal);
        } else if journal.exists() && !partial_path(&segment).exists() {
            // Neither the segment nor its partial: nothing to describe.
            fs::remove_file(&journal)?;
            recovery.stale_journals.push(journal);
        }
    }
    Ok(recovery)
}

/// Calls `each` for every file under `dir`.
pub fn walk(dir: &Path, each: &mut dyn FnMut(&Path)) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), each)?;
        } else if kind.is_file() {
            each(&entry.path());
        }
    }
    Ok(())
}
