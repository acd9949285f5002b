//! Shared test helpers: fixture paths, running `check` in process, and
//! locating structures in a fixture db to damage them.
#![allow(dead_code)]

use etcd_rescue::bolt::cursor::find_bucket;
use etcd_rescue::bolt::file::BucketRoot;
use etcd_rescue::bolt::{BoltFile, PageKind};
use etcd_rescue::findings::{Finding, Severity};
use etcd_rescue::mmap::InputFile;
use etcd_rescue::ops::check::check_db;
use etcd_rescue::ops::open::OpenDb;
use std::path::PathBuf;

pub mod bolt_edit;
pub mod etcd;
pub mod oracle;
pub mod refcheck;

pub fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// The fixture data dir (overridable for development).
pub fn data_dir() -> PathBuf {
    std::env::var_os("ETCD_RESCUE_FIXTURE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| testdata().join("etcd34"))
}

pub fn db_path() -> PathBuf {
    data_dir().join("member/snap/db")
}

pub fn db_bytes() -> Vec<u8> {
    std::fs::read(db_path()).expect("fixture db: run testdata/generate.sh")
}

/// Findings of `check` on bytes.
pub fn check_bytes(bytes: Vec<u8>) -> Vec<Finding> {
    let db = OpenDb {
        path: PathBuf::from("test.db"),
        file: InputFile::from_bytes("test.db", bytes),
        is_snapshot: false,
    };
    check_db(&db)
        .expect("opens")
        .findings
        .into_sorted("test.db")
}

pub fn error_codes(bytes: Vec<u8>) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = check_bytes(bytes)
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.code)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Pages of the fixture's `key` bucket: its root, and the children of the
/// root when it is a branch.
pub struct KeyTree {
    pub page_size: usize,
    pub root: u64,
    pub root_is_branch: bool,
    pub children: Vec<u64>,
    pub hwm: u64,
}

pub fn key_tree(bytes: &[u8]) -> KeyTree {
    let f = BoltFile::new(bytes).unwrap();
    let meta = f.meta().unwrap();
    let Some(BucketRoot::Page(root)) = find_bucket(&f, meta, b"key") else {
        panic!("fixture key bucket is not a page tree");
    };
    let node = f.node(root, meta.pgid).unwrap();
    let root_is_branch = node.header.kind() == PageKind::Branch;
    let children = if root_is_branch {
        (0..node.count())
            .map(|i| node.branch(i).unwrap().child)
            .collect()
    } else {
        Vec::new()
    };
    KeyTree {
        page_size: f.page_size(),
        root,
        root_is_branch,
        children,
        hwm: meta.pgid,
    }
}

pub fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

pub fn put_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

pub fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// A copy of the fixture data dir in a temp dir (damage it freely).
pub fn copy_fixture() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("etcd");
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(data_dir())
        .arg(&d)
        .status()
        .unwrap();
    assert!(ok.success());
    (tmp, d)
}

/// The (first) WAL segment of a data dir.
pub fn wal_segment(dir: &std::path::Path) -> PathBuf {
    std::fs::read_dir(dir.join("member/wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "wal"))
        .unwrap()
}

/// (offset, framed length) of every record of a WAL segment's bytes.
pub fn record_spans(b: &[u8]) -> Vec<(u64, u64)> {
    etcd_rescue::wal::WalRecords::new(b)
        .map(|r| r.unwrap())
        .map(|r| (r.offset, r.framed_len))
        .collect()
}

/// Whether every 512-byte sector piece of the record at `off` holds data:
/// etcd's torn-write test can then not call damage to it a torn write.
pub fn no_zero_sector_piece(b: &[u8], off: u64, len: u64) -> bool {
    let (start, end) = (off as usize + 8, (off + len) as usize);
    let mut p = start;
    while p < end {
        let e = ((p / 512 + 1) * 512).min(end);
        if b[p..e].iter().all(|x| *x == 0) {
            return false;
        }
        p = e;
    }
    true
}

/// A free loopback port.
pub fn port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Flip one byte in the data of a mid-log record none of whose sector
/// pieces is all zero (so etcd's torn test cannot call it torn); returns
/// the record's offset.
pub fn corrupt_mid_log_record(seg: &std::path::Path) -> u64 {
    let mut b = std::fs::read(seg).unwrap();
    let recs = record_spans(&b);
    let &(off, len) = recs[recs.len() / 2..]
        .iter()
        .find(|(o, l)| *l > 64 && no_zero_sector_piece(&b, *o, *l))
        .expect("a record without zero sector pieces");
    b[(off + len / 2) as usize] ^= 0x01;
    std::fs::write(seg, &b).unwrap();
    off
}

/// Run the built binary: (exit code, stdout).
pub fn run_code(args: &[&str]) -> (i32, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// Whether `tool --version` runs; missing under CI=true fails (with the
/// package to install), otherwise the caller skips (said here).
pub fn have_tool(tool: &str, package: &str) -> bool {
    let ok = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is missing under CI=true (apt-get install {package})"
        );
        eprintln!("SKIPPED: {tool} not found (apt-get install {package})");
    }
    ok
}
