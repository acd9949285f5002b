//! Progress bars: `check`, `repair`, `repair --salvage` and `k8s stats` of
//! a large db (a real etcd 3.4 member holding 24 ConfigMaps of 1 MB, a db
//! over the 16 MiB threshold) draw a bar with its total and an ETA when
//! stderr is a terminal (run under a pty made by python3's `os.openpty`),
//! and nothing but their notes when it is not.

mod common;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs argv[1:] with stderr on a new pty (stdout discarded) and prints
/// what came out of the pty; exits with the command's code.
const UNDER_PTY: &str = r#"
import os, subprocess, sys
m, s = os.openpty()
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=s)
os.close(s)
out = b""
while True:
    try:
        d = os.read(m, 65536)
    except OSError:
        break
    if not d:
        break
    out += d
sys.stdout.buffer.write(out)
sys.exit(p.wait())
"#;

/// A stopped etcd 3.4 member with 24 ConfigMaps of about 1 MB each.
fn big_member() -> Option<(tempfile::TempDir, PathBuf)> {
    if !common::etcd::have_etcd() || !common::have_tool("python3", "python3") {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("etcd");
    let (mut child, client) = common::etcd::spawn_etcd(&dir, "n1", &[]);
    let put = |k: &str, v: &[u8]| {
        use std::io::Write;
        let mut c = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &client, "--dial-timeout", "1s", "put", k])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let _ = c.stdin.take().unwrap().write_all(v);
        c.wait().is_ok_and(|s| s.success())
    };
    let start = std::time::Instant::now();
    while !put("/probe", b"1") {
        assert!(start.elapsed().as_secs() < 20, "etcd did not serve");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    for i in 0..24 {
        let data: String = (0..1_000_000)
            .map(|j| (b'a' + ((i + j) % 26) as u8) as char)
            .collect();
        let v = format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"big-{i}","namespace":"default"}},"data":{{"a":"{data}"}}}}"#
        );
        assert!(put(
            &format!("/registry/configmaps/default/big-{i}"),
            v.as_bytes()
        ));
    }
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    child.wait().unwrap();
    let db = dir.join("member/snap/db");
    let size = std::fs::metadata(&db).unwrap().len();
    assert!(size >= 16 << 20, "db of {size} bytes");
    Some((tmp, dir))
}

/// (exit code, stderr) of the command with stderr on a pty.
fn on_pty(args: &[&std::ffi::OsStr]) -> (i32, String) {
    let o = Command::new("python3")
        .args(["-c", UNDER_PTY, env!("CARGO_BIN_EXE_etcd-rescue")])
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// (exit code, stderr) with stderr a pipe.
fn piped(args: &[&std::ffi::OsStr]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_etcd-rescue"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn bars_on_a_terminal_and_nothing_on_a_pipe() {
    let Some((tmp, member)) = big_member() else {
        return;
    };
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    let out = |n: &str| tmp.path().join(n);
    let (r1, r2, r3, r4) = (out("a.db"), out("b.db"), out("c.db"), out("d.db"));
    let m = member.as_os_str();
    // (arguments on a pty, on a pipe; what the bar must show)
    let cases: Vec<(Vec<&std::ffi::OsStr>, Vec<&std::ffi::OsStr>, &[&str])> = vec![
        (
            vec![os("check"), m],
            vec![os("check"), m],
            &["walking the tree", "pages"],
        ),
        (
            vec![os("repair"), m, os("--out"), r1.as_os_str()],
            vec![os("repair"), m, os("--out"), r2.as_os_str()],
            &["writing", "MiB"],
        ),
        (
            vec![
                os("repair"),
                m,
                os("--salvage"),
                os("--out"),
                r3.as_os_str(),
            ],
            vec![
                os("repair"),
                m,
                os("--salvage"),
                os("--out"),
                r4.as_os_str(),
            ],
            &["scanning every page", "pages"],
        ),
        (
            vec![os("k8s"), os("stats"), m],
            vec![os("k8s"), os("stats"), m],
            &["counting objects", "keys"],
        ),
    ];
    for (tty_args, pipe_args, want) in cases {
        let (code, err) = on_pty(&tty_args);
        assert!(code == 0 || code == 1, "{tty_args:?}: exit {code}: {err}");
        for w in want.iter().chain(&["ETA", "%"]) {
            assert!(
                err.contains(w),
                "{tty_args:?} on a terminal: no {w:?} in {err:?}"
            );
        }
        let (code, err) = piped(&pipe_args);
        assert!(code == 0 || code == 1, "{pipe_args:?}: exit {code}: {err}");
        for w in ["ETA", "\r", "\x1b["] {
            assert!(
                !err.contains(w),
                "{pipe_args:?} on a pipe: {w:?} in {err:?}"
            );
        }
    }
    assert!(Path::new(&r1).is_file() && Path::new(&r4).is_file());
}
