//! The whole log of a member: its segments in sequence, the CRC chain
//! carried across them, and the checks between segments (sequence and
//! index continuity, identical metadata, leftovers).

use super::segment::{read_segment, Payload, SegmentName, SegmentRead};
use super::{HardState, Metadata};
use crate::mmap::InputFile;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One segment and what reading it found.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentReport {
    pub path: PathBuf,
    pub name: Option<SegmentName>,
    pub size: u64,
    pub read: SegmentRead,
}

/// Something wrong between segments, or around them.
#[derive(Debug, Clone, Serialize)]
pub struct LogProblem {
    pub path: PathBuf,
    pub code: &'static str,
    pub message: String,
    /// Whether etcd refuses to start on it.
    pub fatal: bool,
    /// Byte offset in `path` it concerns, when it is one record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// Everything `wal verify` needs.
#[derive(Debug, Clone, Serialize)]
pub struct LogReport {
    pub dir: PathBuf,
    pub segments: Vec<SegmentReport>,
    pub problems: Vec<LogProblem>,
    pub metadata: Option<Metadata>,
    pub hard_state: Option<HardState>,
    pub snapshots: Vec<super::segment::SnapshotRecord>,
}

/// Where etcd's ReadAll would fail with "slice out of range": an entry whose
/// index jumps past the end of the entries read so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexGap {
    pub path: PathBuf,
    pub offset: u64,
    /// The index the log had reached (or the snapshot index it starts at).
    pub after: u64,
    /// The index found.
    pub found: u64,
}

impl LogReport {
    /// Replay ReadAll's index rule from snapshot index `start`: entries at
    /// or below `start` are skipped, an entry at or below the last one read
    /// replaces it and everything after it, and an entry beyond the next
    /// index is a gap ReadAll refuses.
    pub fn read_all_gap(&self, start: u64) -> Option<IndexGap> {
        let mut last = start;
        for s in &self.segments {
            for run in &s.read.runs {
                let first = run.first.max(start.saturating_add(1));
                if first > run.last {
                    continue;
                }
                if first > last.saturating_add(1) {
                    return Some(IndexGap {
                        path: s.path.clone(),
                        offset: run.offset,
                        after: last,
                        found: first,
                    });
                }
                last = run.last;
            }
        }
        None
    }

    /// The entry index the log ends at once overwrites are resolved (the
    /// last entry read, whatever came before it).
    pub fn last_index(&self) -> Option<u64> {
        self.segments.iter().rev().find_map(|s| s.read.last_index)
    }
}

/// Findings about the sequence of entry indices: gaps (ReadAll refuses them
/// when they lie past the snapshot it starts from; judged here from the
/// start of the log) and overwrites (a new leader replacing uncommitted
/// entries is normal; replacing committed ones breaks raft's guarantee).
fn index_problems(report: &LogReport) -> Vec<LogProblem> {
    let mut out = Vec::new();
    let mut last: Option<u64> = None;
    let mut commit: u64 = 0;
    for s in &report.segments {
        for run in &s.read.runs {
            let seen_commit = run.commit_before.unwrap_or(commit).max(commit);
            if let Some(l) = last {
                if run.first > l.saturating_add(1) {
                    out.push(LogProblem {
                        path: s.path.clone(),
                        code: "wal.entry.index-gap",
                        message: format!(
                            "entry at offset {} has index {} but the log had reached {l}: entries {}..{} are missing; etcd's ReadAll fails (slice out of range) unless the snapshot it loads is at or past {}",
                            run.offset,
                            run.first,
                            l + 1,
                            run.first - 1,
                            run.first - 1
                        ),
                        fatal: true,
                        offset: Some(run.offset),
                    });
                } else if run.first <= l {
                    let committed = run.first <= seen_commit;
                    out.push(LogProblem {
                        path: s.path.clone(),
                        code: if committed {
                            "wal.entry.committed-overwritten"
                        } else {
                            "wal.entry.overwritten"
                        },
                        message: if committed {
                            format!(
                                "entry at offset {} (term {}) rewrites index {} although the log had recorded commit index {seen_commit}: committed entries {}..{} were replaced, which raft never does; the log was tampered with or spliced",
                                run.offset, run.term, run.first, run.first, l.min(seen_commit)
                            )
                        } else {
                            format!(
                                "entries {}..{l} were replaced from offset {} by a new leader's term {} (uncommitted entries overwritten, as raft does after an election)",
                                run.first, run.offset, run.term
                            )
                        },
                        fatal: false,
                        offset: Some(run.offset),
                    });
                }
            }
            last = Some(run.last);
        }
        commit = s.read.last_commit.unwrap_or(commit).max(commit);
    }
    out
}

/// Read every segment under `member/wal`, visiting each good record.
pub fn read_log(
    wal_dir: &Path,
    visit: &mut dyn FnMut(&Path, &super::record::WalRecord<'_>, Payload<'_>),
) -> std::io::Result<LogReport> {
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut problems = Vec::new();
    for e in std::fs::read_dir(wal_dir)? {
        let p = e?.path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".wal") {
            paths.push(p);
        } else if name.ends_with(".broken") {
            problems.push(LogProblem {
                path: p,
                code: "wal.leftover.broken",
                message:
                    "a copy wal.Repair kept of a segment before truncating it (forensic value only)"
                        .into(),
                fatal: false,
                offset: None,
            });
        } else if name.ends_with(".tmp") {
            // The preallocated spare segment: not data.
        } else {
            problems.push(LogProblem {
                path: p,
                code: "wal.leftover.unexpected",
                message: "unexpected file in the WAL directory".into(),
                fatal: false,
                offset: None,
            });
        }
    }
    paths.sort();
    let mut report = LogReport {
        dir: wal_dir.to_path_buf(),
        segments: Vec::new(),
        problems,
        metadata: None,
        hard_state: None,
        snapshots: Vec::new(),
    };
    let mut running = 0u32;
    let mut prev: Option<(SegmentName, Option<u64>)> = None;
    let n = paths.len();
    for (i, path) in paths.iter().enumerate() {
        let name = SegmentName::of(path);
        let file = InputFile::open(path)?;
        let bytes = file.bytes();
        let mut seg_meta: Option<Metadata> = None;
        let read = read_segment(bytes, &mut running, i + 1 == n, &mut |rec, payload| {
            match payload {
                Payload::Metadata(m) => seg_meta = Some(m),
                Payload::State(h) if h != HardState::default() => report.hard_state = Some(h),
                Payload::Snapshot(s) => report.snapshots.push(s),
                _ => {}
            }
            visit(path, rec, payload);
        });
        for (a, b) in file.unreadable() {
            report.problems.push(LogProblem {
                path: path.clone(),
                code: "wal.segment.unreadable",
                message: format!(
                    "bytes {a}..{b} cannot be read (I/O error): read as zeros here; etcd reading this disk gets the same error and stops; copy the member to a healthy disk first (ddrescue keeps what can be read) and work on the copy"
                ),
                fatal: true,
                offset: Some(a),
            });
        }
        let mut problem = |code, message: String, fatal| {
            report.problems.push(LogProblem {
                path: path.clone(),
                code,
                message,
                fatal,
                offset: None,
            })
        };
        match (name, prev) {
            (None, _) => problem(
                "wal.segment.name",
                "segment name is not SEQ-INDEX.wal (16 hex digits each)".into(),
                false,
            ),
            (Some(nm), Some((p, last_index))) => {
                if nm.seq != p.seq + 1 {
                    problem(
                        "wal.segment.sequence-gap",
                        format!("sequence {} follows {}: a segment is missing; etcd refuses to read past a gap", nm.seq, p.seq),
                        true,
                    );
                }
                if let Some(li) = last_index {
                    if nm.index != li + 1 && nm.index > li + 1 {
                        problem(
                            "wal.segment.index-gap",
                            format!(
                                "segment starts at index {} but the previous one ended at {li}",
                                nm.index
                            ),
                            true,
                        );
                    }
                }
            }
            _ => {}
        }
        if let (Some(first), Some(m)) = (report.metadata, seg_meta) {
            if first != m {
                problem(
                    "wal.metadata.conflict",
                    format!(
                        "metadata differs from the first segment's (node {:x}/cluster {:x} vs {:x}/{:x}): etcd refuses to start (metadata conflict)",
                        m.node_id, m.cluster_id, first.node_id, first.cluster_id
                    ),
                    true,
                );
            }
        }
        report.metadata = report.metadata.or(seg_meta);
        if let (Some(nm), Some(first)) = (name, read.first_index) {
            if first != nm.index && !(nm.seq == 0 && nm.index == 0) {
                problem(
                    "wal.segment.first-index",
                    format!("the segment's name says it starts at index {} but its first entry is {first}", nm.index),
                    false,
                );
            }
        }
        prev = name.map(|nm| (nm, read.last_index.or(prev.and_then(|p| p.1))));
        report.segments.push(SegmentReport {
            path: path.clone(),
            name,
            size: bytes.len() as u64,
            read,
        });
        let last = report.segments.last().map(|s| &s.read);
        if last.is_some_and(|r| r.problem.is_some()) && i + 1 < n {
            // etcd stops at the first bad record; later segments are not read.
            break;
        }
    }
    let found = index_problems(&report);
    report.problems.extend(found);
    Ok(report)
}
