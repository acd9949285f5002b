//! Read-only access to input files: the one module allowed to use `unsafe`.
//!
//! Inputs are evidence: files are opened read-only, never locked for writing and
//! never truncated. Large files are mapped with `memmap2`; small and empty files
//! (and anything that cannot be mapped) are read into memory instead.
//!
//! Safety of the mapping: a mapped file that shrinks while mapped would raise
//! SIGBUS on access. etcd-rescue works on *stopped* members and backups; the
//! only accesses made are within the length observed when the file was mapped.
//! The README tells operators not to run it on files another process is
//! truncating.
#![allow(unsafe_code)]

use std::fs::File;
use std::io::Read;
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
}

impl InputFile {
    /// Open `path` read-only and map it (or read it when small).
    pub fn open(path: &Path) -> std::io::Result<InputFile> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
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
                Err(_) => Backing::Owned(read_all(&mut file, len)?),
            }
        } else {
            Backing::Owned(read_all(&mut file, len)?)
        };
        Ok(InputFile {
            path: path.to_path_buf(),
            backing,
        })
    }

    /// Wrap bytes already in memory (tests, fuzzing, stdin).
    pub fn from_bytes(path: impl Into<PathBuf>, bytes: Vec<u8>) -> InputFile {
        InputFile {
            path: path.into(),
            backing: Backing::Owned(bytes),
        }
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

fn read_all(file: &mut File, len: u64) -> std::io::Result<Vec<u8>> {
    // `len` comes from the file system, not from file contents; cap the
    // initial reservation anyway.
    let mut buf = Vec::with_capacity(len.min(MAP_THRESHOLD) as usize);
    file.read_to_end(&mut buf)?;
    Ok(buf)
}
