//! `inspect`: what PATH is and what is in it, with anything odd marked.

use super::check::{check_db, DbSummary};
use super::open::{OpenDb, OpenDbError};
use crate::etcd::keyspace::{count_keys, KeyCounts};
use crate::etcd::records::{AlarmRecord, LeaseRecord, MemberRecord};
use crate::findings::Severity;
use crate::input::{FileRole, Input, InputKind, Trailer};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct InspectReport {
    pub path: String,
    pub kind: InputKind,
    pub files: Vec<FileInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db: Option<DbSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_trailer: Option<Trailer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<KeyCounts>,
    pub check: CheckCounts,
    pub members: Vec<MemberRecord>,
    pub removed_members: Vec<String>,
    pub leases: Vec<LeaseRecord>,
    pub auth: AuthSummary,
    pub alarms: Vec<AlarmInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_version: Option<String>,
    /// `meta.confState` (etcd 3.5+): the raft configuration the db was at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conf_state: Option<serde_json::Value>,
    /// `meta.storageVersion` (etcd 3.6+).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_version: Option<String>,
    /// `.snap` files, newest first, and the one etcd would load.
    pub snaps: Vec<crate::snap::SnapFile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot: Option<super::boot::Boot>,
    /// Which etcd line wrote the files, with the evidence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lineage: Option<crate::etcd::detect::Lineage>,
    /// Anything odd, in words.
    pub marks: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct FileInfo {
    pub path: String,
    pub role: FileRole,
    pub size: u64,
    pub note: &'static str,
    pub odd: bool,
}

#[derive(Debug, Serialize)]
pub struct CheckCounts {
    pub errors: u64,
    pub warnings: u64,
}

#[derive(Debug, Serialize)]
pub struct AuthSummary {
    pub enabled: Option<bool>,
    pub revision: Option<u64>,
    pub users: Vec<String>,
    pub roles: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct AlarmInfo {
    pub member_id: String,
    pub alarm: &'static str,
}

impl From<&AlarmRecord> for AlarmInfo {
    fn from(a: &AlarmRecord) -> AlarmInfo {
        AlarmInfo {
            member_id: format!("{:x}", a.member_id),
            alarm: a.alarm_name(),
        }
    }
}

pub fn inspect(input: &Input) -> Result<InspectReport, OpenDbError> {
    let mut marks = Vec::new();
    let files: Vec<FileInfo> = input
        .files
        .iter()
        .map(|f| {
            let odd = f.role.is_leftover() || f.role == FileRole::Other;
            if odd {
                marks.push(format!("{}: {}", f.path.display(), f.role.describe()));
            }
            FileInfo {
                path: f.path.display().to_string(),
                role: f.role,
                size: f.size,
                note: f.role.describe(),
                odd,
            }
        })
        .collect();
    if input.member_dir.is_some() {
        if !files.iter().any(|f| f.role == FileRole::WalSegment) {
            marks.push("no WAL segments: the raft log and identity are gone (etcd would bootstrap a new member here)".into());
        }
        if input.db.is_none() {
            marks.push("no member/snap/db: the keyspace is missing".into());
        }
    }
    let mut report = InspectReport {
        path: input.path.display().to_string(),
        kind: input.kind,
        files,
        db: None,
        snapshot_trailer: None,
        keys: None,
        check: CheckCounts {
            errors: 0,
            warnings: 0,
        },
        members: Vec::new(),
        removed_members: Vec::new(),
        leases: Vec::new(),
        auth: AuthSummary {
            enabled: None,
            revision: None,
            users: Vec::new(),
            roles: Vec::new(),
        },
        alarms: Vec::new(),
        cluster_version: None,
        conf_state: None,
        storage_version: None,
        snaps: Vec::new(),
        boot: None,
        lineage: None,
        marks,
    };
    if let Some(member) = &input.member_dir {
        report.snaps = crate::snap::read_all(member);
        for sf in &report.snaps {
            if let Some(p) = &sf.problem {
                report.marks.push(format!("{}: {p}", sf.path.display()));
            }
        }
    }
    if input.db.is_none() {
        return Ok(report);
    }
    let db = OpenDb::open(input)?;
    let c = check_db(&db)?;
    let bolt = db.bolt()?;
    report.keys = count_keys(&bolt);
    report.check = CheckCounts {
        errors: c.findings.count(Severity::Error),
        warnings: c.findings.count(Severity::Warning),
    };
    if report.check.errors > 0 {
        report.marks.push(format!(
            "the db has {} error findings: run `etcd-rescue check {}`",
            report.check.errors,
            input.path.display()
        ));
    }
    if let Some(t) = &c.trailer {
        if !t.matches {
            report
                .marks
                .push("the snapshot's SHA-256 trailer does not match its contents".into());
        }
    }
    let s = &c.summary;
    if let Some(m) = s.metas.iter().find(|m| !m.valid) {
        report
            .marks
            .push(format!("meta page {} does not validate", m.slot));
    }
    let expect = s.high_water_mark.saturating_mul(u64::from(s.page_size));
    if s.file_size < expect {
        report.marks.push(format!(
            "the db file is {} bytes, shorter than the {} its high-water mark needs",
            s.file_size, expect
        ));
    }
    let f = &c.facts;
    for a in &f.alarms {
        report.marks.push(format!(
            "alarm {} raised for member {:x}",
            a.alarm_name(),
            a.member_id
        ));
    }
    if let (Some(sc), fc) = (f.scheduled_compact(), f.finished_compact()) {
        if fc.is_none_or(|fc| fc < sc) {
            report
                .marks
                .push(format!("compaction to {sc} was interrupted"));
        }
    }
    report.members = f.members.clone();
    report.removed_members = f.removed_members.iter().map(|i| format!("{i:x}")).collect();
    report.leases = f.leases.clone();
    report.auth = AuthSummary {
        enabled: Some(f.auth_enabled.unwrap_or(false)),
        revision: f.auth_revision,
        users: f.users.iter().map(|u| u.name.clone()).collect(),
        roles: f.roles.iter().map(|r| r.name.clone()).collect(),
    };
    report.alarms = f.alarms.iter().map(AlarmInfo::from).collect();
    report.cluster_version = f.cluster_version.clone();
    for m in &f.meta {
        match m {
            crate::etcd::records::MetaRecord::ConfState(v) => report.conf_state = Some(v.clone()),
            crate::etcd::records::MetaRecord::StorageVersion(v) => {
                report.storage_version = Some(v.clone())
            }
            _ => {}
        }
    }
    let mut signals = crate::etcd::detect::Signals::default();
    super::lineage::db_signals(f, &mut signals);
    super::lineage::snap_signals(&report.snaps, &mut signals);
    report.lineage = Some(crate::etcd::detect::detect(&signals));
    if let Some(member) = &input.member_dir {
        if let Ok(log) = crate::wal::log::read_log(&member.join("wal"), &mut |_, _, p| {
            super::lineage::wal_signal(&p, &mut signals)
        }) {
            let lineage = crate::etcd::detect::detect(&signals);
            let rules = super::lineage::rules_for(None, &lineage);
            let db = super::boot::DbState::from_facts(f, None);
            let b = super::boot::predict(member, &db, &log, &report.snaps, &rules);
            report.lineage = Some(lineage);
            if !b.starts {
                report
                    .marks
                    .push(format!("etcd will not start: {}", b.summary));
            }
            report.boot = Some(b);
        }
    }
    report.snapshot_trailer = c.trailer;
    report.db = Some(c.summary);
    Ok(report)
}

/// The text form.
pub fn render_text(r: &InspectReport, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use super::render::human_bytes;
    writeln!(out, "{}: {}", r.path, r.kind.describe())?;
    if let Some(l) = &r.lineage {
        writeln!(out, "{}", l.describe())?;
        for c in &l.conflicts {
            writeln!(out, "  ! {c}")?;
        }
    }
    if r.files.len() > 1 || r.kind == InputKind::DataDir || r.kind == InputKind::MemberDir {
        writeln!(out, "\nFiles:")?;
        let width = r.files.iter().map(|f| f.path.len()).max().unwrap_or(0);
        for f in &r.files {
            writeln!(
                out,
                "  {}{:<width$} {:>10}  {}",
                if f.odd { "! " } else { "  " },
                f.path,
                human_bytes(f.size),
                f.note
            )?;
        }
    }
    if let Some(d) = &r.db {
        writeln!(out, "\nDb {}:", d.file)?;
        writeln!(
            out,
            "  file size        {} ({} bytes)",
            human_bytes(d.file_size),
            d.file_size
        )?;
        writeln!(
            out,
            "  page size        {} ({:?} endian)",
            d.page_size, d.endian
        )?;
        writeln!(
            out,
            "  high-water mark  {} pages ({} bytes)",
            d.high_water_mark,
            d.high_water_mark.saturating_mul(u64::from(d.page_size))
        )?;
        for m in &d.metas {
            writeln!(
                out,
                "  meta {}           txid {}, root {}, pgid {}, {}{}",
                m.slot,
                m.txid,
                m.root,
                m.pgid,
                if m.valid { "valid" } else { "INVALID" },
                if d.current_meta == Some(m.slot) {
                    ", current"
                } else {
                    ""
                }
            )?;
        }
        writeln!(out, "  freelist         {}", d.freelist)?;
        let p = &d.pages;
        writeln!(
            out,
            "  pages            {} branch, {} leaf, {} overflow, {} free, {} unreachable, {} damaged",
            p.branch, p.leaf, p.overflow, p.free, p.unreachable, p.damaged
        )?;
        writeln!(out, "\nBuckets:")?;
        writeln!(
            out,
            "  {:<18} {:>10} {:>12} {:>8}  root",
            "name", "keys", "bytes", "pages"
        )?;
        for b in &d.buckets {
            writeln!(
                out,
                "  {:<18} {:>10} {:>12} {:>8}  {}",
                b.name,
                b.keys,
                human_bytes(b.key_bytes + b.value_bytes),
                b.branch_pages + b.leaf_pages + b.overflow_pages,
                if b.inline {
                    "inline".to_string()
                } else {
                    format!("page {}", b.root)
                }
            )?;
        }
        writeln!(out, "\nKeyspace:")?;
        writeln!(out, "  current revision   {}", d.current_revision)?;
        writeln!(
            out,
            "  compacted revision {}",
            d.compacted_revision.map_or("-".into(), |v| v.to_string())
        )?;
        writeln!(
            out,
            "  revisions stored   {} ({} tombstones)",
            d.revisions, d.tombstones
        )?;
        if let Some(k) = &r.keys {
            writeln!(
                out,
                "  keys               {} ({} live)",
                k.keys, k.live_keys
            )?;
        }
        writeln!(
            out,
            "  consistent index   {}{}",
            d.consistent_index.map_or("-".into(), |v| v.to_string()),
            d.term.map_or(String::new(), |t| format!(" (term {t})"))
        )?;
    }
    if let Some(t) = &r.snapshot_trailer {
        writeln!(
            out,
            "\nSnapshot trailer: SHA-256 {}",
            if t.matches {
                "matches"
            } else {
                "DOES NOT MATCH"
            }
        )?;
    }
    writeln!(out, "\nCluster:")?;
    writeln!(
        out,
        "  cluster version  {}",
        r.cluster_version.as_deref().unwrap_or("-")
    )?;
    for m in &r.members {
        writeln!(
            out,
            "  member {:x}  name {:?}  peers {}  clients {}{}",
            m.id,
            m.name,
            m.peer_urls.join(","),
            m.client_urls.join(","),
            if m.is_learner { "  (learner)" } else { "" }
        )?;
    }
    for id in &r.removed_members {
        writeln!(out, "  removed member {id}")?;
    }
    writeln!(out, "  leases           {}", r.leases.len())?;
    writeln!(
        out,
        "  auth             {}{}",
        match r.auth.enabled {
            Some(true) => "enabled",
            Some(false) => "disabled",
            None => "-",
        },
        if r.auth.users.is_empty() && r.auth.roles.is_empty() {
            String::new()
        } else {
            format!(
                " (users: {}; roles: {})",
                r.auth.users.join(", "),
                r.auth.roles.join(", ")
            )
        }
    )?;
    if r.alarms.is_empty() {
        writeln!(out, "  alarms           none")?;
    }
    for a in &r.alarms {
        writeln!(
            out,
            "  alarm            {} on member {}",
            a.alarm, a.member_id
        )?;
    }
    if !r.snaps.is_empty() {
        writeln!(out, "\nSnapshots (newest first):")?;
        for sf in &r.snaps {
            let loads = r.boot.as_ref().and_then(|b| b.loads_snap.as_deref())
                == Some(&*sf.path.display().to_string());
            writeln!(
                out,
                "  {}  term {} index {}, {} members{}{}",
                sf.path.display(),
                sf.term,
                sf.index,
                sf.members.len(),
                if loads {
                    "  <- etcd loads this one"
                } else {
                    ""
                },
                sf.problem
                    .as_deref()
                    .map_or(String::new(), |p| format!("  DAMAGED: {p}"))
            )?;
        }
    }
    if let Some(b) = &r.boot {
        writeln!(out, "\nBoot: {}", b.summary)?;
    }
    writeln!(
        out,
        "\nCheck: {} errors, {} warnings",
        r.check.errors, r.check.warnings
    )?;
    if !r.marks.is_empty() {
        writeln!(out, "\nMarked:")?;
        for m in &r.marks {
            writeln!(out, "  ! {m}")?;
        }
    }
    Ok(())
}
