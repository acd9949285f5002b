//! `check`: every structural invariant of the db, then the etcd layer, as a
//! list of located findings with a summary.

use super::open::{OpenDb, OpenDbError};
use crate::bolt::meta::Meta;
use crate::bolt::walk::{walk, BucketStats, PageCounts, PageRole, WalkReport};
use crate::bolt::BoltFile;
use crate::etcd::validate::{EtcdFacts, EtcdVisitor};
use crate::findings::{Finding, Findings, Severity};
use crate::input::{Input, Trailer};
use serde::Serialize;

/// What `check -o json` prints.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub ok: bool,
    pub findings: Vec<Finding>,
    pub summary: CheckSummary,
    /// What etcd will do when started on this member dir (dir inputs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot: Option<super::boot::Boot>,
    /// Which etcd line wrote the files, with the evidence.
    pub lineage: crate::etcd::detect::Lineage,
}

#[derive(Debug, Serialize)]
pub struct CheckSummary {
    pub path: String,
    pub kind: crate::input::InputKind,
    pub errors: u64,
    pub warnings: u64,
    pub infos: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db: Option<DbSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wal: Option<WalSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_trailer: Option<Trailer>,
}

/// What the WAL check read.
#[derive(Debug, Serialize)]
pub struct WalSummary {
    pub segments: usize,
    pub first_index: Option<u64>,
    pub last_index: Option<u64>,
    pub hard_state: Option<crate::wal::HardState>,
    pub metadata: Option<crate::wal::Metadata>,
}

/// Figures about the db that was checked.
#[derive(Debug, Clone, Serialize)]
pub struct DbSummary {
    pub file: String,
    pub file_size: u64,
    pub page_size: u32,
    pub endian: crate::bolt::Endian,
    pub page_size_source: crate::bolt::meta::PageSizeSource,
    pub high_water_mark: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_meta: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txid: Option<u64>,
    pub metas: Vec<MetaSummary>,
    pub freelist: String,
    pub pages: PageCounts,
    pub buckets: Vec<BucketStats>,
    pub revisions: u64,
    pub tombstones: u64,
    pub current_revision: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compacted_revision: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_compact_revision: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistent_index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetaSummary {
    pub slot: u8,
    pub valid: bool,
    pub txid: u64,
    pub root: u64,
    pub pgid: u64,
    pub freelist: u64,
    pub problems: Vec<String>,
}

/// A checked db: the walk, the facts and the findings.
pub struct DbCheck {
    pub summary: DbSummary,
    pub findings: Findings,
    pub facts: EtcdFacts,
    pub roles: Vec<PageRole>,
    pub trailer: Option<Trailer>,
    /// Subtrees the walk could not enter (for the page map).
    pub lost: Vec<crate::bolt::walk::LostSubtree>,
    /// Bucket names by walk index (`lost` and `page_bucket` refer to them).
    pub bucket_names: Vec<String>,
    /// With `check_db_mapped`: each page's bucket index.
    pub page_bucket: Option<Vec<u16>>,
    /// Byte ranges of the db that could not be read (I/O errors).
    pub unreadable: Vec<(u64, u64)>,
}

/// Check the db of `input`, the boot prediction following the rules of
/// the line that wrote it. Errors only when there is no db to read.
pub fn check(input: &Input) -> Result<CheckReport, OpenDbError> {
    check_as(input, None)
}

/// Check `input`; the boot prediction follows `version`'s rules (default:
/// the line that wrote the files).
pub fn check_as(
    input: &Input,
    version: Option<crate::etcd::lines::EtcdVersion>,
) -> Result<CheckReport, OpenDbError> {
    let mut signals = crate::etcd::detect::Signals::default();
    // A member dir without a db is still checked: its WAL and snaps, and
    // what etcd will do (it cannot start on it).
    let mut written_past_hwm = None;
    let (mut findings, summary, consistent_index, trailer, name, members) =
        match (&input.db, &input.member_dir) {
            (None, Some(member)) => {
                let mut f = Findings::default();
                f.push(Finding::error(
                    "etcd.db.missing",
                    &member.join("snap/db").display().to_string(),
                    "the db (member/snap/db) is missing: the keyspace is gone from this member"
                        .into(),
                ));
                (f, None, None, None, member.display().to_string(), None)
            }
            _ => {
                let db = OpenDb::open(input)?;
                let c = check_db(&db)?;
                let ci = Some(c.facts.clone());
                super::lineage::db_signals(&c.facts, &mut signals);
                let members = (c.facts.members.clone(), c.facts.removed_members.clone());
                // For the disk-full evidence of a member dir.
                if input.member_dir.is_some() {
                    let (ps, hwm) = (c.summary.page_size as usize, c.summary.high_water_mark);
                    written_past_hwm = Some((
                        c.summary.file.clone(),
                        super::disk_full::written_past_hwm(db.db_bytes_unverified(), ps, hwm),
                        hwm.saturating_mul(ps as u64),
                    ));
                }
                (
                    c.findings,
                    Some(c.summary),
                    ci,
                    c.trailer,
                    db.name(),
                    Some(members),
                )
            }
        };
    let mut wal = None;
    let mut boot = None;
    let mut lineage = crate::etcd::detect::detect(&signals);
    if let Some(member) = &input.member_dir {
        let mut changes = Vec::new();
        let read = crate::wal::log::read_log(&member.join("wal"), &mut |_, _, p| {
            super::lineage::wal_signal(&p, &mut signals);
            if let crate::wal::segment::Payload::Entry(e) = p {
                if e.entry_type == 1 {
                    changes.extend(super::identity::ConfChange::decode(e.index, e.data));
                }
            }
        });
        if let Ok(r) = read {
            let snaps = crate::snap::read_all(member);
            super::lineage::snap_signals(&snaps, &mut signals);
            lineage = crate::etcd::detect::detect(&signals);
            let rules = super::lineage::rules_for(version, &lineage);
            findings.extend(super::wal::line_findings(&r, &rules));
            for sf in &snaps {
                if let Some(p) = &sf.problem {
                    findings.push(Finding::error(
                        "snap.file.damaged",
                        &sf.path.display().to_string(),
                        p.clone(),
                    ));
                }
            }
            let blocker = findings.first_error_of(&super::boot::db_blockers(&rules));
            let db = match &consistent_index {
                Some(f) if input.db.is_some() => super::boot::DbState::from_facts(f, blocker),
                _ => super::boot::DbState {
                    blocker,
                    ..Default::default()
                },
            };
            let mut b = super::boot::predict(member, &db, &r, &snaps, &rules);
            let loaded = b
                .loads_snap
                .as_ref()
                .and_then(|p| snaps.iter().find(|s| s.path.display().to_string() == *p));
            let identity = super::identity::findings(
                &member.display().to_string(),
                r.metadata,
                members.as_ref().map(|(m, r)| super::identity::DbMembers {
                    members: m,
                    removed: r,
                }),
                loaded,
                &changes,
                r.hard_state.map_or(0, |h| h.commit),
            );
            if let Some(f) = identity
                .iter()
                .find(|f| matches!(f.code, "etcd.identity.not-member" | "etcd.identity.removed"))
            {
                b.block(
                    format!("etcd starts raft as a member the cluster does not have: it never finds a leader and serves nothing ({})", f.message),
                    "point etcd at this member's own data dir; if the member was removed, remove the data dir and re-add the member (`etcdctl member add`)",
                );
            }
            // 3.6+ rebuild membership from the db's buckets: a record that
            // does not decode, or a local member missing from them, panics.
            if rules.membership_source != crate::etcd::lines::MembershipSource::V2Store {
                let line = rules.line();
                if let Some(f) = findings.first_error_of(&["etcd.member.malformed"]) {
                    b.block(
                        format!("etcd {line} reads membership from the db and panics: \"couldn't read members from backend\" ({})", f.message),
                        "repair the db (`etcd-rescue repair --etcd-version` writes the members bucket from the WAL's membership), or remove and re-add the member",
                    );
                } else if let Some((me, (m, _))) = r
                    .metadata
                    .map(|x| x.node_id)
                    .zip(members.as_ref())
                    .filter(|(me, (m, _))| {
                        // Members are keyed by their record's key: one whose
                        // JSON id differs is no lookup hit either.
                        !m.iter().any(|x| x.id == *me)
                            && (!m.is_empty()
                                || findings
                                    .first_error_of(&["etcd.member.key-mismatch"])
                                    .is_some())
                    })
                {
                    b.block(
                        format!("etcd {line} reads membership from the db, which lacks this member ({me:x}; the db has {}): publishing its attributes panics with \"failed to update; member unknown\"", if m.is_empty() { "only a record under another key".to_string() } else { m.iter().map(|x| format!("{:x}", x.id)).collect::<Vec<_>>().join(", ") }),
                        "repair the db (`etcd-rescue repair --etcd-version` writes the members bucket from the WAL's membership), or remove and re-add the member",
                    );
                }
            }
            findings.extend(identity);
            let space = super::disk_full::Evidence::gather(member, written_past_hwm.take());
            let at = member.display().to_string();
            findings.extend(space.finding(&at));
            let replays = match (
                &consistent_index,
                r.segments.iter().rev().find_map(|s| s.read.last_index),
            ) {
                (Some(f), Some(last)) => last.saturating_sub(f.consistent_index().unwrap_or(0)),
                (None, Some(last)) => last,
                _ => 0,
            };
            let ps = summary.as_ref().map_or(4096, |s| u64::from(s.page_size));
            if let Some(why) = space.blocks_start(ps, replays) {
                b.block(why, "free space on that file system first (or copy the data dir to a disk with room and start etcd there); nothing is lost: the WAL holds every acknowledged write");
            }
            // The verdict is a finding too, so the flag, the summary and
            // the exit code agree.
            if !b.starts {
                findings.push(Finding::error(
                    "boot.will-not-start",
                    &at,
                    format!("etcd {} will not start: {}", b.etcd_version, b.summary),
                ));
            }
            for h in &b.hazards {
                findings.push(Finding::error(
                    "boot.hazard",
                    &at,
                    format!("etcd {} starts, but {h}", b.etcd_version),
                ));
            }
            boot = Some(b);
            wal = Some(WalSummary {
                segments: r.segments.len(),
                first_index: r.segments.iter().find_map(|s| s.read.first_index),
                last_index: r.segments.iter().rev().find_map(|s| s.read.last_index),
                hard_state: r.hard_state,
                metadata: r.metadata,
            });
        }
    }
    let errors = findings.count(Severity::Error);
    let warnings = findings.count(Severity::Warning);
    let infos = findings.count(Severity::Info);
    Ok(CheckReport {
        ok: errors == 0,
        findings: findings.into_sorted(&name),
        summary: CheckSummary {
            path: input.path.display().to_string(),
            kind: input.kind,
            errors,
            warnings,
            infos,
            db: summary,
            wal,
            snapshot_trailer: trailer,
        },
        boot,
        lineage,
    })
}

/// Check one opened db.
pub fn check_db(db: &OpenDb) -> Result<DbCheck, OpenDbError> {
    check_db_with(db, false)
}

/// `check_db`, also recording each reachable page's bucket (for `bolt map`).
pub fn check_db_mapped(db: &OpenDb) -> Result<DbCheck, OpenDbError> {
    check_db_with(db, true)
}

fn check_db_with(db: &OpenDb, track_buckets: bool) -> Result<DbCheck, OpenDbError> {
    let name = db.name();
    let (bytes, trailer) = db.db_bytes();
    let bolt = db.bolt()?;
    let mut findings = Findings::default();
    if let Some(t) = &trailer {
        if !t.matches {
            findings.push(
                Finding::error(
                    "snapshot.sha256-mismatch",
                    &name,
                    format!(
                        "SHA-256 trailer does not match the db bytes: stored {}, computed {}; `etcdctl snapshot restore` will refuse this file",
                        t.stored, t.computed
                    ),
                )
                .at_offset(bytes.len() as u64),
            );
        }
    }
    meta_findings(&bolt, &name, &mut findings);
    let visitor = EtcdVisitor {
        compacted: crate::etcd::validate::compacted_before_walk(&bolt),
    };
    let report = if track_buckets {
        crate::bolt::walk::walk_tracking_buckets(&bolt, &name, &visitor)
    } else {
        walk(&bolt, &name, &visitor)
    };
    let unreadable = db.file.unreadable();
    for &(a, b) in &unreadable {
        findings.push(
            Finding::error(
                "bolt.file.unreadable",
                &name,
                format!(
                    "bytes {a}..{b} (pages {}..{}) cannot be read (I/O error): they read as zeros here, and etcd reading this disk gets the same error; copy the file to a healthy disk first (ddrescue keeps what can be read), then `repair --salvage` the copy",
                    a / u64::from(bolt.page_size() as u32).max(1),
                    b.div_ceil(u64::from(bolt.page_size() as u32).max(1))
                ),
            )
            .at_offset(a),
        );
    }
    let summary = summarize(&bolt, &name, &report);
    let WalkReport {
        findings: wf,
        acc: mut facts,
        roles,
        buckets,
        lost,
        page_bucket,
        ..
    } = report;
    findings.extend(wf.into_sorted(&name));
    findings.extend(visitor.contiguity_findings(&mut facts, &name));
    etcd_findings(
        &facts,
        &buckets,
        bolt.meta().is_some() || bolt.best_meta().is_some(),
        &name,
        &mut findings,
    );
    if facts.revisions > 0 || !facts.users.is_empty() {
        findings.extend(super::consistency::findings(&bolt, &facts, &name));
    }
    Ok(DbCheck {
        summary,
        findings,
        facts,
        roles,
        trailer,
        lost,
        bucket_names: buckets.iter().map(|b| b.name.clone()).collect(),
        page_bucket,
        unreadable,
    })
}

fn summarize(bolt: &BoltFile<'_>, name: &str, r: &WalkReport<EtcdFacts>) -> DbSummary {
    let meta = r.meta_slot.and_then(|s| bolt.metas[s as usize].as_ref());
    let f = &r.acc;
    DbSummary {
        file: name.to_string(),
        file_size: bolt.data.len() as u64,
        page_size: bolt.layout.page_size,
        endian: bolt.layout.endian,
        page_size_source: bolt.layout.source,
        high_water_mark: r.hwm,
        current_meta: bolt.current,
        txid: meta.map(|m| m.txid),
        metas: bolt
            .metas
            .iter()
            .flatten()
            .map(|m| MetaSummary {
                slot: m.slot,
                valid: m.validates(),
                txid: m.txid,
                root: m.root,
                pgid: m.pgid,
                freelist: m.freelist,
                problems: m
                    .problems(bolt.layout.page_size)
                    .iter()
                    .map(|p| p.describe())
                    .collect(),
            })
            .collect(),
        freelist: match (meta, r.freelist_len) {
            (Some(m), _) if !m.has_freelist() => "not persisted (etcd NoFreelistSync)".into(),
            (Some(m), Some(n)) => format!("page {} with {n} ids", m.freelist),
            (Some(m), None) => format!("page {} unreadable", m.freelist),
            (None, _) => "unknown".into(),
        },
        pages: r.counts.clone(),
        buckets: r.buckets.iter().skip(1).cloned().collect(),
        revisions: f.revisions,
        tombstones: f.tombstones,
        current_revision: f.current_revision(),
        compacted_revision: f.finished_compact(),
        scheduled_compact_revision: f.scheduled_compact(),
        consistent_index: f.consistent_index(),
        term: f.term(),
    }
}

fn meta_findings(bolt: &BoltFile<'_>, name: &str, out: &mut Findings) {
    let ps = bolt.layout.page_size;
    let current = bolt.current;
    for (slot, m) in bolt.metas.iter().enumerate() {
        let off = slot as u64 * u64::from(ps);
        let Some(m) = m else {
            out.push(
                Finding::error(
                    "bolt.meta.missing",
                    name,
                    format!("meta page {slot} lies beyond the end of the file"),
                )
                .at_page(slot as u64, ps as usize),
            );
            continue;
        };
        let problems = m.problems(ps);
        if problems.is_empty() {
            continue;
        }
        let is_current = current == Some(slot as u8);
        let fatal = problems.iter().any(|p| p.is_fatal());
        let text: Vec<String> = problems.iter().map(|p| p.describe()).collect();
        let f = if is_current || current.is_none() {
            Finding::error(
                if fatal {
                    "bolt.meta.invalid"
                } else {
                    "bolt.meta.inconsistent"
                },
                name,
                format!("meta page {slot} (txid {}): {}", m.txid, text.join("; ")),
            )
        } else {
            let used = current
                .and_then(|c| bolt.metas[c as usize].as_ref())
                .map_or(0, |c: &Meta| c.txid);
            let newer = m.txid > used && m.magic == crate::bolt::MAGIC;
            Finding::error(
                "bolt.meta.other-invalid",
                name,
                format!(
                    "meta page {slot} is damaged: {}. bbolt falls back to meta page {} (txid {used}){}",
                    text.join("; "),
                    current.unwrap_or(0),
                    if newer {
                        format!("; this meta claims txid {}, so the last committed transaction is probably lost", m.txid)
                    } else {
                        "; the file has no fallback meta left".into()
                    }
                ),
            )
        };
        out.push(f.at_offset(off + 16).with_page(slot as u64));
    }
    if current.is_none() {
        out.push(Finding::error(
            "bolt.meta.no-valid",
            name,
            "neither meta page validates: bbolt (and etcd) will refuse to open this file".into(),
        ));
    }
    if let Some(m) = bolt.best_meta() {
        if m.pgid < 2 {
            out.push(Finding::error(
                "bolt.meta.inconsistent",
                name,
                format!(
                    "high-water mark {} is below 2: not even the meta pages are allocated",
                    m.pgid
                ),
            ));
        }
    }
}

fn etcd_findings(
    facts: &EtcdFacts,
    buckets: &[BucketStats],
    have_tree: bool,
    name: &str,
    out: &mut Findings,
) {
    if !have_tree {
        return;
    }
    let top: Vec<&BucketStats> = buckets.iter().filter(|b| b.path.len() == 1).collect();
    let has = |n: &str| top.iter().any(|b| b.path[0] == n.as_bytes());
    if !crate::etcd::BUCKETS.iter().any(|b| has(b)) {
        // A readable root tree without etcd's buckets (or with no bucket
        // at all: an empty bbolt file) is a plain bbolt file.
        let what = if top.is_empty() {
            "the file holds no bucket at all (an empty bbolt file)"
        } else {
            "none of etcd's buckets is present"
        };
        out.push(Finding::info(
            "etcd.not-etcd",
            name,
            format!("{what}: checked as a plain bbolt file, etcd checks skipped"),
        ));
        return;
    }
    for b in ["key", "meta"] {
        if !has(b) {
            out.push(Finding::error(
                "etcd.bucket.missing",
                name,
                format!(
                    "the `{b}` bucket is missing: this is not an etcd db, or its root page lost it"
                ),
            ));
        }
    }
    for b in crate::etcd::BUCKETS {
        if !has(b) && *b != "key" && *b != "meta" {
            out.push(Finding::info(
                "etcd.bucket.absent",
                name,
                format!("the `{b}` bucket is absent (etcd creates it at first start)"),
            ));
        }
    }
    for b in &top {
        let n = String::from_utf8_lossy(&b.path[0]);
        if !crate::etcd::BUCKETS.contains(&n.as_ref()) {
            out.push(Finding::info(
                "etcd.bucket.unknown",
                name,
                format!("bucket {} is not one of etcd's", b.name),
            ));
        }
        if b.path.len() == 1 && b.sub_buckets > 0 {
            out.push(Finding::warning(
                "etcd.bucket.nested",
                name,
                format!(
                    "bucket {} holds sub-buckets; etcd never creates nested buckets",
                    b.name
                ),
            ));
        }
    }
    if has("meta") && facts.consistent_index().is_none() {
        out.push(Finding::warning(
            "etcd.meta.no-consistent-index",
            name,
            "meta has no consistent_index: etcd will replay the whole WAL onto this db".into(),
        ));
    }
    match (facts.scheduled_compact(), facts.finished_compact()) {
        (Some(s), Some(f)) if f > s => out.push(Finding::error(
            "etcd.meta.compaction",
            name,
            format!("finishedCompactRev {f} is above scheduledCompactRev {s}"),
        )),
        (Some(s), f) if f.is_none_or(|f| f < s) => out.push(Finding::warning(
            "etcd.meta.compaction-interrupted",
            name,
            format!(
                "compaction to revision {s} was scheduled but not finished (finished: {}); etcd re-runs it at startup",
                f.map_or("none".into(), |f| f.to_string())
            ),
        )),
        _ => {}
    }
    for a in &facts.alarms {
        out.push(Finding::warning(
            "etcd.alarm.active",
            name,
            format!(
                "alarm {} is raised for member {:x}{}",
                a.alarm_name(),
                a.member_id,
                if a.alarm == 1 {
                    ": the cluster refuses writes until it is disarmed (compact, defrag, then `etcdctl alarm disarm`)"
                } else {
                    ""
                }
            ),
        ));
    }
}

/// The text form of a check report.
pub fn render_text(r: &CheckReport, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use super::render::{finding_line, human_bytes};
    let s = &r.summary;
    writeln!(out, "{} ({})", s.path, s.kind.describe_short())?;
    writeln!(out, "{}", r.lineage.describe())?;
    if let Some(d) = &s.db {
        writeln!(
            out,
            "db {}: {} ({} bytes), page size {}, high-water mark {} pages, {}",
            d.file,
            human_bytes(d.file_size),
            d.file_size,
            d.page_size,
            d.high_water_mark,
            match (d.current_meta, d.txid) {
                (Some(m), Some(t)) => format!("meta {m} current (txid {t})"),
                _ => "no valid meta".into(),
            }
        )?;
        let p = &d.pages;
        writeln!(
            out,
            "pages: {} branch, {} leaf, {} overflow, {} freelist, {} free, {} unreachable, {} damaged, {} past the high-water mark",
            p.branch, p.leaf, p.overflow, p.freelist, p.free, p.unreachable, p.damaged, p.beyond_hwm
        )?;
        writeln!(
            out,
            "etcd: {} revisions ({} tombstones), current revision {}, compacted {}, consistent index {}",
            d.revisions,
            d.tombstones,
            d.current_revision,
            d.compacted_revision.map_or("-".into(), |v| v.to_string()),
            d.consistent_index.map_or("-".into(), |v| v.to_string()),
        )?;
    }
    if let Some(w) = &s.wal {
        writeln!(
            out,
            "wal: {} segments, entries {}..{}{}",
            w.segments,
            w.first_index.map_or("-".into(), |v| v.to_string()),
            w.last_index.map_or("-".into(), |v| v.to_string()),
            w.hard_state.map_or(String::new(), |h| format!(
                ", committed up to {} (term {})",
                h.commit, h.term
            ))
        )?;
    }
    if let Some(t) = &s.snapshot_trailer {
        writeln!(
            out,
            "snapshot trailer: SHA-256 {}",
            if t.matches {
                "matches"
            } else {
                "DOES NOT MATCH"
            }
        )?;
    }
    for f in &r.findings {
        writeln!(out, "{}", finding_line(f))?;
    }
    if let Some(b) = &r.boot {
        writeln!(out, "boot: {}", b.summary)?;
        for st in &b.steps {
            writeln!(out, "  - {}", st.what)?;
            if !st.advice.is_empty() {
                writeln!(out, "    advice: {}", st.advice)?;
            }
        }
    }
    writeln!(
        out,
        "{}: {} errors, {} warnings, {} notes",
        if r.ok { "OK" } else { "DAMAGED" },
        s.errors,
        s.warnings,
        s.infos
    )
}
