//! The persisted freelist page: a sorted list of u64 page ids after the page
//! header, with bbolt's 0xFFFF count escape for long lists.

use super::endian::Endian;
use super::page::PageHeader;
use super::PAGE_HEADER_SIZE;
use serde::Serialize;

/// A view of the ids stored in a freelist page.
#[derive(Debug, Clone, Copy)]
pub struct FreelistIds<'a> {
    bytes: &'a [u8],
    start: usize,
    count: usize,
    endian: Endian,
    /// Whether the 0xFFFF escape was used.
    pub escaped: bool,
}

/// Why a freelist page's id list cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum FreelistError {
    /// The count says more ids than the page bytes hold.
    CountExceedsPage { count: u64, capacity: u64 },
}

impl FreelistError {
    pub fn describe(&self) -> String {
        match *self {
            FreelistError::CountExceedsPage { count, capacity } => format!(
                "freelist count is {count} ids but the page (with its overflow) holds at most {capacity}"
            ),
        }
    }
}

impl<'a> FreelistIds<'a> {
    /// Read the id list from the bytes of a freelist page (with overflow).
    pub fn parse(
        header: &PageHeader,
        bytes: &'a [u8],
        endian: Endian,
    ) -> Result<FreelistIds<'a>, FreelistError> {
        let (count, start, escaped) = if header.count == 0xFFFF {
            let n = endian.u64(bytes, PAGE_HEADER_SIZE).unwrap_or(u64::MAX);
            (n, PAGE_HEADER_SIZE + 8, true)
        } else {
            (u64::from(header.count), PAGE_HEADER_SIZE, false)
        };
        let capacity = (bytes.len().saturating_sub(start) / 8) as u64;
        if count > capacity {
            return Err(FreelistError::CountExceedsPage { count, capacity });
        }
        Ok(FreelistIds {
            bytes,
            start,
            count: count as usize,
            endian,
            escaped,
        })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = u64> + 'a {
        let (bytes, start, endian) = (self.bytes, self.start, self.endian);
        (0..self.count).filter_map(move |i| endian.u64(bytes, start + i * 8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_and_bounds() {
        let mut p = vec![0u8; 64];
        p[8..10].copy_from_slice(&0x10u16.to_le_bytes());
        p[10..12].copy_from_slice(&2u16.to_le_bytes());
        p[16..24].copy_from_slice(&5u64.to_le_bytes());
        p[24..32].copy_from_slice(&9u64.to_le_bytes());
        let h = PageHeader::decode(&p, Endian::Little).unwrap();
        let ids: Vec<u64> = FreelistIds::parse(&h, &p, Endian::Little)
            .unwrap()
            .iter()
            .collect();
        assert_eq!(ids, vec![5, 9]);
        // Escape with an absurd count must not allocate or panic.
        p[10..12].copy_from_slice(&0xFFFFu16.to_le_bytes());
        p[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        let h = PageHeader::decode(&p, Endian::Little).unwrap();
        assert!(FreelistIds::parse(&h, &p, Endian::Little).is_err());
        p[16..24].copy_from_slice(&1u64.to_le_bytes());
        let fl = FreelistIds::parse(&h, &p, Endian::Little).unwrap();
        assert!(fl.escaped);
        assert_eq!(fl.iter().collect::<Vec<_>>(), vec![9]);
    }
}
