//! Low-level views in the spirit of the `bbolt` CLI: the page table, one
//! page decoded with a hexdump, the buckets, and the keys of one bucket.
//! Every view reads through the fallible readers, so damaged pages show as
//! errors in place.

use super::check::{check_db, DbSummary};
use super::open::{OpenDb, OpenDbError};
use crate::bolt::cursor::{top_level_buckets, BucketCursor};
use crate::bolt::file::{bucket_root, BucketRoot};
use crate::bolt::freelist::FreelistIds;
use crate::bolt::meta::Meta;
use crate::bolt::page::{NodePage, PageHeader, PageKind};
use crate::bolt::walk::{show_name, BucketStats, PageRole};
use crate::etcd::records::b64;
use crate::findings::show_bytes;
use serde::Serialize;

/// One row of the page table.
#[derive(Debug, Clone, Serialize)]
pub struct PageRow {
    pub id: u64,
    /// What the header says (`zero` for an all-zero header; `-` past EOF).
    pub header_type: String,
    pub count: u16,
    pub overflow: u32,
    pub state: PageRole,
    /// For continuation pages: the page that owns them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct PageTable {
    pub file: String,
    pub page_size: u32,
    pub high_water_mark: u64,
    pub pages: Vec<PageRow>,
}

pub fn page_table(db: &OpenDb) -> Result<PageTable, OpenDbError> {
    let c = check_db(db)?;
    let bolt = db.bolt()?;
    let mut pages = Vec::with_capacity(c.roles.len());
    let mut owner: Option<(u64, u64)> = None; // (owner id, last overflow id)
    for (i, role) in c.roles.iter().enumerate() {
        let id = i as u64;
        let h = bolt.header(id);
        let in_run = owner.filter(|&(_, last)| id <= last).map(|(o, _)| o);
        let header_type = match (&h, in_run) {
            (_, Some(_)) => "overflow".to_string(),
            (Some(h), None) if h.is_zero() => "zero".to_string(),
            // Not a page header: stale continuation bytes of an old value.
            (Some(h), None) if matches!(h.kind(), PageKind::Unknown(_)) => "data".to_string(),
            (Some(h), None) => h.kind().name(),
            (None, None) => "-".to_string(),
        };
        if in_run.is_none() {
            if let Some(h) = &h {
                if matches!(
                    role,
                    PageRole::Branch | PageRole::Leaf | PageRole::Freelist | PageRole::Damaged
                ) && h.overflow > 0
                {
                    owner = Some((id, id.saturating_add(u64::from(h.overflow))));
                }
            }
        }
        let (count, overflow) = match (&h, in_run) {
            (Some(h), None) if !matches!(h.kind(), PageKind::Unknown(_)) => (h.count, h.overflow),
            _ => (0, 0),
        };
        pages.push(PageRow {
            id,
            header_type,
            count,
            overflow,
            state: *role,
            owner: in_run,
        });
    }
    Ok(PageTable {
        file: db.name(),
        page_size: c.summary.page_size,
        high_water_mark: c.summary.high_water_mark,
        pages,
    })
}

pub fn render_page_table(t: &PageTable, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{}: page size {}, high-water mark {}",
        t.file, t.page_size, t.high_water_mark
    )?;
    writeln!(
        out,
        "{:>10}  {:<12} {:>6} {:>8}  state",
        "ID", "TYPE", "ITEMS", "OVRFLW"
    )?;
    let mut i = 0;
    while i < t.pages.len() {
        let r = &t.pages[i];
        // Collapse runs of continuation pages and of identical free pages.
        let mut j = i + 1;
        let same = |a: &PageRow, b: &PageRow| {
            (a.owner.is_some() && a.owner == b.owner)
                || (matches!(
                    a.state,
                    PageRole::Free | PageRole::BeyondHwm | PageRole::Unreachable
                ) && a.state == b.state
                    && a.header_type == b.header_type
                    && a.owner.is_none()
                    && b.owner.is_none())
        };
        while j < t.pages.len() && same(r, &t.pages[j]) {
            j += 1;
        }
        let id = if j - i > 1 {
            format!("{}-{}", r.id, t.pages[j - 1].id)
        } else {
            r.id.to_string()
        };
        let state = match r.owner {
            Some(o) => format!("overflow of page {o}"),
            None => r.state.name().to_string(),
        };
        writeln!(
            out,
            "{id:>10}  {:<12} {:>6} {:>8}  {state}",
            r.header_type, r.count, r.overflow
        )?;
        i = j;
    }
    Ok(())
}

/// One element of a branch or leaf page, decoded.
#[derive(Debug, Serialize)]
pub struct ElementView {
    pub index: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<u32>,
    /// The key, printable or as 0x-hex.
    pub key: String,
    pub key_base64: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A page decoded.
#[derive(Debug, Serialize)]
pub struct PageView {
    pub file: String,
    pub id: u64,
    pub offset: u64,
    pub header: PageHeader,
    pub header_type: String,
    pub state: PageRole,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta_valid: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub elements: Vec<ElementView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub freelist: Option<Vec<u64>>,
    pub problems: Vec<String>,
    /// The bytes shown in the hexdump (the page and its overflow, capped).
    pub hex: String,
}

/// Why a page view could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PageViewError {
    #[error("{0}")]
    Open(#[from] OpenDbError),
    #[error("page {id} is outside the file ({pages} pages)")]
    OutOfFile { id: u64, pages: u64 },
}

pub fn page_view(
    db: &OpenDb,
    id: u64,
    hex_limit: Option<usize>,
) -> Result<PageView, PageViewError> {
    let c = check_db(db)?;
    let bolt = db.bolt()?;
    let pages = bolt.file_pages();
    let (Some(raw), Some(header)) = (bolt.raw_page(id), bolt.header(id)) else {
        return Err(PageViewError::OutOfFile { id, pages });
    };
    let ps = bolt.page_size();
    let mut problems = Vec::new();
    if header.id != id {
        problems.push(format!("the header says page {}", header.id));
    }
    // The logical page: with its overflow pages where they are in the file.
    let logical = {
        let want = (u64::from(header.overflow) + 1).saturating_mul(ps as u64);
        let start = id as usize * ps;
        let end = (start as u64)
            .saturating_add(want)
            .min(bolt.data.len() as u64) as usize;
        if (end - start) as u64 != want {
            problems.push(format!(
                "the header claims {} overflow pages but the file ends first",
                header.overflow
            ));
        }
        &bolt.data[start..end]
    };
    let mut view = PageView {
        file: db.name(),
        id,
        offset: bolt.offset_of(id),
        header,
        header_type: if header.is_zero() {
            "zero".into()
        } else {
            header.kind().name()
        },
        state: c
            .roles
            .get(id as usize)
            .copied()
            .unwrap_or(PageRole::Unknown),
        meta: None,
        meta_valid: None,
        elements: Vec::new(),
        freelist: None,
        problems,
        hex: String::new(),
    };
    match header.kind() {
        PageKind::Meta => {
            if let Some(m) = Meta::decode(raw, 0, id.min(1) as u8, bolt.endian()) {
                view.meta_valid = Some(m.validates());
                view.problems.extend(
                    m.problems(bolt.layout.page_size)
                        .iter()
                        .map(|p| p.describe()),
                );
                view.meta = Some(m);
            }
        }
        PageKind::Freelist => match FreelistIds::parse(&header, logical, bolt.endian()) {
            Ok(ids) => view.freelist = Some(ids.iter().collect()),
            Err(e) => view.problems.push(e.describe()),
        },
        PageKind::Branch | PageKind::Leaf => {
            let node = NodePage {
                header,
                bytes: logical,
                endian: bolt.endian(),
            };
            view.elements = elements(&node, bolt.endian());
            if let Err(e) = node.check_array() {
                view.problems.push(e.describe());
            }
        }
        PageKind::Unknown(_) => {}
    }
    let limit = hex_limit.unwrap_or(logical.len()).min(logical.len());
    view.hex = hexdump(&logical[..limit], view.offset);
    Ok(view)
}

fn elements(node: &NodePage<'_>, endian: crate::bolt::Endian) -> Vec<ElementView> {
    let cap = (node.bytes.len() / 16).min(usize::from(node.count()));
    let mut out = Vec::with_capacity(cap);
    for i in 0..node.count() {
        if node.header.kind() == PageKind::Branch {
            match node.branch(i) {
                Ok(b) => out.push(ElementView {
                    index: i,
                    flags: None,
                    key: show_bytes(b.key),
                    key_base64: b64::encode(b.key),
                    child: Some(b.child),
                    value_size: None,
                    value: None,
                    bucket: None,
                    error: None,
                }),
                Err(e) => out.push(error_element(i, e.describe())),
            }
        } else {
            match node.leaf(i) {
                Ok(l) => {
                    let bucket = l.is_bucket().then(|| match bucket_root(l.value, endian) {
                        Ok((BucketRoot::Page(p), seq)) => {
                            format!("bucket: root page {p}, sequence {seq}")
                        }
                        Ok((BucketRoot::Inline(b), seq)) => {
                            format!("bucket: inline ({} bytes), sequence {seq}", b.len())
                        }
                        Err(e) => format!("bucket header: {}", e.describe()),
                    });
                    out.push(ElementView {
                        index: i,
                        flags: Some(l.flags),
                        key: show_bytes(l.key),
                        key_base64: b64::encode(l.key),
                        child: None,
                        value_size: Some(l.value.len()),
                        value: (!l.is_bucket()).then(|| show_bytes(l.value)),
                        bucket,
                        error: None,
                    })
                }
                Err(e) => out.push(error_element(i, e.describe())),
            }
        }
        if out.len() >= cap.max(1) && out.last().is_some_and(|e| e.error.is_some()) {
            // The element array runs past the page: the rest is garbage too.
            break;
        }
    }
    out
}

fn error_element(index: u16, error: String) -> ElementView {
    ElementView {
        index,
        flags: None,
        key: String::new(),
        key_base64: String::new(),
        child: None,
        value_size: None,
        value: None,
        bucket: None,
        error: Some(error),
    }
}

/// A classic hexdump: offset, 16 bytes as hex, the printable characters.
pub fn hexdump(bytes: &[u8], base: u64) -> String {
    let mut s = String::with_capacity(bytes.len() * 4 + 16);
    let mut prev: Option<&[u8]> = None;
    let mut starred = false;
    for (i, row) in bytes.chunks(16).enumerate() {
        if prev == Some(row) && row.len() == 16 {
            if !starred {
                s.push_str("*\n");
                starred = true;
            }
            continue;
        }
        starred = false;
        prev = Some(row);
        s.push_str(&format!("{:08x}  ", base + (i * 16) as u64));
        for j in 0..16 {
            match row.get(j) {
                Some(b) => s.push_str(&format!("{b:02x} ")),
                None => s.push_str("   "),
            }
            if j == 7 {
                s.push(' ');
            }
        }
        s.push_str(" |");
        s.extend(row.iter().map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            }
        }));
        s.push_str("|\n");
    }
    if bytes.len() > 16 && starred {
        s.push_str(&format!("{:08x}\n", base + bytes.len() as u64));
    }
    s
}

pub fn render_page(v: &PageView, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    writeln!(
        out,
        "page {} of {} (offset {}): {}, count {}, overflow {}, header id {}; check: {}",
        v.id,
        v.file,
        v.offset,
        v.header_type,
        v.header.count,
        v.header.overflow,
        v.header.id,
        v.state.name()
    )?;
    for p in &v.problems {
        writeln!(out, "  ! {p}")?;
    }
    if let Some(m) = &v.meta {
        writeln!(
            out,
            "  meta: magic {:#010x}, version {}, page size {}, flags {:#x}, root {} (sequence {}), freelist {}, pgid {}, txid {}, checksum {:#018x} ({})",
            m.magic,
            m.version,
            m.page_size,
            m.flags,
            m.root,
            m.root_sequence,
            if m.freelist == u64::MAX { "none".into() } else { m.freelist.to_string() },
            m.pgid,
            m.txid,
            m.checksum,
            if m.validates() { "valid" } else { "INVALID" }
        )?;
    }
    if let Some(ids) = &v.freelist {
        writeln!(out, "  freelist: {} ids: {:?}", ids.len(), ids)?;
    }
    for e in &v.elements {
        match (&e.error, e.child) {
            (Some(err), _) => writeln!(out, "  [{}] ! {err}", e.index)?,
            (None, Some(child)) => writeln!(out, "  [{}] {} -> page {child}", e.index, e.key)?,
            (None, None) => writeln!(
                out,
                "  [{}] {} = {}",
                e.index,
                e.key,
                e.bucket
                    .clone()
                    .or_else(|| e.value.clone())
                    .unwrap_or_default()
            )?,
        }
    }
    writeln!(out)?;
    write!(out, "{}", v.hex)
}

/// The top-level buckets with their figures.
#[derive(Debug, Serialize)]
pub struct BucketList {
    pub file: String,
    pub buckets: Vec<BucketStats>,
}

pub fn bucket_list(db: &OpenDb) -> Result<(BucketList, DbSummary), OpenDbError> {
    let c = check_db(db)?;
    Ok((
        BucketList {
            file: db.name(),
            buckets: c.summary.buckets.clone(),
        },
        c.summary,
    ))
}

pub fn render_buckets(b: &BucketList, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<20} {:>10} {:>12} {:>12} {:>6} {:>7}  root",
        "BUCKET", "KEYS", "KEY BYTES", "VALUE BYTES", "DEPTH", "PAGES"
    )?;
    for s in &b.buckets {
        writeln!(
            out,
            "{:<20} {:>10} {:>12} {:>12} {:>6} {:>7}  {}",
            s.name,
            s.keys,
            s.key_bytes,
            s.value_bytes,
            s.depth,
            s.branch_pages + s.leaf_pages + s.overflow_pages,
            if s.inline {
                "inline".to_string()
            } else {
                format!("page {} (sequence {})", s.root, s.sequence)
            }
        )?;
    }
    Ok(())
}

/// One key of a bucket, or damage met on the way.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum KeyRow {
    Item {
        key: String,
        key_base64: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        value_base64: Option<String>,
        value_size: usize,
        bucket: bool,
        page: u64,
    },
    Damage {
        damage: crate::bolt::CursorDamage,
    },
}

/// Why a key listing failed before it started.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("{0}")]
    Open(#[from] OpenDbError),
    #[error("no usable meta page: the tree cannot be read")]
    NoMeta,
    #[error("bucket {0:?} not found (top-level buckets: {1})")]
    NoBucket(String, String),
    #[error("bucket {0:?}: {1}")]
    BadBucket(String, String),
}

/// List the keys of a top-level bucket; `values` adds the values.
pub fn bucket_keys(
    db: &OpenDb,
    bucket: &str,
    values: bool,
    limit: Option<usize>,
) -> Result<Vec<KeyRow>, KeysError> {
    let bolt = db.bolt()?;
    let meta = bolt.best_meta().ok_or(KeysError::NoMeta)?;
    let (tops, _) = top_level_buckets(&bolt, meta);
    let names = || {
        tops.iter()
            .map(|(n, _)| show_name(n))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let root = match tops.iter().find(|(n, _)| *n == bucket.as_bytes()) {
        None => return Err(KeysError::NoBucket(bucket.into(), names())),
        Some((_, Err(e))) => return Err(KeysError::BadBucket(bucket.into(), e.clone())),
        Some((_, Ok(r))) => *r,
    };
    let mut rows = Vec::new();
    for item in BucketCursor::new(&bolt, root, meta.pgid) {
        if limit.is_some_and(|l| rows.len() >= l) {
            break;
        }
        rows.push(match item {
            Ok(it) => KeyRow::Item {
                key: show_bytes(it.key),
                key_base64: b64::encode(it.key),
                value: (values && !it.is_bucket()).then(|| show_bytes(it.value)),
                value_base64: (values && !it.is_bucket()).then(|| b64::encode(it.value)),
                value_size: it.value.len(),
                bucket: it.is_bucket(),
                page: it.page,
            },
            Err(d) => KeyRow::Damage { damage: d },
        });
    }
    Ok(rows)
}

pub fn render_keys(rows: &[KeyRow], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    for r in rows {
        match r {
            KeyRow::Item {
                key,
                value,
                bucket,
                value_size,
                ..
            } => match (value, bucket) {
                (_, true) => writeln!(out, "{key} (bucket)")?,
                (Some(v), _) => writeln!(out, "{key} = {v}")?,
                (None, _) => writeln!(out, "{key} ({value_size} bytes)")?,
            },
            KeyRow::Damage { damage } => writeln!(
                out,
                "! page {}{}: {} (keys in this subtree are skipped)",
                damage.page,
                damage
                    .parent
                    .map_or(String::new(), |p| format!(" (from page {p})")),
                damage.reason
            )?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::hexdump;

    #[test]
    fn hexdump_rows_and_repeats() {
        let mut b = vec![0u8; 64];
        b[0] = b'A';
        let h = hexdump(&b, 4096);
        let lines: Vec<&str> = h.lines().collect();
        assert!(lines[0].starts_with("00001000  41 00"));
        assert!(lines[0].ends_with("|A...............|"));
        assert_eq!(lines[2], "*");
        assert_eq!(lines.last().copied(), Some("00001040"));
    }
}
