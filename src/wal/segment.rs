//! Reading WAL segments as etcd's decoder does: the CRC-32C chain across
//! records and segments (a fresh reader adopts the first CRC record), the
//! 10 MiB record limit of 3.4, and the torn-write test (a bad record whose
//! body has a zeroed 512-byte sector, in the last segment) that separates a
//! tail `wal.Repair` truncates from corruption etcd refuses to start on.

use super::record::{decode_length, RecordType, WalRecord, WalRecords};
use super::{HardState, Metadata};
use crate::proto;
use serde::Serialize;
use std::path::Path;

/// etcd 3.4's decoder limit on one record.
pub const MAX_RECORD_BYTES: u64 = 10 * 1024 * 1024;
/// Segments are preallocated to this size.
pub const SEGMENT_SIZE: u64 = 64_000_000;

/// `%016x-%016x.wal`: sequence and the raft index the segment starts at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SegmentName {
    pub seq: u64,
    pub index: u64,
}

impl SegmentName {
    pub fn parse(name: &str) -> Option<SegmentName> {
        let stem = name.strip_suffix(".wal")?;
        let (a, b) = stem.split_once('-')?;
        if a.len() != 16 || b.len() != 16 {
            return None;
        }
        Some(SegmentName {
            seq: u64::from_str_radix(a, 16).ok()?,
            index: u64::from_str_radix(b, 16).ok()?,
        })
    }

    pub fn of(path: &Path) -> Option<SegmentName> {
        SegmentName::parse(&path.file_name()?.to_string_lossy())
    }
}

/// A raft log entry (`raftpb.Entry`).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Entry<'a> {
    pub entry_type: u64,
    pub term: u64,
    pub index: u64,
    #[serde(skip)]
    pub data: &'a [u8],
    /// Whether the type field was written (gogo-protobuf writers, 3.4-3.6,
    /// always write it; 3.7's protobuf-go may leave a zero out).
    #[serde(skip)]
    pub type_present: bool,
}

impl<'a> Entry<'a> {
    pub fn decode(b: &'a [u8]) -> Result<Entry<'a>, proto::ProtoError> {
        let mut e = Entry {
            entry_type: 0,
            term: 0,
            index: 0,
            data: &[],
            type_present: false,
        };
        for f in proto::fields(b) {
            let (n, v, at) = f?;
            match n {
                1 => {
                    e.entry_type = v.as_u64(n, at)?;
                    e.type_present = true;
                }
                2 => e.term = v.as_u64(n, at)?,
                3 => e.index = v.as_u64(n, at)?,
                4 => e.data = v.as_bytes(n, at)?,
                _ => {}
            }
        }
        Ok(e)
    }
}

/// `walpb.Snapshot`: index=1, term=2, conf_state=3 (3.5+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct SnapshotRecord {
    pub index: u64,
    pub term: u64,
    pub has_conf_state: bool,
}

impl SnapshotRecord {
    pub fn decode(b: &[u8]) -> Result<SnapshotRecord, proto::ProtoError> {
        let mut s = SnapshotRecord::default();
        for f in proto::fields(b) {
            let (n, v, at) = f?;
            match n {
                1 => s.index = v.as_u64(n, at)?,
                2 => s.term = v.as_u64(n, at)?,
                3 => s.has_conf_state = true,
                _ => {}
            }
        }
        Ok(s)
    }
}

/// A record with its payload decoded.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    Metadata(Metadata),
    Entry(Entry<'a>),
    State(HardState),
    Crc(u32),
    Snapshot(SnapshotRecord),
    Unknown(i64),
}

/// What went wrong at the first bad record of a segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Problem {
    /// A torn write in the last segment: etcd's `wal.Repair` truncates here.
    TornTail { reason: String },
    /// The record's CRC does not match the chain: etcd refuses to start
    /// ("walpb: crc mismatch").
    CrcMismatch { stored: u32, computed: u32 },
    /// A CRC record that disagrees with the running CRC.
    CrcChainBreak { stored: u32, running: u32 },
    /// A record over 3.4's 10 MiB decoder limit: fatal, not repairable.
    Oversize { len: u64 },
    /// A record that cannot be read or decoded (not a torn tail).
    Unreadable { reason: String },
}

impl Problem {
    /// Whether etcd 3.4 would repair (truncate) rather than refuse.
    pub fn repairable(&self) -> bool {
        matches!(self, Problem::TornTail { .. })
    }

    pub fn describe(&self) -> String {
        match self {
            Problem::TornTail { reason } => format!("torn write at the tail ({reason}): etcd's wal.Repair truncates the segment here"),
            Problem::CrcMismatch { stored, computed } => format!(
                "CRC mismatch: record says {stored:#010x}, the chain gives {computed:#010x}; etcd refuses to start (walpb: crc mismatch)"
            ),
            Problem::CrcChainBreak { stored, running } => format!(
                "CRC record {stored:#010x} breaks the chain (running CRC {running:#010x}); etcd refuses to start"
            ),
            Problem::Oversize { len } => format!(
                "record of {len} bytes exceeds etcd 3.4's 10 MiB limit (max entry size limit exceeded): fatal"
            ),
            Problem::Unreadable { reason } => format!("unreadable record ({reason}): etcd refuses to start"),
        }
    }
}

/// The result of reading one segment.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentRead {
    pub records: u64,
    pub entries: u64,
    pub first_index: Option<u64>,
    pub last_index: Option<u64>,
    /// End of the last good record.
    pub valid_end: u64,
    /// File offset and record number of the first bad record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bad_offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bad_record: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
    /// Bytes after the end of records that are not zero (stale data).
    pub trailing_garbage: bool,
    /// The entries' indices as runs of consecutive values, in log order: a
    /// new run starts wherever an index does not follow the one before it
    /// (a new leader overwriting the tail, or a gap).
    #[serde(skip)]
    pub runs: Vec<IndexRun>,
    /// Commit index of the segment's last hard state.
    #[serde(skip)]
    pub last_commit: Option<u64>,
}

/// Consecutive entry indices `first..=last`, the first at `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IndexRun {
    pub first: u64,
    pub last: u64,
    pub offset: u64,
    /// Term of the run's first entry.
    pub term: u64,
    /// The commit index of the last hard state read before the run, in
    /// this segment (`None` if none yet).
    pub commit_before: Option<u64>,
}

/// Whether the record at `offset` (length field included) was torn: some
/// 512-byte sector of its body lies in zeros.
fn is_torn(bytes: &[u8], offset: usize, len: usize) -> bool {
    let start = offset + 8;
    let end = (start + len).min(bytes.len());
    if start >= end {
        return true;
    }
    let mut pos = start;
    while pos < end {
        let sector_end = ((pos / 512) + 1) * 512;
        let chunk_end = sector_end.min(end);
        if bytes[pos..chunk_end].iter().all(|b| *b == 0) {
            return true;
        }
        pos = chunk_end;
    }
    // Past the end of the file counts as a torn (short) write.
    start + len > bytes.len()
}

/// Read one segment's records in order, carrying the CRC chain in
/// `running`. `last` says whether this is the last segment (where torn
/// writes are told apart). `visit` sees every good record.
pub fn read_segment<'a>(
    bytes: &'a [u8],
    running: &mut u32,
    last: bool,
    visit: &mut dyn FnMut(&WalRecord<'a>, Payload<'a>),
) -> SegmentRead {
    let mut r = SegmentRead {
        records: 0,
        entries: 0,
        first_index: None,
        last_index: None,
        valid_end: 0,
        bad_offset: None,
        bad_record: None,
        problem: None,
        trailing_garbage: false,
        runs: Vec::new(),
        last_commit: None,
    };
    let mut commit: Option<u64> = None;
    let mut it = WalRecords::new(bytes);
    let fail = |r: &mut SegmentRead, offset: u64, p: Problem| {
        r.bad_offset = Some(offset);
        r.bad_record = Some(r.records);
        r.problem = Some(p);
    };
    loop {
        let pos = it.position();
        let Some(next) = it.next() else { break };
        let rec = match next {
            Ok(rec) => rec,
            Err(e) => {
                let lf = bytes
                    .get(pos as usize..pos as usize + 8)
                    .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
                let (len, pad) = decode_length(lf);
                let p = if len >= MAX_RECORD_BYTES.saturating_sub(pad) {
                    Problem::Oversize { len }
                } else if last && is_torn(bytes, pos as usize, (len + pad) as usize) {
                    Problem::TornTail {
                        reason: e.to_string(),
                    }
                } else {
                    Problem::Unreadable {
                        reason: e.to_string(),
                    }
                };
                fail(&mut r, pos, p);
                break;
            }
        };
        let body = (rec.framed_len - 8) as usize;
        if rec.framed_len - 8 >= MAX_RECORD_BYTES {
            fail(
                &mut r,
                rec.offset,
                Problem::Oversize {
                    len: rec.framed_len - 8,
                },
            );
            break;
        }
        if rec.kind() == RecordType::Crc {
            if *running != 0 && rec.crc != *running {
                fail(
                    &mut r,
                    rec.offset,
                    Problem::CrcChainBreak {
                        stored: rec.crc,
                        running: *running,
                    },
                );
                break;
            }
            *running = rec.crc;
        } else {
            let computed = crc32c::crc32c_append(*running, rec.data);
            if computed != rec.crc {
                let p = if last && is_torn(bytes, rec.offset as usize, body) {
                    Problem::TornTail {
                        reason: "CRC mismatch over zeroed sectors".into(),
                    }
                } else {
                    Problem::CrcMismatch {
                        stored: rec.crc,
                        computed,
                    }
                };
                fail(&mut r, rec.offset, p);
                break;
            }
            *running = computed;
        }
        let payload = match rec.kind() {
            RecordType::Metadata => Metadata::decode(rec.data).map(Payload::Metadata).ok(),
            RecordType::Entry => Entry::decode(rec.data).map(Payload::Entry).ok(),
            RecordType::State => HardState::decode(rec.data).map(Payload::State).ok(),
            RecordType::Crc => Some(Payload::Crc(rec.crc)),
            RecordType::Snapshot => SnapshotRecord::decode(rec.data).map(Payload::Snapshot).ok(),
            RecordType::Unknown(t) => Some(Payload::Unknown(t)),
        };
        let Some(payload) = payload else {
            fail(
                &mut r,
                rec.offset,
                Problem::Unreadable {
                    reason: "payload does not decode".into(),
                },
            );
            break;
        };
        if let Payload::Entry(e) = payload {
            r.entries += 1;
            r.first_index = r.first_index.or(Some(e.index));
            r.last_index = Some(e.index);
            match r.runs.last_mut() {
                Some(run) if run.last.checked_add(1) == Some(e.index) => run.last = e.index,
                _ => r.runs.push(IndexRun {
                    first: e.index,
                    last: e.index,
                    offset: rec.offset,
                    term: e.term,
                    commit_before: commit,
                }),
            }
        }
        if let Payload::State(h) = payload {
            commit = Some(h.commit);
            r.last_commit = commit;
        }
        r.records += 1;
        r.valid_end = it.position();
        visit(&rec, payload);
    }
    if r.problem.is_none() {
        r.trailing_garbage = bytes
            .get(r.valid_end as usize..)
            .is_some_and(|t| t.iter().any(|b| *b != 0));
    }
    r
}

/// What lies after a bad record: records found by resynchronising on 8-byte
/// boundaries (their CRCs cannot be checked once the chain is broken, so
/// only well-formed entry and hard-state records are taken).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Beyond {
    pub entry_indices: Vec<u64>,
    pub max_commit: Option<u64>,
}

/// Walk `bytes` from offset `from` (rounded up to 8), resynchronising on
/// 8-byte boundaries: every well-formed record found is visited (CRCs are
/// not checked: past a corruption the chain is lost).
pub fn resync<'a>(bytes: &'a [u8], from: u64, visit: &mut dyn FnMut(&WalRecord<'a>, Payload<'a>)) {
    let mut pos = (from as usize + 7) & !7;
    while pos + 8 <= bytes.len() {
        let mut it = WalRecords::new(&bytes[pos..]);
        let found = match it.next() {
            Some(Ok(mut rec)) => {
                let payload = match rec.kind() {
                    RecordType::Entry => Entry::decode(rec.data)
                        .ok()
                        .filter(|e| e.index > 0 && e.term > 0 && e.entry_type <= 2)
                        .map(Payload::Entry),
                    RecordType::State => HardState::decode(rec.data)
                        .ok()
                        .filter(|h| h.term > 0)
                        .map(Payload::State),
                    RecordType::Metadata => Metadata::decode(rec.data).ok().map(Payload::Metadata),
                    RecordType::Crc => Some(Payload::Crc(rec.crc)),
                    RecordType::Snapshot => {
                        SnapshotRecord::decode(rec.data).ok().map(Payload::Snapshot)
                    }
                    RecordType::Unknown(_) => None,
                };
                payload.map(|p| {
                    rec.offset += pos as u64;
                    visit(&rec, p);
                    rec.framed_len
                })
            }
            _ => None,
        };
        pos += found.map_or(8, |l| l as usize);
    }
}

/// Scan `bytes` from offset `from` for entries and hard states.
pub fn salvage_after(bytes: &[u8], from: u64, into: &mut Beyond) {
    resync(bytes, from, &mut |_, p| match p {
        Payload::Entry(e) => into.entry_indices.push(e.index),
        Payload::State(h) => into.max_commit = into.max_commit.max(Some(h.commit)),
        _ => {}
    });
}
