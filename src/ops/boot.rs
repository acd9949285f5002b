//! What etcd 3.4 will do when started on a member dir: which snap it loads,
//! whether the db fits it, whether the WAL reads (repaired or refused), and
//! how many committed entries it will re-apply; each with the advice an
//! expert would give.

use crate::snap::SnapFile;
use crate::wal::log::LogReport;
use crate::wal::segment::Problem;
use serde::Serialize;
use std::path::Path;

/// One thing etcd will do or meet at boot.
#[derive(Debug, Clone, Serialize)]
pub struct BootStep {
    pub severity: crate::findings::Severity,
    pub what: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub advice: String,
}

/// The prediction.
#[derive(Debug, Clone, Serialize)]
pub struct Boot {
    pub starts: bool,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loads_snap: Option<String>,
    pub steps: Vec<BootStep>,
}

fn step(
    steps: &mut Vec<BootStep>,
    severity: crate::findings::Severity,
    what: String,
    advice: &str,
) {
    steps.push(BootStep {
        severity,
        what,
        advice: advice.to_string(),
    });
}

/// Predict etcd 3.4's start on `member_dir`.
pub fn predict(
    member_dir: &Path,
    db_consistent_index: Option<u64>,
    db_present: bool,
    log: &LogReport,
    snaps: &[SnapFile],
) -> Boot {
    use crate::findings::Severity::{Error, Info, Warning};
    let mut steps = Vec::new();
    let mut starts = true;
    let mut summary = String::new();
    // 1. The log must read, but for a torn tail in the last segment.
    let n = log.segments.len();
    if n == 0 {
        starts = false;
        summary = "no WAL segments: etcd would start a new member, not this one".into();
        step(&mut steps, Error, summary.clone(), "restore the member from a snapshot (`etcdctl snapshot restore`) or remove and re-add it");
    }
    for (i, s) in log.segments.iter().enumerate() {
        let Some(p) = &s.read.problem else { continue };
        let off = s.read.bad_offset.unwrap_or(0);
        if p.repairable() && i + 1 == n {
            step(
                &mut steps,
                Warning,
                format!(
                    "wal.Repair will copy {} to .broken and truncate it at offset {off}, dropping the torn record(s) after raft index {}",
                    s.path.display(),
                    s.read.last_index.map_or("-".into(), |x| x.to_string())
                ),
                "normal after a crash: the dropped entries were not recorded as committed; nothing to do",
            );
        } else {
            starts = false;
            summary = format!(
                "etcd refuses the WAL: {} at {} offset {off}",
                match p {
                    Problem::CrcMismatch { .. } | Problem::CrcChainBreak { .. } =>
                        "walpb: crc mismatch",
                    Problem::Oversize { .. } => "max entry size limit exceeded",
                    _ => "unreadable record",
                },
                s.path.display()
            );
            step(
                &mut steps,
                Error,
                summary.clone(),
                "committed entries may be lost, so etcd will not start: in a healthy cluster remove this member and re-add it with an empty data dir; for a single member, restore the newest backup (or `etcd-rescue repair` once available) and accept the loss after this offset",
            );
        }
    }
    for p in &log.problems {
        if p.fatal {
            starts = false;
            if summary.is_empty() {
                summary = p.message.clone();
            }
            step(
                &mut steps,
                Error,
                format!("{}: {}", p.path.display(), p.message),
                "",
            );
        }
    }
    let commit = log.hard_state.map_or(0, |h| h.commit);
    // 2. The snap etcd loads: newest readable .snap matching a WAL snapshot
    //    record at or below the commit index.
    let valid: Vec<(u64, u64)> = log
        .snapshots
        .iter()
        .filter(|s| s.index <= commit)
        .map(|s| (s.term, s.index))
        .collect();
    let mut loaded: Option<&SnapFile> = None;
    for s in snaps {
        if let Some(p) = &s.problem {
            step(
                &mut steps,
                Warning,
                format!(
                    "{}: {p}; etcd renames it to .broken and tries an older one",
                    s.path.display()
                ),
                "",
            );
            continue;
        }
        if valid.contains(&(s.term, s.index)) {
            loaded = Some(s);
            break;
        }
        step(
            &mut steps,
            Info,
            format!(
                "{}: no WAL snapshot record at term {} index {}: skipped",
                s.path.display(),
                s.term,
                s.index
            ),
            "",
        );
    }
    let snap_index = loaded.map_or(0, |s| s.index);
    match loaded {
        Some(s) => step(
            &mut steps,
            Info,
            format!(
                "loads {} (term {}, index {})",
                s.path.display(),
                s.term,
                s.index
            ),
            "",
        ),
        None => {
            let first = log.segments.first().and_then(|s| s.name);
            if first.is_some_and(|f| f.seq != 0) {
                starts = false;
                summary =
                    "no usable snapshot and the first WAL segment is gone: wal: file not found"
                        .into();
                step(
                    &mut steps,
                    Error,
                    summary.clone(),
                    "restore from a backup, or remove and re-add the member",
                );
            } else {
                step(
                    &mut steps,
                    Info,
                    "no snapshot to load: replays the whole WAL from index 1".into(),
                    "",
                );
            }
        }
    }
    // 3. The db must be at least as new as the snapshot.
    let ci = if db_present {
        db_consistent_index.unwrap_or(0)
    } else {
        0
    };
    if snap_index > ci {
        let snap_db = member_dir
            .join("snap")
            .join(format!("{snap_index:016x}.snap.db"));
        if snap_db.is_file() {
            step(
                &mut steps,
                Info,
                format!("db (consistent index {ci}) is behind the snapshot ({snap_index}): etcd renames {} over it", snap_db.display()),
                "",
            );
        } else {
            starts = false;
            summary = format!(
                "db consistent index {ci} is below the snapshot index {snap_index} and no .snap.db exists: etcd panics with \"failed to find database snapshot file\""
            );
            step(
                &mut steps,
                Error,
                summary.clone(),
                if db_present {
                    "the db is older than the raft snapshot: restore a db of this member that is at least as new, or remove the newest .snap and WAL and let the leader resend them (multi-member clusters)"
                } else {
                    "the db is missing: restore it (from `etcdctl snapshot save` backups) or re-add the member"
                },
            );
        }
    }
    // 4. Entries etcd re-applies, and entries the db has but the log lost.
    let last = log
        .segments
        .iter()
        .rev()
        .find_map(|s| s.read.last_index)
        .unwrap_or(0);
    if commit > ci {
        step(
            &mut steps,
            Info,
            format!(
                "re-applies {} committed entries ({}..{}) past the db's consistent index",
                commit - ci,
                ci + 1,
                commit
            ),
            "normal after a crash or a clean stop: etcd catches the db up from the log",
        );
    }
    if ci > last && last > 0 && starts {
        // New raft entries get indices at or below the db's consistent index
        // and etcd skips applying them: it runs but cannot serve.
        starts = false;
        summary = format!(
            "the db's consistent index {ci} is beyond the last WAL entry {last}: etcd starts but skips every new entry up to index {ci}, so requests time out"
        );
        step(
            &mut steps,
            Error,
            summary.clone(),
            "the log lost entries the db holds: rebuild the member from its db instead (`etcdctl snapshot restore member/snap/db --skip-hash-check` into a new data dir), or remove and re-add it in a multi-member cluster",
        );
    }
    if summary.is_empty() {
        summary = "etcd 3.4 will start on this member".into();
    }
    Boot {
        starts,
        summary,
        loads_snap: loaded.map(|s| s.path.display().to_string()),
        steps,
    }
}
