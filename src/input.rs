//! What a PATH given on the command line is: a data dir, a member dir, a bare
//! bbolt db, or an `etcdctl snapshot save` file (db + SHA-256 trailer); and
//! the files found in it.
#![forbid(unsafe_code)]

use crate::bolt::meta::discover_layout;
use crate::bolt::MAGIC;
use crate::mmap::InputFile;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The kind of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    DataDir,
    MemberDir,
    DbFile,
    SnapshotFile,
}

impl InputKind {
    pub fn describe(self) -> &'static str {
        match self {
            InputKind::DataDir => "etcd data dir",
            InputKind::MemberDir => "etcd member dir",
            InputKind::DbFile => "bbolt db file",
            InputKind::SnapshotFile => "etcdctl snapshot file (db + SHA-256 trailer)",
        }
    }
}

/// A file found in a member dir, with what it is.
#[derive(Debug, Clone, Serialize)]
pub struct DirEntry {
    pub path: PathBuf,
    pub role: FileRole,
    pub size: u64,
}

/// The role of a file in a member dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileRole {
    Db,
    WalSegment,
    WalSpare,
    WalBroken,
    Snap,
    SnapBroken,
    SnapDb,
    DefragLeftover,
    SnapReceiveLeftover,
    WalDirLeftover,
    Other,
}

impl FileRole {
    /// Leftovers an operator should know about.
    pub fn is_leftover(self) -> bool {
        matches!(
            self,
            FileRole::WalBroken
                | FileRole::SnapBroken
                | FileRole::DefragLeftover
                | FileRole::SnapReceiveLeftover
                | FileRole::WalDirLeftover
        )
    }

    pub fn describe(self) -> &'static str {
        match self {
            FileRole::Db => "bbolt backend",
            FileRole::WalSegment => "WAL segment",
            FileRole::WalSpare => "preallocated spare WAL segment (not data)",
            FileRole::WalBroken => {
                "copy of a WAL segment kept by wal.Repair before it truncated the segment"
            }
            FileRole::Snap => "raft snapshot",
            FileRole::SnapBroken => "snapshot file etcd failed to load and renamed",
            FileRole::SnapDb => {
                "full db received from the leader (used if db is behind the snapshot)"
            }
            FileRole::DefragLeftover => "left by an interrupted defrag: garbage, etcd deletes it",
            FileRole::SnapReceiveLeftover => "partial db being received from the leader",
            FileRole::WalDirLeftover => "WAL directory left by an interrupted WAL creation",
            FileRole::Other => "unexpected file",
        }
    }
}

/// The SHA-256 trailer of a snapshot file.
#[derive(Debug, Clone, Serialize)]
pub struct Trailer {
    pub stored: String,
    pub computed: String,
    pub matches: bool,
}

/// A resolved input.
#[derive(Debug, Clone, Serialize)]
pub struct Input {
    pub kind: InputKind,
    pub path: PathBuf,
    /// The member dir, for dir inputs.
    pub member_dir: Option<PathBuf>,
    /// The bbolt file (`member/snap/db`, or the file itself).
    pub db: Option<PathBuf>,
    /// Files found in the member dir, sorted by path.
    pub files: Vec<DirEntry>,
}

/// Why a PATH is unusable (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: not an etcd data dir or member dir (no member/, snap/ or wal/ inside)")]
    NotEtcdDir(PathBuf),
    #[error("{0}: not a bbolt db or etcd snapshot file (no bbolt magic in either meta page, and the size is not a snapshot's)")]
    NotDb(PathBuf),
    #[error("{0}: member dir has no snap/db")]
    NoDb(PathBuf),
    #[error("{path}: permission denied (etcd's data dir is normally mode 0700, owned by the user etcd runs as: run as that user or root)")]
    PermissionDenied { path: PathBuf },
    #[error("{path}: is a {what}, not a file or directory: refused (etcd-rescue reads regular files only; copy a device to a file first, e.g. with ddrescue)")]
    NotRegular { path: PathBuf, what: &'static str },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> InputError + '_ {
    move |source| {
        if source.kind() == std::io::ErrorKind::PermissionDenied {
            InputError::PermissionDenied {
                path: path.to_path_buf(),
            }
        } else {
            InputError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

/// Whether `p` is a directory; a directory that cannot be looked into is
/// an error (permission denied), not "absent".
fn is_dir(p: &Path) -> Result<bool, InputError> {
    match std::fs::metadata(p) {
        Ok(m) => Ok(m.is_dir()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) if e.raw_os_error() == Some(20) => Ok(false), // ENOTDIR
        Err(e) => Err(io_err(p)(e)),
    }
}

/// What a file that is neither regular nor a directory is.
fn special_kind(m: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_fifo() {
        Some("FIFO (named pipe)")
    } else if t.is_socket() {
        Some("socket")
    } else if t.is_char_device() {
        Some("character device")
    } else if t.is_block_device() {
        Some("block device")
    } else if !t.is_file() && !t.is_dir() {
        Some("special file")
    } else {
        None
    }
}

/// Refuse what is not a regular file before opening it (a FIFO would
/// block, `/dev/zero` would never end).
pub fn check_regular(path: &Path) -> Result<std::fs::Metadata, InputError> {
    let meta = std::fs::metadata(path).map_err(io_err(path))?;
    if let Some(what) = special_kind(&meta) {
        return Err(InputError::NotRegular {
            path: path.to_path_buf(),
            what,
        });
    }
    Ok(meta)
}

/// Resolve PATH.
pub fn resolve(path: &Path) -> Result<Input, InputError> {
    let meta = check_regular(path)?;
    if meta.is_dir() {
        // A directory we may not list is said as such.
        std::fs::read_dir(path).map_err(io_err(path))?;
        let (kind, member) = if is_dir(&path.join("member"))? {
            (InputKind::DataDir, path.join("member"))
        } else if is_dir(&path.join("snap"))? || is_dir(&path.join("wal"))? {
            (InputKind::MemberDir, path.to_path_buf())
        } else {
            return Err(InputError::NotEtcdDir(path.to_path_buf()));
        };
        let files = list_member(&member)?;
        let db = member.join("snap").join("db");
        if db.exists() {
            check_regular(&db)?;
        }
        return Ok(Input {
            kind,
            path: path.to_path_buf(),
            db: db.is_file().then_some(db),
            member_dir: Some(member),
            files,
        });
    }
    let f = InputFile::open(path).map_err(io_err(path))?;
    let kind = sniff_file(f.bytes(), path).ok_or_else(|| InputError::NotDb(path.to_path_buf()))?;
    Ok(Input {
        kind,
        path: path.to_path_buf(),
        member_dir: None,
        db: Some(path.to_path_buf()),
        files: vec![DirEntry {
            path: path.to_path_buf(),
            role: FileRole::Db,
            size: meta.len(),
        }],
    })
}

/// Processes that have one of the input's files open for writing (read from
/// `/proc/*/fd`, without taking any lock): a running etcd. Each as
/// (pid, command name, the file).
pub fn open_by_processes(input: &Input) -> Vec<(u32, String, PathBuf)> {
    let mut watched: Vec<PathBuf> = input
        .files
        .iter()
        .filter(|f| matches!(f.role, FileRole::Db | FileRole::WalSegment))
        .filter_map(|f| std::fs::canonicalize(&f.path).ok())
        .collect();
    if let Some(db) = input
        .db
        .as_ref()
        .and_then(|d| std::fs::canonicalize(d).ok())
    {
        watched.push(db);
    }
    let me = std::process::id();
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            // Readers (another etcd-rescue, a backup tool) are no danger:
            // only a process that may write (O_WRONLY or O_RDWR, as etcd
            // opens its db and WAL) counts.
            let writes = std::fs::read_to_string(p.path().join("fdinfo").join(fd.file_name()))
                .ok()
                .and_then(|info| {
                    info.lines()
                        .find_map(|l| l.strip_prefix("flags:"))
                        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                })
                .is_some_and(|flags| flags & 3 != 0);
            if writes && watched.contains(&target) {
                let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
                out.push((pid, comm.trim().to_string(), target));
                break;
            }
        }
    }
    out
}

/// Whether bytes look like a bbolt file, a snapshot file, or neither.
pub fn sniff_file(b: &[u8], path: &Path) -> Option<InputKind> {
    let has_magic = |bytes: &[u8]| {
        let l = discover_layout(bytes);
        let at = |off: usize| {
            crate::bolt::Endian::Little.u32(bytes, off) == Some(MAGIC)
                || crate::bolt::Endian::Big.u32(bytes, off) == Some(MAGIC)
        };
        at(16) || at(l.page_size as usize + 16)
    };
    if b.len() % 512 == 32 && b.len() > 32 && has_magic(&b[..b.len() - 32]) {
        return Some(InputKind::SnapshotFile);
    }
    if has_magic(b) {
        return Some(InputKind::DbFile);
    }
    // A file named `db` is taken as a (damaged) db even without magic.
    if path.file_name().is_some_and(|n| n == "db") && !b.is_empty() {
        return Some(InputKind::DbFile);
    }
    None
}

/// Split a snapshot file into its db bytes and verify the trailer.
pub fn split_snapshot(b: &[u8]) -> (&[u8], Option<Trailer>) {
    if b.len() % 512 != 32 || b.len() < 32 {
        return (b, None);
    }
    let (db, tail) = b.split_at(b.len() - 32);
    let computed = Sha256::digest(db);
    let hex = |x: &[u8]| x.iter().map(|c| format!("{c:02x}")).collect::<String>();
    let t = Trailer {
        stored: hex(tail),
        computed: hex(&computed),
        matches: computed.as_slice() == tail,
    };
    (db, Some(t))
}

fn classify(dir: &str, name: &str) -> FileRole {
    match dir {
        "snap" => {
            if name == "db" {
                FileRole::Db
            } else if name.ends_with(".snap") {
                FileRole::Snap
            } else if name.ends_with(".snap.broken") {
                FileRole::SnapBroken
            } else if name.ends_with(".snap.db") {
                FileRole::SnapDb
            } else if name.starts_with("db.tmp") {
                FileRole::DefragLeftover
            } else if name.starts_with("tmp") {
                FileRole::SnapReceiveLeftover
            } else {
                FileRole::Other
            }
        }
        "wal" => {
            if name.ends_with(".wal") {
                FileRole::WalSegment
            } else if name.ends_with(".tmp") {
                FileRole::WalSpare
            } else if name.ends_with(".wal.broken") {
                FileRole::WalBroken
            } else {
                FileRole::Other
            }
        }
        _ => FileRole::Other,
    }
}

fn list_member(member: &Path) -> Result<Vec<DirEntry>, InputError> {
    let mut out = Vec::new();
    for sub in ["snap", "wal"] {
        let d = member.join(sub);
        if !d.is_dir() {
            continue;
        }
        for e in std::fs::read_dir(&d).map_err(io_err(&d))? {
            let e = e.map_err(io_err(&d))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let md = e.metadata().map_err(io_err(&d))?;
            out.push(DirEntry {
                path: e.path(),
                role: if md.is_dir() {
                    FileRole::Other
                } else {
                    classify(sub, &name)
                },
                size: md.len(),
            });
        }
    }
    if let Ok(rd) = std::fs::read_dir(member) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == "wal.tmp" || name.starts_with("wal.broken") {
                out.push(DirEntry {
                    path: e.path(),
                    role: FileRole::WalDirLeftover,
                    size: 0,
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

impl InputKind {
    pub fn describe_short(self) -> &'static str {
        match self {
            InputKind::DataDir => "data dir",
            InputKind::MemberDir => "member dir",
            InputKind::DbFile => "db file",
            InputKind::SnapshotFile => "snapshot file",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailer() {
        let mut b = vec![7u8; 4096];
        let d = Sha256::digest(&b);
        b.extend_from_slice(&d);
        let (db, t) = split_snapshot(&b);
        assert_eq!(db.len(), 4096);
        assert!(t.unwrap().matches);
        let n = b.len();
        b[n - 1] ^= 1;
        assert!(!split_snapshot(&b).1.unwrap().matches);
    }

    #[test]
    fn rejects_random_file() {
        assert_eq!(sniff_file(b"hello world", Path::new("x.txt")), None);
    }
}
