//! `wal verify` and `wal dump`: the raft log of a member, checked the way
//! etcd's decoder reads it, and listed entry by entry.

use crate::findings::{Finding, Severity};
use crate::wal::entry::{self, EntryData};
use crate::wal::log::{read_log, LogReport};
use crate::wal::segment::Payload;
use serde::Serialize;
use std::path::Path;

/// Turn a log report into findings.
pub fn findings(r: &LogReport) -> Vec<Finding> {
    let mut out = Vec::new();
    let n = r.segments.len();
    if n == 0 {
        out.push(Finding::error(
            "wal.none",
            &r.dir.display().to_string(),
            "no WAL segments: this member's raft log and identity are gone (etcd would bootstrap a new member here)".into(),
        ));
    }
    for (i, s) in r.segments.iter().enumerate() {
        let file = s.path.display().to_string();
        if let (Some(p), Some(off)) = (&s.read.problem, s.read.bad_offset) {
            let sev = if p.repairable() {
                Severity::Warning
            } else {
                Severity::Error
            };
            let code = match p {
                crate::wal::segment::Problem::TornTail { .. } => "wal.record.torn-tail",
                crate::wal::segment::Problem::CrcMismatch { .. } => "wal.record.crc-mismatch",
                crate::wal::segment::Problem::CrcChainBreak { .. } => "wal.record.crc-chain",
                crate::wal::segment::Problem::Oversize { .. } => "wal.record.oversize",
                crate::wal::segment::Problem::Unreadable { .. } => "wal.record.unreadable",
            };
            out.push(
                Finding::new(
                    sev,
                    code,
                    &file,
                    format!(
                        "record {} at offset {off}: {}; last good raft index {}",
                        s.read.bad_record.unwrap_or(0),
                        p.describe(),
                        s.read
                            .last_index
                            .map_or("none in this segment".into(), |i| i.to_string())
                    ),
                )
                .at_offset(off),
            );
            if i + 1 < n {
                out.push(Finding::error(
                    "wal.segment.not-read",
                    &file,
                    format!(
                        "{} later segments are not read by etcd after this error",
                        n - i - 1
                    ),
                ));
            }
        } else if s.read.trailing_garbage {
            out.push(
                Finding::warning(
                    "wal.segment.data-after-end",
                    &file,
                    format!(
                        "non-zero bytes after the end of records at offset {}: etcd stops at the zero length field and ignores anything after it",
                        s.read.valid_end
                    ),
                )
                .at_offset(s.read.valid_end),
            );
        }
    }
    for p in &r.problems {
        let f = Finding::new(
            if p.fatal || p.code == "wal.entry.committed-overwritten" {
                Severity::Error
            } else if p.code == "wal.entry.overwritten" {
                Severity::Info
            } else {
                Severity::Warning
            },
            p.code,
            &p.path.display().to_string(),
            p.message.clone(),
        );
        out.push(match p.offset {
            Some(o) => f.at_offset(o),
            None => f,
        });
    }
    out
}

/// `wal verify`: the report and its findings.
pub fn verify(member_dir: &Path) -> std::io::Result<(LogReport, Vec<Finding>)> {
    verify_as(member_dir, &crate::etcd::lines::V3_4)
}

/// `verify` by a line's decoder: 3.5.5+ read an over-long record in the
/// last segment as an unexpected EOF, which `wal.Repair` cuts.
pub fn verify_as(
    member_dir: &Path,
    rules: &crate::etcd::lines::LineRules,
) -> std::io::Result<(LogReport, Vec<Finding>)> {
    let r = read_log(&member_dir.join("wal"), &mut |_, _, _| {})?;
    let f = line_findings(&r, rules);
    Ok((r, f))
}

/// [`findings`] as `rules`' decoder sees the log.
pub fn line_findings(r: &LogReport, rules: &crate::etcd::lines::LineRules) -> Vec<Finding> {
    let mut f = findings(r);
    if let Some(last) = r.segments.last() {
        if let (Some(crate::wal::segment::Problem::Oversize { len }), Some(off)) =
            (&last.read.problem, last.read.bad_offset)
        {
            if rules.oversize_repairable(*len, off, last.size) {
                let file = last.path.display().to_string();
                for x in f
                    .iter_mut()
                    .filter(|x| x.code == "wal.record.oversize" && x.file == file)
                {
                    x.severity = Severity::Warning;
                    x.message.push_str(&format!(
                        "; etcd {} reads it as an unexpected EOF (the length runs past the end of the file) and wal.Repair truncates the segment here",
                        rules.version
                    ));
                }
            }
        }
    }
    f
}

/// One row of `wal dump`.
#[derive(Debug, Serialize)]
pub struct DumpRow {
    pub file: String,
    pub offset: u64,
    pub record: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<EntryData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// At or below the last hard state's commit index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub committed: Option<bool>,
    /// Replaced by a later entry at the same index (a raft log truncation):
    /// etcd's ReadAll drops it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub superseded: bool,
}

/// Filters of `wal dump`.
#[derive(Debug, Clone, Default)]
pub struct DumpFilter {
    pub start_index: Option<u64>,
    pub end_index: Option<u64>,
    /// etcd-dump-logs' entry-type names (ConfigChange, Normal, Request,
    /// InternalRaftRequest, IRRPut, ...); empty: all.
    pub entry_types: Vec<String>,
    /// Every record, not only entries.
    pub raw: bool,
}

/// `wal dump`: rows for entries (and with `raw`, every record).
pub fn dump(member_dir: &Path, filter: &DumpFilter) -> std::io::Result<(LogReport, Vec<DumpRow>)> {
    let mut rows = Vec::new();
    let r = read_log(&member_dir.join("wal"), &mut |path, rec, payload| {
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut row = DumpRow {
            file,
            offset: rec.offset,
            record: "",
            term: None,
            index: None,
            entry_type: None,
            data: None,
            detail: None,
            committed: None,
            superseded: false,
        };
        match payload {
            Payload::Entry(e) => {
                if filter.start_index.is_some_and(|s| e.index < s)
                    || filter.end_index.is_some_and(|x| e.index >= x)
                {
                    return;
                }
                let data = entry::decode(e.entry_type, e.data);
                if !filter.entry_types.is_empty()
                    && !data
                        .filter_names()
                        .iter()
                        .any(|n| filter.entry_types.iter().any(|f| f == n))
                {
                    return;
                }
                row.record = "entry";
                row.term = Some(e.term);
                row.index = Some(e.index);
                row.entry_type = Some(if e.entry_type == 0 { "norm" } else { "conf" });
                row.data = Some(data);
                rows.push(row);
            }
            _ if !filter.raw => {}
            Payload::Metadata(m) => {
                row.record = "metadata";
                row.detail = Some(format!(
                    "node_id={:x} cluster_id={:x}",
                    m.node_id, m.cluster_id
                ));
                rows.push(row);
            }
            Payload::State(h) => {
                row.record = "hard-state";
                row.detail = Some(format!(
                    "term={} vote={:x} commit={}",
                    h.term, h.vote, h.commit
                ));
                rows.push(row);
            }
            Payload::Crc(c) => {
                row.record = "crc";
                row.detail = Some(format!("{c:#010x}"));
                rows.push(row);
            }
            Payload::Snapshot(s) => {
                row.record = "snapshot";
                row.detail = Some(format!("index={} term={}", s.index, s.term));
                rows.push(row);
            }
            Payload::Unknown(t) => {
                row.record = "unknown";
                row.detail = Some(format!("type {t}"));
                rows.push(row);
            }
        }
    })?;
    if filter.raw {
        // Past the first bad record etcd reads nothing; raw mode goes on,
        // resynchronising on record boundaries, and says so on every row.
        for seg in r.segments.iter().filter(|s| s.read.problem.is_some()) {
            let bad = seg.read.bad_offset.unwrap_or(seg.read.valid_end);
            let file = seg
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            rows.push(DumpRow {
                file: file.clone(),
                offset: bad,
                record: "damaged",
                term: None,
                index: None,
                entry_type: None,
                data: None,
                detail: seg.read.problem.as_ref().map(|p| p.describe()),
                committed: None,
                superseded: false,
            });
            let f = crate::mmap::InputFile::open(&seg.path)?;
            crate::wal::segment::resync(f.bytes(), bad + 8, &mut |rec, payload| {
                let (record, term, index, detail) = match payload {
                    Payload::Entry(e) => (
                        "entry",
                        Some(e.term),
                        Some(e.index),
                        Some(format!("term={} index={}", e.term, e.index)),
                    ),
                    Payload::State(h) => (
                        "hard-state",
                        None,
                        None,
                        Some(format!(
                            "term={} vote={:x} commit={}",
                            h.term, h.vote, h.commit
                        )),
                    ),
                    Payload::Metadata(m) => (
                        "metadata",
                        None,
                        None,
                        Some(format!(
                            "node_id={:x} cluster_id={:x}",
                            m.node_id, m.cluster_id
                        )),
                    ),
                    Payload::Crc(c) => ("crc", None, None, Some(format!("{c:#010x}"))),
                    Payload::Snapshot(s) => (
                        "snapshot",
                        None,
                        None,
                        Some(format!("index={} term={}", s.index, s.term)),
                    ),
                    Payload::Unknown(_) => return,
                };
                rows.push(DumpRow {
                    file: file.clone(),
                    offset: rec.offset,
                    record,
                    term,
                    index,
                    entry_type: None,
                    data: None,
                    detail: Some(format!(
                        "{}past the damage: CRC not checked, etcd does not read this",
                        detail.map_or(String::new(), |d| d + "; ")
                    )),
                    committed: None,
                    superseded: false,
                });
            });
        }
        return Ok((r, rows));
    }
    // ReadAll: a later entry at index i replaces every earlier one at i or
    // above; only entries up to the last hard state's commit are committed.
    let commit = r.hard_state.map_or(0, |h| h.commit);
    let mut live: Vec<(u64, usize)> = Vec::new();
    for k in 0..rows.len() {
        let Some(i) = rows[k].index else { continue };
        while live.last().is_some_and(|(j, _)| *j >= i) {
            if let Some((_, pos)) = live.pop() {
                rows[pos].superseded = true;
            }
        }
        live.push((i, k));
        rows[k].committed = Some(i <= commit);
    }
    for row in rows.iter_mut().filter(|r| r.superseded) {
        row.committed = Some(false);
    }
    Ok((r, rows))
}

/// The text of one dump row.
pub fn row_text(r: &DumpRow) -> String {
    match (&r.data, r.term, r.index) {
        (Some(d), Some(t), Some(i)) => {
            let what = match d {
                EntryData::Empty => "(empty)".to_string(),
                EntryData::Request {
                    request,
                    summary,
                    user,
                    ..
                } => match user {
                    Some(u) => format!("{request} {summary} user={u}"),
                    None => format!("{request} {summary}"),
                },
                EntryData::V2 {
                    method,
                    path,
                    value,
                } => format!("v2 method={method} path={path} val={value}"),
                EntryData::ConfChange {
                    change,
                    node_id,
                    context,
                } => format!("{change} id={node_id:x} {context}"),
                EntryData::Unknown { reason } => format!("??? {reason}"),
            };
            let mark = if r.superseded {
                " (superseded)"
            } else if r.committed == Some(false) {
                " (not committed)"
            } else {
                ""
            };
            format!("{t}\t{i}\t{}\t{what}{mark}", r.entry_type.unwrap_or(""))
        }
        _ => format!(
            "{}@{} {}: {}",
            r.file,
            r.offset,
            r.record,
            r.detail.clone().unwrap_or_default()
        ),
    }
}
