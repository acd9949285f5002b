//! The repair report's judgement and text: whether everything is
//! provably recovered (the first line says), and the rendering.
#![forbid(unsafe_code)]

use super::*;

pub(super) fn describe_damage(bucket: &str, d: &crate::bolt::cursor::CursorDamage) -> String {
    let parent = d
        .parent
        .map_or(String::new(), |p| format!(" (child of branch page {p})"));
    let range = if bucket == "key" {
        let r = losses::RevRange::of_bounds(d.lower_bound.as_deref(), d.upper_bound.as_deref());
        let last = if r.last == i64::MAX {
            "the end".to_string()
        } else {
            r.last.to_string()
        };
        format!("; it held revisions {} to {last}", r.first)
    } else {
        String::new()
    };
    format!(
        "bucket {bucket}: page {}{parent}: {}{range}",
        d.page, d.reason
    )
}

/// Decide completeness and the first line.
pub(super) fn finish(r: &mut RepairReport) {
    let lost_revs = r.losses.as_ref().map_or(0, |l| l.lost_revision_count);
    let log_left = r.log.as_ref().is_some_and(|t| {
        t.unusable.is_some()
            || (r.replay.is_none() && t.entries_with_effect > 0)
            || (r.replay_requested && !t.damage.is_empty())
    });
    let not_replayed = r
        .replay
        .as_ref()
        .map_or(0, |p| p.not_replayed.values().sum::<u64>());
    // Damage is made good only where it can be checked: `key` revisions
    // above the compaction point (each main revision must be present), and
    // only when the unreadable part has an upper end to check up to.
    let compact = r.losses.as_ref().map_or(0, |l| l.compact_revision);
    let current = r.losses.as_ref().map_or(0, |l| l.current_revision);
    let damage_made_good = r.scan.is_some()
        && !r.small_bucket_damage
        && r.unreadable
            .iter()
            .all(|u| u.first > compact && u.last <= current);
    let damage_left = !r.damage.is_empty() && !damage_made_good;
    r.complete =
        !damage_left && lost_revs == 0 && !log_left && not_replayed == 0 && r.conflicts.is_empty();
    let keys: u64 = r.buckets.get("key").map_or(0, |b| b.written);
    let scanned: u64 = r.buckets.values().map(|b| b.from_scan).sum();
    r.summary = if r.complete {
        format!(
            "recovered everything: {} revision records{}, {} bytes written to {}",
            keys,
            if r.rebuilt_from_log {
                " (replayed from the WAL, which holds every entry from index 1 and agrees with all the db still holds)".to_string()
            } else if scanned > 0 {
                format!(" ({scanned} records from the page scan in place of unreadable pages)")
            } else {
                String::new()
            },
            r.bytes_written,
            r.output
        )
    } else {
        let mut why = Vec::new();
        if damage_left {
            why.push(format!(
                "{} unreadable part(s) of the tree{}",
                r.damage.len(),
                if r.scan.is_some() {
                    " not provably made good by the page scan"
                } else {
                    " (try --salvage)"
                }
            ));
        }
        if lost_revs > 0 {
            why.push(format!("{lost_revs} revision(s) lost"));
        }
        if log_left {
            why.push(
                if r.log.as_ref().is_some_and(|t| !t.damage.is_empty()) {
                    "the WAL is damaged: entries past the damage could not be read"
                } else {
                    "log entries past the db not applied"
                }
                .into(),
            );
        }
        if not_replayed > 0 {
            why.push(format!("{not_replayed} log request(s) not reproduced"));
        }
        if !r.conflicts.is_empty() {
            why.push(format!(
                "{} revision(s) with disagreeing copies on disk",
                r.conflicts.len()
            ));
        }
        format!(
            "INCOMPLETE: {}; {} revision records, {} bytes written to {}",
            why.join(", "),
            keys,
            r.bytes_written,
            r.output
        )
    };
}

/// The text report.
pub fn render_text(r: &RepairReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "{}", r.summary)?;
    writeln!(
        out,
        "  method: {}; tree read through {}",
        r.method, r.tree_from
    )?;
    if !r.etcd_version.is_empty() {
        writeln!(
            out,
            "  for etcd {}: restore with `{}`",
            r.etcd_version, r.restore_with
        )?;
    }
    writeln!(
        out,
        "  {:<16} {:>10} {:>10} {:>10} {:>10}",
        "bucket", "tree", "scan", "wal", "written"
    )?;
    for (name, a) in &r.buckets {
        writeln!(
            out,
            "  {:<16} {:>10} {:>10} {:>10} {:>10}",
            name, a.from_tree, a.from_scan, a.changed_by_wal, a.written
        )?;
    }
    if let Some(s) = &r.scan {
        writeln!(
            out,
            "  page scan: {} pages ({} bytes) in {:.2} s ({:.2} GB/s), {} leaf pages, {} root-leaf copies, {} records identified, {} rejected",
            s.pages_scanned,
            s.bytes_scanned,
            s.seconds,
            s.gb_per_second,
            s.leaf_pages,
            s.root_leaves,
            s.records_identified,
            s.records_rejected
        )?;
    }
    if let Some(p) = &r.replay {
        writeln!(
            out,
            "  log replay: entries {}..{} ({}): {} puts, {} deletes, {} txns, {} compactions, {} lease grants, {} revokes, {} auth changes, {} membership changes, {} rejected as etcd rejects them; revisions {}..{}",
            p.from_index,
            p.to_index,
            p.entries,
            p.puts,
            p.deletes,
            p.txns,
            p.compactions,
            p.lease_grants,
            p.lease_revokes,
            p.auth_changes,
            p.membership_changes,
            p.rejected,
            p.first_revision.unwrap_or(0),
            p.last_revision.unwrap_or(0)
        )?;
        for (k, n) in &p.not_replayed {
            writeln!(out, "    not reproduced: {n} × {k}")?;
        }
    }
    if let Some(t) = &r.log {
        if let Some(u) = &t.unusable {
            writeln!(out, "  log: {u}")?;
        }
        if t.applied_past_commit > 0 {
            writeln!(
                out,
                "  log: {} entries past the commit index {} applied: a one-voter cluster commits its whole log when it restarts",
                t.applied_past_commit, t.commit_index
            )?;
        }
        for d in &t.damage {
            writeln!(
                out,
                "  log damaged: {d}; entries past it could not be read, so writes they held past the db are missing"
            )?;
        }
        if t.beyond_commit > 0 {
            writeln!(
                out,
                "  log: {} entries past this member's commit index {} were not applied: in a cluster of several members they may have been committed (and acknowledged) by the others, or never; their data is on the other members if it was",
                t.beyond_commit, t.commit_index
            )?;
        }
        if !t.keys_not_applied.is_empty() {
            writeln!(
                out,
                "  log: {} key(s) have newer writes in the log only: {}",
                t.keys_not_applied.len(),
                preview(&t.keys_not_applied)
            )?;
        }
    }
    if let Some(l) = &r.losses {
        if !l.unverifiable.is_empty() {
            let ranges: Vec<String> = l
                .unverifiable
                .iter()
                .map(|g| format!("{}-{}", g.first, g.last))
                .collect();
            writeln!(
                out,
                "  unreadable at or below the compaction point {}: revisions {} (which records they held cannot be known; the scan's finds are in)",
                l.compact_revision,
                preview(&ranges)
            )?;
        }
        if !l.lost_revisions.is_empty() {
            let ranges: Vec<String> = l
                .lost_revisions
                .iter()
                .map(|g| {
                    if g.first == g.last {
                        g.first.to_string()
                    } else {
                        format!("{}-{}", g.first, g.last)
                    }
                })
                .collect();
            writeln!(
                out,
                "  lost revisions ({}): {}",
                l.lost_revision_count,
                preview(&ranges)
            )?;
        }
        if let Some(after) = l.lost_after {
            writeln!(
                out,
                "  revisions after {after} may have been written and are lost: the WAL that held them is damaged (their number and keys cannot be known)"
            )?;
        }
        if !l.lost_revisions.is_empty() || !l.unverifiable.is_empty() || l.lost_after.is_some() {
            writeln!(
                out,
                "  keys: {} total, latest revision survived for {}, uncertain for {} (a lost revision lies above it), {} with lost history",
                l.keys_total, l.keys_latest_survived, l.keys_latest_uncertain, l.keys_with_lost_history
            )?;
        }
    }
    for c in r.conflicts.iter().take(20) {
        writeln!(
            out,
            "  conflict: revision {} ({}): {} different copies; kept {}",
            c.revision, c.key, c.copies, c.kept
        )?;
    }
    for d in r.damage.iter().take(20) {
        writeln!(out, "  damage: {d}")?;
    }
    if r.damage.len() > 20 {
        writeln!(
            out,
            "  damage: … {} more (see --report)",
            r.damage.len() - 20
        )?;
    }
    for n in &r.notes {
        writeln!(out, "  note: {n}")?;
    }
    Ok(())
}

pub(super) fn preview(items: &[String]) -> String {
    let shown: Vec<&str> = items.iter().take(10).map(String::as_str).collect();
    if items.len() > 10 {
        format!("{}, … ({} more)", shown.join(", "), items.len() - 10)
    } else {
        shown.join(", ")
    }
}
