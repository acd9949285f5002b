//! `wal verify` and `wal dump`.

use super::{resolve, Failure};
use etcd_rescue::findings::Severity;
use etcd_rescue::ops::exit;
use etcd_rescue::ops::render::{self, finding_line, Format};
use etcd_rescue::ops::wal::{self, DumpFilter};
use std::io::Write;
use std::path::{Path, PathBuf};

fn member_dir(path: &Path) -> Result<PathBuf, Failure> {
    let input = resolve(path)?;
    input.member_dir.ok_or_else(|| Failure {
        code: exit::UNUSABLE,
        message: format!(
            "{}: a data dir or member dir is needed to read the WAL",
            path.display()
        ),
    })
}

pub fn verify(
    path: &Path,
    version: Option<etcd_rescue::etcd::lines::EtcdVersion>,
    fmt: Format,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let dir = member_dir(path)?;
    let rules = etcd_rescue::ops::lineage::rules_for(
        version,
        &etcd_rescue::ops::lineage::lineage(&super::resolve(path)?),
    );
    let (r, findings) = wal::verify_as(&dir, &rules)?;
    let ok = !findings.iter().any(|f| f.severity == Severity::Error);
    match fmt {
        Format::Json => render::json(
            out,
            &serde_json::json!({ "ok": ok, "findings": findings, "log": r }),
        )?,
        Format::Text => {
            for s in &r.segments {
                writeln!(
                    out,
                    "{}: {} bytes, {} records, {} entries{}{}",
                    s.path.display(),
                    s.size,
                    s.read.records,
                    s.read.entries,
                    match (s.read.first_index, s.read.last_index) {
                        (Some(a), Some(b)) => format!(", indices {a}..{b}"),
                        _ => String::new(),
                    },
                    if s.read.problem.is_some() {
                        ", DAMAGED"
                    } else {
                        ""
                    }
                )?;
            }
            if let Some(h) = r.hard_state {
                writeln!(
                    out,
                    "hard state: term {}, vote {:x}, commit {}",
                    h.term, h.vote, h.commit
                )?;
            }
            if let Some(m) = r.metadata {
                writeln!(out, "member {:x} of cluster {:x}", m.node_id, m.cluster_id)?;
            }
            for f in &findings {
                writeln!(out, "{}", finding_line(f))?;
            }
            writeln!(
                out,
                "{}",
                if ok {
                    "OK"
                } else {
                    "DAMAGED: etcd will refuse this log"
                }
            )?;
        }
    }
    Ok(if ok { exit::OK } else { exit::FINDINGS })
}

pub fn dump(
    path: &Path,
    filter: &DumpFilter,
    fmt: Format,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let dir = member_dir(path)?;
    let (r, rows) = wal::dump(&dir, filter)?;
    match fmt {
        Format::Json => {
            for row in &rows {
                serde_json::to_writer(&mut *out, row)?;
                writeln!(out)?;
            }
        }
        Format::Text => {
            if let Some(m) = r.metadata {
                writeln!(
                    out,
                    "WAL metadata: nodeID={:x} clusterID={:x}",
                    m.node_id, m.cluster_id
                )?;
            }
            if let Some(h) = r.hard_state {
                writeln!(
                    out,
                    "hard state: term={} commitIndex={} vote={:x}",
                    h.term, h.commit, h.vote
                )?;
            }
            for s in &r.snapshots {
                writeln!(out, "snapshot record: term={} index={}", s.term, s.index)?;
            }
            writeln!(out, "WAL entries:")?;
            writeln!(out, "term\tindex\ttype\tdata")?;
            for row in &rows {
                writeln!(out, "{}", wal::row_text(row))?;
            }
            writeln!(out, "{} rows", rows.len())?;
        }
    }
    let damaged = r.segments.iter().any(|s| s.read.problem.is_some());
    Ok(if damaged { exit::FINDINGS } else { exit::OK })
}

pub fn repair(
    path: &Path,
    dest: &Path,
    allow_data_loss: bool,
    force: bool,
    fmt: Format,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let dir = member_dir(path)?;
    let r = etcd_rescue::ops::wal_repair::repair(&dir, dest, allow_data_loss, force)?;
    match fmt {
        Format::Json => render::json(out, &r)?,
        Format::Text => {
            if r.dropped_committed > 0 {
                writeln!(
                    out,
                    "DATA LOSS: {} committed entries dropped; the repaired member must not rejoin a cluster as if it were intact",
                    r.dropped_committed
                )?;
            }
            writeln!(out, "wrote {}", r.out.display())?;
            if let Some(ci) = r.db_ahead_of_log {
                writeln!(
                    out,
                    "WARNING: the db's consistent index {ci} is beyond the repaired log's end: etcd will start on this copy but skip every new entry up to index {ci} and not serve; rebuild the member from its db instead (`etcdctl snapshot restore {}/snap/db --skip-hash-check`)",
                    dir.display()
                )?;
            }
            match &r.cut {
                Some((seg, off)) => writeln!(out, "cut {} at offset {off}", seg.display())?,
                None => writeln!(out, "the log was intact: copied as is")?,
            }
            for s in &r.dropped_segments {
                writeln!(out, "left out {}", s.display())?;
            }
            if let Some((a, b)) = r.dropped_indices {
                writeln!(
                    out,
                    "dropped raft indices {a}..{b} ({} of them committed)",
                    r.dropped_committed
                )?;
            }
            writeln!(
                out,
                "the log now ends at raft index {}",
                r.last_index.map_or("-".into(), |i| i.to_string())
            )?;
        }
    }
    Ok(if r.dropped_committed > 0 || r.db_ahead_of_log.is_some() {
        exit::FINDINGS
    } else {
        exit::OK
    })
}
