//! WAL record framing: a u64 little-endian length field (low 56 bits: the
//! record's length; when the top bit is set, the top byte's low 3 bits give
//! the zero padding that keeps records 8-byte aligned), the `walpb.Record`
//! (type=1, crc=2, data=3), then the padding. A zero length field, or the end
//! of the file at a record boundary, ends the segment.

use crate::proto::{self, ProtoError};
use serde::Serialize;

/// `walpb.Record.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordType {
    Metadata,
    Entry,
    State,
    Crc,
    Snapshot,
    Unknown(i64),
}

impl RecordType {
    pub fn from_i64(v: i64) -> RecordType {
        match v {
            1 => RecordType::Metadata,
            2 => RecordType::Entry,
            3 => RecordType::State,
            4 => RecordType::Crc,
            5 => RecordType::Snapshot,
            o => RecordType::Unknown(o),
        }
    }
}

/// One framed record, borrowing its data.
#[derive(Debug, Clone, Copy)]
pub struct WalRecord<'a> {
    /// File offset of the length field.
    pub offset: u64,
    pub record_type: i64,
    pub crc: u32,
    pub data: &'a [u8],
    /// Bytes the record occupies with its length field and padding.
    pub framed_len: u64,
}

impl WalRecord<'_> {
    pub fn kind(&self) -> RecordType {
        RecordType::from_i64(self.record_type)
    }
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
pub enum FrameError {
    #[error("record at offset {offset}: length {len} (+{pad} padding) runs past the end of the file ({left} bytes left)")]
    PastEnd {
        offset: u64,
        len: u64,
        pad: u64,
        left: u64,
    },
    #[error("record at offset {offset}: the length field itself is cut ({left} bytes left)")]
    CutLength { offset: u64, left: u64 },
    #[error("record at offset {offset}: not a walpb.Record: {reason}")]
    Decode { offset: u64, reason: String },
}

/// Iterator over the records of one segment's bytes.
pub struct WalRecords<'a> {
    b: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> WalRecords<'a> {
    pub fn new(b: &'a [u8]) -> WalRecords<'a> {
        WalRecords {
            b,
            pos: 0,
            done: false,
        }
    }

    /// Offset where reading stopped (the end of the last good record).
    pub fn position(&self) -> u64 {
        self.pos as u64
    }
}

/// Decode a length field into (record length, padding).
pub fn decode_length(lf: u64) -> (u64, u64) {
    let len = lf & 0x00FF_FFFF_FFFF_FFFF;
    let pad = if lf >> 63 == 1 { (lf >> 56) & 0x7 } else { 0 };
    (len, pad)
}

fn decode_record(b: &[u8]) -> Result<(i64, u32, &[u8]), ProtoError> {
    let (mut t, mut crc, mut data) = (0i64, 0u32, &b[..0]);
    for f in proto::fields(b) {
        let (n, v, at) = f?;
        match n {
            1 => t = v.as_u64(n, at)? as i64,
            2 => crc = v.as_u64(n, at)? as u32,
            3 => data = v.as_bytes(n, at)?,
            _ => {}
        }
    }
    Ok((t, crc, data))
}

impl<'a> Iterator for WalRecords<'a> {
    type Item = Result<WalRecord<'a>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.b.len() {
            return None;
        }
        let offset = self.pos as u64;
        let left = (self.b.len() - self.pos) as u64;
        let Some(lf) = self.b.get(self.pos..self.pos + 8) else {
            self.done = true;
            return Some(Err(FrameError::CutLength { offset, left }));
        };
        let lf = u64::from_le_bytes([lf[0], lf[1], lf[2], lf[3], lf[4], lf[5], lf[6], lf[7]]);
        if lf == 0 {
            self.done = true;
            return None;
        }
        let (len, pad) = decode_length(lf);
        let body = len.saturating_add(pad);
        if body > left - 8 {
            self.done = true;
            return Some(Err(FrameError::PastEnd {
                offset,
                len,
                pad,
                left: left - 8,
            }));
        }
        let start = self.pos + 8;
        let rec = &self.b[start..start + len as usize];
        match decode_record(rec) {
            Ok((record_type, crc, data)) => {
                self.pos = start + body as usize;
                Some(Ok(WalRecord {
                    offset,
                    record_type,
                    crc,
                    data,
                    framed_len: 8 + body,
                }))
            }
            Err(e) => {
                self.done = true;
                Some(Err(FrameError::Decode {
                    offset,
                    reason: e.to_string(),
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_record_of_every_wal() {
        // A CRC record with crc 0: length 4, 4 bytes of padding.
        let b = [
            4, 0, 0, 0, 0, 0, 0, 0x84, 0x08, 0x04, 0x10, 0x00, 0, 0, 0, 0,
        ];
        let recs: Vec<_> = WalRecords::new(&b).collect();
        assert_eq!(recs.len(), 1);
        let r = recs[0].as_ref().unwrap();
        assert_eq!((r.kind(), r.crc, r.framed_len), (RecordType::Crc, 0, 16));
        // A length past the end is an error, not a panic.
        let bad = [0xff, 0xff, 0, 0, 0, 0, 0, 0, 1];
        assert!(matches!(
            WalRecords::new(&bad).next(),
            Some(Err(FrameError::PastEnd { .. }))
        ));
        // Zero length ends the segment.
        assert!(WalRecords::new(&[0u8; 16]).next().is_none());
    }
}
