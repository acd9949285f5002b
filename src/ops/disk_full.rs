//! The evidence that the disk filled up while etcd ran on a member: a WAL
//! spare segment whose preallocation failed (etcd logs "failed to allocate
//! space when creating new wal file"), pages a backend commit wrote past
//! the db's high-water mark whose meta page was never written (bbolt's
//! write failed part-way: "cannot commit tx ... no space left on
//! device"), and the free space of the file system the member is on when
//! it is checked in place. `check` turns it into one finding, and the boot
//! prediction consults the free space: etcd's first commit needs room.
#![forbid(unsafe_code)]

use crate::findings::Finding;
use crate::ops::render::human_bytes;
use std::path::Path;

/// The size etcd preallocates every WAL segment to (all lines).
pub const WAL_SEGMENT: u64 = 64_000_000;

/// What the member's files and file system say about space.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// WAL spare segments (`N.tmp`) shorter than [`WAL_SEGMENT`]: path, size.
    pub short_spares: Vec<(String, u64)>,
    /// Pages past the db's high-water mark that carry their own page id:
    /// written by a commit whose meta never was.
    pub written_past_hwm: u64,
    /// The db's file and its high-water mark in bytes, when pages past it
    /// were written.
    pub db: Option<(String, u64)>,
    /// The file system holding the member, and its free bytes.
    pub free: Option<(String, u64)>,
}

/// Pages past `hwm` whose header names their own id (a page bbolt wrote;
/// the rest of a file grown ahead of use is zeros). Headers only: one read
/// of 8 bytes per page past the mark.
pub fn written_past_hwm(data: &[u8], page_size: usize, hwm: u64) -> u64 {
    if page_size < 16 {
        return 0;
    }
    let pages = (data.len() / page_size) as u64;
    (hwm..pages)
        .filter(|&id| {
            let off = (id as usize).saturating_mul(page_size);
            data.get(off..off.saturating_add(8))
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .is_some_and(|b| u64::from_le_bytes(b) == id)
        })
        .count() as u64
}

impl Evidence {
    /// Read the member dir's WAL spares and its file system's free space;
    /// `db` is (file name, pages written past the high-water mark, the
    /// mark in bytes).
    pub fn gather(member: &Path, db: Option<(String, u64, u64)>) -> Evidence {
        let mut e = Evidence::default();
        let wal = member.join("wal");
        if let Ok(rd) = std::fs::read_dir(&wal) {
            let mut spares: Vec<(String, u64)> = rd
                .flatten()
                .filter(|x| x.file_name().to_string_lossy().ends_with(".tmp"))
                .filter_map(|x| {
                    let md = x.metadata().ok()?;
                    (md.is_file() && md.len() < WAL_SEGMENT)
                        .then(|| (x.path().display().to_string(), md.len()))
                })
                .collect();
            spares.sort();
            e.short_spares = spares;
        }
        if let Some((name, written, end)) = db.filter(|d| d.1 > 0) {
            e.written_past_hwm = written;
            e.db = Some((name, end));
        }
        if let (_, Ok(free)) = crate::ops::write::free_space(member) {
            if free < WAL_SEGMENT {
                e.free = Some((member.display().to_string(), free));
            }
        }
        e
    }

    /// Whether the disk filled up: a failed preallocation, or a file system
    /// that has no room for the next segment (a commit cut short alone can
    /// also be a crash mid-commit).
    pub fn filled_up(&self) -> bool {
        !self.short_spares.is_empty() || self.free.is_some()
    }

    /// The finding, with every piece of evidence.
    pub fn finding(&self, at: &str) -> Option<Finding> {
        if !self.filled_up() {
            return None;
        }
        let mut said = Vec::new();
        for (p, n) in &self.short_spares {
            said.push(format!(
                "the WAL's spare segment {p} is {n} bytes, not the {WAL_SEGMENT} etcd preallocates (its preallocation failed: etcd logs \"failed to allocate space when creating new wal file (no space left on device)\", and exits at the next segment cut)"
            ));
        }
        if let Some((db, end)) = &self.db {
            said.push(format!(
                "{} page(s) of {db} past its high-water mark (byte {end}) were written by a backend commit whose meta never was (bbolt's write failed part-way, as with \"cannot commit tx ... no space left on device\"); the db stays at its last commit and the WAL holds what followed",
                self.written_past_hwm
            ));
        }
        if let Some((p, free)) = &self.free {
            said.push(format!(
                "the file system holding {p} has {} free, less than one {WAL_SEGMENT}-byte WAL segment",
                human_bytes(*free)
            ));
        }
        // Free space alone says the disk is full now, not that etcd met it.
        let head = if self.short_spares.is_empty() {
            "the member's file system is full"
        } else {
            "the disk filled up while etcd ran"
        };
        Some(Finding::warning(
            "disk.filled-up",
            at,
            format!("{head}: {}", said.join("; ")),
        ))
    }

    /// When checked in place on a file system with no room for a page:
    /// what etcd does (it exits at its first backend commit that needs a
    /// page the file system cannot give: at once when the entries it
    /// re-applies need one, which free pages already on disk may or may
    /// not spare it, else at the first write).
    pub fn blocks_start(&self, page_size: u64, replays: u64) -> Option<String> {
        let (p, free) = self.free.as_ref()?;
        (*free < page_size.max(4096)).then(|| {
            let when = if replays > 0 {
                format!("as soon as the {replays} entries it re-applies past the db need one, else at the first write")
            } else {
                "at the first write".into()
            };
            format!(
                "the file system holding {p} has {} free: etcd exits at its first backend commit that needs a new page ({when}), logging \"cannot commit tx\" (3.4) or \"failed to commit tx\" (3.5+): \"write ...db: no space left on device\"",
                human_bytes(*free)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pages_carrying_their_own_id_count() {
        let ps = 4096;
        let mut data = vec![0u8; ps * 8];
        // Pages 5 and 7 written past a mark of 4; page 6 names another id.
        for (page, id) in [(5u64, 5u64), (6, 2), (7, 7)] {
            let off = page as usize * ps;
            data[off..off + 8].copy_from_slice(&id.to_le_bytes());
        }
        assert_eq!(written_past_hwm(&data, ps, 4), 2);
        assert_eq!(written_past_hwm(&data, ps, 8), 0);
        assert_eq!(written_past_hwm(&data[..ps * 6 + 3], ps, 4), 1);
        assert_eq!(written_past_hwm(&data, 0, 0), 0);
    }

    #[test]
    fn the_finding_says_only_what_the_evidence_shows() {
        let none = Evidence::default();
        assert!(none.finding("m").is_none() && none.blocks_start(4096, 3).is_none());
        // A commit cut short alone may be a crash mid-commit.
        let cut = Evidence {
            written_past_hwm: 5,
            db: Some(("db".into(), 8192)),
            ..Evidence::default()
        };
        assert!(cut.finding("m").is_none());
        let full_now = Evidence {
            free: Some(("m".into(), 0)),
            ..Evidence::default()
        };
        let f = full_now.finding("m").unwrap();
        assert!(
            f.message.starts_with("the member's file system is full"),
            "{}",
            f.message
        );
        assert!(full_now
            .blocks_start(4096, 0)
            .unwrap()
            .contains("at the first write"));
        let met = Evidence {
            short_spares: vec![("m/wal/0.tmp".into(), 0)],
            ..cut
        };
        let f = met.finding("m").unwrap();
        assert!(f.message.starts_with("the disk filled up while etcd ran"));
        assert!(f.message.contains("0.tmp is 0 bytes") && f.message.contains("5 page(s)"));
        assert!(
            met.blocks_start(4096, 3).is_none(),
            "room left: no verdict from space"
        );
    }
}
