//! `wal repair`: a copy of the member dir whose log etcd will read. Like
//! etcd's `wal.Repair` the last segment is cut at its last valid record; with
//! `allow_data_loss` a mid-log corruption is cut too (later segments are
//! left out), with an exact account of the raft indices dropped and which
//! of them were committed. The input is never touched.
//!
//! Only a copy etcd takes is published: the new data dir is built under a
//! temp name beside the output, then read back as etcd reads it (`wal
//! verify` by the rules of the line that wrote the member, and `check`'s
//! boot prediction); when etcd would refuse it (or start and never serve,
//! as with a db ahead of the log) it is deleted and the command refuses with
//! the reason, pointing to `repair` (a snapshot rebuilt from the db and the
//! log). Otherwise it is renamed to the output.

use crate::mmap::InputFile;
use crate::wal::log::read_log;
use crate::wal::segment::Payload;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Serialize)]
pub struct RepairReport {
    pub out: PathBuf,
    /// What was cut: (segment, offset it was cut at).
    pub cut: Option<(PathBuf, u64)>,
    pub dropped_segments: Vec<PathBuf>,
    /// Raft indices that were in the log and are no longer.
    pub dropped_indices: Option<(u64, u64)>,
    /// How many of the dropped entries were committed (HardState.commit of
    /// the original log, as far as it could be read).
    pub dropped_committed: u64,
    pub last_index: Option<u64>,
    pub changed: bool,
    /// The db's consistent index when it is beyond the repaired log's end:
    /// etcd would then skip new entries and not serve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_ahead_of_log: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    #[error("{0} exists: refusing to overwrite it (use --force)")]
    Exists(PathBuf),
    #[error("the log has a corruption etcd refuses, not a torn tail (at {0}, offset {1}): cutting there loses the entries after it; use --allow-data-loss to cut anyway")]
    NeedsDataLoss(PathBuf, u64),
    #[error("no log etcd takes can be made by cutting this one: {reason}; nothing was written. Rebuild the member instead: `etcd-rescue repair {input} --replay-wal --out rescued.db`, then `snapshot restore` it")]
    Unrepairable { reason: String, input: PathBuf },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Write(#[from] super::write::WriteError),
}

/// An I/O error said with the path being written (a full disk as "no
/// space left on device").
fn at(path: &Path) -> impl FnOnce(std::io::Error) -> std::io::Error + '_ {
    move |e| {
        std::io::Error::new(
            e.kind(),
            format!("writing {}: {}", path.display(), super::write::describe(&e)),
        )
    }
}

/// Copy `from` to `to` and fsync it.
fn copy_synced(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::copy(from, to).map_err(at(to))?;
    std::fs::File::open(to)?.sync_all().map_err(at(to))
}

fn copy_tree(from: &Path, to: &Path, skip: &dyn Fn(&Path) -> bool) -> std::io::Result<()> {
    std::fs::create_dir_all(to).map_err(at(to))?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let p = e.path();
        if skip(&p) {
            continue;
        }
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&p, &dest, skip)?;
        } else {
            copy_synced(&p, &dest)?;
        }
    }
    sync_dir(to)
}

/// fsync a directory (its entries are then on disk).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all().map_err(at(dir))
}

/// Repair the log of `member_dir` (a data dir's `member/`) into `out` (a new
/// data dir with `member/` inside).
pub fn repair(
    member_dir: &Path,
    out: &Path,
    allow_data_loss: bool,
    force: bool,
) -> Result<RepairReport, RepairError> {
    if out.exists() && !force {
        return Err(RepairError::Exists(out.to_path_buf()));
    }
    let mut entries: Vec<(PathBuf, u64)> = Vec::new(); // (segment, index) in log order
    let log = read_log(&member_dir.join("wal"), &mut |path, _, payload| {
        if let Payload::Entry(e) = payload {
            entries.push((path.to_path_buf(), e.index));
        }
    })?;
    let n = log.segments.len();
    let bad = log
        .segments
        .iter()
        .enumerate()
        .find_map(|(i, s)| s.read.problem.as_ref().map(|p| (i, s, p)));
    let mut report = RepairReport {
        out: out.to_path_buf(),
        cut: None,
        dropped_segments: Vec::new(),
        dropped_indices: None,
        dropped_committed: 0,
        last_index: entries.last().map(|e| e.1),
        changed: false,
        db_ahead_of_log: None,
    };
    let mut cut_at: Option<(usize, u64)> = None;
    if let Some((i, s, p)) = bad {
        let off = s.read.bad_offset.unwrap_or(s.read.valid_end);
        let torn_tail = p.repairable() && i + 1 == n;
        if !torn_tail && !allow_data_loss {
            return Err(RepairError::NeedsDataLoss(s.path.clone(), off));
        }
        cut_at = Some((i, s.read.valid_end));
    }
    super::write::ensure_room(out, output_size(member_dir, &log, cut_at)?)
        .map_err(std::io::Error::from)?;
    let tmp = temp_beside(out);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    let built = build(member_dir, &tmp, &log, cut_at, &mut report);
    let verdict = built.and_then(|()| match report.db_ahead_of_log {
        Some(ci) => Ok(Some(format!(
            "the db's consistent index {ci} is beyond the end of the log ({}): etcd would start, skip every new entry up to index {ci} and never serve",
            report
                .last_index
                .map_or("no entries".into(), |i| format!("raft index {i}"))
        ))),
        None => judge(&tmp),
    });
    match verdict {
        Ok(None) => {}
        Ok(Some(reason)) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(RepairError::Unrepairable {
                reason,
                input: member_dir.parent().unwrap_or(member_dir).to_path_buf(),
            });
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    }
    if out.exists() && force {
        std::fs::remove_dir_all(out)?;
    }
    std::fs::rename(&tmp, out)?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(report)
}

/// What the repaired data dir takes on disk: every file of the member dir
/// but the segments left out, the cut segment up to the cut, and a block
/// per directory.
fn output_size(
    member_dir: &Path,
    log: &crate::wal::log::LogReport,
    cut_at: Option<(usize, u64)>,
) -> std::io::Result<u64> {
    fn tree(dir: &Path, sized: &dyn Fn(&Path, u64) -> Option<u64>) -> std::io::Result<u64> {
        let mut n = 4096;
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let p = e.path();
            if e.file_type()?.is_dir() {
                n += tree(&p, sized)?;
            } else if let Some(len) = sized(&p, e.metadata()?.len()) {
                n += super::write::on_disk(len);
            }
        }
        Ok(n)
    }
    let sized = |p: &Path, len: u64| match log.segments.iter().position(|s| s.path == p) {
        Some(i) => match cut_at {
            Some((ci, _)) if i > ci => None,
            Some((ci, end)) if i == ci => Some(end.min(len)),
            _ => Some(len),
        },
        None => Some(len),
    };
    Ok(4096 + tree(member_dir, &sized)?)
}

/// `.NAME.tmp-PID` beside `out`.
fn temp_beside(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    out.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Whether etcd takes the data dir `dir`: `None` when it does, else why
/// not (the first error of `wal verify` by the line's decoder, or the boot
/// prediction's summary).
fn judge(dir: &Path) -> Result<Option<String>, RepairError> {
    let member = dir.join("member");
    let input = crate::input::resolve(dir).map_err(|e| std::io::Error::other(e.to_string()))?;
    let check = super::check::check(&input).ok();
    let rules = check
        .as_ref()
        .and_then(|c| c.boot.as_ref())
        .and_then(|b| crate::etcd::lines::EtcdVersion::parse(&b.etcd_version))
        .map_or(crate::etcd::lines::V3_4, |v| v.rules());
    let (_, findings) = super::wal::verify_as(&member, &rules)?;
    if let Some(f) = findings
        .iter()
        .find(|f| f.severity == crate::findings::Severity::Error)
    {
        let file = Path::new(&f.file)
            .strip_prefix(dir)
            .map_or_else(|_| f.file.clone(), |p| p.display().to_string());
        return Ok(Some(format!(
            "the cut log still fails `wal verify` ({}: {}: {})",
            f.code, file, f.message
        )));
    }
    Ok(check.and_then(|c| c.boot).and_then(|b| {
        (!b.starts).then(|| {
            format!(
                "etcd {} would not serve the cut copy: {}",
                b.line, b.summary
            )
        })
    }))
}

/// Write the repaired data dir `out` (copying everything but the WAL
/// segments, which are copied, cut or left out).
fn build(
    member_dir: &Path,
    out: &Path,
    log: &crate::wal::log::LogReport,
    cut_at: Option<(usize, u64)>,
    report: &mut RepairReport,
) -> Result<(), RepairError> {
    let out_member = out.join("member");
    let segs: Vec<PathBuf> = log.segments.iter().map(|s| s.path.clone()).collect();
    let skip = |p: &Path| segs.iter().any(|s| s == p);
    copy_tree(member_dir, &out_member, &skip)?;
    for (i, seg) in segs.iter().enumerate() {
        let dest = out_member
            .join("wal")
            .join(seg.file_name().unwrap_or_default());
        match cut_at {
            Some((ci, _)) if i > ci => {
                report.dropped_segments.push(seg.clone());
                report.changed = true;
            }
            Some((ci, end)) if i == ci => {
                let f = InputFile::open(seg)?;
                let keep = &f.bytes()[..(end as usize).min(f.bytes().len())];
                super::write::write_new_file(&dest, keep, true)?;
                report.cut = Some((seg.clone(), end));
                report.changed = true;
            }
            _ => {
                copy_synced(seg, &dest)?;
            }
        }
    }
    for d in [
        out_member.join("wal"),
        out_member.clone(),
        out.to_path_buf(),
    ] {
        if d.is_dir() {
            sync_dir(&d)?;
        }
    }
    if let Some((ci, end)) = cut_at {
        // What the cut drops: entries and hard states found past it.
        let mut beyond = crate::wal::segment::Beyond::default();
        for seg in &segs[ci..] {
            let f = InputFile::open(seg)?;
            // In the cut segment, skip the bad record's length field.
            let from = if seg == &segs[ci] { end + 8 } else { 0 };
            crate::wal::segment::salvage_after(f.bytes(), from, &mut beyond);
        }
        let kept_last = log.segments[..=ci]
            .iter()
            .rev()
            .find_map(|s| s.read.last_index);
        report.last_index = kept_last;
        let kept = kept_last.unwrap_or(0);
        // The bad record itself held the next index; records found past it
        // and hard states recorded later say how far the log went and what
        // etcd had committed.
        let found = beyond
            .entry_indices
            .iter()
            .copied()
            .filter(|i| *i > kept)
            .max();
        let commit = beyond
            .max_commit
            .max(log.hard_state.map(|h| h.commit))
            .unwrap_or(0);
        let last = found.unwrap_or(kept).max(commit);
        if last > kept {
            report.dropped_indices = Some((kept + 1, last));
        }
        report.dropped_committed = commit.saturating_sub(kept);
    }
    let db = member_dir.join("snap/db");
    if let Ok(f) = InputFile::open(&db) {
        if let Ok(b) = crate::bolt::BoltFile::new(f.bytes()) {
            let (facts, _) = crate::etcd::validate::read_small_buckets(&b, "");
            if let (Some(ci), Some(last)) = (facts.consistent_index(), report.last_index) {
                if ci > last {
                    report.db_ahead_of_log = Some(ci);
                }
            }
        }
    }
    Ok(())
}
