use std::fs;
use std::path::{Path, PathBuf};

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::RowAccessor;

use super::segment::SegmentWriter;
use super::*;
use crate::features::{Tier, Value};
use crate::output::parquet::ROW_GROUP_ROWS;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("capture-spill-tests").join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Real records: the flows of a corpus capture, each stamped with a sequence number in
/// `total_packets` so that every row is distinct.
fn rows(n: usize) -> Vec<Row> {
    struct Collect(Vec<Row>);
    impl RecordSink for Collect {
        fn write_row(&mut self, row: &Row) -> io::Result<()> {
            self.0.push(row.clone());
            Ok(())
        }
        fn finish(self: Box<Self>) -> io::Result<()> {
            Ok(())
        }
    }
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/zeek__tls1.2.pcap");
    let mut sink = Collect(Vec::new());
    crate::extract::extract(
        &[input],
        crate::flow::FlowConfig::default(),
        &mut sink,
        &mut |_, _| {},
    )
    .unwrap();
    let base = sink.0;
    assert!(!base.is_empty());
    let count = packet_count_index();
    (0..n)
        .map(|i| {
            let mut row = base[i % base.len()].clone();
            row.set(count, Value::Int(i as i64));
            row
        })
        .collect()
}

fn packet_count_index() -> usize {
    crate::features::FEATURES
        .iter()
        .position(|f| f.name == "total_packets")
        .unwrap()
}

fn columns() -> Columns {
    Columns::select(Tier::Core, None)
}

fn config(dir: &Path) -> SpillConfig {
    SpillConfig {
        sensor: "test_sensor".into(),
        ..SpillConfig::new(dir.to_path_buf())
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    journal::walk(dir, &mut |p| out.push(p.to_path_buf())).unwrap();
    out.sort();
    out
}

/// The `total_packets` values of every row of a readable segment.
fn stamps(path: &Path) -> Vec<i64> {
    let reader = SerializedFileReader::new(fs::File::open(path).unwrap())
        .unwrap_or_else(|e| panic!("{} does not open: {e}", path.display()));
    let column = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == "total_packets")
        .unwrap();
    let mut out = Vec::new();
    for row in reader.get_row_iter(None).unwrap() {
        let row = row.unwrap();
        out.push(row.get_long(column).unwrap());
    }
    out
}

fn write_all(writer: &mut SegmentWriter, rows: &[Row]) {
    for row in rows {
        writer.write_row(row).unwrap();
    }
}

#[test]
fn segments_rotate_by_size_and_hold_every_record_once() {
    rotate_by_size(0);
}

#[test]
fn encoding_threads_keep_the_records_in_order_across_rotations() {
    rotate_by_size(3);
}

fn rotate_by_size(encode_threads: usize) {
    let dir = scratch(&format!("rotate-{encode_threads}"));
    let counters = Arc::new(SpillCounters::default());
    let cfg = SpillConfig {
        rotate_bytes: 8 << 10,
        encode_threads,
        ..config(&dir)
    };
    let mut writer = Box::new(SegmentWriter::new(cfg, columns(), Arc::clone(&counters)).unwrap());
    let rows = rows(5 * ROW_GROUP_ROWS + 17);
    write_all(&mut writer, &rows);
    writer.finish().unwrap();
    let segments = files(&dir);
    assert!(segments.len() >= 5, "{segments:?}");
    let mut seen = Vec::new();
    for s in &segments {
        let name = s.file_name().unwrap().to_str().unwrap();
        assert!(
            name.ends_with(".parquet") && name.contains("-test_sensor-"),
            "{name}"
        );
        seen.extend(stamps(s));
    }
    assert_eq!(seen, (0..rows.len() as i64).collect::<Vec<_>>());
    let stats = counters.snapshot();
    assert_eq!(stats.written, rows.len() as u64);
    assert_eq!(stats.segments, segments.len() as u64);
}

#[test]
fn segment_names_sort_by_time() {
    let t0 = std::time::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    let a = segment_name(t0, "s", 7);
    let b = segment_name(t0 + Duration::from_micros(1), "s", 0);
    assert!(a < b, "{a} {b}");
    assert_eq!(a, "20260921T141320.000000Z-s-000007.parquet");
    assert_eq!(hive_dir(t0), "date=2026-09-21/hour=14");
    assert_eq!(sanitize_sensor("sensor-1.eu/x"), "sensor_1.eu_x");
}

#[test]
fn a_crash_leaves_every_synced_row_group_recoverable() {
    crash_after_sync(0);
}

#[test]
fn a_crash_with_encoding_threads_leaves_every_synced_row_group_recoverable() {
    crash_after_sync(2);
}

fn crash_after_sync(encode_threads: usize) {
    let dir = scratch(&format!("crash-{encode_threads}"));
    let counters = Arc::new(SpillCounters::default());
    let cfg = SpillConfig {
        sync_every: Duration::ZERO,
        encode_threads,
        ..config(&dir)
    };
    let mut writer = SegmentWriter::new(cfg, columns(), counters).unwrap();
    let rows = rows(3 * ROW_GROUP_ROWS + 100);
    write_all(&mut writer, &rows[..2 * ROW_GROUP_ROWS + 50]);
    writer.tick().unwrap(); // durable: two full row groups and one of 50
    write_all(&mut writer, &rows[2 * ROW_GROUP_ROWS + 50..]); // one more full group, not synced
                                                              // The process dies here: nothing more is written, no destructor runs.
    std::mem::forget(writer);
    let partial = files(&dir)
        .into_iter()
        .find(|p| p.to_str().unwrap().ends_with(".partial"))
        .expect("a partial segment");
    let recovery = recover_dir(&dir).unwrap();
    assert_eq!(recovery.sealed.len(), 1);
    let sealed = &recovery.sealed[0];
    assert_eq!(sealed.partial, partial);
    assert_eq!(sealed.groups, 3);
    assert_eq!(sealed.records, 2 * ROW_GROUP_ROWS as u64 + 50);
    let segment = sealed.segment.clone().unwrap();
    assert_eq!(
        stamps(&segment),
        (0..(2 * ROW_GROUP_ROWS + 50) as i64).collect::<Vec<_>>()
    );
    // Nothing is left to recover, and recovering again changes nothing.
    assert_eq!(files(&dir), vec![segment]);
    assert!(recover_dir(&dir).unwrap().sealed.is_empty());
}

#[test]
fn a_torn_journal_or_a_short_file_keeps_what_is_whole() {
    let dir = scratch("torn");
    let cfg = SpillConfig {
        sync_every: Duration::ZERO,
        ..config(&dir)
    };
    let mut writer =
        SegmentWriter::new(cfg, columns(), Arc::new(SpillCounters::default())).unwrap();
    let rows = rows(3 * ROW_GROUP_ROWS);
    for chunk in rows.chunks(ROW_GROUP_ROWS) {
        write_all(&mut writer, chunk);
        writer.tick().unwrap();
    }
    std::mem::forget(writer);
    let all = files(&dir);
    let partial = all
        .iter()
        .find(|p| p.to_str().unwrap().ends_with(".partial"))
        .unwrap();
    let journal = all
        .iter()
        .find(|p| p.to_str().unwrap().ends_with(".journal"))
        .unwrap();
    // The last journal entry is torn, and the file lost its last bytes as well.
    let j = fs::read(journal).unwrap();
    fs::write(journal, &j[..j.len() - 10]).unwrap();
    let len = fs::metadata(partial).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(partial)
        .unwrap()
        .set_len(len - 1000)
        .unwrap();
    let sealed = seal(partial).unwrap();
    assert_eq!(sealed.groups, 2);
    assert_eq!(
        stamps(sealed.segment.as_ref().unwrap()),
        (0..2 * ROW_GROUP_ROWS as i64).collect::<Vec<_>>()
    );
    assert!(sealed.dropped_bytes > 0);
}

#[test]
fn a_partial_without_a_journal_is_removed_and_reported() {
    let dir = scratch("nojournal");
    let partial = dir.join("x.parquet.partial");
    fs::write(&partial, b"PAR1 and some bytes").unwrap();
    let recovery = recover_dir(&dir).unwrap();
    assert_eq!(recovery.sealed[0].segment, None);
    assert_eq!(recovery.sealed[0].dropped_bytes, 19);
    assert!(files(&dir).is_empty());
}

#[test]
fn retention_deletes_the_oldest_segments_first() {
    let dir = scratch("retention");
    // Someone else's file in the directory is never touched.
    fs::write(dir.join("notes.txt"), b"keep").unwrap();
    let counters = Arc::new(SpillCounters::default());
    let cfg = SpillConfig {
        rotate_bytes: 32 << 10,
        max_disk: Some(300 << 10),
        ..config(&dir)
    };
    let mut writer = Box::new(SegmentWriter::new(cfg, columns(), Arc::clone(&counters)).unwrap());
    let rows = rows(20 * ROW_GROUP_ROWS);
    write_all(&mut writer, &rows);
    writer.finish().unwrap();
    let left = files(&dir);
    let total: u64 = left.iter().map(|p| fs::metadata(p).unwrap().len()).sum();
    assert!(total <= 300 << 10, "{total}");
    let stats = counters.snapshot();
    assert!(stats.deleted_segments > 0);
    assert_eq!(
        left.len() as u64,
        stats.segments - stats.deleted_segments + 1
    );
    assert!(left.contains(&dir.join("notes.txt")));
    // What is left is the newest records, in order, with none missing between them.
    let seen: Vec<i64> = left
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .flat_map(|p| stamps(p))
        .collect();
    let first = seen[0];
    assert_eq!(seen, (first..rows.len() as i64).collect::<Vec<_>>());
}

#[test]
fn hive_layout_puts_segments_under_date_and_hour() {
    let dir = scratch("hive");
    let cfg = SpillConfig {
        hive: true,
        ..config(&dir)
    };
    let mut writer =
        Box::new(SegmentWriter::new(cfg, columns(), Arc::new(SpillCounters::default())).unwrap());
    write_all(&mut writer, &rows(10));
    writer.finish().unwrap();
    let segment = files(&dir).pop().unwrap();
    let rel = segment
        .strip_prefix(&dir)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(rel.starts_with("date=") && rel.contains("/hour="), "{rel}");
}

#[test]
fn a_full_queue_drops_and_counts_instead_of_waiting() {
    let dir = scratch("queue");
    let cfg = SpillConfig {
        queue: 4,
        overload: Overload::Drop,
        write_delay: Duration::from_millis(200),
        rotate_bytes: 1,
        ..config(&dir)
    };
    let mut sink = Box::new(SpillSink::spawn(cfg, columns(), |s| s).unwrap());
    let counters = sink.counters();
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/zeek__tls1.2.pcap");
    // Flows from the engine, handed over faster than a slow disk takes them.
    let mut offered = 0;
    for _ in 0..50 {
        let summary = crate::extract::extract(
            std::slice::from_ref(&input),
            crate::flow::FlowConfig::default(),
            sink.as_mut(),
            &mut |_, _| {},
        )
        .unwrap();
        offered += summary.records;
    }
    sink.finish().unwrap();
    let stats = counters.snapshot();
    assert_eq!(stats.offered, offered);
    assert!(stats.dropped_queue_full > 0, "{stats:?}");
    assert_eq!(
        stats.written + stats.dropped_queue_full,
        offered,
        "{stats:?}"
    );
    // Every record that was written is in a readable segment.
    let rows: usize = files(&dir).iter().map(|p| stamps(p).len()).sum();
    assert_eq!(rows as u64, stats.written);
}

/// A small tmpfs for the test, always unmounted (mounting needs root, as CI has).
struct SmallDisk(PathBuf);

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_pauses_writing_and_it_resumes_when_space_returns() {
    let root = scratch("diskfull");
    let mount = root.join("disk");
    fs::create_dir_all(&mount).unwrap();
    let o = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&mount)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "mount: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let disk = SmallDisk(mount);
    let filler = disk.0.join("filler");
    fs::write(&filler, vec![0u8; (2 << 20) - (256 << 10)]).unwrap();
    let dir = disk.0.join("segments");
    let counters = Arc::new(SpillCounters::default());
    let cfg = SpillConfig {
        sync_every: Duration::ZERO,
        rotate_bytes: 64 << 10,
        ..config(&dir)
    };
    let mut writer = Box::new(SegmentWriter::new(cfg, columns(), Arc::clone(&counters)).unwrap());
    let rows = rows(400_000);
    let mut next = 0;
    let feed = |writer: &mut SegmentWriter, next: &mut usize, n: usize| {
        for row in &rows[*next..*next + n] {
            writer.write_row(row).unwrap();
        }
        writer.tick().unwrap();
        *next += n;
    };
    while counters.snapshot().disk_full_events == 0 {
        assert!(next < 300_000, "the disk never filled");
        feed(&mut writer, &mut next, 1000);
    }
    assert!(counters.snapshot().paused);
    feed(&mut writer, &mut next, 1000);
    let paused = counters.snapshot();
    assert!(paused.dropped_disk_full >= 1000, "{paused:?}");
    // Space returns; within a second the writer sees it, seals the segment the full disk cut
    // short, and writes again.
    fs::remove_file(&filler).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    feed(&mut writer, &mut next, 1000);
    assert!(!counters.snapshot().paused);
    feed(&mut writer, &mut next, 5000);
    writer.finish().unwrap();
    let stats = counters.snapshot();
    assert_eq!(stats.disk_full_events, 1);
    assert_eq!(
        stats.written + stats.dropped_disk_full,
        next as u64,
        "{stats:?}"
    );
    let segments = files(&dir);
    assert!(segments
        .iter()
        .all(|p| p.extension().is_some_and(|e| e == "parquet")));
    let mut seen: Vec<i64> = segments.iter().flat_map(|p| stamps(p)).collect();
    assert_eq!(seen.len() as u64, stats.written);
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len() as u64, stats.written, "a record appears twice");
    // The records after the pause are there.
    assert!(seen.contains(&(next as i64 - 1)));
}

#[test]
fn the_counters_read_as_prometheus_text() {
    let stats = SpillStats {
        written: 5,
        dropped_queue_full: 2,
        paused: true,
        ..SpillStats::default()
    };
    let text = stats.prometheus();
    assert!(text.contains("# TYPE capture_writer_records_written_total counter\ncapture_writer_records_written_total 5\n"));
    assert!(text.contains("capture_writer_records_dropped_queue_full_total 2\n"));
    assert!(text.contains("capture_writer_paused 1\n"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Whatever a crash or a disk leaves in a journal and a partial file, sealing never panics,
    /// and what it keeps opens.
    #[test]
    fn sealing_damaged_files_never_panics(
        journal in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        partial in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        magic: bool,
    ) {
        let dir = std::env::temp_dir().join(format!("capture-seal-fuzz-{}", std::process::id()));
        let _ = fs::create_dir_all(&dir);
        let segment = dir.join("x.parquet");
        let mut j = if magic { b"CAPJRNL1".to_vec() } else { Vec::new() };
        j.extend_from_slice(&journal);
        let mut p = b"PAR1".to_vec();
        p.extend_from_slice(&partial);
        fs::write(journal::journal_path(&segment), &j).unwrap();
        fs::write(journal::partial_path(&segment), &p).unwrap();
        let sealed = seal(&journal::partial_path(&segment)).unwrap();
        if let Some(path) = sealed.segment {
            let _ = stamps(&path);
            fs::remove_file(path).unwrap();
        }
    }
}
