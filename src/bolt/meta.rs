//! The two meta pages (page 0 and page 1): decoding, validation as bbolt does
//! it, page-size and byte-order discovery, and the choice of the current meta.

use super::endian::Endian;
use super::{MAGIC, NO_FREELIST, PAGE_HEADER_SIZE, VERSION};
use serde::Serialize;

/// Bytes of the meta body covered by the checksum.
const CHECKSUMMED: usize = 56;
/// The meta body is 64 bytes long and starts after the page header.
pub const META_SIZE: usize = 64;

/// One decoded meta page. Fields are as stored; see [`Meta::problems`].
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    /// Which meta slot (0 or 1) this was read from.
    pub slot: u8,
    /// File offset of the page holding this meta.
    pub offset: u64,
    pub header_id: u64,
    pub header_flags: u16,
    pub magic: u32,
    pub version: u32,
    pub page_size: u32,
    pub flags: u32,
    pub root: u64,
    pub root_sequence: u64,
    pub freelist: u64,
    /// High-water mark: the first page id never allocated.
    pub pgid: u64,
    pub txid: u64,
    pub checksum: u64,
    pub computed_checksum: u64,
}

/// Something wrong with a meta page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum MetaProblem {
    Missing,
    BadMagic { found: u32 },
    BadVersion { found: u32 },
    BadChecksum { stored: u64, computed: u64 },
    PageSizeMismatch { stored: u32, used: u32 },
    RootNotBelowHwm { root: u64, pgid: u64 },
    FreelistNotBelowHwm { freelist: u64, pgid: u64 },
    HeaderNotMeta { id: u64, flags: u16 },
}

impl MetaProblem {
    /// Problems that make bbolt reject the meta (`Validate`).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            MetaProblem::Missing
                | MetaProblem::BadMagic { .. }
                | MetaProblem::BadVersion { .. }
                | MetaProblem::BadChecksum { .. }
        )
    }

    pub fn describe(&self) -> String {
        match self {
            MetaProblem::Missing => "the file is too short to hold this meta page".into(),
            MetaProblem::BadMagic { found } => {
                format!("magic is {found:#010x}, expected {MAGIC:#010x}")
            }
            MetaProblem::BadVersion { found } => {
                format!("format version is {found}, expected {VERSION}")
            }
            MetaProblem::BadChecksum { stored, computed } => format!(
                "checksum mismatch: stored {stored:#018x}, FNV-1a of the meta is {computed:#018x}"
            ),
            MetaProblem::PageSizeMismatch { stored, used } => {
                format!("page size field is {stored}, but the file uses {used}")
            }
            MetaProblem::RootNotBelowHwm { root, pgid } => {
                format!("root page {root} is not below the high-water mark {pgid}")
            }
            MetaProblem::FreelistNotBelowHwm { freelist, pgid } => {
                format!("freelist page {freelist} is not below the high-water mark {pgid}")
            }
            MetaProblem::HeaderNotMeta { id, flags } => {
                format!(
                    "page header says id {id}, flags {flags:#06x}; expected a meta page (0x0004)"
                )
            }
        }
    }
}

/// 64-bit FNV-1a, as bbolt computes meta checksums.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Meta {
    /// Decode the meta page starting at file offset `offset`.
    pub fn decode(data: &[u8], offset: u64, slot: u8, endian: Endian) -> Option<Meta> {
        let start = usize::try_from(offset).ok()?;
        let page = data.get(start..start.checked_add(PAGE_HEADER_SIZE + META_SIZE)?)?;
        let m = &page[PAGE_HEADER_SIZE..];
        Some(Meta {
            slot,
            offset,
            header_id: endian.u64(page, 0)?,
            header_flags: endian.u16(page, 8)?,
            magic: endian.u32(m, 0)?,
            version: endian.u32(m, 4)?,
            page_size: endian.u32(m, 8)?,
            flags: endian.u32(m, 12)?,
            root: endian.u64(m, 16)?,
            root_sequence: endian.u64(m, 24)?,
            freelist: endian.u64(m, 32)?,
            pgid: endian.u64(m, 40)?,
            txid: endian.u64(m, 48)?,
            checksum: endian.u64(m, 56)?,
            computed_checksum: fnv1a64(m.get(..CHECKSUMMED)?),
        })
    }

    /// What bbolt's `Validate` checks: magic, version, checksum.
    pub fn validates(&self) -> bool {
        self.magic == MAGIC && self.version == VERSION && self.checksum == self.computed_checksum
    }

    /// Every problem with this meta, given the page size the file is read with.
    pub fn problems(&self, used_page_size: u32) -> Vec<MetaProblem> {
        let mut out = Vec::new();
        if self.magic != MAGIC {
            out.push(MetaProblem::BadMagic { found: self.magic });
            // Nothing else in a page without the magic is meaningful.
            return out;
        }
        if self.version != VERSION {
            out.push(MetaProblem::BadVersion {
                found: self.version,
            });
        }
        if self.checksum != self.computed_checksum {
            out.push(MetaProblem::BadChecksum {
                stored: self.checksum,
                computed: self.computed_checksum,
            });
        }
        if self.page_size != used_page_size {
            out.push(MetaProblem::PageSizeMismatch {
                stored: self.page_size,
                used: used_page_size,
            });
        }
        if self.root >= self.pgid {
            out.push(MetaProblem::RootNotBelowHwm {
                root: self.root,
                pgid: self.pgid,
            });
        }
        if self.freelist != NO_FREELIST && self.freelist >= self.pgid {
            out.push(MetaProblem::FreelistNotBelowHwm {
                freelist: self.freelist,
                pgid: self.pgid,
            });
        }
        if self.header_id != u64::from(self.slot) || self.header_flags != 0x04 {
            out.push(MetaProblem::HeaderNotMeta {
                id: self.header_id,
                flags: self.header_flags,
            });
        }
        out
    }

    /// Whether a persisted freelist page exists.
    pub fn has_freelist(&self) -> bool {
        self.freelist != NO_FREELIST
    }
}

/// How the page size was determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PageSizeSource {
    /// Meta page 0 validated and named it.
    Meta0,
    /// Meta page 0 was bad; a valid meta page 1 was found at this offset.
    Meta1Probe,
    /// No meta validated; taken from a meta with the right magic.
    UnvalidatedMeta,
    /// Nothing usable: the default 4096 was assumed.
    Default,
}

/// Byte order and page size of a file, found the way bbolt 1.3.7+ finds them.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Layout {
    pub endian: Endian,
    pub page_size: u32,
    pub source: PageSizeSource,
}

fn plausible_page_size(ps: u32) -> bool {
    (512..=(1 << 24)).contains(&ps) && ps % 512 == 0
}

fn endian_at(data: &[u8], page_offset: usize) -> Option<Endian> {
    let off = page_offset.checked_add(PAGE_HEADER_SIZE)?;
    if Endian::Little.u32(data, off)? == MAGIC {
        Some(Endian::Little)
    } else if Endian::Big.u32(data, off)? == MAGIC {
        Some(Endian::Big)
    } else {
        None
    }
}

/// Discover byte order and page size.
pub fn discover_layout(data: &[u8]) -> Layout {
    // 1. Meta 0 validates.
    if let Some(endian) = endian_at(data, 0) {
        if let Some(m) = Meta::decode(data, 0, 0, endian) {
            if m.validates() && plausible_page_size(m.page_size) {
                return Layout {
                    endian,
                    page_size: m.page_size,
                    source: PageSizeSource::Meta0,
                };
            }
        }
    }
    // 2. Probe meta 1 at 1 KiB << i, as bbolt does when meta 0 is bad.
    for i in 0..=14u32 {
        let pos = 1024usize << i;
        if pos.saturating_add(1024) > data.len() {
            break;
        }
        if let Some(endian) = endian_at(data, pos) {
            if let Some(m) = Meta::decode(data, pos as u64, 1, endian) {
                if m.validates() && m.page_size as usize == pos {
                    return Layout {
                        endian,
                        page_size: m.page_size,
                        source: PageSizeSource::Meta1Probe,
                    };
                }
            }
        }
    }
    // 3. A meta with the right magic but a bad checksum still names a size.
    for pos in [0usize, 4096, 16384, 65536, 1024, 2048, 8192, 32768] {
        if let Some(endian) = endian_at(data, pos) {
            if let Some(m) = Meta::decode(data, pos as u64, 0, endian) {
                let slot_ok = pos == 0 || m.page_size as usize == pos;
                if slot_ok && plausible_page_size(m.page_size) {
                    return Layout {
                        endian,
                        page_size: m.page_size,
                        source: PageSizeSource::UnvalidatedMeta,
                    };
                }
            }
        }
    }
    Layout {
        endian: Endian::Little,
        page_size: 4096,
        source: PageSizeSource::Default,
    }
}

/// Pick the current meta the way bbolt's `db.meta()` does: the higher txid
/// wins if it validates, else the other one if it validates.
pub fn choose_current(metas: &[Option<Meta>; 2]) -> Option<u8> {
    let valid = |i: usize| metas[i].as_ref().is_some_and(Meta::validates);
    let txid = |i: usize| metas[i].as_ref().map_or(0, |m| m.txid);
    let (first, second) = if txid(1) > txid(0) { (1, 0) } else { (0, 1) };
    if valid(first) {
        Some(first as u8)
    } else if valid(second) {
        Some(second as u8)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta_page(ps: u32, id: u64, txid: u64) -> Vec<u8> {
        let mut p = vec![0u8; ps as usize];
        p[0..8].copy_from_slice(&id.to_le_bytes());
        p[8..10].copy_from_slice(&4u16.to_le_bytes());
        let m = &mut p[16..80];
        m[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        m[4..8].copy_from_slice(&2u32.to_le_bytes());
        m[8..12].copy_from_slice(&ps.to_le_bytes());
        m[16..24].copy_from_slice(&3u64.to_le_bytes());
        m[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        m[40..48].copy_from_slice(&4u64.to_le_bytes());
        m[48..56].copy_from_slice(&txid.to_le_bytes());
        let c = fnv1a64(&m[..56]);
        m[56..64].copy_from_slice(&c.to_le_bytes());
        p
    }

    #[test]
    fn fnv_known_value() {
        // FNV-1a 64 of "a" is a published test vector.
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
    }

    #[test]
    fn discovers_and_chooses() {
        let mut f = meta_page(4096, 0, 7);
        f.extend(meta_page(4096, 1, 8));
        let l = discover_layout(&f);
        assert_eq!(l.page_size, 4096);
        assert_eq!(l.source, PageSizeSource::Meta0);
        let metas = [
            Meta::decode(&f, 0, 0, Endian::Little),
            Meta::decode(&f, 4096, 1, Endian::Little),
        ];
        assert_eq!(choose_current(&metas), Some(1));
        // Break meta 1: meta 0 is chosen; break meta 0 too: none.
        f[4096 + 16 + 50] ^= 1;
        let metas = [
            Meta::decode(&f, 0, 0, Endian::Little),
            Meta::decode(&f, 4096, 1, Endian::Little),
        ];
        assert_eq!(choose_current(&metas), Some(0));
        f[16 + 50] ^= 1;
        // Page size is still found from the bad-checksum meta 0.
        assert_eq!(discover_layout(&f).source, PageSizeSource::UnvalidatedMeta);
    }

    #[test]
    fn meta1_probe_when_meta0_zeroed() {
        let mut f = vec![0u8; 16384];
        f.extend(meta_page(16384, 1, 9));
        let l = discover_layout(&f);
        assert_eq!((l.page_size, l.source), (16384, PageSizeSource::Meta1Probe));
    }
}
