//! The repaired file's bytes on their way out: a writer that hands 4 MiB
//! chunks to a hashing thread and a writing thread (direct I/O where the
//! file system allows it), then appends the SHA-256 trailer.
#![forbid(unsafe_code)]

use super::*;

/// A writer that hands what it writes, in 4 MiB chunks, to two threads:
/// one hashes it, one writes it to the file, so producing pages, hashing and
/// the device's write all overlap. The file is written with direct I/O where
/// the file system allows it: on a VM the page-cache copy of a buffered
/// write costs several times what the device takes (measured in
/// bench/repair.sh), and the data is synced at the end anyway. Chunks start
/// at a 4096-byte aligned address inside their buffer, as direct I/O
/// requires; a write the kernel refuses that way is done buffered instead.
pub(super) struct HashPipe<'f> {
    file: &'f mut std::fs::File,
    /// `pad` bytes, then the data from an aligned address on.
    buf: Vec<u8>,
    pad: usize,
    to_hash: Option<std::sync::mpsc::SyncSender<Chunk>>,
    to_write: Option<std::sync::mpsc::SyncSender<Chunk>>,
    hasher: Option<std::thread::JoinHandle<[u8; 32]>>,
    writer: Option<std::thread::JoinHandle<std::io::Result<u64>>>,
    queued: u64,
}

pub(super) type Chunk = (std::sync::Arc<Vec<u8>>, usize);

pub(super) const CHUNK: usize = 4 << 20;

pub(super) const ALIGN: usize = 4096;

/// A buffer with room for a whole chunk after its alignment padding.
pub(super) fn aligned_buffer() -> (Vec<u8>, usize) {
    let mut buf = Vec::with_capacity(CHUNK + ALIGN);
    let pad = (ALIGN - buf.as_ptr() as usize % ALIGN) % ALIGN;
    buf.resize(pad, 0);
    (buf, pad)
}

pub(super) fn set_direct(file: &std::fs::File, on: bool) -> bool {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    let Ok(flags) = fcntl_getfl(file) else {
        return false;
    };
    let flags = if on {
        flags | OFlags::DIRECT
    } else {
        flags - OFlags::DIRECT
    };
    fcntl_setfl(file, flags).is_ok()
}

/// The writing thread's loop: chunks in order, direct while it works.
pub(super) fn write_chunks(
    mut file: std::fs::File,
    rx: std::sync::mpsc::Receiver<Chunk>,
) -> std::io::Result<u64> {
    let mut direct = set_direct(&file, true);
    let mut written = 0u64;
    for (chunk, pad) in rx {
        let data = chunk.get(pad..).unwrap_or_default();
        if !direct || file.write_all(data).is_err() {
            if direct {
                direct = false;
                set_direct(&file, false);
                file.seek(SeekFrom::Start(written))?;
            }
            file.write_all(data)?;
        }
        written += data.len() as u64;
    }
    if direct {
        set_direct(&file, false);
    }
    Ok(written)
}

impl<'f> HashPipe<'f> {
    pub(super) fn new(file: &'f mut std::fs::File) -> std::io::Result<HashPipe<'f>> {
        let (htx, hrx) = std::sync::mpsc::sync_channel::<Chunk>(4);
        let hasher = std::thread::spawn(move || {
            let mut h = sha2::Sha256::new();
            for (chunk, pad) in hrx {
                h.update(chunk.get(pad..).unwrap_or_default());
            }
            h.finalize().into()
        });
        let (wtx, wrx) = std::sync::mpsc::sync_channel::<Chunk>(4);
        let clone = file.try_clone()?;
        let writer = std::thread::spawn(move || write_chunks(clone, wrx));
        let (buf, pad) = aligned_buffer();
        Ok(HashPipe {
            file,
            buf,
            pad,
            to_hash: Some(htx),
            to_write: Some(wtx),
            hasher: Some(hasher),
            writer: Some(writer),
            queued: 0,
        })
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.len() == self.pad {
            return Ok(());
        }
        let (fresh, pad) = aligned_buffer();
        let chunk = std::sync::Arc::new(std::mem::replace(&mut self.buf, fresh));
        let old_pad = std::mem::replace(&mut self.pad, pad);
        self.queued += (chunk.len() - old_pad) as u64;
        crate::progress::tick((chunk.len() - old_pad) as u64);
        let mut stopped = false;
        for tx in [&self.to_hash, &self.to_write].into_iter().flatten() {
            stopped |= tx.send((chunk.clone(), old_pad)).is_err();
        }
        if stopped {
            return Err(self.why_stopped());
        }
        Ok(())
    }

    /// A thread stopped taking chunks: the writer's own error (a full disk
    /// says so), else that it stopped.
    fn why_stopped(&mut self) -> std::io::Error {
        drop(self.to_write.take());
        match self.writer.take().map(|w| w.join()) {
            Some(Ok(Err(e))) => e,
            _ => std::io::Error::other("a writing thread stopped"),
        }
    }

    /// Write what is left, then append the SHA-256 of everything; returns
    /// the file's size.
    pub(super) fn finish(mut self) -> std::io::Result<u64> {
        self.send()?;
        drop(self.to_hash.take());
        drop(self.to_write.take());
        let failed = || std::io::Error::other("a writing thread failed");
        let written = self
            .writer
            .take()
            .ok_or_else(failed)?
            .join()
            .map_err(|_| failed())??;
        let sum = self
            .hasher
            .take()
            .ok_or_else(failed)?
            .join()
            .map_err(|_| failed())?;
        if written != self.queued {
            return Err(std::io::Error::other("not everything was written"));
        }
        self.file.seek(SeekFrom::Start(written))?;
        self.file.write_all(&sum)?;
        Ok(written + 32)
    }
}

impl Write for HashPipe<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        // Never past the chunk: the buffer must not move (its alignment).
        let room = CHUNK - (self.buf.len() - self.pad);
        let n = b.len().min(room);
        self.buf.extend_from_slice(&b[..n]);
        if self.buf.len() - self.pad >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for HashPipe<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        match to {
            SeekFrom::Current(0) => Ok(self.queued + (self.buf.len() - self.pad) as u64),
            _ => Err(std::io::Error::other(
                "the hashed output is written in order",
            )),
        }
    }
}
