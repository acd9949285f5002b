//! Read-only access to input files: the one module allowed to use `unsafe`.
//!
//! Inputs are evidence: files are opened read-only, never locked for writing and
//! never truncated. Large files are mapped with `memmap2`; small and empty files
//! (and anything that cannot be mapped) are read into memory instead.
//!
//! Safety of the mapping: a mapped file that shrinks while mapped would raise
//! SIGBUS on access. etcd-rescue works on *stopped* members and backups (a
//! running etcd is detected up front); the only accesses made are within the
//! length observed when the file was mapped. A file with holes is never
//! mapped: reading a hole through a mapping needs a page the file system may
//! not have (a full tmpfs raises SIGBUS), so such files are read with
//! `pread` in chunks, where a hole reads as zeros and an I/O error becomes
//! an unreadable byte range (read as zeros, reported) instead of a signal.
//! Only regular files are opened, and with O_NONBLOCK (a FIFO swapped in
//! after the check cannot block the open).
#![allow(unsafe_code)]

use std::fs::File;
use std::path::{Path, PathBuf};

/// Files smaller than this are read into memory rather than mapped.
const MAP_THRESHOLD: u64 = 1 << 20;

enum Backing {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

/// The bytes of an input file, opened read-only.
pub struct InputFile {
    path: PathBuf,
    backing: Backing,
    unreadable: Vec<(u64, u64)>,
}

/// Sparse files above this size are refused rather than read into memory.
const SPARSE_READ_LIMIT: u64 = 16 << 30;

/// Whether the file has a hole before `len` (SEEK_HOLE; a file system that
/// cannot tell says no).
fn has_hole(file: &File, len: u64) -> bool {
    match rustix::fs::seek(file, rustix::fs::SeekFrom::Hole(0)) {
        Ok(h) => h < len,
        Err(_) => false,
    }
}

/// Read `len` bytes with pread, 1 MiB at a time; a chunk that fails is
/// retried page by page, and a page that still fails is left zero and
/// recorded. Each unreadable range is said on stderr as it is met, and the
/// read goes on with the rest (as ddrescue does).
fn read_chunks(file: &File, len: u64) -> (Vec<u8>, Vec<(u64, u64)>) {
    use std::os::unix::fs::FileExt;
    const CHUNK: usize = 1 << 20;
    const BLOCK: usize = 4096;
    let mut buf = vec![0u8; len as usize];
    let mut bad: Vec<(u64, u64)> = Vec::new();
    let mut mark = |a: u64, b: u64| match bad.last_mut() {
        Some(last) if last.1 == a => last.1 = b,
        _ => bad.push((a, b)),
    };
    let mut off = 0usize;
    while off < buf.len() {
        let end = (off + CHUNK).min(buf.len());
        if file.read_exact_at(&mut buf[off..end], off as u64).is_err() {
            let mut b = off;
            while b < end {
                let e = (b + BLOCK).min(end);
                if file.read_exact_at(&mut buf[b..e], b as u64).is_err() {
                    buf[b..e].fill(0);
                    mark(b as u64, e as u64);
                }
                b = e;
            }
        }
        off = end;
    }
    (buf, bad)
}

impl InputFile {
    /// Open `path` read-only and map it (or read it when small or sparse).
    pub fn open(path: &Path) -> std::io::Result<InputFile> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(path)?;
        let md = file.metadata()?;
        if !md.is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file: refused",
            ));
        }
        let len = md.len();
        if len >= MAP_THRESHOLD && has_hole(&file, len) {
            if len > SPARSE_READ_LIMIT {
                return Err(std::io::Error::other(format!(
                    "a sparse file of {len} bytes (larger than any etcd db: etcd's quota is at most 8 GiB): refused"
                )));
            }
            let (bytes, unreadable) = read_chunks(&file, len);
            say_unreadable(path, &unreadable);
            return Ok(InputFile {
                path: path.to_path_buf(),
                backing: Backing::Owned(bytes),
                unreadable,
            });
        }
        let mut unreadable = Vec::new();
        let backing = if len >= MAP_THRESHOLD {
            // SAFETY: the file is opened read-only and the mapping is read-only
            // (`Mmap`, not `MmapMut`). Accesses stay within `len`, the length at
            // mapping time; see the module comment for the truncation caveat.
            match unsafe { memmap2::MmapOptions::new().map(&file) } {
                Ok(map) => {
                    #[cfg(unix)]
                    {
                        let _ = map.advise(memmap2::Advice::WillNeed);
                    }
                    Backing::Mapped(map)
                }
                Err(_) => {
                    let (b, bad) = read_chunks(&file, len);
                    unreadable = bad;
                    Backing::Owned(b)
                }
            }
        } else {
            let (b, bad) = read_chunks(&file, len);
            unreadable = bad;
            Backing::Owned(b)
        };
        say_unreadable(path, &unreadable);
        Ok(InputFile {
            path: path.to_path_buf(),
            backing,
            unreadable,
        })
    }

    /// Wrap bytes already in memory (tests, fuzzing, stdin).
    pub fn from_bytes(path: impl Into<PathBuf>, bytes: Vec<u8>) -> InputFile {
        InputFile {
            path: path.into(),
            backing: Backing::Owned(bytes),
            unreadable: Vec::new(),
        }
    }

    /// Byte ranges [start, end) that could not be read (I/O errors); they
    /// read as zeros.
    pub fn unreadable(&self) -> &[(u64, u64)] {
        &self.unreadable
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn bytes(&self) -> &[u8] {
        match &self.backing {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        }
    }
}

/// Say each unreadable range on stderr: the bytes read as zeros, and
/// whatever reads them reports the damage it sees.
fn say_unreadable(path: &Path, bad: &[(u64, u64)]) {
    for (a, b) in bad {
        eprintln!(
            "etcd-rescue: damage: {}: bytes {a}..{b} cannot be read (I/O error): read as zeros, the rest of the file is used",
            path.display()
        );
    }
}
