//! Reads that really fail must not end a run: a WAL that is a sparse file on
//! a full tmpfs (reading its hole through a mapping raises SIGBUS: exit 135
//! before) is read with pread instead. Needs root to mount a tmpfs: skipped
//! otherwise, a failure under CI=true (CI runs as root). And reads that fail
//! with EIO, from a FUSE mirror (testdata/faulty_fuse.py) whose chosen ranges
//! fail as a failing disk's sectors do: in a mapped WAL segment (SIGBUS
//! before), a db read with pread and a mapped db; each becomes a finding
//! naming the byte range, exit 1, and the rest is read.

mod common;
use common::*;
use std::process::Command;

fn sh(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", cmd])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn a_sparse_wal_on_a_full_tmpfs_is_read_without_a_signal() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    if !sh(&format!(
        "mount -t tmpfs -o size=2m tmpfs '{}'",
        mnt.display()
    )) {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("cannot mount a tmpfs (CI runs as root)");
        }
        eprintln!("skipped: cannot mount a tmpfs (not root?)");
        return;
    }
    let m = mnt.join("member");
    let ok = sh(&format!(
        "cp -r '{}' '{}' && truncate -s 64M '{}'/wal/*.wal; dd if=/dev/zero of='{}/fill' bs=64k 2>/dev/null; true",
        data_dir().join("member").display(),
        m.display(),
        m.display(),
        mnt.display()
    ));
    assert!(ok);
    let mut results = Vec::new();
    for args in [
        vec!["wal", "verify"],
        vec!["wal", "dump"],
        vec!["check"],
        vec!["status"],
    ] {
        let mut a = args.clone();
        let p = mnt.display().to_string();
        a.insert(args.len(), &p);
        let o = Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
            .args(&a)
            .output()
            .unwrap();
        results.push((
            args.join(" "),
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ));
    }
    let _ = sh(&format!("umount '{}'", mnt.display()));
    for (cmd, code, err) in results {
        assert!(
            code.is_some(),
            "{cmd} was killed by a signal; stderr: {err}"
        );
        assert!(
            code != Some(2) || cmd == "wal dump",
            "{cmd} gave up (exit 2): {err}"
        );
    }
}

/// A FUSE mirror of `src` (testdata/faulty_fuse.py) whose `bad` ranges
/// fail with EIO, as a failing disk's sectors do; unmounted on drop.
struct FaultyMount {
    mnt: std::path::PathBuf,
    child: std::process::Child,
}

impl FaultyMount {
    /// None when FUSE cannot be used here (said; a failure under CI=true).
    fn new(src: &std::path::Path, mnt: &std::path::Path, bad: &[(&str, u64, u64)]) -> Option<Self> {
        let mut c = Command::new("/usr/bin/python3");
        c.arg(testdata().join("faulty_fuse.py")).arg(src).arg(mnt);
        for (rel, a, b) in bad {
            c.arg("--bad").arg(format!("{rel}:{a}:{b}"));
        }
        let mut child = c
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3");
        for _ in 0..100 {
            if sh(&format!("mountpoint -q '{}'", mnt.display())) {
                return Some(FaultyMount {
                    mnt: mnt.to_path_buf(),
                    child,
                });
            }
            if let Ok(Some(st)) = child.try_wait() {
                let why = format!("testdata/faulty_fuse.py exited with {st} (needs /dev/fuse, root and Debian's python3-fuse)");
                assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
                eprintln!("skipped: {why}");
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the FUSE mirror did not come up");
    }
}

impl Drop for FaultyMount {
    fn drop(&mut self) {
        let _ = sh(&format!("umount '{}'", self.mnt.display()));
        let _ = self.child.wait();
    }
}

/// (exit code or None for a signal, stdout, stderr).
fn rescue(args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn eio_in_a_mapped_wal_segment_is_a_finding_not_a_signal() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    assert!(sh(&format!(
        "cp -r '{}' '{}'",
        data_dir().display(),
        src.display()
    )));
    // A 64 MB segment as etcd preallocates it: large enough to be mapped.
    let seg = wal_segment(&src);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let rel = format!("member/wal/{}", seg.file_name().unwrap().to_string_lossy());
    let Some(m) = FaultyMount::new(&src, &mnt, &[(&rel, 100_000, 104_096)]) else {
        return;
    };
    let p = mnt.to_str().unwrap();
    let (code, out, err) = rescue(&["wal", "verify", p]);
    assert_eq!(code, Some(1), "wal verify: {out}{err}");
    assert!(
        out.contains("ERROR wal.segment.unreadable [offset 98304]"),
        "{out}"
    );
    assert!(err.contains("bytes 98304..106496 cannot be read"), "{err}");
    let (code, out, err) = rescue(&["check", p]);
    assert_eq!(code, Some(1), "check: {out}{err}");
    assert!(out.contains("will not start"), "{out}");
    for args in [
        vec!["wal", "dump", p],
        vec!["status", p],
        vec!["inspect", p],
    ] {
        let (code, out, err) = rescue(&args);
        assert!(code.is_some(), "{args:?} killed by a signal: {out}{err}");
        assert_ne!(code, Some(0), "{args:?} exit 0 after a read fault: {err}");
    }
    drop(m);
}

#[test]
fn eio_in_a_db_is_a_finding_and_the_rest_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir(&mnt).unwrap();
    // The fixture db (read with pread) and a 2.5 MB copy of it padded past
    // the high-water mark (mapped), each with page 5 failing.
    let db = db_bytes();
    std::fs::write(src.join("small.db"), &db).unwrap();
    let mut big = db.clone();
    big.resize(2_500_000 / 4096 * 4096, 0);
    std::fs::write(src.join("big.db"), &big).unwrap();
    let bad = (5 * 4096, 6 * 4096);
    let Some(m) = FaultyMount::new(
        &src,
        &mnt,
        &[("small.db", bad.0, bad.1), ("big.db", bad.0, bad.1)],
    ) else {
        return;
    };
    for name in ["small.db", "big.db"] {
        let p = mnt.join(name);
        let p = p.to_str().unwrap();
        let (code, out, err) = rescue(&["check", p]);
        assert_eq!(code, Some(1), "check {name}: {out}{err}");
        assert!(
            out.contains("ERROR bolt.file.unreadable [offset 20480]: bytes 20480..24576 (pages 5..6) cannot be read"),
            "{name}: {out}"
        );
        let (code, out, err) = rescue(&["get", p, "/app/config"]);
        assert_eq!(code, Some(1), "get {name}: {out}{err}");
        assert!(
            out.contains("version-9"),
            "{name}: the rest is still read: {out}"
        );
        let html = tmp.path().join(format!("{name}.html"));
        let (code, out, err) = rescue(&["bolt", "map", p, "--html", html.to_str().unwrap()]);
        assert_eq!(code, Some(1), "bolt map {name}: {out}{err}");
        let page = std::fs::read_to_string(&html).unwrap();
        assert!(
            page.contains("page 5 cannot be read (I/O error on bytes 20480..24576)"),
            "{name}: the map's place list does not name the I/O error"
        );
        let dest = tmp.path().join(format!("{name}.rescued"));
        let (code, out, err) = rescue(&["repair", p, "--salvage", "--out", dest.to_str().unwrap()]);
        assert_eq!(code, Some(1), "repair {name}: {out}{err}");
        assert!(dest.exists());
        let (code, _, err) = rescue(&["check", dest.to_str().unwrap()]);
        assert_eq!(
            code,
            Some(0),
            "the repaired copy of {name} checks clean: {err}"
        );
    }
    drop(m);
}

/// A failing disk end to end: an ext4 file system on a loop device whose
/// backing file (the FUSE mirror) fails one 4 KiB block with EIO, so the
/// kernel's block layer reports `I/O error, dev loopN` and ext4 fails the
/// read of the db page stored there (a mapped file: SIGBUS before).
#[test]
fn a_bad_sector_under_ext4_on_a_loop_device() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (src, img, fmnt, ext) = (t.join("src"), t.join("img"), t.join("fmnt"), t.join("ext"));
    for d in [&src, &img, &fmnt, &ext] {
        std::fs::create_dir(d).unwrap();
    }
    // A 2.5 MB db (mapped), padded past its high-water mark with non-zero
    // bytes so that mke2fs stores every block.
    let mut db = db_bytes();
    db.resize(2_500_000 / 4096 * 4096, 0xaa);
    std::fs::write(src.join("big.db"), &db).unwrap();
    let image = img.join("disk.img");
    let made = sh(&format!(
        "mkfs.ext4 -q -b 4096 -d '{}' '{}' 32M",
        src.display(),
        image.display()
    ));
    let blocks = Command::new("debugfs")
        .args(["-R", "blocks /big.db"])
        .arg(&image)
        .output();
    let blocks: Vec<u64> = match (made, blocks) {
        (true, Ok(o)) => String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .filter_map(|b| b.parse().ok())
            .collect(),
        _ => Vec::new(),
    };
    if blocks.len() < 6 {
        let why = "mkfs.ext4 -d / debugfs (e2fsprogs) did not give the db's blocks";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("skipped: {why}");
        return;
    }
    // The block holding db page 5 fails.
    let bad = blocks[5] * 4096;
    let Some(m) = FaultyMount::new(&img, &fmnt, &[("disk.img", bad, bad + 4096)]) else {
        return;
    };
    let out = Command::new("losetup")
        .args(["-r", "-f", "--show"])
        .arg(fmnt.join("disk.img"))
        .output()
        .unwrap();
    let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mounted =
        out.status.success() && sh(&format!("mount -o ro,noload '{dev}' '{}'", ext.display()));
    if !mounted {
        if !dev.is_empty() {
            let _ = sh(&format!("losetup -d '{dev}'"));
        }
        let why = format!(
            "cannot attach a loop device and mount it: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("skipped: {why}");
        return;
    }
    let p = ext.join("big.db");
    let (code, stdout, stderr) = rescue(&["check", p.to_str().unwrap()]);
    let (gcode, gout, gerr) = rescue(&["get", p.to_str().unwrap(), "/app/config"]);
    let _ = sh(&format!("umount '{}'", ext.display()));
    let _ = sh(&format!("losetup -d '{dev}'"));
    drop(m);
    assert_eq!(code, Some(1), "check: {stdout}{stderr}");
    assert!(
        stdout
            .contains("ERROR bolt.file.unreadable [offset 20480]: bytes 20480..24576 (pages 5..6)"),
        "{stdout}"
    );
    assert!(
        stderr.contains("bytes 20480..24576 cannot be read"),
        "{stderr}"
    );
    assert_eq!(gcode, Some(1), "get: {gout}{gerr}");
    assert!(gout.contains("version-9"), "{gout}");
}
