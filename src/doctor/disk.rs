//! Disk and quota: free space on the data dir's file system against what
//! etcd needs next (a 64 MB WAL segment, room for the db to grow and to be
//! defragmented), the db's size against `--quota-backend-bytes`, a raised
//! NOSPACE alarm, what a defrag would reclaim, and `db.tmp.*` leftovers.
#![forbid(unsafe_code)]

use super::{Area, Problem};
use crate::findings::Severity;
use crate::ops::render::human_bytes;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub use crate::ops::disk_full::WAL_SEGMENT;
/// etcd's default `--quota-backend-bytes`.
pub const DEFAULT_QUOTA: u64 = 2 * 1024 * 1024 * 1024;
/// etcd warns above this quota.
pub const MAX_RECOMMENDED_QUOTA: u64 = 8 * 1024 * 1024 * 1024;

/// What the db says, for the disk checks.
#[derive(Debug, Clone, Default)]
pub struct DbFigures {
    pub file: String,
    /// Bytes on disk.
    pub file_size: u64,
    /// What etcd counts against the quota: high-water mark × page size.
    pub size: u64,
    /// Free pages (free and, with no persisted freelist, unreachable ones).
    pub free_bytes: u64,
    /// Member ids with a NOSPACE alarm.
    pub nospace: Vec<u64>,
    /// Member ids with a CORRUPT alarm.
    pub corrupt: Vec<u64>,
}

/// The disk part of the report.
#[derive(Debug, Clone, Serialize)]
pub struct DiskInfo {
    pub filesystem_of: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_file_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub defrag_reclaims: Option<u64>,
    /// The quota in force; None when disabled (negative flag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<u64>,
}

/// The quota `--quota-backend-bytes` gives: 0 or absent is the default,
/// negative disables it. Err for an unparseable value.
pub fn quota(flag: Option<&str>) -> Result<Option<u64>, String> {
    match flag {
        None => Ok(Some(DEFAULT_QUOTA)),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(0) => Ok(Some(DEFAULT_QUOTA)),
            Ok(n) if n < 0 => Ok(None),
            Ok(n) => Ok(Some(n.unsigned_abs())),
            Err(_) => Err(format!("--quota-backend-bytes={v} is not a number")),
        },
    }
}

/// Free and total bytes of the file system holding `path` (or its nearest
/// existing ancestor).
pub fn space(path: &Path) -> (PathBuf, Result<(u64, u64), String>) {
    let mut p = path.to_path_buf();
    while !p.exists() {
        match p.parent() {
            Some(q) if !q.as_os_str().is_empty() => p = q.to_path_buf(),
            _ => break,
        }
    }
    let r = rustix::fs::statvfs(&p)
        .map(|s| {
            (
                s.f_bavail.saturating_mul(s.f_frsize),
                s.f_blocks.saturating_mul(s.f_frsize),
            )
        })
        .map_err(|e| e.to_string());
    (p, r)
}

/// Judge the figures. `free` is the file system's free bytes (for
/// unprivileged users, as etcd runs under kubeadm as root, this is close).
pub fn judge(
    data_dir: &str,
    free: Option<u64>,
    db: Option<&DbFigures>,
    quota: Option<u64>,
    leftovers: &[(PathBuf, u64)],
    out: &mut Vec<Problem>,
) {
    let push = |out: &mut Vec<Problem>, sev, code, file: &str, msg: String, fix: &str| {
        out.push(Problem::new(
            Area::Disk,
            sev,
            code,
            file,
            msg,
            fix.to_string(),
        ));
    };
    let db_size = db.map_or(0, |d| d.size);
    if let Some(free) = free {
        if free < WAL_SEGMENT {
            push(
                out,
                Severity::Error,
                "disk.full",
                data_dir,
                format!(
                    "only {} free on the data dir's file system: etcd preallocates every WAL segment to 64 MB (the spare one at start, the next at each cut), so it fails with \"no space left on device\" (create wal / fallocate)",
                    human_bytes(free)
                ),
                "free space on that file system (old logs, images: `crictl rmi --prune`, journal: `journalctl --vacuum-size=200M`), or grow it; do not delete anything under the data dir",
            );
        } else if free < WAL_SEGMENT + db_size.max(WAL_SEGMENT) {
            push(
                out,
                Severity::Warning,
                "disk.low",
                data_dir,
                format!(
                    "{} free on the data dir's file system: after one more 64 MB WAL segment there is no room for the db ({}) to grow or for a defrag's copy of it",
                    human_bytes(free),
                    human_bytes(db_size)
                ),
                "free or add space on that file system before the db grows",
            );
        }
    }
    let Some(db) = db else { return };
    match quota {
        Some(q) if db.size >= q => push(
            out,
            Severity::Error,
            "disk.quota-exceeded",
            &db.file,
            format!(
                "the db's size {} ({} bytes) is at or above --quota-backend-bytes {} ({q} bytes): etcd raises the NOSPACE alarm at the first write and then only serves reads and deletes (\"etcdserver: mvcc: database space exceeded\")",
                human_bytes(db.size),
                db.size,
                human_bytes(q)
            ),
            if db.size.saturating_sub(db.free_bytes) < q {
                "a defrag brings it below the quota: start etcd, `etcdctl compact $(etcdctl endpoint status -w json | jq .[0].Status.header.revision)`, `etcdctl defrag`, `etcdctl alarm disarm`; or raise --quota-backend-bytes in the manifest (at most 8 GiB is recommended)"
            } else {
                "raise --quota-backend-bytes in the manifest (at most 8 GiB is recommended), then compact, defrag and `etcdctl alarm disarm`; find what filled it with `etcd-rescue k8s stats`"
            },
        ),
        Some(q) if db.size.saturating_mul(10) >= q.saturating_mul(8) => push(
            out,
            Severity::Warning,
            "disk.quota-near",
            &db.file,
            format!(
                "the db's size {} is {}% of --quota-backend-bytes {}: at the quota etcd raises NOSPACE and refuses writes",
                human_bytes(db.size),
                db.size.saturating_mul(100) / q.max(1),
                human_bytes(q)
            ),
            "compact and defrag (`etcdctl compact REV`, `etcdctl defrag`), or raise --quota-backend-bytes",
        ),
        _ => {}
    }
    for m in &db.nospace {
        push(
            out,
            Severity::Error,
            "disk.nospace-alarm",
            &db.file,
            format!(
                "the db holds a NOSPACE alarm (member {m:x}): etcd starts but refuses every write (\"mvcc: database space exceeded\") until the alarm is disarmed; kube-apiserver cannot write anything"
            ),
            "start etcd, free space in the db (`etcdctl compact REV` with the current revision, then `etcdctl defrag`), or raise --quota-backend-bytes, then `etcdctl alarm disarm`",
        );
    }
    for m in &db.corrupt {
        push(
            out,
            Severity::Error,
            "data.corrupt-alarm",
            &db.file,
            format!("the db holds a CORRUPT alarm (member {m:x}): etcd's corruption check found this member's data differs from the others; the cluster refuses writes"),
            "do not disarm it: replace this member (remove it, wipe its data dir, `etcdctl member add`) or restore all members from one snapshot",
        );
    }
    if db.free_bytes >= 64 * 1024 * 1024 && db.free_bytes.saturating_mul(2) >= db.size {
        push(
            out,
            Severity::Info,
            "disk.defrag-reclaimable",
            &db.file,
            format!(
                "{} of the db's {} are free pages: a defrag would give them back",
                human_bytes(db.free_bytes),
                human_bytes(db.size)
            ),
            "`etcdctl defrag` on a running member (one member at a time), or offline `etcdctl defrag --data-dir`",
        );
    }
    for (p, size) in leftovers {
        push(
            out,
            Severity::Warning,
            "disk.defrag-leftover",
            &p.display().to_string(),
            format!(
                "{} ({}) was left by an interrupted defrag: it is garbage (etcd deletes it at its next start); a defrag was killed or ran out of space",
                p.display(),
                human_bytes(*size)
            ),
            "nothing to recover from it: delete it (or let etcd do so at start), make sure the file system has room for a copy of the db, and run the defrag again",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(free: Option<u64>, db: &DbFigures, q: Option<u64>) -> Vec<&'static str> {
        let mut out = Vec::new();
        judge("d", free, Some(db), q, &[], &mut out);
        out.iter().map(|p| p.finding.code).collect()
    }

    #[test]
    fn thresholds() {
        let db = DbFigures {
            size: 100 << 20,
            file_size: 100 << 20,
            free_bytes: 80 << 20,
            ..Default::default()
        };
        assert_eq!(
            codes(Some(10 << 20), &db, Some(DEFAULT_QUOTA)),
            ["disk.full", "disk.defrag-reclaimable"]
        );
        assert_eq!(
            codes(Some(150 << 20), &db, Some(DEFAULT_QUOTA)),
            ["disk.low", "disk.defrag-reclaimable"]
        );
        assert_eq!(
            codes(Some(10 << 30), &db, Some(90 << 20)),
            ["disk.quota-exceeded", "disk.defrag-reclaimable"]
        );
        assert_eq!(
            codes(Some(10 << 30), &db, Some(120 << 20)),
            ["disk.quota-near", "disk.defrag-reclaimable"]
        );
        assert_eq!(
            codes(Some(10 << 30), &db, None),
            ["disk.defrag-reclaimable"]
        );
        assert_eq!(quota(Some("-1")), Ok(None));
        assert_eq!(quota(Some("0")), Ok(Some(DEFAULT_QUOTA)));
        assert!(quota(Some("8G")).is_err());
    }
}
