//! Revision keys: `main` (u64 big-endian) `'_'` `sub` (u64 big-endian), and an
//! 18th byte `'t'` for a tombstone. Byte order equals revision order.

use serde::Serialize;
use std::fmt;

/// A decoded `key`-bucket key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RevisionKey {
    pub main: i64,
    pub sub: i64,
    pub tombstone: bool,
}

/// Why bytes are not a revision key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevisionKeyError {
    #[error("revision key is {0} bytes, expected 17 (or 18 for a tombstone)")]
    Length(usize),
    #[error("revision key byte 8 is {0:#04x}, expected '_' (0x5f)")]
    Separator(u8),
    #[error("revision key byte 17 is {0:#04x}, expected 't' (0x74) for a tombstone")]
    Marker(u8),
    #[error("revision key has a negative revision ({main}, {sub})")]
    Negative { main: i64, sub: i64 },
}

impl RevisionKey {
    pub fn parse(b: &[u8]) -> Result<RevisionKey, RevisionKeyError> {
        if b.len() != 17 && b.len() != 18 {
            return Err(RevisionKeyError::Length(b.len()));
        }
        if b[8] != b'_' {
            return Err(RevisionKeyError::Separator(b[8]));
        }
        let tombstone = b.len() == 18;
        if tombstone && b[17] != b't' {
            return Err(RevisionKeyError::Marker(b[17]));
        }
        let mut m = [0u8; 8];
        m.copy_from_slice(&b[0..8]);
        let mut s = [0u8; 8];
        s.copy_from_slice(&b[9..17]);
        let (main, sub) = (i64::from_be_bytes(m), i64::from_be_bytes(s));
        if main < 0 || sub < 0 {
            return Err(RevisionKeyError::Negative { main, sub });
        }
        Ok(RevisionKey {
            main,
            sub,
            tombstone,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(18);
        v.extend_from_slice(&self.main.to_be_bytes());
        v.push(b'_');
        v.extend_from_slice(&self.sub.to_be_bytes());
        if self.tombstone {
            v.push(b't');
        }
        v
    }
}

impl fmt::Display for RevisionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.main, self.sub)?;
        if self.tombstone {
            write!(f, "t")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_reject() {
        let k = RevisionKey {
            main: 37,
            sub: 1,
            tombstone: true,
        };
        assert_eq!(RevisionKey::parse(&k.encode()), Ok(k));
        assert_eq!(
            RevisionKey::parse(&[0; 16]),
            Err(RevisionKeyError::Length(16))
        );
        let mut b = k.encode();
        b[8] = b'-';
        assert!(matches!(
            RevisionKey::parse(&b),
            Err(RevisionKeyError::Separator(_))
        ));
        let mut b = k.encode();
        b[0] = 0x80;
        assert!(matches!(
            RevisionKey::parse(&b),
            Err(RevisionKeyError::Negative { .. })
        ));
    }
}
