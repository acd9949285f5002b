//! Damage met on the way to a view's answer, said the same way by every
//! command that reads a db without running the full `check`: a db with no
//! valid meta page, a cut file, an unreadable root tree, a missing or partly
//! unreadable bucket, and damage that makes etcd or etcdctl panic. A command
//! prints these notes on stderr and exits 1; [`Unanswerable`] means there is
//! nothing true to print (exit 2).
#![forbid(unsafe_code)]

use crate::bolt::cursor::top_level_buckets;
use crate::bolt::page::PageKind;
use crate::bolt::{BoltFile, BucketCursor, NO_FREELIST};

/// What was met while reading the db, as one line each.
#[derive(Debug, Default, Clone)]
pub struct Notes(pub Vec<String>);

impl Notes {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Print each note on stderr; the exit code (1 when any).
    pub fn report(&self) -> i32 {
        for n in &self.0 {
            eprintln!("etcd-rescue: damage: {n}");
        }
        if self.0.is_empty() {
            super::exit::OK
        } else {
            super::exit::FINDINGS
        }
    }

    pub fn extend(&mut self, other: Notes) {
        self.0.extend(other.0);
    }
}

/// Why a view has no true answer to give (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unanswerable(pub String);

/// Damage of the file as a whole: meta pages, length, root tree, and what
/// makes bbolt (so etcd and etcdctl) panic. Cheap: reads the metas, the
/// root tree and one page header.
pub fn file_notes(file: &BoltFile<'_>, name: &str) -> Result<Notes, Unanswerable> {
    let mut n = Vec::new();
    let Some(meta) = file.best_meta() else {
        return Err(Unanswerable(format!(
            "{name}: no usable meta page (neither has bbolt's magic and a root inside the file): the db cannot be read"
        )));
    };
    if file.meta().is_none() {
        n.push(format!(
            "{name}: neither meta page is valid (bbolt and etcd refuse to open this file); read through meta page {} (txid {}) although its checksum does not match",
            meta.slot, meta.txid
        ));
    }
    let need = meta.pgid.saturating_mul(file.page_size() as u64);
    let have = file.data.len() as u64;
    if have < need {
        n.push(format!(
            "{name}: the file is cut: {have} bytes, but its meta's high-water mark {} × page size {} needs {need}; pages from {} on are missing",
            meta.pgid,
            file.page_size(),
            file.file_pages()
        ));
    }
    if meta.root >= file.file_pages() {
        n.push(format!(
            "{name}: the root page {} lies past the end of the file ({} pages): no bucket can be read",
            meta.root,
            file.file_pages()
        ));
    }
    if let Some(p) = freelist_panic(file) {
        n.push(format!("{name}: {p}"));
    }
    let (_, damages) = top_level_buckets(file, meta);
    for d in damages {
        n.push(format!(
            "{name}: the root tree is damaged at page {}: {}",
            d.page, d.reason
        ));
    }
    Ok(Notes(n))
}

/// When the current meta names as its freelist a page that is not one:
/// bbolt panics loading it, so etcd does not start and `etcdctl snapshot
/// status` and `snapshot restore` panic. The sentence says so and names
/// the fix.
pub fn freelist_panic(file: &BoltFile<'_>) -> Option<String> {
    let meta = file.best_meta()?;
    if meta.freelist == NO_FREELIST {
        return None;
    }
    let kind = file.header(meta.freelist).map(|h| h.kind());
    if kind == Some(PageKind::Freelist) {
        return None;
    }
    Some(format!(
        "meta (txid {}) names page {} as the freelist, but it is {}: bbolt panics loading it, so etcd will not start and `etcdctl snapshot status` and `etcdctl snapshot restore` panic on this file; `etcd-rescue repair` writes a copy with a valid freelist",
        meta.txid,
        meta.freelist,
        match kind {
            Some(k) => format!("a {} page", k.name()),
            None => "past the end of the file".into(),
        }
    ))
}

/// The notes for a view that reads the named top-level buckets: the file's
/// notes, plus buckets missing or partly unreadable. Unanswerable when the
/// db cannot be read or holds none of etcd's buckets.
pub fn bucket_notes(
    file: &BoltFile<'_>,
    name: &str,
    buckets: &[&str],
) -> Result<Notes, Unanswerable> {
    let mut notes = file_notes(file, name)?;
    let Some(meta) = file.best_meta() else {
        return Ok(notes);
    };
    let (top, _) = top_level_buckets(file, meta);
    let is_etcd = top
        .iter()
        .any(|(n, _)| crate::etcd::BUCKETS.iter().any(|b| b.as_bytes() == *n));
    if !is_etcd {
        let why = if notes.is_empty() {
            "none of etcd's buckets is present: not an etcd db".to_string()
        } else {
            format!(
                "none of etcd's buckets could be read: {}",
                notes.0.join("; ")
            )
        };
        return Err(Unanswerable(format!("{name}: {why}")));
    }
    for b in buckets {
        match top.iter().find(|(n, _)| *n == b.as_bytes()) {
            None => notes.0.push(format!(
                "{name}: the `{b}` bucket is missing (etcd always has it): its records are lost, or the root tree lost it"
            )),
            Some((_, Err(e))) => notes
                .0
                .push(format!("{name}: the `{b}` bucket's header is unusable: {e}")),
            Some((_, Ok(root))) => {
                for d in BucketCursor::new(file, *root, meta.pgid).filter_map(Result::err) {
                    notes.0.push(format!(
                        "{name}: bucket `{b}`: page {} cannot be read ({}): its records are missing from this answer",
                        d.page, d.reason
                    ));
                }
            }
        }
    }
    Ok(notes)
}
