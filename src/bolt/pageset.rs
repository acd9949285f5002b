//! A bitmap of page ids, sized by the pages actually addressable in a file
//! (never by an unchecked field).

/// A set of page ids below a fixed limit.
#[derive(Debug, Clone)]
pub struct PageSet {
    bits: Vec<u64>,
    limit: u64,
}

impl PageSet {
    pub fn new(limit: u64) -> PageSet {
        PageSet {
            bits: vec![0; limit.div_ceil(64) as usize],
            limit,
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Insert `id`; returns false if it was already present or is out of range.
    pub fn insert(&mut self, id: u64) -> bool {
        if id >= self.limit {
            return false;
        }
        let (w, b) = ((id / 64) as usize, id % 64);
        let had = self.bits[w] & (1 << b) != 0;
        self.bits[w] |= 1 << b;
        !had
    }

    pub fn contains(&self, id: u64) -> bool {
        id < self.limit && self.bits[(id / 64) as usize] & (1 << (id % 64)) != 0
    }

    pub fn count(&self) -> u64 {
        self.bits.iter().map(|w| u64::from(w.count_ones())).sum()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn insert_contains() {
        let mut s = super::PageSet::new(130);
        assert!(s.insert(129));
        assert!(!s.insert(129));
        assert!(!s.insert(130));
        assert!(s.contains(129) && !s.contains(0) && !s.contains(10_000));
        assert_eq!(s.count(), 1);
    }
}
