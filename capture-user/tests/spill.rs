//! The spill writer as a user meets it: segments that open in any Parquet reader, crashes at
//! random moments, a disk that fills, a disk that is slow, and retention.

mod common;

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::RowAccessor;

use common::{capture, stderr};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join(format!("capture-spill-{}", std::process::id()))
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A classic pcap of `flows` UDP conversations (a query and its answer, 100 µs apart), each
/// from its own address and port, so that every record is told apart by `src_ip`/`src_port`.
/// Flows end by idle timeout as the capture's clock moves on, so records leave all along.
fn synthetic_pcap(path: &Path, flows: u32) {
    let mut out = Vec::with_capacity(flows as usize * 2 * 90 + 24);
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    let mut t_us: u64 = 1_700_000_000_000_000;
    for f in 0..flows {
        let client = [10, (f >> 16) as u8, (f >> 8) as u8, f as u8];
        let server = [192, 0, 2, 1];
        let sport = 1024 + (f % 60_000) as u16;
        for (src, dst, sp, dp) in [(client, server, sport, 53u16), (server, client, 53, sport)] {
            let payload = [0x42u8; 32];
            let udp_len = 8 + payload.len() as u16;
            let ip_len = 20 + udp_len;
            let mut frame = Vec::with_capacity(14 + ip_len as usize);
            frame.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
            let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
            ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
            ip.extend_from_slice(&src);
            ip.extend_from_slice(&dst);
            let sum = !ip
                .chunks(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                .fold(0u32, |a, b| {
                    let s = a + b;
                    (s & 0xffff) + (s >> 16)
                }) as u16;
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            frame.extend_from_slice(&ip);
            frame.extend_from_slice(&sp.to_be_bytes());
            frame.extend_from_slice(&dp.to_be_bytes());
            frame.extend_from_slice(&udp_len.to_be_bytes());
            frame.extend_from_slice(&[0, 0]);
            frame.extend_from_slice(&payload);
            out.extend_from_slice(&((t_us / 1_000_000) as u32).to_le_bytes());
            out.extend_from_slice(&((t_us % 1_000_000) as u32).to_le_bytes());
            out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            out.extend_from_slice(&frame);
            t_us += 100;
        }
    }
    fs::File::create(path).unwrap().write_all(&out).unwrap();
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect()
}

/// `src_ip:src_port` of every record of a segment; panics if the file does not open.
fn keys(path: &Path) -> Vec<String> {
    let file = fs::File::open(path).unwrap();
    let reader = SerializedFileReader::new(file)
        .unwrap_or_else(|e| panic!("{} does not open: {e}", path.display()));
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let col = |name: &str| {
        schema
            .columns()
            .iter()
            .position(|c| c.name() == name)
            .unwrap()
    };
    let (ip, port) = (col("src_ip"), col("src_port"));
    reader
        .get_row_iter(None)
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            format!(
                "{}:{}",
                r.get_string(ip).unwrap(),
                r.get_long(port).unwrap()
            )
        })
        .collect()
}

/// Every key in the directory's segments, checking that none appears twice.
fn unique_keys(dir: &Path) -> HashSet<String> {
    let mut seen = HashSet::new();
    for segment in segments(dir) {
        for key in keys(&segment) {
            assert!(
                seen.insert(key.clone()),
                "{key} appears twice in {}",
                dir.display()
            );
        }
    }
    seen
}

/// The directory read as one table by DuckDB and pyarrow, when the test harness provides a
/// Python with them (`cargo xtask test` does): rows and distinct keys.
fn python_readers_agree(dir: &Path, rows: usize) {
    let Some(python) = std::env::var_os("CAPTURE_COMPAT_PYTHON") else {
        return;
    };
    if rows == 0 {
        return;
    }
    let script = format!(
        r#"
import duckdb, pyarrow.dataset as ds
d = {dir:?}
n, distinct = duckdb.sql(f"select count(*), count(distinct src_ip || ':' || src_port) from read_parquet('{{d}}/**/*.parquet')").fetchall()[0]
t = ds.dataset(d, format="parquet", exclude_invalid_files=False).to_table()
assert n == distinct == t.num_rows == {rows}, (n, distinct, t.num_rows, {rows})
"#,
        dir = dir.to_str().unwrap()
    );
    let o = Command::new(python).arg("-c").arg(script).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn extract_into_segments_gives_the_records_of_a_single_file() {
    let dir = scratch("extract");
    let input = dir.join("flows.pcap");
    synthetic_pcap(&input, 3000);
    let segs = dir.join("segments");
    let o = capture(&[
        "extract",
        input.to_str().unwrap(),
        "--output-dir",
        segs.to_str().unwrap(),
        "--rotate-size",
        "32K",
        "--sensor",
        "lab-1",
        "--timeout",
        "0.5",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let names: Vec<String> = segments(&segs)
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    assert!(names.len() > 1, "{names:?}");
    assert!(names.iter().all(|n| n.contains("-lab_1-")), "{names:?}");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, names);
    assert!(!files_under(&segs)
        .iter()
        .any(|p| p.to_str().unwrap().ends_with(".partial")));
    let keys = unique_keys(&segs);
    assert_eq!(keys.len(), 3000);
    python_readers_agree(&segs, 3000);

    // The same records as one Parquet file.
    let single = dir.join("one.parquet");
    let o = capture(&[
        "extract",
        input.to_str().unwrap(),
        "-o",
        single.to_str().unwrap(),
        "--timeout",
        "0.5",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        self::keys(&single).into_iter().collect::<HashSet<_>>(),
        keys
    );
    // Encoding threads beside the writer thread: the same records in the same order, at the
    // default zstd level, at the fastest the writer takes and at its slowest; the fast level
    // makes larger segments than the slow one.
    let mut sizes = Vec::new();
    for level in ["1", "-7", "19"] {
        let pooled = dir.join(format!("pooled-zstd{level}"));
        let o = capture(&[
            "extract",
            input.to_str().unwrap(),
            "--output-dir",
            pooled.to_str().unwrap(),
            "--encode-threads",
            "2",
            "--zstd-level",
            level,
            "--timeout",
            "0.5",
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let pooled_keys: Vec<String> = segments(&pooled)
            .iter()
            .flat_map(|p| self::keys(p))
            .collect();
        assert_eq!(pooled_keys, self::keys(&single), "--zstd-level {level}");
        python_readers_agree(&pooled, 3000);
        sizes.push(
            segments(&pooled)
                .iter()
                .map(|p| fs::metadata(p).unwrap().len())
                .sum::<u64>(),
        );
    }
    assert!(sizes[1] > sizes[2], "{sizes:?}");
    let o = capture(&[
        "extract",
        input.to_str().unwrap(),
        "--output-dir",
        dir.join("bad-level").to_str().unwrap(),
        "--zstd-level",
        "20",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--zstd-level"), "{}", stderr(&o));
    // Hive layout.
    let hive = dir.join("hive");
    let o = capture(&[
        "extract",
        input.to_str().unwrap(),
        "--output-dir",
        hive.to_str().unwrap(),
        "--hive",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let seg = segments(&hive).pop().unwrap();
    let rel = seg
        .strip_prefix(&hive)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(rel.starts_with("date=") && rel.contains("/hour="), "{rel}");
    python_readers_agree(&hive, 3000);
}

#[test]
fn sigkill_at_random_moments_loses_nothing_synced_and_duplicates_nothing() {
    let dir = scratch("crash");
    let input = dir.join("flows.pcap");
    let flows = 20_000;
    synthetic_pcap(&input, flows);
    // How long an uninterrupted run takes, to spread the kills over it.
    let run = |out: &Path| {
        Command::new(env!("CARGO_BIN_EXE_capture"))
            .args([
                "extract",
                input.to_str().unwrap(),
                "--output-dir",
                out.to_str().unwrap(),
            ])
            .args([
                "--fsync-secs",
                "0.02",
                "--rotate-size",
                "96K",
                "--timeout",
                "0.2",
                "--quiet",
            ])
            .args(["--test-write-delay-ms", "3"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let whole = dir.join("whole");
    assert!(run(&whole).wait().unwrap().success());
    assert_eq!(unique_keys(&whole).len(), flows as usize);

    let mut recovered_records = 0u64;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut random = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    for round in 0..10 {
        let out = dir.join(format!("round-{round}"));
        let mut child = run(&out);
        if round % 3 == 0 {
            // Any moment, starting up included.
            std::thread::sleep(Duration::from_millis(random(300)));
        } else {
            // A moment after some row group of an open segment was synced and journaled,
            // whatever the speed of the machine (unless the run ends first): soon after, since
            // these small segments close within milliseconds.
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline
                && child.try_wait().ok().flatten().is_none()
                && !(out.exists()
                    && files_under(&out).iter().any(|p| {
                        p.to_str().unwrap().ends_with(".journal")
                            && fs::metadata(p).is_ok_and(|m| m.len() > 8)
                    }))
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(random(8)));
        }
        // The run may have ended on its own already.
        let _ = child.kill();
        let _ = child.wait();
        if !out.exists() {
            continue;
        }
        // Every closed segment opens as it is.
        let before = unique_keys(&out);
        let o = capture(&["recover", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let report = String::from_utf8_lossy(&o.stdout).into_owned();
        recovered_records += report
            .lines()
            .filter_map(|l| {
                l.split(": kept ")
                    .nth(1)?
                    .split(' ')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum::<u64>();
        // Nothing partial is left, everything opens, nothing appears twice, and the records
        // closed before the crash are all still there.
        let files = files_under(&out);
        assert!(
            files
                .iter()
                .all(|p| p.extension().is_some_and(|e| e == "parquet")),
            "round {round}: {files:?}"
        );
        let after = unique_keys(&out);
        assert!(after.is_superset(&before), "round {round}");
        assert!(after.len() <= flows as usize);
        python_readers_agree(&out, after.len());
    }
    assert!(
        recovered_records > 0,
        "no kill landed while a segment was open"
    );
}

/// A small tmpfs, mounted for the test and always unmounted.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(path: PathBuf, size: &str) -> Self {
        fs::create_dir_all(&path).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(o.status.success(), "mount (needs root): {}", stderr(&o));
        Self(path)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_drops_and_counts_says_so_once_and_leaves_nothing_corrupt() {
    let dir = scratch("diskfull");
    let input = dir.join("flows.pcap");
    let flows = 40_000;
    synthetic_pcap(&input, flows);
    let disk = SmallDisk::mount(dir.join("disk"), "3m");
    let out = disk.0.join("segments");
    // Leave about 384 KiB free: the records need about twice that.
    let filler = disk.0.join("filler");
    fs::write(&filler, vec![0u8; (3 << 20) - (384 << 10)]).unwrap();
    let o = capture(&[
        "run",
        "--input",
        input.to_str().unwrap(),
        "--output-dir",
        out.to_str().unwrap(),
        "--fsync-secs",
        "0.05",
        "--rotate-size",
        "128K",
        "--timeout",
        "0.2",
        "--quiet",
    ]);
    let log = stderr(&o);
    // The disk is still full at the end: the run says so, and how to make the rest readable.
    assert!(!o.status.success(), "{log}");
    assert_eq!(
        log.matches("is full: records are dropped").count(),
        1,
        "{log}"
    );
    assert!(
        log.contains("the disk is still full; `capture recover"),
        "{log}"
    );
    // Every closed segment is whole; the counters add up.
    let closed = unique_keys(&out).len() as u64;
    let summary = writer_summary(&log);
    let number_before = |what: &str| count_before(summary, what);
    let written = number_before(" records written");
    let dropped = number_before(" disk full");
    assert!(dropped > 0, "{summary}");
    assert_eq!(written + dropped, u64::from(flows), "{summary}");
    // Space comes back; recovery seals the segment the disk cut short, with every record that
    // was synced before.
    fs::remove_file(&filler).unwrap();
    let o = capture(&["recover", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!files_under(&out)
        .iter()
        .any(|p| p.extension().is_none_or(|e| e != "parquet")));
    let after = unique_keys(&out).len() as u64;
    assert!(after >= closed);
    assert_eq!(after, written, "{summary}");
}

/// The spill writer's summary line in a run's standard error.
fn writer_summary(log: &str) -> &str {
    log.lines()
        .find(|l| l.contains("records written;"))
        .unwrap_or_else(|| panic!("no writer summary in:\n{log}"))
}

/// The number just before `what` in `summary` ("…, 12 records written; …").
fn count_before(summary: &str, what: &str) -> u64 {
    let i = summary
        .find(what)
        .unwrap_or_else(|| panic!("no '{what}' in {summary}"));
    summary[..i]
        .trim_end()
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number before '{what}' in {summary}"))
}

/// `capture run --input` of `input` into `out` with a writer queue of 256 records and every
/// disk write delayed 50 ms; returns standard error.
fn run_on_a_slow_disk(input: &Path, out: &Path, overload: &str) -> String {
    let o = capture(&[
        "run",
        "--input",
        input.to_str().unwrap(),
        "--output-dir",
        out.to_str().unwrap(),
        "--on-overload",
        overload,
        "--writer-queue",
        "256",
        "--rotate-size",
        "64K",
        "--timeout",
        "0.2",
        "--test-write-delay-ms",
        "50",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    stderr(&o)
}

#[test]
fn a_slow_disk_drops_and_counts_records_and_never_holds_up_the_workers() {
    let dir = scratch("slow");
    let input = dir.join("flows.pcap");
    let flows = 20_000;
    synthetic_pcap(&input, flows);
    let out = dir.join("segments");
    let log = run_on_a_slow_disk(&input, &out, "drop");
    let summary = writer_summary(&log);
    let written = unique_keys(&out).len() as u64;
    let dropped = count_before(summary, " queue full");
    assert_eq!(
        count_before(summary, " records written"),
        written,
        "{summary}"
    );
    assert!(dropped > 0, "{summary}");
    assert_eq!(written + dropped, u64::from(flows), "{summary}");
    // The workers' own queue to the output never filled: they were never held up.
    assert!(!log.contains("records lost, output queue full"), "{log}");

    // Sampling instead: whole flows are kept or left out, and every one is accounted for.
    let out = dir.join("sampled");
    let log = run_on_a_slow_disk(&input, &out, "sample");
    let summary = writer_summary(&log);
    let written = unique_keys(&out).len() as u64;
    let sampled = count_before(summary, " sampled out");
    assert!(sampled > 0, "{summary}");
    assert_eq!(
        written + sampled + count_before(summary, " queue full"),
        u64::from(flows),
        "{summary}"
    );
}

#[test]
fn max_disk_keeps_the_directory_within_budget() {
    let dir = scratch("budget");
    let input = dir.join("flows.pcap");
    synthetic_pcap(&input, 20_000);
    let out = dir.join("segments");
    let o = capture(&[
        "extract",
        input.to_str().unwrap(),
        "--output-dir",
        out.to_str().unwrap(),
        "--rotate-size",
        "64K",
        "--max-disk",
        "400K",
        "--timeout",
        "0.2",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let total: u64 = files_under(&out)
        .iter()
        .map(|p| fs::metadata(p).unwrap().len())
        .sum();
    assert!(total <= 400 << 10, "{total}");
    let log = stderr(&o);
    assert!(!log.contains(" 0 segments deleted"), "{log}");
    // What is kept are the newest records: the last flow is there.
    let keys = unique_keys(&out);
    assert!(keys.contains("10.0.78.31:21023"), "{}", keys.len());
}

#[test]
fn recover_reports_bad_directories_clearly() {
    let o = capture(&["recover", "/no/such/dir"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("'/no/such/dir' is not a directory"),
        "{}",
        stderr(&o)
    );
}
