//! `repair`: a fresh snapshot file (db + SHA-256 trailer, the form
//! `etcdctl snapshot save` writes and `snapshot restore` verifies) holding
//! everything that survives, with an account of what did not.
//!
//! A db whose tree reads cleanly is streamed straight into the bbolt
//! writer (a compacted copy, like a defrag: same keyspace, history and
//! hashkv), in memory bounded by the tree's fan-out. Otherwise the records
//! are gathered first: what the tree still yields (through the current
//! meta, else the other one, else the newest copy of the root leaf the
//! page scan finds), with `--salvage` every validated record the page scan
//! finds elsewhere in the file, and with `--replay-wal` the committed log
//! entries past the db's consistent index applied as etcd applies them.
//! The report says where each bucket's records came from and, per key,
//! whether its latest revision survived and which revisions did not.
#![forbid(unsafe_code)]

pub mod auth_replay;
pub mod losses;
pub mod members_replay;
pub mod replay;
pub mod salvage;
pub mod state;

use crate::bolt::cursor::{top_level_buckets, BucketCursor};
use crate::bolt::file::BucketRoot;
use crate::bolt::writer::{DbWriter, Layout, WriteOptions};
use crate::bolt::BoltFile;
use crate::etcd::records::{meta_record, MetaRecord};
use crate::input::Input;
use losses::{Losses, Source};
use replay::{LogEntry, ReplayReport};
use salvage::ScanStats;
use serde::Serialize;
use sha2::Digest;
use state::Buckets;
use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

/// What to try beyond the tree.
#[derive(Debug, Clone, Copy, Default)]
pub struct RepairOptions {
    pub salvage: bool,
    pub replay_wal: bool,
}

/// Records of one bucket, by where they came from.
#[derive(Debug, Default, Clone, Serialize)]
pub struct BucketAccount {
    pub from_tree: u64,
    pub from_scan: u64,
    /// Records the log replay added or removed.
    pub changed_by_wal: i64,
    pub written: u64,
}

/// The committed log entries past the db (applied or not).
#[derive(Debug, Default, Clone, Serialize)]
pub struct LogTail {
    pub consistent_index: u64,
    pub commit_index: u64,
    pub last_index: u64,
    /// Entries past the consistent index etcd would apply on start.
    pub entries_past_db: u64,
    /// Of those, the ones that change what etcd stores (the rest are
    /// authentication, reads and queries).
    pub entries_with_effect: u64,
    /// Entries past the commit index applied because the cluster has one
    /// voting member (its restart commits its whole log).
    pub applied_past_commit: u64,
    /// Entries past this member's commit index that were not applied (a
    /// cluster of several voters): the leader may have committed them, and
    /// clients may have been told so, before this member heard; or they
    /// may never have been committed. etcd applies them only once a quorum
    /// says so.
    pub beyond_commit: u64,
    /// Why the log cannot be applied, when it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unusable: Option<String>,
    /// Without --replay-wal: the keys those entries write (from a replay
    /// onto a scratch copy), whose latest value the output lacks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys_not_applied: Vec<String>,
}

/// A revision whose copies on disk disagree (pages carry no checksum, so a
/// flipped byte shows only as a difference between copies).
#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    pub revision: String,
    /// The key of the copy kept.
    pub key: String,
    /// Distinct versions found: the tree's first, then the scan's.
    pub copies: usize,
    /// Which copy was kept and why.
    pub kept: String,
}

/// What a repair recovered and lost.
#[derive(Debug, Default, Serialize)]
pub struct RepairReport {
    /// Everything that exists on disk made it into the output.
    pub complete: bool,
    /// The first line of the text report.
    pub summary: String,
    pub input: String,
    pub output: String,
    /// `streamed copy` (the tree read cleanly) or `rebuilt`.
    pub method: &'static str,
    /// Which meta page the tree was read through, or the scan's root leaf.
    pub tree_from: String,
    pub buckets: BTreeMap<String, BucketAccount>,
    /// Parts of the tree that could not be read.
    pub damage: Vec<String>,
    /// The `key` revisions those parts held (merged ranges).
    #[serde(skip)]
    pub unreadable: Vec<losses::RevRange>,
    /// Unreadable parts of buckets other than `key` (no revision order to
    /// check what came back against).
    #[serde(skip)]
    pub small_bucket_damage: bool,
    /// The whole state came from the log (it holds every entry from index
    /// 1 and agrees with every record the db still has).
    pub rebuilt_from_log: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<LogTail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub losses: Option<Losses>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
    pub notes: Vec<String>,
    pub consistent_index: Option<u64>,
    pub bytes_written: u64,
}

/// Why no file could be written.
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    #[error("{0}")]
    Nothing(String),
    #[error("{0}")]
    Write(#[from] crate::ops::write::WriteError),
}

/// Repair `input` into a new snapshot file at `dest`.
pub fn repair(
    input: &Input,
    dest: &Path,
    force: bool,
    opts: RepairOptions,
) -> Result<RepairReport, RepairError> {
    let db = match &input.db {
        Some(_) => Some(
            crate::ops::open::OpenDb::open(input)
                .map_err(|e| RepairError::Nothing(e.to_string()))?,
        ),
        None => None,
    };
    let bytes = db.as_ref().map(|d| d.db_bytes_unverified());
    let file = match bytes {
        Some(b) => Some(
            BoltFile::new(b)
                .map_err(|e| RepairError::Nothing(format!("{}: {e}", input.path.display())))?,
        ),
        None => None,
    };
    if file.is_none() && !(opts.replay_wal && input.member_dir.is_some()) {
        return Err(RepairError::Nothing(format!(
            "{}: no db to repair (with a WAL that starts at index 1, --replay-wal rebuilds from the log alone)",
            input.path.display()
        )));
    }
    let log = input.member_dir.as_deref().map(read_entries);
    let page_size = file
        .as_ref()
        .map(|f| f.page_size())
        .filter(|ps| ps.is_power_of_two() && (1024..=65536).contains(ps))
        .unwrap_or(4096);
    let mut report = RepairReport {
        input: input.path.display().to_string(),
        output: dest.display().to_string(),
        ..RepairReport::default()
    };
    let written = crate::ops::write::write_new_file_with(dest, force, |out| {
        let opts_w = WriteOptions {
            page_size,
            persist_freelist: false,
            txid: file
                .as_ref()
                .and_then(|f| f.best_meta())
                .map_or(2, |m| m.txid.max(2)),
        };
        // A clean tree with no log entries past it is streamed; anything
        // else is rebuilt with a full account.
        let ci = file.as_ref().and_then(consistent_index).unwrap_or(0);
        let log_past = log
            .as_ref()
            .and_then(|l| l.as_ref().ok())
            .is_some_and(|l| l.entries.iter().any(|e| e.index > ci && !inert(e)));
        let streamable = !opts.salvage && !opts.replay_wal && !log_past;
        let mut streamed = false;
        if let (true, Some(f)) = (streamable, file.as_ref()) {
            if let Some(meta) = f.meta() {
                // First the layout (nothing written), then the file itself.
                let mut counts = BTreeMap::new();
                let first = DbWriter::layout_pass(opts_w).map_err(to_io)?;
                if let Some((_, layout)) =
                    stream_tree(f, meta, first, &mut counts).map_err(to_io)?
                {
                    let w =
                        DbWriter::planned(HashPipe::new(out)?, opts_w, layout).map_err(to_io)?;
                    let (pipe, _) = stream_tree(f, meta, w, &mut BTreeMap::new())
                        .map_err(to_io)?
                        .ok_or_else(|| {
                            std::io::Error::other("the db read differently the second time")
                        })?;
                    report.bytes_written = pipe.finish()?;
                    for (name, n) in counts {
                        report.buckets.insert(
                            name,
                            BucketAccount {
                                from_tree: n,
                                written: n,
                                ..BucketAccount::default()
                            },
                        );
                    }
                    streamed = true;
                }
            }
        }
        if streamed {
            report.method = "streamed copy";
            report.tree_from = tree_label(file.as_ref());
            report.consistent_index = Some(ci);
        } else {
            report.method = "rebuilt";
            let mut sources = BTreeMap::new();
            let mut b = gather(file.as_ref(), opts, &mut report, &mut sources);
            apply_log(&mut b, log.as_ref(), opts, &mut report, &mut sources);
            let compact = meta_i64(&b, b"finishedCompactRev").unwrap_or(0);
            let unreadable = merge_ranges(std::mem::take(&mut report.unreadable));
            if let Some(kb) = b.get(b"key".as_slice()) {
                report.losses = Some(losses::account(kb, compact, &sources, &unreadable));
            }
            report.unreadable = unreadable;
            report.consistent_index = meta_u64(&b, b"consistent_index");
            let first = DbWriter::layout_pass(opts_w).map_err(to_io)?;
            let (_, layout) = write_buckets(&b, first, &mut report).map_err(to_io)?;
            let w = DbWriter::planned(HashPipe::new(out)?, opts_w, layout).map_err(to_io)?;
            let (pipe, _) = write_buckets(&b, w, &mut report).map_err(to_io)?;
            report.bytes_written = pipe.finish()?;
        }
        Ok(())
    });
    written?;
    finish(&mut report);
    Ok(report)
}

fn tree_label(file: Option<&BoltFile<'_>>) -> String {
    match file.and_then(|f| f.current.map(|c| (c, f))) {
        Some((c, f)) => format!("meta page {c} (txid {})", f.meta().map_or(0, |m| m.txid)),
        None => "no valid meta page".into(),
    }
}

fn describe_damage(bucket: &str, d: &crate::bolt::cursor::CursorDamage) -> String {
    let parent = d
        .parent
        .map_or(String::new(), |p| format!(" (child of branch page {p})"));
    let range = if bucket == "key" {
        let r = losses::RevRange::of_bounds(d.lower_bound.as_deref(), d.upper_bound.as_deref());
        let last = if r.last == i64::MAX {
            "the end".to_string()
        } else {
            r.last.to_string()
        };
        format!("; it held revisions {} to {last}", r.first)
    } else {
        String::new()
    };
    format!(
        "bucket {bucket}: page {}{parent}: {}{range}",
        d.page, d.reason
    )
}

/// Sort and merge overlapping or touching ranges.
fn merge_ranges(mut v: Vec<losses::RevRange>) -> Vec<losses::RevRange> {
    v.sort_by_key(|r| (r.first, r.last));
    let mut out: Vec<losses::RevRange> = Vec::new();
    for r in v {
        match out.last_mut() {
            Some(l) if r.first <= l.last.saturating_add(1) => l.last = l.last.max(r.last),
            _ => out.push(r),
        }
    }
    out
}

/// Stream a clean tree into `w`; `None` (nothing kept) as soon as
/// anything is damaged or out of order, so the caller rebuilds instead.
fn stream_tree<W: Write + Seek>(
    f: &BoltFile<'_>,
    meta: &crate::bolt::Meta,
    mut w: DbWriter<W>,
    counts: &mut BTreeMap<String, u64>,
) -> Result<Option<(W, Layout)>, crate::bolt::writer::WriteError> {
    let (roots, damage) = top_level_buckets(f, meta);
    if !damage.is_empty() {
        return Ok(None);
    }
    for (name, root) in roots {
        let Ok(root) = root else { return Ok(None) };
        let Ok(mut bw) = w.bucket(name) else {
            return Ok(None);
        };
        for item in BucketCursor::new(f, root, meta.pgid) {
            let Ok(item) = item else { return Ok(None) };
            if item.is_bucket() {
                return Ok(None);
            }
            match bw.put(item.key, item.value) {
                Ok(()) => {}
                Err(crate::bolt::writer::WriteError::Io(e)) => return Err(e.into()),
                Err(_) => return Ok(None),
            }
        }
        let n = bw.count();
        bw.finish()?;
        counts.insert(String::from_utf8_lossy(name).into_owned(), n);
    }
    w.finish().map(Some)
}

fn to_io(e: crate::bolt::writer::WriteError) -> std::io::Error {
    match e {
        crate::bolt::writer::WriteError::Io(e) => e,
        other => std::io::Error::other(other.to_string()),
    }
}

/// A writer that hands what it writes, in 4 MiB chunks, to two threads:
/// one hashes it, one writes it to the file, so producing pages, hashing and
/// the device's write all overlap. The file is written with direct I/O where
/// the file system allows it: on a VM the page-cache copy of a buffered
/// write costs several times what the device takes (measured in
/// bench/repair.sh), and the data is synced at the end anyway. Chunks start
/// at a 4096-byte aligned address inside their buffer, as direct I/O
/// requires; a write the kernel refuses that way is done buffered instead.
struct HashPipe<'f> {
    file: &'f mut std::fs::File,
    /// `pad` bytes, then the data from an aligned address on.
    buf: Vec<u8>,
    pad: usize,
    to_hash: Option<std::sync::mpsc::SyncSender<Chunk>>,
    to_write: Option<std::sync::mpsc::SyncSender<Chunk>>,
    hasher: Option<std::thread::JoinHandle<[u8; 32]>>,
    writer: Option<std::thread::JoinHandle<std::io::Result<u64>>>,
    queued: u64,
}

type Chunk = (std::sync::Arc<Vec<u8>>, usize);

const CHUNK: usize = 4 << 20;
const ALIGN: usize = 4096;

/// A buffer with room for a whole chunk after its alignment padding.
fn aligned_buffer() -> (Vec<u8>, usize) {
    let mut buf = Vec::with_capacity(CHUNK + ALIGN);
    let pad = (ALIGN - buf.as_ptr() as usize % ALIGN) % ALIGN;
    buf.resize(pad, 0);
    (buf, pad)
}

fn set_direct(file: &std::fs::File, on: bool) -> bool {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    let Ok(flags) = fcntl_getfl(file) else {
        return false;
    };
    let flags = if on {
        flags | OFlags::DIRECT
    } else {
        flags - OFlags::DIRECT
    };
    fcntl_setfl(file, flags).is_ok()
}

/// The writing thread's loop: chunks in order, direct while it works.
fn write_chunks(
    mut file: std::fs::File,
    rx: std::sync::mpsc::Receiver<Chunk>,
) -> std::io::Result<u64> {
    let mut direct = set_direct(&file, true);
    let mut written = 0u64;
    for (chunk, pad) in rx {
        let data = chunk.get(pad..).unwrap_or_default();
        if !direct || file.write_all(data).is_err() {
            if direct {
                direct = false;
                set_direct(&file, false);
                file.seek(SeekFrom::Start(written))?;
            }
            file.write_all(data)?;
        }
        written += data.len() as u64;
    }
    if direct {
        set_direct(&file, false);
    }
    Ok(written)
}

impl<'f> HashPipe<'f> {
    fn new(file: &'f mut std::fs::File) -> std::io::Result<HashPipe<'f>> {
        let (htx, hrx) = std::sync::mpsc::sync_channel::<Chunk>(4);
        let hasher = std::thread::spawn(move || {
            let mut h = sha2::Sha256::new();
            for (chunk, pad) in hrx {
                h.update(chunk.get(pad..).unwrap_or_default());
            }
            h.finalize().into()
        });
        let (wtx, wrx) = std::sync::mpsc::sync_channel::<Chunk>(4);
        let clone = file.try_clone()?;
        let writer = std::thread::spawn(move || write_chunks(clone, wrx));
        let (buf, pad) = aligned_buffer();
        Ok(HashPipe {
            file,
            buf,
            pad,
            to_hash: Some(htx),
            to_write: Some(wtx),
            hasher: Some(hasher),
            writer: Some(writer),
            queued: 0,
        })
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.len() == self.pad {
            return Ok(());
        }
        let (fresh, pad) = aligned_buffer();
        let chunk = std::sync::Arc::new(std::mem::replace(&mut self.buf, fresh));
        let old_pad = std::mem::replace(&mut self.pad, pad);
        self.queued += (chunk.len() - old_pad) as u64;
        let stopped = || std::io::Error::other("a writing thread stopped");
        for tx in [&self.to_hash, &self.to_write].into_iter().flatten() {
            tx.send((chunk.clone(), old_pad)).map_err(|_| stopped())?;
        }
        Ok(())
    }

    /// Write what is left, then append the SHA-256 of everything; returns
    /// the file's size.
    fn finish(mut self) -> std::io::Result<u64> {
        self.send()?;
        drop(self.to_hash.take());
        drop(self.to_write.take());
        let failed = || std::io::Error::other("a writing thread failed");
        let written = self
            .writer
            .take()
            .ok_or_else(failed)?
            .join()
            .map_err(|_| failed())??;
        let sum = self
            .hasher
            .take()
            .ok_or_else(failed)?
            .join()
            .map_err(|_| failed())?;
        if written != self.queued {
            return Err(std::io::Error::other("not everything was written"));
        }
        self.file.seek(SeekFrom::Start(written))?;
        self.file.write_all(&sum)?;
        Ok(written + 32)
    }
}

impl Write for HashPipe<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        // Never past the chunk: the buffer must not move (its alignment).
        let room = CHUNK - (self.buf.len() - self.pad);
        let n = b.len().min(room);
        self.buf.extend_from_slice(&b[..n]);
        if self.buf.len() - self.pad >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for HashPipe<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        match to {
            SeekFrom::Current(0) => Ok(self.queued + (self.buf.len() - self.pad) as u64),
            _ => Err(std::io::Error::other(
                "the hashed output is written in order",
            )),
        }
    }
}

fn consistent_index(f: &BoltFile<'_>) -> Option<u64> {
    let meta = f.best_meta()?;
    let root = crate::bolt::cursor::find_bucket(f, meta, b"meta")?;
    BucketCursor::new(f, root, meta.pgid)
        .flatten()
        .find_map(|i| match meta_record(i.key, i.value) {
            Ok(MetaRecord::ConsistentIndex(ci)) => Some(ci),
            _ => None,
        })
}

fn meta_bytes<'b>(b: &'b Buckets, key: &[u8]) -> Option<&'b [u8]> {
    b.get(b"meta".as_slice())?.get(key).map(Vec::as_slice)
}

fn meta_u64(b: &Buckets, key: &[u8]) -> Option<u64> {
    meta_bytes(b, key)
        .and_then(|v| <[u8; 8]>::try_from(v).ok())
        .map(u64::from_be_bytes)
}

/// A compaction revision of the `meta` bucket (stored as a revision key).
fn meta_i64(b: &Buckets, key: &[u8]) -> Option<i64> {
    match meta_record(key, meta_bytes(b, key)?) {
        Ok(MetaRecord::FinishedCompactRev(r)) | Ok(MetaRecord::ScheduledCompactRev(r)) => Some(r),
        _ => None,
    }
}

/// Whether an entry changes nothing etcd stores (beyond the consistent
/// index): empty entries, authentication, reads, alarm and auth queries.
fn inert(e: &LogEntry) -> bool {
    if e.entry_type != 0 {
        return false;
    }
    if e.data.is_empty() {
        return true;
    }
    let Some(fields) = crate::proto::fields(&e.data)
        .map(|f| f.ok().map(|(n, v, _)| (n, v)))
        .collect::<Option<Vec<_>>>()
    else {
        return false;
    };
    if !matches!(
        crate::wal::entry::decode(0, &e.data),
        crate::wal::entry::EntryData::Request { .. }
    ) {
        return false;
    }
    fields.iter().all(|(n, v)| match (n, v) {
        (1 | 100, _) => true,
        (3 | 1012 | 1013 | 1102 | 1106 | 1107 | 1202, _) => true,
        // An alarm request whose action is GET (0).
        (10, crate::proto::Value::Bytes(b)) => crate::proto::fields(b)
            .all(|f| !matches!(f, Ok((1, crate::proto::Value::Varint(a), _)) if a != 0)),
        _ => false,
    })
}

/// Gather every record the tree yields, then (with --salvage, or when no
/// meta page is usable) what the page scan adds.
fn gather(
    file: Option<&BoltFile<'_>>,
    opts: RepairOptions,
    report: &mut RepairReport,
    sources: &mut BTreeMap<Vec<u8>, Source>,
) -> Buckets {
    let mut b = Buckets::new();
    let Some(f) = file else {
        report.tree_from = "no db: rebuilt from the log alone".into();
        return b;
    };
    let hwm_all = f.file_pages();
    let mut damaged_buckets: Vec<Vec<u8>> = Vec::new();
    let mut scan = None;
    type Roots<'r> = Vec<(Vec<u8>, Result<BucketRoot<'r>, String>)>;
    let (roots, hwm): (Roots<'_>, u64) = match f.best_meta() {
        Some(meta) => {
            report.tree_from = match f.current {
                Some(c) => format!("meta page {c} (txid {})", meta.txid),
                None => format!(
                    "meta page {} (txid {}): neither meta validates; this one's root and high-water mark look sane",
                    meta.slot, meta.txid
                ),
            };
            let other_bad = f.metas.iter().filter(|m| m.is_none()).count();
            if other_bad > 0 {
                report
                    .notes
                    .push("one meta page is unusable: the other one was used".into());
            }
            let (roots, damage) = top_level_buckets(f, meta);
            for d in damage {
                report.damage.push(describe_damage("(root)", &d));
                // Which buckets hung below is unknown: the key bucket too.
                report
                    .unreadable
                    .push(losses::RevRange::of_bounds(None, None));
                report.small_bucket_damage = true;
            }
            (
                roots.into_iter().map(|(n, r)| (n.to_vec(), r)).collect(),
                meta.pgid,
            )
        }
        None => {
            let s = salvage::scan(f);
            let roots = match s.roots.first() {
                Some(r) => {
                    report.tree_from = format!(
                        "no usable meta page: the root leaf at page {} found by the page scan (consistent index {})",
                        r.page,
                        r.consistent_index.map_or("unknown".into(), |c| c.to_string())
                    );
                    r.buckets
                        .iter()
                        .map(|(n, r)| (n.to_vec(), Ok(*r)))
                        .collect()
                }
                None => {
                    report.tree_from =
                        "no usable meta page and no root leaf found: records from the page scan only"
                            .into();
                    Vec::new()
                }
            };
            scan = Some(s);
            (roots, hwm_all)
        }
    };
    for (name, root) in roots {
        let label = String::from_utf8_lossy(&name).into_owned();
        let root = match root {
            Ok(r) => r,
            Err(e) => {
                report.damage.push(format!("bucket {label}: {e}"));
                if name == b"key" {
                    report
                        .unreadable
                        .push(losses::RevRange::of_bounds(None, None));
                } else {
                    report.small_bucket_damage = true;
                }
                damaged_buckets.push(name);
                continue;
            }
        };
        let recs = b.entry(name.clone()).or_default();
        let acct = report.buckets.entry(label.clone()).or_default();
        for item in BucketCursor::new(f, root, hwm) {
            match item {
                Ok(i) if i.is_bucket() => report.damage.push(format!(
                    "bucket {label}: nested bucket {:?} not copied (etcd has none)",
                    String::from_utf8_lossy(i.key)
                )),
                Ok(i) => {
                    if !recs.contains_key(i.key) {
                        recs.insert(i.key.to_vec(), i.value.to_vec());
                        acct.from_tree += 1;
                    }
                }
                Err(d) => {
                    report.damage.push(describe_damage(&label, &d));
                    if name == b"key" {
                        report.unreadable.push(losses::RevRange::of_bounds(
                            d.lower_bound.as_deref(),
                            d.upper_bound.as_deref(),
                        ));
                    } else {
                        report.small_bucket_damage = true;
                    }
                    if !damaged_buckets.contains(&name) {
                        damaged_buckets.push(name.clone());
                    }
                }
            }
        }
    }
    if opts.salvage || scan.is_some() {
        let s = match scan {
            Some(s) => s,
            None => salvage::scan(f),
        };
        merge_scan(&mut b, &s, &damaged_buckets, report, sources);
        report.scan = Some(s.stats);
    } else if !report.damage.is_empty() {
        report.notes.push(
            "parts of the tree could not be read: run again with --salvage to scan every page for the records they held"
                .into(),
        );
    }
    b
}

/// Add what the scan found: `key` records the tree lacks (revisions are
/// written once, so any valid copy is the record), and the small buckets'
/// records only where the tree could not provide the bucket whole. Then
/// compaction is applied again, so a stale copy of a revision etcd had
/// compacted away does not come back.
fn merge_scan(
    b: &mut Buckets,
    s: &salvage::Scan<'_>,
    damaged: &[Vec<u8>],
    report: &mut RepairReport,
    sources: &mut BTreeMap<Vec<u8>, Source>,
) {
    let mut small: BTreeMap<(&str, &[u8]), Vec<&[u8]>> = BTreeMap::new();
    // Revision records: the scan's copies of each revision key.
    let mut copies: BTreeMap<&[u8], Vec<&[u8]>> = BTreeMap::new();
    for rec in &s.found {
        if rec.bucket == "key" {
            copies.entry(rec.key).or_default().push(rec.value);
            continue;
        }
        let whole = b.contains_key(rec.bucket.as_bytes())
            && !damaged.iter().any(|d| d == rec.bucket.as_bytes());
        if !whole {
            small
                .entry((rec.bucket, rec.key))
                .or_default()
                .push(rec.value);
        }
    }
    let kb = b.entry(b"key".to_vec()).or_default();
    let tree_top = state::current_revision(kb);
    let scan_top = copies
        .keys()
        .filter_map(|k| crate::etcd::revision::RevisionKey::parse(k).ok())
        .map(|r| r.main)
        .max()
        .unwrap_or(0);
    for (rk, found) in copies {
        match kb.get(rk) {
            None => {
                // Any valid copy is the record (revisions are written once);
                // differing ones are settled by majority.
                let (v, n, distinct) = majority(&found);
                kb.insert(rk.to_vec(), v.to_vec());
                sources.insert(rk.to_vec(), Source::Scan);
                if distinct > 1 {
                    report.conflicts.push(conflict(
                        rk,
                        v,
                        distinct,
                        format!(
                            "found only by the scan; the copy {n} of {} agree on",
                            found.len()
                        ),
                    ));
                }
            }
            Some(tree) => {
                if found.iter().all(|f| *f == tree.as_slice()) {
                    continue;
                }
                let (v, n, _) = majority(&found);
                let others_agree = n >= 2 && found.iter().all(|f| *f == v);
                let mut distinct: Vec<&[u8]> = vec![tree.as_slice()];
                for f in &found {
                    if !distinct.contains(f) {
                        distinct.push(f);
                    }
                }
                if others_agree {
                    let kept =
                        format!("the scan's {n} agreeing copies, over the tree's differing one");
                    report.conflicts.push(conflict(rk, v, distinct.len(), kept));
                    kb.insert(rk.to_vec(), v.to_vec());
                } else {
                    let tree_v = tree.clone();
                    report.conflicts.push(conflict(
                        rk,
                        &tree_v,
                        distinct.len(),
                        "the tree's copy (no majority among the others)".into(),
                    ));
                }
            }
        }
    }
    // The tree read is older than revisions the scan found (an older meta,
    // or the newest root's pages lost): its consistent index is behind
    // those records, and a log replay from it would apply their entries a
    // second time. The newest meta copy's counters go with the records.
    if scan_top > tree_top {
        let newest = |key: &[u8]| {
            s.found
                .iter()
                .filter(|r| r.bucket == "meta" && r.key == key && r.value.len() == 8)
                .map(|r| r.value)
                .max()
        };
        for key in [b"consistent_index".as_slice(), b"term"] {
            let Some(v) = newest(key) else { continue };
            let meta = b.entry(b"meta".to_vec()).or_default();
            if meta.get(key).is_none_or(|old| old.as_slice() < v) {
                report.notes.push(format!(
                    "the tree read is older than revisions the scan found (up to {scan_top}, the tree's end at {tree_top}): {} taken from the newest meta copy found",
                    String::from_utf8_lossy(key)
                ));
                meta.insert(key.to_vec(), v.to_vec());
            }
        }
    }
    for ((bucket, key), values) in small {
        let recs = b.entry(bucket.as_bytes().to_vec()).or_default();
        if recs.contains_key(key) {
            continue;
        }
        // Counters only grow: the greatest copy is the newest.
        let chosen = if bucket == "meta" && values.iter().all(|v| v.len() == 8) {
            values.iter().max().copied()
        } else {
            if values.iter().any(|v| v != &values[0]) {
                report.notes.push(format!(
                    "{bucket}/{}: {} differing copies found by the scan; the first was kept",
                    crate::wal::entry::readable(key),
                    values.len()
                ));
            }
            values.first().copied()
        };
        if let Some(v) = chosen {
            recs.insert(key.to_vec(), v.to_vec());
            report.buckets.entry(bucket.into()).or_default().from_scan += 1;
        }
    }
    let compact = meta_i64(b, b"finishedCompactRev").unwrap_or(0);
    let kb = b.entry(b"key".to_vec()).or_default();
    if compact > 0 {
        let dropped = state::compact(kb, compact);
        if dropped > 0 {
            report.notes.push(format!(
                "{dropped} stale record(s) at or below the compaction point {compact} dropped (etcd had compacted them away)"
            ));
        }
    }
    sources.retain(|k, _| kb.contains_key(k));
    report.buckets.entry("key".into()).or_default().from_scan = sources.len() as u64;
}

/// The most common of `values`, how many agree on it, and how many
/// distinct values there are.
fn majority<'v>(values: &[&'v [u8]]) -> (&'v [u8], usize, usize) {
    let mut counts: Vec<(&[u8], usize)> = Vec::new();
    for v in values {
        match counts.iter_mut().find(|(c, _)| c == v) {
            Some((_, n)) => *n += 1,
            None => counts.push((v, 1)),
        }
    }
    let distinct = counts.len();
    let (v, n) = counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .unwrap_or((&[], 0));
    (v, n, distinct)
}

fn conflict(rk: &[u8], kept: &[u8], copies: usize, why: String) -> Conflict {
    let revision = crate::etcd::revision::RevisionKey::parse(rk).map_or_else(
        |_| crate::wal::entry::readable(rk),
        |r| format!("{}_{}", r.main, r.sub),
    );
    let key = crate::etcd::kv::KeyValue::decode(kept)
        .map(|kv| crate::wal::entry::readable(kv.key))
        .unwrap_or_default();
    Conflict {
        revision,
        key,
        copies,
        kept: why,
    }
}

/// The log as etcd's ReadAll yields it.
struct LogRead {
    entries: Vec<LogEntry>,
    commit: u64,
    last_index: u64,
}

fn read_entries(member_dir: &Path) -> Result<LogRead, String> {
    let wal = member_dir.join("wal");
    if !wal.is_dir() {
        return Err("no WAL directory".into());
    }
    let mut entries: Vec<LogEntry> = Vec::new();
    let r = crate::wal::log::read_log(&wal, &mut |_, _, payload| {
        if let crate::wal::segment::Payload::Entry(e) = payload {
            // A later entry at index i replaces every earlier one at i or above.
            while entries.last().is_some_and(|l| l.index >= e.index) {
                entries.pop();
            }
            entries.push(LogEntry {
                index: e.index,
                term: e.term,
                entry_type: e.entry_type,
                data: e.data.to_vec(),
            });
        }
    })
    .map_err(|e| e.to_string())?;
    Ok(LogRead {
        last_index: entries.last().map_or(0, |e| e.index),
        commit: r.hard_state.map_or(0, |h| h.commit),
        entries,
    })
}

/// The entries etcd applies on start: past the consistent index, committed
/// (or, in a one-voter cluster, the whole log). Err when the log does not
/// continue from the db.
fn entries_to_apply(
    log: &LogRead,
    ci: u64,
    voters: usize,
    tail: &mut LogTail,
) -> Result<Vec<LogEntry>, String> {
    let past: Vec<&LogEntry> = log.entries.iter().filter(|e| e.index > ci).collect();
    if let Some(first) = past.first() {
        if first.index != ci + 1 {
            return Err(format!(
                "the log resumes at index {} but the db stops at {ci}: entries in between are gone",
                first.index
            ));
        }
    }
    let limit = if voters == 1 { u64::MAX } else { log.commit };
    let chosen: Vec<LogEntry> = past
        .into_iter()
        .filter(|e| e.index <= limit)
        .cloned()
        .collect();
    tail.applied_past_commit = chosen.iter().filter(|e| e.index > log.commit).count() as u64;
    tail.beyond_commit = log
        .entries
        .iter()
        .filter(|e| e.index > log.commit.max(ci) && e.index > limit && !inert(e))
        .count() as u64;
    tail.entries_past_db = chosen.len() as u64;
    tail.entries_with_effect = chosen.iter().filter(|e| !inert(e)).count() as u64;
    Ok(chosen)
}

/// When the WAL still holds every entry from index 1, the whole state can
/// be rebuilt from it alone: replayed from an empty store, it must agree
/// with every `key` record the damaged db still holds (proof that the
/// replay matches what etcd did); it then also has every record the db
/// lost. Membership and the cluster version are kept from the db (the log
/// does not set them here; `snapshot restore` writes membership).
fn rebuild_from_whole_log(
    b: &Buckets,
    log: &LogRead,
    voters: usize,
    report: &mut RepairReport,
    sources: &mut BTreeMap<Vec<u8>, Source>,
) -> Option<Buckets> {
    let mut tail = LogTail::default();
    let all = entries_to_apply(log, 0, voters, &mut tail).ok()?;
    let mut fresh = Buckets::new();
    let r = replay::replay(&mut fresh, &all);
    let empty = BTreeMap::new();
    let db_kb = b.get(b"key".as_slice()).unwrap_or(&empty);
    let log_kb = fresh.get(b"key".as_slice()).unwrap_or(&empty);
    let disagree = db_kb
        .iter()
        .filter(|(k, v)| log_kb.get(*k) != Some(*v))
        .count();
    if disagree > 0 || db_kb.is_empty() {
        report.notes.push(format!(
            "the WAL holds every entry from index 1, but replayed from an empty store {disagree} of the db's {} revision records differ from it: not used",
            db_kb.len()
        ));
        return None;
    }
    let added: Vec<Vec<u8>> = log_kb
        .keys()
        .filter(|k| !db_kb.contains_key(*k))
        .cloned()
        .collect();
    for name in [b"members".as_slice(), b"members_removed", b"cluster"] {
        if let Some(x) = b.get(name) {
            fresh.entry(name.to_vec()).or_insert_with(|| x.clone());
        }
    }
    for k in &added {
        sources.insert(k.clone(), Source::Wal);
    }
    report.notes.push(format!(
        "the WAL holds every entry from index 1 (to {}): replayed from an empty store it agrees with all {} revision records the db still holds and gives the {} it lost",
        log.last_index,
        db_kb.len(),
        added.len()
    ));
    report
        .buckets
        .entry("key".into())
        .or_default()
        .changed_by_wal = added.len() as i64;
    report.rebuilt_from_log = true;
    report.unreadable.clear();
    report.replay = Some(r);
    Some(fresh)
}

/// Replay the log (with --replay-wal), or account for what it would add.
fn apply_log(
    b: &mut Buckets,
    log: Option<&Result<LogRead, String>>,
    opts: RepairOptions,
    report: &mut RepairReport,
    sources: &mut BTreeMap<Vec<u8>, Source>,
) {
    let Some(Ok(log)) = log else {
        if opts.replay_wal {
            let why = match log {
                Some(Err(e)) => e.clone(),
                _ => "the input is a file, not a data dir".into(),
            };
            report
                .notes
                .push(format!("--replay-wal: no log read: {why}"));
        }
        return;
    };
    let voters = b.get(b"members".as_slice()).map_or(1, |m| m.len().max(1));
    let damaged = !report.damage.is_empty() || !report.unreadable.is_empty();
    if opts.replay_wal && damaged && log.entries.first().is_some_and(|e| e.index == 1) {
        if let Some(whole) = rebuild_from_whole_log(b, log, voters, report, sources) {
            *b = whole;
        }
    }
    let ci = meta_u64(b, b"consistent_index").unwrap_or(0);
    let mut tail = LogTail {
        consistent_index: ci,
        commit_index: log.commit,
        last_index: log.last_index,
        ..LogTail::default()
    };
    let entries = match entries_to_apply(log, ci, voters, &mut tail) {
        Ok(e) => e,
        Err(why) => {
            tail.unusable = Some(why);
            report.log = Some(tail);
            return;
        }
    };
    if entries.is_empty() || (!opts.replay_wal && tail.entries_with_effect == 0) {
        report.log = Some(tail);
        return;
    }
    let before: std::collections::BTreeSet<Vec<u8>> = b
        .get(b"key".as_slice())
        .map(|k| k.keys().cloned().collect())
        .unwrap_or_default();
    if opts.replay_wal {
        let counts: BTreeMap<Vec<u8>, usize> =
            b.iter().map(|(n, r)| (n.clone(), r.len())).collect();
        let r = replay::replay(b, &entries);
        for (name, recs) in b.iter() {
            let was = counts.get(name).copied().unwrap_or(0) as i64;
            let delta = recs.len() as i64 - was;
            if delta != 0 {
                report
                    .buckets
                    .entry(String::from_utf8_lossy(name).into_owned())
                    .or_default()
                    .changed_by_wal = delta;
            }
        }
        if let Some(kb) = b.get(b"key".as_slice()) {
            for k in kb.keys().filter(|k| !before.contains(*k)) {
                sources.insert(k.clone(), Source::Wal);
            }
        }
        report.replay = Some(r);
    } else {
        // What they would write: replayed onto a scratch copy.
        let mut scratch = b.clone();
        replay::replay(&mut scratch, &entries);
        if let Some(kb) = scratch.get(b"key".as_slice()) {
            let keys: std::collections::BTreeSet<String> = kb
                .iter()
                .filter(|(k, _)| !before.contains(*k))
                .filter_map(|(_, v)| crate::etcd::kv::KeyValue::decode(v).ok())
                .map(|kv| crate::wal::entry::readable(kv.key))
                .collect();
            tail.keys_not_applied = keys.into_iter().collect();
        }
        report.notes.push(format!(
            "the log holds {} entr{} past the db's consistent index {ci} that etcd would apply on start: run again with --replay-wal to include them",
            entries.len(),
            if entries.len() == 1 { "y" } else { "ies" }
        ));
    }
    report.log = Some(tail);
}

/// Write gathered buckets (sorted) through the streaming writer.
fn write_buckets<W: Write + Seek>(
    b: &Buckets,
    mut w: DbWriter<W>,
    report: &mut RepairReport,
) -> Result<(W, Layout), crate::bolt::writer::WriteError> {
    for (name, recs) in b {
        let mut bw = w.bucket(name)?;
        for (k, v) in recs {
            bw.put(k, v)?;
        }
        let n = bw.count();
        bw.finish()?;
        report
            .buckets
            .entry(String::from_utf8_lossy(name).into_owned())
            .or_default()
            .written = n;
    }
    w.finish()
}

/// Everything a repair does with `db` short of writing a file: the layout
/// pass of the streamed copy, gathering with the page scan, a replay of
/// entries cut from the same bytes, the account and the layout pass of the
/// rebuilt file. For the fuzz targets and robustness tests: it must return
/// for any input.
#[doc(hidden)]
pub fn dry_run(db: &[u8]) -> usize {
    let Ok(f) = BoltFile::new(db) else { return 0 };
    let opts_w = WriteOptions {
        page_size: 4096,
        ..WriteOptions::default()
    };
    let mut n = 0;
    if let (Some(meta), Ok(w)) = (f.meta(), DbWriter::layout_pass(opts_w)) {
        if let Ok(Some((_, l))) = stream_tree(&f, meta, w, &mut BTreeMap::new()) {
            n += l.pgid as usize;
        }
    }
    let mut report = RepairReport::default();
    let mut sources = BTreeMap::new();
    let opts = RepairOptions {
        salvage: true,
        replay_wal: true,
    };
    let mut b = gather(Some(&f), opts, &mut report, &mut sources);
    let entries: Vec<LogEntry> = db
        .chunks(61)
        .take(2000)
        .enumerate()
        .map(|(i, c)| LogEntry {
            index: i as u64 + 1,
            term: 1,
            entry_type: 0,
            data: c.to_vec(),
        })
        .collect();
    let r = replay::replay(&mut b, &entries);
    n += r.revisions.len();
    let compact = meta_i64(&b, b"finishedCompactRev").unwrap_or(0);
    let unreadable = merge_ranges(std::mem::take(&mut report.unreadable));
    if let Some(kb) = b.get(b"key".as_slice()) {
        n += losses::account(kb, compact, &sources, &unreadable)
            .keys
            .len();
    }
    if let Ok(w) = DbWriter::layout_pass(opts_w) {
        if let Ok((_, l)) = write_buckets(&b, w, &mut report) {
            n += l.pgid as usize;
        }
    }
    finish(&mut report);
    n + report.damage.len()
}

/// Decide completeness and the first line.
fn finish(r: &mut RepairReport) {
    let lost_revs = r.losses.as_ref().map_or(0, |l| l.lost_revision_count);
    let log_left = r
        .log
        .as_ref()
        .is_some_and(|t| t.unusable.is_some() || (r.replay.is_none() && t.entries_with_effect > 0));
    let not_replayed = r
        .replay
        .as_ref()
        .map_or(0, |p| p.not_replayed.values().sum::<u64>());
    // Damage is made good only where it can be checked: `key` revisions
    // above the compaction point (each main revision must be present), and
    // only when the unreadable part has an upper end to check up to.
    let compact = r.losses.as_ref().map_or(0, |l| l.compact_revision);
    let current = r.losses.as_ref().map_or(0, |l| l.current_revision);
    let damage_made_good = r.scan.is_some()
        && !r.small_bucket_damage
        && r.unreadable
            .iter()
            .all(|u| u.first > compact && u.last <= current);
    let damage_left = !r.damage.is_empty() && !damage_made_good;
    r.complete =
        !damage_left && lost_revs == 0 && !log_left && not_replayed == 0 && r.conflicts.is_empty();
    let keys: u64 = r.buckets.get("key").map_or(0, |b| b.written);
    let scanned: u64 = r.buckets.values().map(|b| b.from_scan).sum();
    r.summary = if r.complete {
        format!(
            "recovered everything: {} revision records{}, {} bytes written to {}",
            keys,
            if r.rebuilt_from_log {
                " (replayed from the WAL, which holds every entry from index 1 and agrees with all the db still holds)".to_string()
            } else if scanned > 0 {
                format!(" ({scanned} records from the page scan in place of unreadable pages)")
            } else {
                String::new()
            },
            r.bytes_written,
            r.output
        )
    } else {
        let mut why = Vec::new();
        if damage_left {
            why.push(format!(
                "{} unreadable part(s) of the tree{}",
                r.damage.len(),
                if r.scan.is_some() {
                    " not provably made good by the page scan"
                } else {
                    " (try --salvage)"
                }
            ));
        }
        if lost_revs > 0 {
            why.push(format!("{lost_revs} revision(s) lost"));
        }
        if log_left {
            why.push("log entries past the db not applied".into());
        }
        if not_replayed > 0 {
            why.push(format!("{not_replayed} log request(s) not reproduced"));
        }
        if !r.conflicts.is_empty() {
            why.push(format!(
                "{} revision(s) with disagreeing copies on disk",
                r.conflicts.len()
            ));
        }
        format!(
            "INCOMPLETE: {}; {} revision records, {} bytes written to {}",
            why.join(", "),
            keys,
            r.bytes_written,
            r.output
        )
    };
}

/// The text report.
pub fn render_text(r: &RepairReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "{}", r.summary)?;
    writeln!(
        out,
        "  method: {}; tree read through {}",
        r.method, r.tree_from
    )?;
    writeln!(
        out,
        "  {:<16} {:>10} {:>10} {:>10} {:>10}",
        "bucket", "tree", "scan", "wal", "written"
    )?;
    for (name, a) in &r.buckets {
        writeln!(
            out,
            "  {:<16} {:>10} {:>10} {:>10} {:>10}",
            name, a.from_tree, a.from_scan, a.changed_by_wal, a.written
        )?;
    }
    if let Some(s) = &r.scan {
        writeln!(
            out,
            "  page scan: {} pages ({} bytes) in {:.2} s ({:.2} GB/s), {} leaf pages, {} root-leaf copies, {} records identified, {} rejected",
            s.pages_scanned,
            s.bytes_scanned,
            s.seconds,
            s.gb_per_second,
            s.leaf_pages,
            s.root_leaves,
            s.records_identified,
            s.records_rejected
        )?;
    }
    if let Some(p) = &r.replay {
        writeln!(
            out,
            "  log replay: entries {}..{} ({}): {} puts, {} deletes, {} txns, {} compactions, {} lease grants, {} revokes, {} auth changes, {} membership changes, {} rejected as etcd rejects them; revisions {}..{}",
            p.from_index,
            p.to_index,
            p.entries,
            p.puts,
            p.deletes,
            p.txns,
            p.compactions,
            p.lease_grants,
            p.lease_revokes,
            p.auth_changes,
            p.membership_changes,
            p.rejected,
            p.first_revision.unwrap_or(0),
            p.last_revision.unwrap_or(0)
        )?;
        for (k, n) in &p.not_replayed {
            writeln!(out, "    not reproduced: {n} × {k}")?;
        }
    }
    if let Some(t) = &r.log {
        if let Some(u) = &t.unusable {
            writeln!(out, "  log: {u}")?;
        }
        if t.applied_past_commit > 0 {
            writeln!(
                out,
                "  log: {} entries past the commit index {} applied: a one-voter cluster commits its whole log when it restarts",
                t.applied_past_commit, t.commit_index
            )?;
        }
        if t.beyond_commit > 0 {
            writeln!(
                out,
                "  log: {} entries past this member's commit index {} were not applied: in a cluster of several members they may have been committed (and acknowledged) by the others, or never; their data is on the other members if it was",
                t.beyond_commit, t.commit_index
            )?;
        }
        if !t.keys_not_applied.is_empty() {
            writeln!(
                out,
                "  log: {} key(s) have newer writes in the log only: {}",
                t.keys_not_applied.len(),
                preview(&t.keys_not_applied)
            )?;
        }
    }
    if let Some(l) = &r.losses {
        if !l.unverifiable.is_empty() {
            let ranges: Vec<String> = l
                .unverifiable
                .iter()
                .map(|g| format!("{}-{}", g.first, g.last))
                .collect();
            writeln!(
                out,
                "  unreadable at or below the compaction point {}: revisions {} (which records they held cannot be known; the scan's finds are in)",
                l.compact_revision,
                preview(&ranges)
            )?;
        }
        if !l.lost_revisions.is_empty() {
            let ranges: Vec<String> = l
                .lost_revisions
                .iter()
                .map(|g| {
                    if g.first == g.last {
                        g.first.to_string()
                    } else {
                        format!("{}-{}", g.first, g.last)
                    }
                })
                .collect();
            writeln!(
                out,
                "  lost revisions ({}): {}",
                l.lost_revision_count,
                preview(&ranges)
            )?;
        }
        if !l.lost_revisions.is_empty() || !l.unverifiable.is_empty() {
            writeln!(
                out,
                "  keys: {} total, latest revision survived for {}, uncertain for {} (a lost revision lies above it), {} with lost history",
                l.keys_total, l.keys_latest_survived, l.keys_latest_uncertain, l.keys_with_lost_history
            )?;
        }
    }
    for c in r.conflicts.iter().take(20) {
        writeln!(
            out,
            "  conflict: revision {} ({}): {} different copies; kept {}",
            c.revision, c.key, c.copies, c.kept
        )?;
    }
    for d in r.damage.iter().take(20) {
        writeln!(out, "  damage: {d}")?;
    }
    if r.damage.len() > 20 {
        writeln!(
            out,
            "  damage: … {} more (see --report)",
            r.damage.len() - 20
        )?;
    }
    for n in &r.notes {
        writeln!(out, "  note: {n}")?;
    }
    Ok(())
}

fn preview(items: &[String]) -> String {
    let shown: Vec<&str> = items.iter().take(10).map(String::as_str).collect();
    if items.len() > 10 {
        format!("{}, … ({} more)", shown.join(", "), items.len() - 10)
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::kv::KeyValue;
    use crate::etcd::revision::RevisionKey;

    fn record(main: i64, value: &'static [u8]) -> (Vec<u8>, Vec<u8>) {
        let rk = RevisionKey {
            main,
            sub: 0,
            tombstone: false,
        };
        let kv = KeyValue {
            key: b"/k",
            create_revision: 1,
            mod_revision: main,
            version: main,
            value,
            ..KeyValue::default()
        };
        (rk.encode(), kv.encode())
    }

    fn scan_of<'a>(found: &[(&'a [u8], &'a [u8])]) -> salvage::Scan<'a> {
        salvage::Scan {
            found: found
                .iter()
                .map(|(k, v)| salvage::Found {
                    bucket: "key",
                    key: k,
                    value: v,
                    page: 9,
                })
                .collect(),
            ..salvage::Scan::default()
        }
    }

    fn put_entry(index: u64) -> LogEntry {
        // InternalRaftRequest{put: PutRequest{key: "k", value: "v"}}
        LogEntry {
            index,
            term: 2,
            entry_type: 0,
            data: vec![0x22, 0x06, 0x0a, 0x01, b'k', 0x12, 0x01, b'v'],
        }
    }

    #[test]
    fn entries_past_the_commit_index_apply_only_with_one_voter() {
        let log = LogRead {
            entries: (1..=10).map(put_entry).collect(),
            commit: 7,
            last_index: 10,
        };
        let mut tail = LogTail::default();
        let one = entries_to_apply(&log, 5, 1, &mut tail).unwrap();
        assert_eq!(one.len(), 5, "a lone voter's restart commits its whole log");
        assert_eq!((tail.applied_past_commit, tail.beyond_commit), (3, 0));
        let mut tail = LogTail::default();
        let three = entries_to_apply(&log, 5, 3, &mut tail).unwrap();
        assert_eq!(three.len(), 2);
        assert_eq!((tail.applied_past_commit, tail.beyond_commit), (0, 3));
        // A log that does not continue from the db cannot be applied.
        assert!(entries_to_apply(&log, 0, 1, &mut LogTail::default()).is_ok());
        let gap = LogRead {
            entries: (7..=10).map(put_entry).collect(),
            commit: 10,
            last_index: 10,
        };
        assert!(entries_to_apply(&gap, 3, 1, &mut LogTail::default()).is_err());
    }

    #[test]
    fn disagreeing_copies_are_conflicts_settled_by_majority() {
        let (rk, good) = record(2, b"good");
        let (_, flipped) = record(2, b"goOd");
        let (rk3, only) = record(3, b"three");
        // The tree holds a flipped copy; two stale copies agree on another.
        let mut b = Buckets::new();
        b.entry(b"key".to_vec())
            .or_default()
            .insert(rk.clone(), flipped.clone());
        let mut report = RepairReport::default();
        let mut sources = BTreeMap::new();
        let s = scan_of(&[(&rk, &good), (&rk, &good), (&rk3, &only)]);
        merge_scan(&mut b, &s, &[], &mut report, &mut sources);
        let kb = &b[b"key".as_slice()];
        assert_eq!(kb[&rk], good, "the agreeing copies win");
        assert_eq!(kb[&rk3], only, "a revision only the scan has is added");
        assert_eq!(report.conflicts.len(), 1);
        assert_eq!(report.conflicts[0].revision, "2_0");
        assert_eq!(sources.get(&rk3), Some(&Source::Scan));
        // One differing copy against the tree's: kept, but reported.
        let mut b = Buckets::new();
        b.entry(b"key".to_vec())
            .or_default()
            .insert(rk.clone(), flipped.clone());
        let mut report = RepairReport::default();
        merge_scan(
            &mut b,
            &scan_of(&[(&rk, &good)]),
            &[],
            &mut report,
            &mut sources,
        );
        assert_eq!(b[b"key".as_slice()][&rk], flipped);
        assert_eq!(report.conflicts.len(), 1);
        finish(&mut report);
        assert!(!report.complete && report.summary.starts_with("INCOMPLETE"));
    }
}
