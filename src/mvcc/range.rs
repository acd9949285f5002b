//! etcd's Range, evaluated on the rebuilt key index: the same key-range
//! conventions, revision rules, limits, counts and sorting the server
//! applies (etcd 3.4 `applierV3.Range` over `mvcc` `Range`).

use super::index::KeyIndex;
use crate::etcd::kv::KeyValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[clap(rename_all = "UPPER")]
pub enum SortTarget {
    Key,
    Version,
    Create,
    Modify,
    Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[clap(rename_all = "UPPER")]
pub enum SortOrder {
    None,
    Ascend,
    Descend,
}

/// A range request, as etcdctl builds it.
#[derive(Debug, Clone)]
pub struct RangeRequest {
    pub key: Vec<u8>,
    /// Empty: the single key. `[0]`: every key ≥ `key`. Otherwise the
    /// half-open range [key, range_end).
    pub range_end: Vec<u8>,
    /// 0 means the current revision.
    pub revision: i64,
    /// 0 means no limit.
    pub limit: i64,
    pub sort_target: SortTarget,
    pub sort_order: SortOrder,
    pub keys_only: bool,
    pub count_only: bool,
    /// Read below the compacted revision anyway (whatever history survived).
    pub include_compacted: bool,
}

impl RangeRequest {
    /// etcdctl's `get KEY [RANGE_END]` with `--prefix` / `--from-key`.
    pub fn from_cli(
        key: &[u8],
        range_end: Option<&[u8]>,
        prefix: bool,
        from_key: bool,
    ) -> RangeRequest {
        let (key, end) = if prefix {
            if key.is_empty() {
                (vec![0], vec![0])
            } else {
                (key.to_vec(), prefix_end(key))
            }
        } else if from_key {
            if key.is_empty() {
                (vec![0], vec![0])
            } else {
                (key.to_vec(), vec![0])
            }
        } else {
            (
                key.to_vec(),
                range_end.map(<[u8]>::to_vec).unwrap_or_default(),
            )
        };
        RangeRequest {
            key,
            range_end: end,
            revision: 0,
            limit: 0,
            sort_target: SortTarget::Key,
            sort_order: SortOrder::None,
            keys_only: false,
            count_only: false,
            include_compacted: false,
        }
    }
}

/// The smallest key greater than every key with this prefix (clientv3's
/// `GetPrefixRangeEnd`): `[0]` when no such key exists.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// The figures of a range that was streamed.
#[derive(Debug, Clone)]
pub struct RangeSummary {
    /// Keys that matched (before the limit).
    pub count: i64,
    /// Whether the limit cut the result.
    pub more: bool,
    /// The revision the header reports (the store's current revision).
    pub header_revision: i64,
    /// The revision read.
    pub read_revision: i64,
    /// With `include_compacted`: keys alive at the revision read whose
    /// value at that revision was compacted away, shown instead at the
    /// oldest revision that survived (key, that revision).
    pub approximated: Vec<(Vec<u8>, i64)>,
}

/// The answer to a range request, collected.
#[derive(Debug, Clone)]
pub struct RangeResult<'a> {
    pub kvs: Vec<KeyValue<'a>>,
    pub count: i64,
    pub more: bool,
    pub header_revision: i64,
    pub read_revision: i64,
}

/// etcd's errors for a range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("etcdserver: mvcc: required revision has been compacted (revision {requested}, compacted at {compacted})")]
    Compacted { requested: i64, compacted: i64 },
    #[error("etcdserver: mvcc: required revision is a future revision (revision {requested}, current {current})")]
    Future { requested: i64, current: i64 },
}

/// Evaluate `req` on `index`, collecting the result.
pub fn range<'a>(index: &KeyIndex<'a>, req: &RangeRequest) -> Result<RangeResult<'a>, StreamError> {
    let mut kvs = Vec::new();
    let s = range_stream(index, req, &mut |kv| {
        kvs.push(kv);
        Ok(())
    })?;
    Ok(RangeResult {
        kvs,
        count: s.count,
        more: s.more,
        header_revision: s.header_revision,
        read_revision: s.read_revision,
    })
}

/// A range failed, or its sink did.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("{0}")]
    Range(#[from] RangeError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Check the revision of `req` against the index: the revision to read.
pub fn read_revision(index: &KeyIndex<'_>, req: &RangeRequest) -> Result<i64, RangeError> {
    let current = index.current_revision;
    let rev = if req.revision <= 0 {
        current
    } else {
        req.revision
    };
    if rev > current {
        return Err(RangeError::Future {
            requested: rev,
            current,
        });
    }
    if rev < index.compacted && !req.include_compacted {
        return Err(RangeError::Compacted {
            requested: rev,
            compacted: index.compacted,
        });
    }
    Ok(rev)
}

/// Evaluate `req`, handing the result's key values to `emit` in output
/// order. Without sorting nothing is collected: memory stays bounded by the
/// index however large the result.
pub fn range_stream<'a>(
    index: &KeyIndex<'a>,
    req: &RangeRequest,
    emit: &mut dyn FnMut(KeyValue<'a>) -> std::io::Result<()>,
) -> Result<RangeSummary, StreamError> {
    let rev = read_revision(index, req)?;
    let start = index.lower_bound(&req.key);
    let in_range = |k: &[u8]| -> bool {
        if req.range_end.is_empty() {
            k == req.key.as_slice()
        } else if req.range_end == [0] {
            true
        } else {
            k < req.range_end.as_slice()
        }
    };
    let sort_order = match (req.sort_target, req.sort_order) {
        // The server sorts ascending when a non-key target is given alone.
        (t, SortOrder::None) if t != SortTarget::Key => SortOrder::Ascend,
        (SortTarget::Key, SortOrder::Ascend) => SortOrder::None,
        (_, o) => o,
    };
    let limit = if req.limit > 0 { req.limit } else { i64::MAX };
    let mut sorted: Vec<KeyValue<'a>> = Vec::new();
    let mut approximated = Vec::new();
    let mut count = 0i64;
    for h in index.keys[start..].iter().take_while(|h| in_range(h.key)) {
        let e = match h.at(rev) {
            Some(e) => e,
            // Below the compacted revision the newest revision <= rev may be
            // gone while the key lived on: its oldest surviving revision
            // tells (its create revision is at or below rev).
            None if rev < index.compacted => {
                let Some(first) = h.revs.first().filter(|e| !e.is_tombstone()) else {
                    continue;
                };
                let alive = index
                    .value_of(first)
                    .is_some_and(|kv| kv.create_revision > 0 && kv.create_revision <= rev);
                if !alive {
                    continue;
                }
                approximated.push((h.key.to_vec(), first.main));
                first
            }
            None => continue,
        };
        if e.is_tombstone() {
            continue;
        }
        count += 1;
        if req.count_only {
            continue;
        }
        let Some(kv) = index.value_of(e) else {
            continue;
        };
        if sort_order != SortOrder::None {
            // etcd 3.4 fetches everything only when an order was asked for;
            // with a sort target alone (order NONE, sorted ascending) it
            // fetches the first `limit` + 1 keys in key order (one extra for
            // `more`), sorts those and keeps `limit`.
            if req.sort_order != SortOrder::None || count <= limit.saturating_add(1) {
                sorted.push(kv);
            }
        } else if count <= limit {
            emit(strip(kv, req.keys_only))?;
        }
    }
    if sort_order != SortOrder::None {
        // Sorted on the full values (etcd sorts before it drops values for
        // keys-only); equal sort keys stay in key order in both directions,
        // as Go's sort leaves them on results of this size.
        let key = |kv: &KeyValue<'a>| -> (i64, &'a [u8]) {
            match req.sort_target {
                SortTarget::Key => (0, kv.key),
                SortTarget::Version => (kv.version, &[]),
                SortTarget::Create => (kv.create_revision, &[]),
                SortTarget::Modify => (kv.mod_revision, &[]),
                SortTarget::Value => (0, kv.value),
            }
        };
        if sort_order == SortOrder::Descend {
            sorted.sort_by(|a, b| key(b).cmp(&key(a)));
        } else {
            sorted.sort_by(|a, b| key(a).cmp(&key(b)));
        }
        for kv in sorted
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
        {
            emit(strip(kv, req.keys_only))?;
        }
    }
    Ok(RangeSummary {
        count,
        more: req.limit > 0 && count > req.limit,
        header_revision: index.current_revision,
        read_revision: rev,
        approximated,
    })
}

fn strip(mut kv: KeyValue<'_>, keys_only: bool) -> KeyValue<'_> {
    if keys_only {
        kv.value = &[];
    }
    kv
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"/a"), b"/b");
        assert_eq!(prefix_end(&[b'a', 0xff]), b"b");
        assert_eq!(prefix_end(&[0xff, 0xff]), vec![0]);
    }
}
