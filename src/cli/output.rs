//! stdout for a command: held in memory until the command has its answer,
//! so a command that fails prints nothing on stdout (its JSON is complete or
//! absent). An answer larger than [`HOLD`] is streamed from then on; the
//! commands that can produce one (`get`, `wal dump`, `k8s get`) check their
//! request before they print.
#![forbid(unsafe_code)]

use std::io::Write;

/// Bytes held before output starts streaming.
const HOLD: usize = 64 << 20;

pub struct Held<W: Write> {
    buf: Vec<u8>,
    inner: W,
    streaming: bool,
}

impl<W: Write> Held<W> {
    pub fn new(inner: W) -> Held<W> {
        Held {
            buf: Vec::new(),
            inner,
            streaming: false,
        }
    }

    /// The command answered: write what is held.
    pub fn commit(mut self) -> std::io::Result<()> {
        self.inner.write_all(&self.buf)?;
        self.inner.flush()
    }

    /// The command failed: drop what is held (streamed output stays).
    pub fn discard(mut self) -> std::io::Result<()> {
        self.buf.clear();
        if self.streaming {
            self.inner.flush()?;
        }
        Ok(())
    }
}

impl<W: Write> Write for Held<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= HOLD {
            self.streaming = true;
            self.inner.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.streaming {
            self.inner.write_all(&self.buf)?;
            self.buf.clear();
            self.inner.flush()?;
        }
        Ok(())
    }
}
