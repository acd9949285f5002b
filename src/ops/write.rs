//! Writing output files safely: a temp file beside the target, fsync, rename,
//! and never over an existing file unless the caller was told to. Every
//! writer first asks the target's file system for room ([`ensure_room`]:
//! statvfs, refused up front with what is needed and where), and a full
//! disk met anyway is said as "no space left on device" with the path.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0} exists: refusing to overwrite it (use --force)")]
    Exists(PathBuf),
    #[error("{}", at_path(path, source))]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The target's file system cannot hold what a command would write.
#[derive(Debug, Clone, thiserror::Error)]
#[error("not enough space to write {target}: it needs {} ({needed} bytes) on the file system of {fs_dir}, which has {} free; nothing was written (free some space there, or write elsewhere)", super::render::human_bytes(*needed), super::render::human_bytes(*free))]
pub struct NoRoom {
    pub target: PathBuf,
    pub fs_dir: PathBuf,
    pub needed: u64,
    pub free: u64,
}

impl From<NoRoom> for std::io::Error {
    fn from(e: NoRoom) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::StorageFull, e)
    }
}

/// Free bytes (as statvfs gives them to unprivileged users) of the file
/// system holding `path`, or its nearest existing ancestor, which is named.
pub fn free_space(path: &Path) -> (PathBuf, std::io::Result<u64>) {
    let mut p = path.to_path_buf();
    while !p.exists() {
        match p.parent() {
            Some(q) if !q.as_os_str().is_empty() => p = q.to_path_buf(),
            _ => {
                p = PathBuf::from(".");
                break;
            }
        }
    }
    let r = rustix::fs::statvfs(&p)
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        .map_err(std::io::Error::from);
    (p, r)
}

/// Refuse, before anything is written, when the file system that will
/// hold `target` has less than `needed` bytes free. A file system that
/// cannot say (statvfs failing) is not refused: the write itself then
/// tells.
///
/// `ETCD_RESCUE_NO_SPACE_CHECK=1` skips the check, for file systems whose
/// statvfs is wrong about what fits (compressing or deduplicating ones,
/// quotas it does not see); a full disk is then met at the write, said and
/// cleaned up the same way.
pub fn ensure_room(target: &Path, needed: u64) -> Result<(), NoRoom> {
    if std::env::var_os("ETCD_RESCUE_NO_SPACE_CHECK").is_some_and(|v| v == "1") {
        return Ok(());
    }
    match free_space(target) {
        (fs_dir, Ok(free)) if free < needed => Err(NoRoom {
            target: target.to_path_buf(),
            fs_dir,
            needed,
            free,
        }),
        _ => Ok(()),
    }
}

/// What a file of `len` bytes takes on disk, at most: whole 4 KiB blocks
/// (plus one for its directory entry's share), so many small files are not
/// underestimated.
pub fn on_disk(len: u64) -> u64 {
    len.div_ceil(4096) * 4096 + 4096
}

/// An I/O error as said to the user: a full disk as "no space left on
/// device", a refusal for room as itself.
pub fn describe(e: &std::io::Error) -> String {
    if let Some(r) = e.get_ref().and_then(|r| r.downcast_ref::<NoRoom>()) {
        return r.to_string();
    }
    if e.raw_os_error() == Some(28) {
        return "no space left on device".into();
    }
    e.to_string()
}

/// `PATH: what went wrong` (a refusal for room names its paths itself).
fn at_path(path: &Path, e: &std::io::Error) -> String {
    if e.get_ref().is_some_and(|r| r.is::<NoRoom>()) {
        describe(e)
    } else {
        format!("{}: {}", path.display(), describe(e))
    }
}

/// Whether `e` is a full disk or a refusal for room.
pub fn is_full_disk(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(28) || e.get_ref().is_some_and(|r| r.is::<NoRoom>())
}

/// Write `bytes` to `path` atomically, refusing up front when they cannot
/// fit.
pub fn write_new_file(path: &Path, bytes: &[u8], force: bool) -> Result<(), WriteError> {
    write_new_file_with(path, force, |f| {
        ensure_room(path, on_disk(bytes.len() as u64))?;
        f.write_all(bytes)
    })
}

/// Create `path` atomically with what `fill` writes into a fresh temp file
/// beside it (opened for reading and writing): fsync, rename, fsync the
/// directory. On any error the temp file is removed.
pub fn write_new_file_with<T>(
    path: &Path,
    force: bool,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<T>,
) -> Result<T, WriteError> {
    let (staged, value) = stage_new_file_with(path, force, fill)?;
    staged.commit()?;
    Ok(value)
}

/// A file written and synced under its temp name, not yet renamed to its
/// own: [`Staged::commit`] publishes it; dropped uncommitted, it is removed.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    path: PathBuf,
    dir: PathBuf,
    done: bool,
}

impl Staged {
    /// Rename the temp file to its name and sync the directory.
    pub fn commit(mut self) -> Result<(), WriteError> {
        std::fs::rename(&self.tmp, &self.path).map_err(|source| WriteError::Io {
            path: self.path.clone(),
            source,
        })?;
        self.done = true;
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// The first half of [`write_new_file_with`]: the temp file filled and
/// synced, not renamed. Errors name `path` (the file being written).
pub fn stage_new_file_with<T>(
    path: &Path,
    force: bool,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<T>,
) -> Result<(Staged, T), WriteError> {
    if path.exists() && !force {
        return Err(WriteError::Exists(path.to_path_buf()));
    }
    let io = |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io)?;
    let staged = Staged {
        tmp,
        path: path.to_path_buf(),
        dir,
        done: false,
    };
    let value = fill(&mut f).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok((staged, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_then_forces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.svg");
        write_new_file(&p, b"one", false).unwrap();
        assert!(matches!(
            write_new_file(&p, b"two", false),
            Err(WriteError::Exists(_))
        ));
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        write_new_file(&p, b"two", true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
