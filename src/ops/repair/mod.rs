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
mod gather;
mod logtail;
pub mod losses;
pub mod members_replay;
mod output;
pub mod replay;
mod report;
pub mod salvage;
pub mod state;

use crate::bolt::cursor::{top_level_buckets, BucketCursor};
use crate::bolt::file::BucketRoot;
use crate::bolt::writer::{DbWriter, Layout, WriteOptions};
use crate::bolt::BoltFile;
use crate::input::Input;
use losses::{Losses, Source};
use replay::{LogEntry, ReplayReport};
use salvage::ScanStats;
use serde::Serialize;
use sha2::Digest;
use state::{meta_i64, meta_u64, Buckets};
use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use gather::gather;
use logtail::{apply_log, inert, read_entries};
use output::HashPipe;
pub use report::render_text;
use report::{describe_damage, finish};

/// What to try beyond the tree.
#[derive(Debug, Clone, Copy, Default)]
pub struct RepairOptions {
    pub salvage: bool,
    pub replay_wal: bool,
    /// The release the output is for (default: the line that wrote the
    /// input): its meta keys and its restore tool.
    pub etcd_version: Option<crate::etcd::lines::EtcdVersion>,
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
    /// Damage in the WAL (not a torn tail): entries past it could not be
    /// read, so anything they held past the db is not in the output.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub damage: Vec<String>,
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
    /// `--replay-wal` was asked for.
    #[serde(skip)]
    pub replay_requested: bool,
    /// The whole state came from the log (it holds every entry from index
    /// 1 and agrees with every record the db still has).
    pub rebuilt_from_log: bool,
    /// The release the output was written for, and the command that
    /// restores it.
    pub etcd_version: String,
    pub restore_with: String,
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

/// Repair `input` into a new snapshot file at `dest` (and its JSON report
/// at `report_to`). Each is refused before it is written when its file
/// system has no room for it (the db's size is known exactly from the
/// layout pass); the db is renamed to its name only after the report is
/// written, so a failure leaves neither.
pub fn repair(
    input: &Input,
    dest: &Path,
    force: bool,
    opts: RepairOptions,
    report_to: Option<&Path>,
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
    let asked = opts.etcd_version;
    let lineage = crate::ops::lineage::lineage(input);
    let rules = crate::ops::lineage::rules_for(asked, &lineage);
    // The log is replayed as the etcd that wrote it would apply it.
    let writer = crate::ops::lineage::rules_for(None, &lineage);
    let page_size = file
        .as_ref()
        .map(|f| f.page_size())
        .filter(|ps| ps.is_power_of_two() && (1024..=65536).contains(ps))
        .unwrap_or(4096);
    let mut report = RepairReport {
        replay_requested: opts.replay_wal,
        input: input.path.display().to_string(),
        output: dest.display().to_string(),
        ..RepairReport::default()
    };
    let input_bytes = bytes.map_or(0, |b| b.len() as u64);
    // Room for the file, checked before a byte is written; then the bar of
    // its writing.
    let room = |layout: &crate::bolt::writer::Layout| -> std::io::Result<crate::progress::Bar> {
        // The pages and the SHA-256 trailer.
        let need = layout
            .pgid
            .saturating_mul(page_size as u64)
            .saturating_add(32);
        crate::ops::write::ensure_room(dest, need)?;
        Ok(crate::progress::start(
            "writing",
            need,
            crate::progress::Unit::Bytes,
            input_bytes,
        ))
    };
    let written = crate::ops::write::stage_new_file_with(dest, force, |out| {
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
        // A release asked for explicitly gets its own meta keys: rebuilt.
        let streamable = !opts.salvage && !opts.replay_wal && !log_past && asked.is_none();
        let mut streamed = false;
        if let (true, Some(f)) = (streamable, file.as_ref()) {
            if let Some(meta) = f.meta() {
                // First the layout (nothing written), then the file itself.
                let mut counts = BTreeMap::new();
                let first = DbWriter::layout_pass(opts_w).map_err(to_io)?;
                if let Some((_, layout)) =
                    stream_tree(f, meta, first, &mut counts).map_err(to_io)?
                {
                    let _bar = room(&layout)?;
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
            let (mut b, base) = gather(file.as_ref(), opts, &mut report, &mut sources);
            apply_log(
                &mut b,
                base,
                log.as_ref(),
                opts,
                &mut report,
                &mut sources,
                &writer,
            );
            let compact = meta_i64(&b, b"finishedCompactRev").unwrap_or(0);
            let unreadable = merge_ranges(std::mem::take(&mut report.unreadable));
            if let Some(kb) = b.get(b"key".as_slice()) {
                let mut l = losses::account(kb, compact, &sources, &unreadable);
                // Writes past a damaged stretch of the WAL could have
                // touched any key: none is known to be at its latest.
                if opts.replay_wal && report.log.as_ref().is_some_and(|t| !t.damage.is_empty()) {
                    l.mark_all_uncertain();
                }
                report.losses = Some(l);
            }
            report.unreadable = unreadable;
            let term = log.as_ref().and_then(|l| l.as_ref().ok()).and_then(|l| {
                let ci = meta_u64(&b, b"consistent_index")?;
                l.entries.iter().find(|e| e.index == ci).map(|e| e.term)
            });
            line_meta(&mut b, &rules, term);
            report.consistent_index = meta_u64(&b, b"consistent_index");
            let first = DbWriter::layout_pass(opts_w).map_err(to_io)?;
            let (_, layout) = write_buckets(&b, first, &mut report).map_err(to_io)?;
            let _bar = room(&layout)?;
            let w = DbWriter::planned(HashPipe::new(out)?, opts_w, layout).map_err(to_io)?;
            let (pipe, _) = write_buckets(&b, w, &mut report).map_err(to_io)?;
            report.bytes_written = pipe.finish()?;
        }
        Ok(())
    });
    let (staged, ()) = written?;
    report.etcd_version = rules.version.to_string();
    report.restore_with = format!(
        "{} snapshot restore {} --data-dir NEW_DATA_DIR",
        rules.snapshot_tool,
        dest.display()
    );
    finish(&mut report);
    if let Some(p) = report_to {
        let json =
            serde_json::to_vec_pretty(&report).map_err(|e| crate::ops::write::WriteError::Io {
                path: p.to_path_buf(),
                source: std::io::Error::other(e),
            })?;
        crate::ops::write::write_new_file(p, &json, force)?;
    }
    if let Err(e) = staged.commit() {
        if let Some(p) = report_to {
            let _ = std::fs::remove_file(p);
        }
        return Err(e.into());
    }
    Ok(report)
}

/// The meta keys the target line keeps: `term` (3.5+, the term of the entry
/// at the consistent index, else kept, else 1), `confState` (3.5+, from the
/// members bucket when missing), `storageVersion` (3.6+ set to the line's;
/// removed for older lines, which do not know it).
fn line_meta(b: &mut Buckets, rules: &crate::etcd::lines::LineRules, term: Option<u64>) {
    let conf = (rules.writes_confstate
        && !b
            .get(b"meta".as_slice())
            .is_some_and(|m| m.contains_key(b"confState".as_slice())))
    .then(|| conf_state_of(b))
    .flatten();
    let meta = b.entry(b"meta".to_vec()).or_default();
    if rules.writes_term {
        match term {
            Some(t) => {
                meta.insert(b"term".to_vec(), t.to_be_bytes().to_vec().into());
            }
            None => {
                meta.entry(b"term".to_vec())
                    .or_insert_with(|| 1u64.to_be_bytes().to_vec().into());
            }
        }
    } else {
        meta.remove(b"term".as_slice());
        meta.remove(b"confState".as_slice());
    }
    if let Some(c) = conf {
        meta.insert(b"confState".to_vec(), c.into());
    }
    match rules.storage_version {
        Some(v) => {
            meta.insert(b"storageVersion".to_vec(), v.as_bytes().to_vec().into());
        }
        None => {
            meta.remove(b"storageVersion".as_slice());
        }
    }
}

/// raft's ConfState as etcd saves it (JSON), from the members bucket.
fn conf_state_of(b: &Buckets) -> Option<Vec<u8>> {
    let members = b.get(b"members".as_slice())?;
    let (mut voters, mut learners) = (Vec::new(), Vec::new());
    for (k, v) in members {
        let id = u64::from_str_radix(std::str::from_utf8(k).ok()?, 16).ok()?;
        let learner = serde_json::from_slice::<serde_json::Value>(v)
            .ok()
            .and_then(|j| j.get("isLearner").and_then(|l| l.as_bool()))
            .unwrap_or(false);
        if learner {
            learners.push(id);
        } else {
            voters.push(id);
        }
    }
    if voters.is_empty() {
        return None;
    }
    let mut j = serde_json::json!({ "voters": voters });
    if !learners.is_empty() {
        j["learners"] = serde_json::json!(learners);
    }
    j["auto_leave"] = serde_json::json!(false);
    serde_json::to_vec(&j).ok()
}

fn tree_label(file: Option<&BoltFile<'_>>) -> String {
    match file.and_then(|f| f.current.map(|c| (c, f))) {
        Some((c, f)) => format!("meta page {c} (txid {})", f.meta().map_or(0, |m| m.txid)),
        None => "no valid meta page".into(),
    }
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

/// The consistent index the db's `meta` bucket holds.
fn consistent_index(f: &BoltFile<'_>) -> Option<u64> {
    crate::etcd::validate::read_small_buckets(f, "")
        .0
        .consistent_index()
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
        etcd_version: None,
    };
    let (mut b, _) = gather(Some(&f), opts, &mut report, &mut sources);
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
    let r = replay::replay(&mut b, &entries, &crate::etcd::lines::V3_4);
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

#[cfg(test)]
mod tests {
    use super::gather::merge_scan;
    use super::logtail::{entries_to_apply, LogRead};
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
            damage: Vec::new(),
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
            damage: Vec::new(),
        };
        assert!(entries_to_apply(&gap, 3, 1, &mut LogTail::default()).is_err());
    }

    #[test]
    fn records_of_a_commit_past_the_tree_are_replayed_from_the_log() {
        let v34 = &crate::etcd::lines::V3_4;
        let log = LogRead {
            entries: (1..=5).map(put_entry).collect(),
            commit: 5,
            last_index: 5,
            damage: Vec::new(),
        };
        // The tree: the state after entries 1..3. What the whole log gives:
        // the truth for revisions past it.
        let mut tree = Buckets::new();
        replay::replay(&mut tree, &log.entries[..3], v34);
        let mut whole = Buckets::new();
        replay::replay(&mut whole, &log.entries, v34);
        let kb_all = whole[b"key".as_slice()].clone();
        let top = state::current_revision(&tree[b"key".as_slice()]);
        let past: Vec<(Vec<u8>, Vec<u8>)> = kb_all
            .iter()
            .filter(|(k, _)| RevisionKey::parse(k).unwrap().main > top)
            .map(|(k, v)| (k.clone(), v.to_vec()))
            .collect();
        assert_eq!(past.len(), 2);
        // The failed commit's pages: the first record whole, the second
        // written in part; its meta copy already names the last entry.
        let mut torn = past[1].1.clone();
        let n = torn.len();
        torn[n - 1] ^= 0xff;
        let ci5 = 5u64.to_be_bytes();
        let mut scan = scan_of(&[(&past[0].0, &past[0].1), (&past[1].0, &torn)]);
        scan.found.push(salvage::Found {
            bucket: "meta",
            key: b"consistent_index",
            value: &ci5,
            page: 9,
        });
        // Without --replay-wal the torn copy stays, but as a conflict the
        // log settles, so the repair is not called complete.
        let mut b = tree.clone();
        let mut report = RepairReport::default();
        let mut sources = BTreeMap::new();
        let base = merge_scan(&mut b, &scan, &[], &mut report, &mut sources);
        let opts = RepairOptions {
            salvage: true,
            replay_wal: false,
            etcd_version: None,
        };
        let log = Ok(log);
        apply_log(
            &mut b,
            base,
            Some(&log),
            opts,
            &mut report,
            &mut sources,
            v34,
        );
        assert_eq!(report.conflicts.len(), 1, "{:?}", report.notes);
        assert_eq!(
            report.conflicts[0].revision,
            gather::revision_label(&past[1].0)
        );
        finish(&mut report);
        assert!(!report.complete);

        let mut b = tree.clone();
        let mut report = RepairReport::default();
        let mut sources = BTreeMap::new();
        let base = merge_scan(&mut b, &scan, &[], &mut report, &mut sources);
        assert!(base.is_some(), "the scan found revisions past the tree");
        let opts = RepairOptions {
            replay_wal: true,
            ..opts
        };
        apply_log(
            &mut b,
            base,
            Some(&log),
            opts,
            &mut report,
            &mut sources,
            v34,
        );
        assert_eq!(
            b[b"key".as_slice()],
            kb_all,
            "the log's records, not the torn copy"
        );
        assert!(report.conflicts.is_empty(), "{:?}", report.conflicts);
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.contains("1 identical") && n.contains("1 differing")),
            "{:?}",
            report.notes
        );
        assert_eq!(meta_u64(&b, b"consistent_index"), Some(5));
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
            .insert(rk.clone(), flipped.clone().into());
        let mut report = RepairReport::default();
        let mut sources = BTreeMap::new();
        let s = scan_of(&[(&rk, &good), (&rk, &good), (&rk3, &only)]);
        merge_scan(&mut b, &s, &[], &mut report, &mut sources);
        let kb = &b[b"key".as_slice()];
        assert_eq!(*kb[&rk], *good, "the agreeing copies win");
        assert_eq!(*kb[&rk3], *only, "a revision only the scan has is added");
        assert_eq!(report.conflicts.len(), 1);
        assert_eq!(report.conflicts[0].revision, "2_0");
        assert_eq!(sources.get(&rk3), Some(&Source::Scan));
        // One differing copy against the tree's: kept, but reported.
        let mut b = Buckets::new();
        b.entry(b"key".to_vec())
            .or_default()
            .insert(rk.clone(), flipped.clone().into());
        let mut report = RepairReport::default();
        merge_scan(
            &mut b,
            &scan_of(&[(&rk, &good)]),
            &[],
            &mut report,
            &mut sources,
        );
        assert_eq!(*b[b"key".as_slice()][&rk], *flipped);
        assert_eq!(report.conflicts.len(), 1);
        finish(&mut report);
        assert!(!report.complete && report.summary.starts_with("INCOMPLETE"));
    }
}
