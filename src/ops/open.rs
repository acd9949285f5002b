//! Opening the db of an input: the bytes (mapped), the snapshot trailer, and
//! the [`BoltFile`] view, shared by every command that reads a db.

use crate::bolt::BoltFile;
use crate::input::{split_snapshot, Input, InputKind, Trailer};
use crate::mmap::InputFile;
use std::path::PathBuf;

/// An opened db file: owns the bytes, lends [`BoltFile`] views.
pub struct OpenDb {
    pub path: PathBuf,
    pub file: InputFile,
    pub is_snapshot: bool,
}

/// Why a db could not be opened (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum OpenDbError {
    #[error("{0}: this input has no db file (member/snap/db is missing)")]
    NoDb(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Bolt {
        path: PathBuf,
        source: crate::bolt::OpenError,
    },
}

impl OpenDb {
    pub fn open(input: &Input) -> Result<OpenDb, OpenDbError> {
        let path = input
            .db
            .clone()
            .ok_or_else(|| OpenDbError::NoDb(input.path.clone()))?;
        let file = InputFile::open(&path).map_err(|source| OpenDbError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(OpenDb {
            path,
            file,
            is_snapshot: input.kind == InputKind::SnapshotFile,
        })
    }

    /// The db bytes (without a snapshot trailer) and the trailer check.
    pub fn db_bytes(&self) -> (&[u8], Option<Trailer>) {
        if self.is_snapshot {
            split_snapshot(self.file.bytes())
        } else {
            (self.file.bytes(), None)
        }
    }

    /// The db bytes without verifying the trailer (cheap).
    pub fn db_bytes_unverified(&self) -> &[u8] {
        let b = self.file.bytes();
        if self.is_snapshot && b.len() >= 32 {
            &b[..b.len() - 32]
        } else {
            b
        }
    }

    pub fn bolt(&self) -> Result<BoltFile<'_>, OpenDbError> {
        BoltFile::new(self.db_bytes_unverified()).map_err(|source| OpenDbError::Bolt {
            path: self.path.clone(),
            source,
        })
    }

    pub fn name(&self) -> String {
        self.path.display().to_string()
    }
}
