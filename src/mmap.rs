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
//!
//! A read through a mapping that the file system cannot serve (EIO from a
//! failing disk or a FUSE file, a page of a file truncated meanwhile) raises
//! SIGBUS. A handler installed with the first mapping catches it for pages
//! inside our mappings: it maps a zero page over the faulting page (so the
//! read is retried and sees zeros), records the page, and returns; a SIGBUS
//! anywhere else gets the default action. The recorded pages are said on
//! stderr as unreadable byte ranges (`take_faults`), and the run exits 1.
#![allow(unsafe_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

/// Mappings the SIGBUS handler may repair: (start, len) pairs, 0 when free.
const SLOTS: usize = 64;
static MAP_START: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
static MAP_LEN: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
/// Pages the handler replaced by zeros (addresses), in arrival order.
const MAX_FAULTS: usize = 4096;
static FAULTS: [AtomicUsize; MAX_FAULTS] = [const { AtomicUsize::new(0) }; MAX_FAULTS];
static FAULT_COUNT: AtomicUsize = AtomicUsize::new(0);
/// Whether any read failed in this run (at open or through a mapping).
static DAMAGE: AtomicBool = AtomicBool::new(false);
/// Unreadable ranges of files already closed, for `take_faults`.
static CLOSED: Mutex<Vec<(PathBuf, u64, u64)>> = Mutex::new(Vec::new());
static HANDLER: Once = Once::new();

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

/// The SIGBUS handler: only async-signal-safe work (atomics, mmap).
extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let ps = page_size();
    let page = addr & !(ps - 1);
    let ours = (0..SLOTS).any(|i| {
        let (s, l) = (
            MAP_START[i].load(Ordering::Acquire),
            MAP_LEN[i].load(Ordering::Acquire),
        );
        s != 0 && addr >= s && addr < s + l
    });
    if ours {
        // SAFETY: the page lies inside one of our read-only mappings; it is
        // replaced by a private zero page of the same size and protection.
        let r = unsafe {
            libc::mmap(
                page as *mut libc::c_void,
                ps,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if r != libc::MAP_FAILED {
            let n = FAULT_COUNT.fetch_add(1, Ordering::AcqRel);
            if let Some(slot) = FAULTS.get(n) {
                slot.store(page, Ordering::Release);
            }
            DAMAGE.store(true, Ordering::Release);
            return;
        }
    }
    // Not ours (or the repair failed): the default action, on return the
    // access faults again and ends the process as it would have.
    // SAFETY: resetting a signal disposition is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGBUS, libc::SIG_DFL);
    }
}

fn install_handler() {
    HANDLER.call_once(|| {
        // SAFETY: a zeroed sigaction with our handler, SA_SIGINFO and an
        // empty mask is a valid argument; the handler is async-signal-safe.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigbus as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGBUS, &sa, std::ptr::null_mut());
        }
    });
}

/// Register a mapping with the handler; None when every slot is taken (the
/// caller then reads the file instead).
fn register(start: usize, len: usize) -> Option<usize> {
    install_handler();
    for i in 0..SLOTS {
        if MAP_START[i]
            .compare_exchange(0, start, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            MAP_LEN[i].store(len, Ordering::Release);
            return Some(i);
        }
    }
    None
}

/// Pages the handler zeroed inside [start, start+len), as file byte ranges.
fn faulted_in(start: usize, len: usize, file_len: u64) -> Vec<(u64, u64)> {
    let ps = page_size();
    let n = FAULT_COUNT.load(Ordering::Acquire).min(MAX_FAULTS);
    let mut pages: Vec<usize> = (0..n)
        .map(|i| FAULTS[i].load(Ordering::Acquire))
        .filter(|p| *p >= start && *p < start + len)
        .collect();
    pages.sort_unstable();
    pages.dedup();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for p in pages {
        let a = (p - start) as u64;
        let b = (a + ps as u64).min(file_len);
        match out.last_mut() {
            Some(last) if last.1 == a => last.1 = b,
            _ => out.push((a, b)),
        }
    }
    out
}

/// Whether any read of any input failed in this run.
pub fn damage_met() -> bool {
    DAMAGE.load(Ordering::Acquire)
}

/// Every byte range that failed through a mapping so far, with its file
/// (files still open included); each is returned once.
pub fn take_faults() -> Vec<(PathBuf, u64, u64)> {
    let mut v = std::mem::take(&mut *CLOSED.lock().unwrap_or_else(|e| e.into_inner()));
    v.sort();
    v.dedup();
    v
}

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
    /// The handler's slot of a mapping.
    slot: Option<usize>,
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
                slot: None,
            });
        }
        let mut unreadable = Vec::new();
        let mut slot = None;
        let backing = if len >= MAP_THRESHOLD {
            // SAFETY: the file is opened read-only and the mapping is read-only
            // (`Mmap`, not `MmapMut`). Accesses stay within `len`, the length at
            // mapping time; see the module comment for the truncation caveat.
            match unsafe { memmap2::MmapOptions::new().map(&file) } {
                Ok(map) => match register(map.as_ptr() as usize, map.len()) {
                    Some(i) => {
                        slot = Some(i);
                        let _ = map.advise(memmap2::Advice::WillNeed);
                        Backing::Mapped(map)
                    }
                    None => {
                        drop(map);
                        let (b, bad) = read_chunks(&file, len);
                        unreadable = bad;
                        Backing::Owned(b)
                    }
                },
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
            slot,
        })
    }

    /// Wrap bytes already in memory (tests, fuzzing, stdin).
    pub fn from_bytes(path: impl Into<PathBuf>, bytes: Vec<u8>) -> InputFile {
        InputFile {
            path: path.into(),
            backing: Backing::Owned(bytes),
            unreadable: Vec::new(),
            slot: None,
        }
    }

    /// Byte ranges [start, end) that could not be read (I/O errors, at
    /// open or through the mapping so far); they read as zeros.
    pub fn unreadable(&self) -> Vec<(u64, u64)> {
        let mut v = self.unreadable.clone();
        if let Backing::Mapped(m) = &self.backing {
            v.extend(faulted_in(m.as_ptr() as usize, m.len(), m.len() as u64));
        }
        v.sort_unstable();
        v
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

impl Drop for InputFile {
    fn drop(&mut self) {
        if let (Some(i), Backing::Mapped(m)) = (self.slot, &self.backing) {
            let bad = faulted_in(m.as_ptr() as usize, m.len(), m.len() as u64);
            if !bad.is_empty() {
                let mut closed = CLOSED.lock().unwrap_or_else(|e| e.into_inner());
                closed.extend(bad.into_iter().map(|(a, b)| (self.path.clone(), a, b)));
            }
            // The mapping is unmapped after this (the field drops next); the
            // handler stops treating its range as ours first.
            MAP_LEN[i].store(0, Ordering::Release);
            MAP_START[i].store(0, Ordering::Release);
        }
    }
}

/// Say each unreadable range on stderr: the bytes read as zeros, and
/// whatever reads them reports the damage it sees.
fn say_unreadable(path: &Path, bad: &[(u64, u64)]) {
    if !bad.is_empty() {
        DAMAGE.store(true, Ordering::Release);
    }
    for (a, b) in bad {
        eprintln!(
            "etcd-rescue: damage: {}: bytes {a}..{b} cannot be read (I/O error): read as zeros, the rest of the file is used",
            path.display()
        );
    }
}
