//! Page headers and the element views of branch and leaf pages.
//!
//! A [`NodePage`] is a view over the bytes of one logical page (the page and
//! its overflow pages, or an inline bucket's value). Element access is
//! fallible: an element, key or value that does not lie inside the page bytes
//! is an [`ElementError`], never an out-of-bounds read.

use super::endian::Endian;
use super::{ELEMENT_SIZE, PAGE_HEADER_SIZE};
use serde::Serialize;

pub const FLAG_BRANCH: u16 = 0x01;
pub const FLAG_LEAF: u16 = 0x02;
pub const FLAG_META: u16 = 0x04;
pub const FLAG_FREELIST: u16 = 0x10;

/// What a page header's flags say the page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PageKind {
    Branch,
    Leaf,
    Meta,
    Freelist,
    /// Any flags value that is not exactly one of the four types.
    Unknown(u16),
}

impl PageKind {
    pub fn from_flags(flags: u16) -> PageKind {
        match flags {
            FLAG_BRANCH => PageKind::Branch,
            FLAG_LEAF => PageKind::Leaf,
            FLAG_META => PageKind::Meta,
            FLAG_FREELIST => PageKind::Freelist,
            other => PageKind::Unknown(other),
        }
    }

    pub fn name(self) -> String {
        match self {
            PageKind::Branch => "branch".into(),
            PageKind::Leaf => "leaf".into(),
            PageKind::Meta => "meta".into(),
            PageKind::Freelist => "freelist".into(),
            PageKind::Unknown(f) => format!("unknown({f:#06x})"),
        }
    }
}

/// The 16-byte header at the start of every non-continuation page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PageHeader {
    pub id: u64,
    pub flags: u16,
    pub count: u16,
    pub overflow: u32,
}

impl PageHeader {
    pub fn decode(bytes: &[u8], endian: Endian) -> Option<PageHeader> {
        Some(PageHeader {
            id: endian.u64(bytes, 0)?,
            flags: endian.u16(bytes, 8)?,
            count: endian.u16(bytes, 10)?,
            overflow: endian.u32(bytes, 12)?,
        })
    }

    pub fn kind(&self) -> PageKind {
        PageKind::from_flags(self.flags)
    }

    /// Whether every byte of the header is zero (an unwritten or zeroed page).
    pub fn is_zero(&self) -> bool {
        self.id == 0 && self.flags == 0 && self.count == 0 && self.overflow == 0
    }
}

/// Why an element could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ElementError {
    /// The element array itself runs past the page bytes.
    ArrayOutsidePage { count: u16, page_len: usize },
    /// The key (pos, ksize) lies outside the page bytes.
    KeyOutsidePage {
        index: u16,
        pos: u32,
        ksize: u32,
        page_len: usize,
    },
    /// The value lies outside the page bytes.
    ValueOutsidePage {
        index: u16,
        vsize: u32,
        value_start: u64,
        page_len: usize,
    },
}

impl ElementError {
    pub fn describe(&self) -> String {
        match *self {
            ElementError::ArrayOutsidePage { count, page_len } => format!(
                "{count} elements need {} bytes but the page has {page_len}",
                PAGE_HEADER_SIZE + count as usize * ELEMENT_SIZE
            ),
            ElementError::KeyOutsidePage {
                index,
                pos,
                ksize,
                page_len,
            } => format!(
                "element {index}: key at element offset {pos} with size {ksize} ends outside the page ({page_len} bytes)"
            ),
            ElementError::ValueOutsidePage {
                index,
                vsize,
                value_start,
                page_len,
            } => format!(
                "element {index}: value at page offset {value_start} with size {vsize} ends outside the page ({page_len} bytes)"
            ),
        }
    }

    pub fn index(&self) -> Option<u16> {
        match *self {
            ElementError::ArrayOutsidePage { .. } => None,
            ElementError::KeyOutsidePage { index, .. }
            | ElementError::ValueOutsidePage { index, .. } => Some(index),
        }
    }
}

/// A branch element: the first key of a child and the child's page id.
#[derive(Debug, Clone, Copy)]
pub struct BranchItem<'a> {
    pub key: &'a [u8],
    pub child: u64,
    /// Offset of the key within the page bytes.
    pub key_offset: usize,
}

/// A leaf element: a key and its value (or bucket header, when `flags & 1`).
#[derive(Debug, Clone, Copy)]
pub struct LeafItem<'a> {
    pub flags: u32,
    pub key: &'a [u8],
    pub value: &'a [u8],
    /// Offset of the key within the page bytes.
    pub key_offset: usize,
}

impl LeafItem<'_> {
    pub fn is_bucket(&self) -> bool {
        self.flags & super::BUCKET_LEAF_FLAG != 0
    }
}

/// A view over a branch or leaf page's bytes (page plus overflow pages, or an
/// inline bucket page).
#[derive(Debug, Clone, Copy)]
pub struct NodePage<'a> {
    pub header: PageHeader,
    pub bytes: &'a [u8],
    pub endian: Endian,
}

impl<'a> NodePage<'a> {
    pub fn new(bytes: &'a [u8], endian: Endian) -> Option<NodePage<'a>> {
        Some(NodePage {
            header: PageHeader::decode(bytes, endian)?,
            bytes,
            endian,
        })
    }

    pub fn count(&self) -> u16 {
        self.header.count
    }

    /// Check that the element array fits in the page.
    pub fn check_array(&self) -> Result<(), ElementError> {
        let need = PAGE_HEADER_SIZE + self.count() as usize * ELEMENT_SIZE;
        if need > self.bytes.len() {
            return Err(ElementError::ArrayOutsidePage {
                count: self.count(),
                page_len: self.bytes.len(),
            });
        }
        Ok(())
    }

    fn elem_off(&self, i: u16) -> usize {
        PAGE_HEADER_SIZE + i as usize * ELEMENT_SIZE
    }

    fn key_at(&self, i: u16, elem: usize, pos: u32, ksize: u32) -> Result<usize, ElementError> {
        let bad = ElementError::KeyOutsidePage {
            index: i,
            pos,
            ksize,
            page_len: self.bytes.len(),
        };
        let start = elem.checked_add(pos as usize).ok_or(bad)?;
        let end = start.checked_add(ksize as usize).ok_or(bad)?;
        if end > self.bytes.len() {
            return Err(bad);
        }
        Ok(start)
    }

    /// Branch element `i`. The caller has checked the array ([`Self::check_array`]).
    pub fn branch(&self, i: u16) -> Result<BranchItem<'a>, ElementError> {
        let e = self.elem_off(i);
        let array = ElementError::ArrayOutsidePage {
            count: self.count(),
            page_len: self.bytes.len(),
        };
        let pos = self.endian.u32(self.bytes, e).ok_or(array)?;
        let ksize = self.endian.u32(self.bytes, e + 4).ok_or(array)?;
        let child = self.endian.u64(self.bytes, e + 8).ok_or(array)?;
        let start = self.key_at(i, e, pos, ksize)?;
        Ok(BranchItem {
            key: &self.bytes[start..start + ksize as usize],
            child,
            key_offset: start,
        })
    }

    /// Leaf element `i`.
    pub fn leaf(&self, i: u16) -> Result<LeafItem<'a>, ElementError> {
        let e = self.elem_off(i);
        let array = ElementError::ArrayOutsidePage {
            count: self.count(),
            page_len: self.bytes.len(),
        };
        let flags = self.endian.u32(self.bytes, e).ok_or(array)?;
        let pos = self.endian.u32(self.bytes, e + 4).ok_or(array)?;
        let ksize = self.endian.u32(self.bytes, e + 8).ok_or(array)?;
        let vsize = self.endian.u32(self.bytes, e + 12).ok_or(array)?;
        let kstart = self.key_at(i, e, pos, ksize)?;
        let vstart = kstart + ksize as usize;
        let vend = vstart.checked_add(vsize as usize);
        match vend {
            Some(vend) if vend <= self.bytes.len() => Ok(LeafItem {
                flags,
                key: &self.bytes[kstart..vstart],
                value: &self.bytes[vstart..vend],
                key_offset: kstart,
            }),
            _ => Err(ElementError::ValueOutsidePage {
                index: i,
                vsize,
                value_start: vstart as u64,
                page_len: self.bytes.len(),
            }),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Build a leaf page image from (flags, key, value) triples.
    pub fn leaf_page(id: u64, items: &[(u32, &[u8], &[u8])], size: usize) -> Vec<u8> {
        let mut p = vec![0u8; size];
        p[0..8].copy_from_slice(&id.to_le_bytes());
        p[8..10].copy_from_slice(&FLAG_LEAF.to_le_bytes());
        p[10..12].copy_from_slice(&(items.len() as u16).to_le_bytes());
        let mut data = PAGE_HEADER_SIZE + items.len() * ELEMENT_SIZE;
        for (i, (f, k, v)) in items.iter().enumerate() {
            let e = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
            p[e..e + 4].copy_from_slice(&f.to_le_bytes());
            p[e + 4..e + 8].copy_from_slice(&((data - e) as u32).to_le_bytes());
            p[e + 8..e + 12].copy_from_slice(&(k.len() as u32).to_le_bytes());
            p[e + 12..e + 16].copy_from_slice(&(v.len() as u32).to_le_bytes());
            p[data..data + k.len()].copy_from_slice(k);
            data += k.len();
            p[data..data + v.len()].copy_from_slice(v);
            data += v.len();
        }
        p
    }

    #[test]
    fn leaf_elements_read_and_bound() {
        let mut p = leaf_page(3, &[(0, b"a", b"1"), (0, b"bb", b"22")], 128);
        let n = NodePage::new(&p, Endian::Little).unwrap();
        assert!(n.check_array().is_ok());
        let e = n.leaf(1).unwrap();
        assert_eq!((e.key, e.value), (&b"bb"[..], &b"22"[..]));
        // A huge vsize must be an error, not a panic.
        p[16 + 16 + 12..16 + 16 + 16].copy_from_slice(&u32::MAX.to_le_bytes());
        let n = NodePage::new(&p, Endian::Little).unwrap();
        assert!(matches!(
            n.leaf(1),
            Err(ElementError::ValueOutsidePage { .. })
        ));
        // A count larger than the page.
        p[10..12].copy_from_slice(&1000u16.to_le_bytes());
        let n = NodePage::new(&p, Endian::Little).unwrap();
        assert!(n.check_array().is_err());
        assert!(n.leaf(999).is_err());
    }
}
