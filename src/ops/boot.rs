//! What etcd of a given line (3.4-3.7, see [`crate::etcd::lines`]) will do
//! when started on a member dir: which snap it loads (3.7 builds it from the
//! WAL's snapshot record), whether the db fits it, whether the WAL reads
//! (repaired or refused), the schema and cluster-version checks of the newer
//! lines, and how many committed entries it will re-apply; each with the
//! message etcd prints and the advice an expert would give. `starts` is what
//! etcd does; a member that starts but loses or delays writes carries a
//! hazard instead.

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
    /// Clients are answered as soon as it starts (false: it runs but keeps
    /// its client ports unanswered for a while, see `hazards`).
    pub serves: bool,
    pub summary: String,
    /// The line whose rules were followed ("3.5").
    pub line: String,
    /// The release asked for, or the line that wrote the files.
    pub etcd_version: String,
    /// What goes wrong once it runs (writes that time out or are lost, data
    /// served wrong), each said plainly.
    pub hazards: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loads_snap: Option<String>,
    pub steps: Vec<BootStep>,
}

impl Boot {
    /// Record something found outside the log and db that keeps etcd from
    /// serving (member identity).
    pub fn block(&mut self, what: String, advice: &str) {
        if self.starts {
            self.summary = what.clone();
        }
        self.starts = false;
        self.serves = false;
        step(
            &mut self.steps,
            crate::findings::Severity::Error,
            what,
            advice,
        );
    }
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

/// Damage in the db that stops etcd of every line before it serves: bbolt
/// refuses to open a file with no valid meta; with no persisted freelist
/// (etcd's NoFreelistSync) bbolt walks every reachable page when it opens
/// the file and panics on a page with neither the branch nor the leaf
/// flag, a page id past the high-water mark, a page reached twice, or
/// faults (SIGBUS) on a page past the end of the file (a file merely
/// shorter than the high-water mark is not fatal: the lost pages may be
/// free); and etcd's index rebuild reads every revision, failing on one
/// whose key or value does not decode.
const DB_BLOCKERS_ALL: &[&str] = &[
    "bolt.meta.no-valid",
    "bolt.meta.none-usable",
    "bolt.meta.missing",
    "bolt.page.beyond-eof",
    "bolt.page.out-of-bounds",
    "bolt.page.overflow-out-of-bounds",
    "bolt.page.invalid-type",
    "bolt.page.zeroed",
    "bolt.page.multiple-references",
    "bolt.page.cycle",
    "bolt.element.outside-page",
    "bolt.element.flags",
    "bolt.bucket.header",
    "bolt.bucket.inline",
    "bolt.bucket.root-non-bucket",
    "etcd.key.value-decode",
    "etcd.key.revision-key",
    "bolt.freelist.wrong-type",
    "bolt.freelist.unreadable",
];

/// What bbolt 1.3.6 (etcd 3.4) rejects besides: a page whose own id is
/// out of bounds or collides with another page.
const DB_BLOCKERS_SELF_IDS: &[&str] = &[
    "bolt.page.self-id-out-of-bounds",
    "bolt.page.self-id-conflict",
];

/// What bbolt 1.3.7+ (etcd 3.5+) rejects besides: a page that does not
/// carry its own id or carries more than one type flag (`FastCheck`), and
/// keys out of order against their parents.
const DB_BLOCKERS_STRICT: &[&str] = &[
    "bolt.page.id-mismatch",
    "bolt.page.type-extra-flags",
    "bolt.key.order",
];

/// The finding codes that stop etcd following `rules` at start.
pub fn db_blockers(rules: &crate::etcd::lines::LineRules) -> Vec<&'static str> {
    use crate::etcd::lines::BoltOpenWalk;
    let extra = match rules.bolt_open {
        BoltOpenWalk::CountsSelfIds => DB_BLOCKERS_SELF_IDS,
        BoltOpenWalk::Strict => DB_BLOCKERS_STRICT,
    };
    DB_BLOCKERS_ALL.iter().chain(extra).copied().collect()
}

/// What boot prediction needs to know of the db.
#[derive(Debug, Clone, Default)]
pub struct DbState {
    pub present: bool,
    pub consistent_index: Option<u64>,
    /// The first finding that stops etcd (one of [`db_blockers`]).
    pub blocker: Option<crate::findings::Finding>,
    pub storage_version: Option<String>,
    pub has_confstate: bool,
    pub cluster_version: Option<String>,
    /// The target of an enabled downgrade.
    pub downgrade_target: Option<String>,
    /// Learners in the db's `members` bucket.
    pub learners: usize,
}

impl DbState {
    /// The boot-relevant facts of a checked db.
    pub fn from_facts(
        f: &crate::etcd::validate::EtcdFacts,
        blocker: Option<crate::findings::Finding>,
    ) -> DbState {
        use crate::etcd::records::MetaRecord;
        let downgrade_target = f
            .downgrade
            .as_deref()
            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
            .filter(|v| v.get("enabled").and_then(|e| e.as_bool()) == Some(true))
            .and_then(|v| v.get("target-version")?.as_str().map(str::to_string));
        DbState {
            present: true,
            consistent_index: f.consistent_index(),
            blocker,
            storage_version: f.meta.iter().find_map(|m| match m {
                MetaRecord::StorageVersion(v) => Some(v.clone()),
                _ => None,
            }),
            has_confstate: f.meta.iter().any(|m| matches!(m, MetaRecord::ConfState(_))),
            cluster_version: f.cluster_version.clone(),
            downgrade_target,
            learners: f.members.iter().filter(|m| m.is_learner).count(),
        }
    }
}

/// Predict the start of etcd following `rules` on `member_dir`.
pub fn predict(
    member_dir: &Path,
    db: &DbState,
    log: &LogReport,
    snaps: &[SnapFile],
    rules: &crate::etcd::lines::LineRules,
) -> Boot {
    let line = rules.line();
    let mut hazards = Vec::new();
    let db_consistent_index = db.consistent_index;
    let db_present = db.present;
    use crate::findings::Severity::{Error, Info, Warning};
    let mut steps = Vec::new();
    let mut starts = true;
    let mut summary = String::new();
    // 1. The log must read, but for a torn tail in the last segment.
    let n = log.segments.len();
    // No `.wal` file: etcd takes the data dir for a new member and
    // bootstraps it from its flags (with --initial-cluster-state new, the
    // default, a new cluster: new cluster and member ids, a new raft log
    // from index 1 with one entry per --initial-cluster member) around
    // whatever db is there.
    let new_member = n == 0;
    if new_member {
        let h = if db_present {
            "there is no WAL (no .wal file), so etcd bootstraps a NEW member around the db: with --initial-cluster-state new (the default) a new one-member cluster with new cluster and member ids serving this db's keys (in a multi-member cluster: a split brain), with `existing` it asks to join as a new member; this member's raft log and identity are gone"
        } else {
            "there is no WAL and no db: etcd starts an empty new member; this member's data is gone"
        };
        hazards.push(h.into());
        step(&mut steps, Warning, h.into(), "restore the member from a snapshot (`etcdctl snapshot restore`) or remove and re-add it; do not let it join clients as it is");
    }
    for (i, s) in log.segments.iter().enumerate() {
        let Some(p) = &s.read.problem else { continue };
        let off = s.read.bad_offset.unwrap_or(0);
        let cut_by_repair = p.repairable()
            || matches!(p, Problem::Oversize { len } if rules.oversize_repairable(*len, off, s.size));
        if cut_by_repair && i + 1 == n {
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
        // Index gaps depend on the snapshot ReadAll starts from: judged below.
        if p.fatal && p.code != "wal.entry.index-gap" {
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
    // 3.7 reads no .snap: the snapshot is the newest WAL snapshot record.
    let wal_snap = if rules.reads_v2_snap {
        None
    } else {
        log.snapshots
            .iter()
            .filter(|s| s.index <= commit)
            .max_by_key(|s| s.index)
            .copied()
    };
    for s in snaps.iter().filter(|_| rules.reads_v2_snap) {
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
    let snap_index = loaded.map_or(wal_snap.map_or(0, |s| s.index), |s| s.index);
    if let Some(w) = wal_snap.filter(|w| w.index > 0) {
        step(
            &mut steps,
            Info,
            format!(
                "constructs its snapshot from the WAL record (term {}, index {}); etcd {line} reads no .snap file",
                w.term, w.index
            ),
            "",
        );
    }
    if let Some(s) = loaded {
        let custom = s.v2_shape.is_some_and(|v| v.custom_nodes > 0);
        if custom && rules.v2_content_fatal {
            starts = false;
            summary = format!(
                "{} holds custom v2 content: etcd {line} exits with \"detected disallowed custom content in v2store for stage --v2-deprecation=write-only\"",
                s.path.display()
            );
            step(&mut steps, Error, summary.clone(), "check it with etcd 3.5's `etcdutl check v2store`; remove the v2 data on 3.5 before upgrading, or start with --v2-deprecation=write-only-skip-check (3.6.13+)");
        }
    }
    match loaded.filter(|_| wal_snap.is_none()) {
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
            if wal_snap.is_some_and(|w| w.index > 0) {
                // Opened at the WAL snapshot record.
            } else if first.is_some_and(|f| f.seq != 0) {
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
    // 2b. ReadAll's index rule from that snapshot on.
    if let Some(g) = log.read_all_gap(snap_index) {
        starts = false;
        summary = format!(
            "etcd fails to read the WAL (slice out of range): {} offset {} holds index {} after index {}",
            g.path.display(),
            g.offset,
            g.found,
            g.after
        );
        step(
            &mut steps,
            Error,
            summary.clone(),
            "entries are missing from the log: rebuild the member from its db (`etcdctl snapshot restore member/snap/db --skip-hash-check`), or remove and re-add it in a multi-member cluster",
        );
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
    // A new member's log holds its bootstrap entries (one per
    // --initial-cluster member; one here).
    let last = if new_member {
        1
    } else {
        log.last_index().unwrap_or(0)
    };
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
    let mut serves = true;
    if ci > last && (last > 0 || new_member) && starts {
        // New raft entries get indices at or below the db's consistent index
        // and etcd skips applying them (no response to their proposers)
        // until the log passes the db's index. The process runs and its raft
        // node leads; the first new entry is the leader's empty one (no
        // harm skipped). What differs by line is whether clients are
        // answered meanwhile: 3.4/3.5 publish their attributes as a v2
        // request (applied whatever the index), so they are ready at once;
        // 3.6+ publish through the v3 apply, which skips it, and keep the
        // client ports unanswered until a publish attempt (one per request
        // timeout, 7 s) lands past the db's index.
        let gap = ci - last;
        let h = if gap <= 1 {
            None
        } else if rules.serves_after_publish {
            serves = false;
            Some(format!(
                "the db's consistent index {ci} is beyond the last WAL entry {last}: etcd {line} skips applying the next {gap} entries, so publishing its member attributes through raft times out (\"failed to publish local member to cluster through raft\", one attempt per 7 s) and clients are not answered until the log passes index {ci} (up to about {} s); writes proposed meanwhile are lost",
                (gap - 1).saturating_mul(7)
            ))
        } else {
            Some(format!(
                "the db's consistent index {ci} is beyond the last WAL entry {last}: etcd starts and serves reads, but skips applying the next {gap} entries, so writes (and, with auth on, logins) proposed before the log passes index {ci} time out and are lost"
            ))
        };
        match h {
            None => step(
                &mut steps,
                Info,
                format!("the db's consistent index {ci} is the entry after the last WAL entry {last}: the leader's first (empty) entry takes that index; nothing is lost"),
                "",
            ),
            Some(h) => {
                hazards.push(h.clone());
                step(
                    &mut steps,
                    Warning,
                    h,
                    "the log lost entries the db holds: rebuild the member from its db instead (`etcdctl snapshot restore member/snap/db --skip-hash-check` into a new data dir), or remove and re-add it in a multi-member cluster",
                );
            }
        }
    }
    // 4b. The newer lines' checks of the db.
    if rules.schema_check && db.present {
        match &db.storage_version {
            Some(v) => {
                if let Some(why) = rules.refuses_storage_version(v) {
                    starts = false;
                    summary = format!("the db's storage version is {v}: etcd {line} exits with \"Failed to validate schema\" ({why})");
                    step(&mut steps, Error, summary.clone(), "run the etcd release that wrote this data dir, or downgrade it first (`etcdutl migrate --target-version` with that release's etcdutl)");
                }
            }
            None if !db.has_confstate && rules.schema_needs_confstate => step(
                &mut steps,
                Warning,
                format!("etcd {line} logs \"cannot detect storage schema version: missing confstate information\" (a warning; it still starts)"),
                "",
            ),
            None => {}
        }
    }
    let cluster_version = if rules.cluster_version_from_db {
        db.cluster_version.clone()
    } else {
        loaded
            .and_then(|s| s.cluster_version.clone())
            .or_else(|| db.cluster_version.clone())
    };
    if let Some(cv) = &cluster_version {
        if rules.refuses_cluster_version(cv, db.downgrade_target.as_deref()) {
            starts = false;
            summary = format!("the cluster version is {cv}: etcd {line} panics with \"invalid downgrade; server version is lower than determined cluster version\"");
            step(&mut steps, Error, summary.clone(), "run a release at least as new as the cluster version; an older one needs a downgrade enabled first (`etcdctl downgrade enable`)");
        }
    }
    if rules.max_learners_check && db.learners > 1 {
        starts = false;
        summary = format!("the db's members include {} learners: etcd {line} exits with \"membership: too many learner members in cluster\" (--max-learners defaults to 1)", db.learners);
        step(&mut steps, Error, summary.clone(), "start etcd with --max-learners at least that high, then promote or remove the learners");
    }
    // 5. The db must open and its revisions must load.
    if let Some(f) = &db.blocker {
        starts = false;
        let fatal = if f.code.starts_with("bolt.freelist") {
            "bbolt reads the page the meta names as the freelist when it opens the db and panics (\"invalid freelist page\"); so do `snapshot status` and `snapshot restore`"
        } else if f.code.starts_with("etcd.") {
            "etcd's index rebuild at start fails on it (cannot unmarshal)"
        } else if f.code.starts_with("bolt.meta") {
            "bbolt refuses to open the db"
        } else {
            "bbolt walks every reachable page when it opens a db without a persisted freelist, and panics or faults (SIGBUS) on it"
        };
        let fatal = format!("{fatal} (bbolt {} in etcd {line})", rules.bbolt);
        let s = format!(
            "the db is damaged where etcd reads at start: {}: {fatal}",
            f.message
        );
        if summary.is_empty() {
            summary = s.clone();
        }
        step(
            &mut steps,
            Error,
            s,
            "repair the db into a new snapshot (`etcd-rescue repair`, then `etcdctl snapshot restore`), or restore a backup; in a multi-member cluster remove and re-add the member",
        );
    }
    let version = rules.version.to_string();
    if summary.is_empty() {
        summary = match hazards.first() {
            None => format!("etcd {version} will start on this member"),
            Some(h) => format!("etcd {version} starts on this member, but {h}"),
        };
    }
    Boot {
        starts,
        serves: starts && serves,
        summary,
        line: line.to_string(),
        etcd_version: version,
        hazards,
        loads_snap: loaded.map(|s| s.path.display().to_string()),
        steps,
    }
}
